#pragma once

// Private to kernels/cuda: argument checks shared by the CUDA primitives (host code, no CUDA
// types). Every check throws ShapeError naming the op, the tensor and its dtype and shape, like
// the CPU backend's, so that both backends reject bad input with the same words.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "kernels/common/error.h"
#include "kernels/common/view.h"

namespace shears::kernels::cuda {

/// "F32 [2, 3]": dtype and shape, for error messages.
inline std::string view_str(const TensorView& t) {
  return detail::cat(dtype_name(t.dtype), " ", shape_str(t.shape));
}

/// Throws ShapeError unless `t` lives on CUDA device `device`.
inline void check_device(const char* op, const char* what, const TensorView& t, int device) {
  SHEARS_CHECK_AS(ShapeError, t.device.is_cuda() && t.device.index == device, op, ": ", what, " ",
                  view_str(t), " is on ", t.device.str(), ", this backend runs on cuda:", device);
}

/// Throws ShapeError unless `t` has dtype `want`.
inline void check_dtype(const char* op, const char* what, const TensorView& t, DType want) {
  SHEARS_CHECK_AS(ShapeError, t.dtype == want, op, ": ", what, " must be ", dtype_name(want),
                  ", got ", view_str(t));
}

/// Throws ShapeError unless `t` is F32: the CUDA backend's only floating type.
inline void check_f32(const char* op, const char* what, const TensorView& t) {
  SHEARS_CHECK_AS(ShapeError, t.dtype == DType::F32, op, ": ", what,
                  " must be F32 on the CUDA backend (F64 is CPU-only), got ", view_str(t));
}

/// Throws ShapeError unless `a` and `b` have the same shape and dtype.
inline void check_same(const char* op, const char* a_name, const TensorView& a, const char* b_name,
                       const TensorView& b) {
  SHEARS_CHECK_AS(ShapeError, a.shape == b.shape && a.dtype == b.dtype, op, ": ", a_name, " ",
                  view_str(a), " and ", b_name, " ", view_str(b),
                  " must have the same shape and dtype");
}

/// Throws ShapeError unless `t` has exactly `dims` dimensions.
inline void check_dim(const char* op, const char* what, const TensorView& t, int dims) {
  SHEARS_CHECK_AS(ShapeError, t.dim() == dims, op, ": ", what, " must have ", dims,
                  " dimension(s), got ", view_str(t));
}

/// `dim` in [-rank, rank) mapped to [0, rank); throws ShapeError otherwise.
inline int normalise_dim(const char* op, const TensorView& t, int dim) {
  const int rank = t.dim();
  SHEARS_CHECK_AS(ShapeError, dim >= -rank && dim < rank, op, ": dim ", dim,
                  " is out of range for ", view_str(t));
  return dim < 0 ? dim + rank : dim;
}

/// Throws ShapeError unless `value` fits a C int (cuDNN and cuBLAS take int sizes).
inline int checked_int(const char* op, const char* what, std::int64_t value) {
  SHEARS_CHECK_AS(ShapeError, value >= 0 && value <= std::numeric_limits<int>::max(), op, ": ",
                  what, " ", value, " does not fit the 32-bit sizes the CUDA libraries take");
  return static_cast<int>(value);
}

/// A contiguous tensor seen as (outer, size, inner) around one dimension.
struct DimSplit {
  std::int64_t outer = 1, size = 1, inner = 1;
};

inline DimSplit split_at(const Shape& shape, int dim) {
  DimSplit s;
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    const std::int64_t n = shape[static_cast<std::size_t>(d)];
    if (d < dim) {
      s.outer *= n;
    } else if (d == dim) {
      s.size = n;
    } else {
      s.inner *= n;
    }
  }
  return s;
}

}  // namespace shears::kernels::cuda
