#include "engine/nn/linear.h"

#include "engine/nn/init.h"
#include "engine/ops/linear.h"

namespace shears::nn {

Linear::Linear(std::int64_t in_features, std::int64_t out_features, bool with_bias) {
  SHEARS_CHECK(in_features > 0 && out_features > 0, "Linear: features must be positive, got ",
               in_features, " -> ", out_features);
  weight = Tensor::empty({out_features, in_features});
  if (with_bias) bias = Tensor::empty({out_features});
  init::pytorch_default_(weight, bias);
  register_parameter("weight", weight);
  register_parameter("bias", bias);
}

Tensor Linear::forward(const Tensor& x) { return apply_forward_hooks(linear(x, weight, bias)); }

std::string Linear::extra_repr() const {
  return std::to_string(in_features()) + ", " + std::to_string(out_features()) +
         (bias.defined() ? "" : ", bias=false");
}

}  // namespace shears::nn
