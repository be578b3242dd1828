#include "models/densenet_cifar.h"

#include "engine/ops/activation.h"
#include "engine/ops/pooling.h"
#include "engine/ops/shape.h"
#include "kernels/common/error.h"

namespace shears::models {

namespace {

constexpr int kBlocks = 3;
constexpr int kLayers = 12;  // (40 - 4) / 3
constexpr std::int64_t kGrowth = 12;

std::string layer_key(int block, int layer) {
  return "dense" + std::to_string(block + 1) + "." + std::to_string(layer) + ".conv";
}

std::string trans_key(int block) { return "trans" + std::to_string(block + 1) + ".conv"; }

}  // namespace

DenseLayer::DenseLayer(std::int64_t in, std::int64_t growth) {
  bn = register_module("bn", detail::bn(in));
  conv = register_module("conv", detail::conv(in, growth, 3));
}

Tensor DenseLayer::forward(const Tensor& x) {
  return concat({x, conv->forward(relu(bn->forward(x)))}, 1);
}

DenseTransition::DenseTransition(std::int64_t in, std::int64_t out) {
  bn = register_module("bn", detail::bn(in));
  conv = register_module("conv", detail::conv(in, out, 1));
}

Tensor DenseTransition::forward(const Tensor& x) {
  return avg_pool2d(conv->forward(relu(bn->forward(x))), 2, 2);
}

Arch densenet_cifar_arch(std::int64_t num_classes, const Shape& input, double width_mult) {
  Arch arch;
  arch.name = "densenet40";
  arch.num_classes = num_classes;
  arch.input = input;
  arch.width_mult = width_mult;
  const std::int64_t growth = detail::scaled(kGrowth, width_mult);
  std::int64_t width = detail::scaled(2 * kGrowth, width_mult);
  arch.widths.emplace_back("conv1", width);
  for (int b = 0; b < kBlocks; ++b) {
    for (int l = 0; l < kLayers; ++l) {
      arch.widths.emplace_back(layer_key(b, l), growth);
      width += growth;
    }
    if (b + 1 < kBlocks) arch.widths.emplace_back(trans_key(b), width);
  }
  return arch;
}

DenseNetCifar::DenseNetCifar(const Arch& arch) : base_(arch) {
  if (arch.name != "densenet40") throw ConfigError("'" + arch.name + "' is not densenet40");
  if (arch.input.size() != 3) {
    throw ConfigError("architecture '" + arch.name + "': input must be {C, H, W}");
  }
  detail::check_width_keys(arch, densenet_cifar_arch(arch.num_classes, arch.input));
  std::int64_t width = arch.width("conv1");
  conv1 = register_module("conv1", detail::conv(arch.input[0], width, 3));
  for (int b = 0; b < kBlocks; ++b) {
    auto block = std::make_shared<nn::Sequential>();
    for (int l = 0; l < kLayers; ++l) {
      const std::int64_t growth = arch.width(layer_key(b, l));
      block->push_back(std::make_shared<DenseLayer>(width, growth));
      width += growth;
    }
    blocks.push_back(register_module("dense" + std::to_string(b + 1), block));
    if (b + 1 < kBlocks) {
      const std::int64_t out = arch.width(trans_key(b));
      transitions.push_back(register_module("trans" + std::to_string(b + 1),
                                            std::make_shared<DenseTransition>(width, out)));
      width = out;
    }
  }
  bn = register_module("bn", detail::bn(width));
  fc = register_module("fc", std::make_shared<nn::Linear>(width, arch.num_classes));
}

Tensor DenseNetCifar::forward(const Tensor& x) {
  Tensor h = conv1->forward(x);
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    h = blocks[b]->forward(h);
    if (b < transitions.size()) h = transitions[b]->forward(h);
  }
  h = relu(bn->forward(h));
  return fc->forward(flatten(global_avg_pool2d(h), 1));
}

Arch DenseNetCifar::arch() const {
  Arch a = base_;
  a.widths.clear();
  a.input[0] = conv1->in_channels();
  a.num_classes = fc->out_features();
  a.widths.emplace_back("conv1", conv1->out_channels());
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    for (std::size_t l = 0; l < blocks[b]->size(); ++l) {
      const auto& layer = static_cast<const DenseLayer&>((*blocks[b])[l]);
      a.widths.emplace_back(layer_key(static_cast<int>(b), static_cast<int>(l)),
                            layer.conv->out_channels());
    }
    if (b < transitions.size()) {
      a.widths.emplace_back(trans_key(static_cast<int>(b)), transitions[b]->conv->out_channels());
    }
  }
  return a;
}

}  // namespace shears::models
