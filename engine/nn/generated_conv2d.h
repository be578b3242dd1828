#pragma once

// A convolution whose weight is not a parameter but the output of a small generator network
// (MetaPruning's PruningNet): FC(code → hidden) → ReLU → FC(hidden → Cout_max·Cin_max·K·K),
// reshaped to the maximum weight shape and cropped to the widths in use, so one generator serves
// every width and its FC weights learn through the crop.

#include <cstdint>
#include <memory>

#include "engine/nn/linear.h"
#include "engine/nn/module.h"
#include "kernels/common/params.h"

namespace shears::nn {

struct GeneratedConv2dOptions {
  std::int64_t in_channels = 0;   // the largest input width
  std::int64_t out_channels = 0;  // the largest output width
  int kernel = 3, stride = 1, padding = 0;
  /// Depthwise: the weight is (out_max, 1, K, K), cropped to the input's width, one group per
  /// channel (in_channels must equal out_channels).
  bool depthwise = false;
  std::int64_t code_size = 3;  // generator input (MetaPruning: mid, input and output scale)
  std::int64_t hidden = 32;    // generator hidden width (MetaPruning's MobileNetV2: 64)
};

/// The generated weight cropped to [:out, :in]: relu(code·w1ᵀ + b1)·w2ᵀ + b2 reshaped to
/// `max_shape` (Cout_max, Cin_max, K, K), then narrowed to the first `out` output and the first
/// `in` input channels. `code` is (code_size) or (1, code_size). Differentiable in every input
/// (the functional form of GeneratedConv2d::weight_for). Throws ShapeError when the widths exceed
/// the maximum shape or w2 does not produce max_shape's element count.
Tensor generated_conv_weight(const Tensor& code, const Tensor& w1, const Tensor& b1,
                             const Tensor& w2, const Tensor& b2, const Shape& max_shape,
                             std::int64_t out, std::int64_t in);

/// The module: children fc1 (code_size → hidden) and fc2 (hidden → weight elements), PyTorch
/// default initialisation; no bias on the convolution itself.
class GeneratedConv2d : public Module {
 public:
  explicit GeneratedConv2d(const GeneratedConv2dOptions& o);

  /// The weight for `code` at `out` output and `in` input channels: (out, in, K, K), or
  /// (out, 1, K, K) for depthwise (in ignored).
  Tensor weight_for(const Tensor& code, std::int64_t out, std::int64_t in);
  /// Convolves x (N, in, H, W) with weight_for(code, out, in), in = x.size(1); depthwise: out =
  /// in = x.size(1), `out` ignored.
  Tensor forward(const Tensor& x, const Tensor& code, std::int64_t out);
  /// forward with the code and width given by set_code (throws Error when none was set).
  Tensor forward(const Tensor& x) override;
  /// The code (on the module's device) and output width the next forward(x) uses.
  void set_code(const Tensor& code, std::int64_t out);

  std::string type_name() const override { return "GeneratedConv2d"; }
  std::string extra_repr() const override;
  const GeneratedConv2dOptions& options() const { return options_; }
  Shape max_shape() const;
  Conv2dParams params(std::int64_t groups) const;

  std::shared_ptr<Linear> fc1, fc2;

 private:
  GeneratedConv2dOptions options_;
  Tensor code_;
  std::int64_t out_ = 0;
};

}  // namespace shears::nn
