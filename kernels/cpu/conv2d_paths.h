#pragma once

// Private to kernels/cpu: the two implementations behind CpuBackend's convolution entry points.
// conv2d.cpp validates the arguments, builds the geometry and chooses (conv_library.h);
// conv2d_im2col.cpp is im2col / col2im + GEMM (f32 and f64); conv2d_onednn.cpp is oneDNN (f32).

#include <string>
#include <vector>

#include "kernels/common/params.h"
#include "kernels/cpu/im2col.h"

namespace shears::kernels::cpu {

/// "stride (1, 1), padding (0, 0), dilation (1, 1), groups 1", for error messages.
std::string params_str(const Conv2dParams& p);

// ---- im2col + GEMM (T = float or double) ----------------------------------------------------

/// y = conv(x, w) + bias (bias may be null).
template <typename T>
void blas_forward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y);
/// grad_x = conv_transpose(grad_y, w).
template <typename T>
void blas_backward_data(const ConvGeometry& g, const T* grad_y, const T* w, T* grad_x);
/// grad_w = correlation of x with grad_y.
template <typename T>
void blas_backward_weight(const ConvGeometry& g, const T* x, const T* grad_y, T* grad_w);

// ---- oneDNN (f32) ----------------------------------------------------------------------------

enum class Direction { Forward, BackwardData, BackwardWeight };

/// Runs the cached oneDNN primitive for (dir, g, has_bias) on `buffers`: the direction's inputs
/// in order (x, weight[, bias] for the forward), then its output. Throws Error naming the shape
/// when oneDNN fails.
void run_dnnl(Direction dir, const ConvGeometry& g, bool has_bias,
              const std::vector<const void*>& buffers);

}  // namespace shears::kernels::cpu
