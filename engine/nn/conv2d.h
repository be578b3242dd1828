#pragma once

#include "engine/nn/module.h"
#include "kernels/common/params.h"

namespace shears::nn {

struct Conv2dOptions {
  std::int64_t in_channels = 0, out_channels = 0;
  int kernel = 3, stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = true;
};

/// 2-D convolution layer: (N,Cin,H,W) → (N,Cout,Ho,Wo). weight (Cout,Cin/groups,K,K), bias
/// (Cout). PyTorch-default initialisation. Channel counts are read from the weight, so a
/// pruned weight is a pruned layer; a depthwise layer (groups == Cin == Cout) stays depthwise.
class Conv2d : public Module {
 public:
  explicit Conv2d(const Conv2dOptions& o);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Conv2d"; }
  std::string extra_repr() const override;

  std::int64_t in_channels() const { return weight.size(1) * groups(); }
  std::int64_t out_channels() const { return weight.size(0); }
  int groups() const { return depthwise_ ? static_cast<int>(weight.size(0)) : groups_; }
  bool depthwise() const { return depthwise_; }
  Conv2dParams params() const;

  /// Gives the layer a constant-input term: from now on forward adds
  /// conv2d(ones(1, 1, H, W), kernel) (same stride, padding and dilation, broadcast over the
  /// batch), the exact response to one more input plane of ones that the padding zeroes at the
  /// border like every other input. This is what input channels that carried a spatially
  /// constant value a_k contribute, with kernel[o] = sum_k a_k * weight[o, k] (pruning export of
  /// masked channels). `kernel` (Cout, 1, K, K), on the weight's device, becomes the buffer
  /// "constant_kernel" (saved with the state dict). Throws ShapeError on another shape.
  void set_constant_kernel(const Tensor& kernel);

  Tensor weight;
  Tensor bias;
  /// (Cout, 1, K, K) or undefined (no constant-input term).
  Tensor constant_kernel;

 private:
  Conv2dOptions options_;
  int groups_;
  bool depthwise_;
};

}  // namespace shears::nn
