#pragma once

#include "engine/tensor.h"
#include "kernels/common/params.h"

namespace shears {

/// 2-D convolution (cross-correlation, as PyTorch): x (N,Cin,H,W), weight (Cout,Cin/groups,Kh,Kw),
/// optional bias (Cout) → (N,Cout,Ho,Wo). Differentiable in x, weight and bias; the weight may
/// be produced by other ops (generated weights receive and pass on their gradient).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p);
/// Square stride/padding/dilation shorthand.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), int stride = 1,
              int padding = 0, int dilation = 1, int groups = 1);

/// Output spatial size of a convolution or pooling window.
std::int64_t conv_out_size(std::int64_t in, int kernel, int stride, int pad, int dilation);

}  // namespace shears
