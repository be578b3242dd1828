#pragma once

#include "engine/tensor.h"
#include "kernels/common/params.h"

namespace shears {

/// Max pooling of x (N,C,H,W); padding counts as -inf. Differentiable.
Tensor max_pool2d(const Tensor& x, int kernel, int stride = -1, int padding = 0,
                  bool ceil_mode = false);
/// Average pooling of x (N,C,H,W); with count_include_pad the divisor counts padded cells.
Tensor avg_pool2d(const Tensor& x, int kernel, int stride = -1, int padding = 0,
                  bool ceil_mode = false, bool count_include_pad = true);
/// Mean over H and W: (N,C,H,W) → (N,C,1,1), as adaptive_avg_pool2d(1).
Tensor global_avg_pool2d(const Tensor& x);
/// Output size of a pooling window with PyTorch's ceil_mode rule (the last window must start
/// inside the input or the left padding).
std::int64_t pool_out_size(std::int64_t in, int kernel, int stride, int pad, bool ceil_mode);

}  // namespace shears
