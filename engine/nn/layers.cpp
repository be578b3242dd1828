#include "engine/nn/layers.h"

#include "engine/ops/activation.h"
#include "engine/ops/dropout.h"
#include "engine/ops/pooling.h"
#include "engine/ops/shape.h"

namespace shears::nn {

Tensor ReLU::forward(const Tensor& x) { return apply_forward_hooks(relu(x)); }
Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, slope_); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }

Tensor MaxPool2d::forward(const Tensor& x) {
  return max_pool2d(x, kernel_, stride_, padding_, ceil_mode_);
}
std::string MaxPool2d::extra_repr() const {
  return "kernel=" + std::to_string(kernel_) + ", stride=" + std::to_string(stride_) +
         ", padding=" + std::to_string(padding_);
}

Tensor AvgPool2d::forward(const Tensor& x) {
  return avg_pool2d(x, kernel_, stride_, padding_, ceil_mode_, count_include_pad_);
}
std::string AvgPool2d::extra_repr() const {
  return "kernel=" + std::to_string(kernel_) + ", stride=" + std::to_string(stride_) +
         ", padding=" + std::to_string(padding_);
}

Tensor GlobalAvgPool2d::forward(const Tensor& x) { return global_avg_pool2d(x); }
Tensor Flatten::forward(const Tensor& x) { return flatten(x, 1); }

Dropout::Dropout(double p) : p_(p) {
  SHEARS_CHECK(p >= 0.0 && p < 1.0, "Dropout: probability must be in [0, 1), got ", p);
}
Tensor Dropout::forward(const Tensor& x) { return dropout(x, p_, is_training()); }

Sequential::Sequential(std::vector<ModulePtr> layers) {
  for (auto& layer : layers) push_back(std::move(layer));
}

void Sequential::push_back(ModulePtr layer, const std::string& name) {
  register_module(name.empty() ? std::to_string(children().size()) : name, std::move(layer));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (const auto& [name, layer] : children()) h = layer->forward(h);
  return apply_forward_hooks(h);
}

}  // namespace shears::nn
