#pragma once

#include <cstdint>

namespace shears {

/// 2-D convolution geometry, PyTorch's meaning: out = floor((in + 2p - d(k-1) - 1) / s) + 1.
struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;
};

/// 2-D pooling geometry. `count_include_pad` applies to average pooling only.
struct Pool2dParams {
  int kernel_h = 2, kernel_w = 2;
  int stride_h = 2, stride_w = 2;
  int pad_h = 0, pad_w = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;
};

/// Batch normalisation. In training the batch statistics normalise and the running statistics
/// (when given) move by `momentum` towards the batch mean and the unbiased batch variance.
struct BatchNormParams {
  bool training = true;
  double momentum = 0.1;
  double eps = 1e-5;
};

enum class ActivationKind { Relu, LeakyRelu, Sigmoid, Tanh, Exp };
enum class BinaryOp { Add, Sub, Mul, Div };
/// Pointwise maps whose derivative needs the input: |x|, sign(x), clamp(x, lo, hi).
enum class PointwiseOp { Abs, Sign, Clamp };

/// One SGD step (PyTorch semantics): g = grad + wd*p; buf = momentum*buf + (1-dampening)*g
/// (buf = g on the first step); g = nesterov ? g + momentum*buf : buf; p -= lr*g.
struct SgdParams {
  double lr = 0.1;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  bool first_step = false;
  /// When set: the learning rate, one f32 in the device memory of the parameters, read by the
  /// update when it runs (a graph-captured step, whose arguments are fixed at capture, takes its
  /// per-step LR from here); `lr` is then ignored. Only device backends accept it.
  const float* lr_device = nullptr;
};

}  // namespace shears
