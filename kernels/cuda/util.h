#pragma once

// Private to kernels/cuda: the CUDA-only argument checks of the CUDA primitives (host code, no
// CUDA types). The checks both backends share are in kernels/common/checks.h, so that both
// backends reject bad input with the same words.

#include <cstddef>
#include <cstdint>
#include <limits>

#include "kernels/common/checks.h"
#include "kernels/common/error.h"
#include "kernels/common/view.h"

namespace shears::kernels::cuda {

/// Throws ShapeError unless `t` lives on CUDA device `device`.
inline void check_device(const char* op, const char* what, const TensorView& t, int device) {
  SHEARS_CHECK_AS(ShapeError, t.device.is_cuda() && t.device.index == device, op, ": ", what, " ",
                  view_str(t), " is on ", t.device.str(), ", this backend runs on cuda:", device);
}

/// Throws ShapeError unless `t` is F32: the CUDA backend's only floating type.
inline void check_f32(const char* op, const char* what, const TensorView& t) {
  SHEARS_CHECK_AS(ShapeError, t.dtype == DType::F32, op, ": ", what,
                  " must be F32 on the CUDA backend (F64 is CPU-only), got ", view_str(t));
}

/// Throws ShapeError unless `value` fits a C int (cuDNN and cuBLAS take int sizes).
inline int checked_int(const char* op, const char* what, std::int64_t value) {
  SHEARS_CHECK_AS(ShapeError, value >= 0 && value <= std::numeric_limits<int>::max(), op, ": ",
                  what, " ", value, " does not fit the 32-bit sizes the CUDA libraries take");
  return static_cast<int>(value);
}

}  // namespace shears::kernels::cuda
