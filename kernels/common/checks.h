#pragma once

// Argument checks every backend shares, so that the CPU and CUDA backends reject bad input with
// one text. Each check throws ShapeError naming the op, the argument, its dtype and its shape.
// The argument order follows engine/ops/common.h: the op first, then the tensor, then what is
// checked about it. Backend-specific checks (which device, which dtypes a backend supports)
// stay beside each backend: kernels/cpu/kernel_util.h and kernels/cuda/util.h.

#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/common/error.h"
#include "kernels/common/view.h"

namespace shears::kernels {

/// "F32 [2, 3]": dtype and shape, for error messages.
inline std::string view_str(const TensorView& t) {
  return detail::cat(dtype_name(t.dtype), " ", shape_str(t.shape));
}

/// Throws ShapeError unless `t` has dtype `want`.
inline void check_dtype(const char* op, const char* what, const TensorView& t, DType want) {
  SHEARS_CHECK_AS(ShapeError, t.dtype == want, op, ": ", what, " must be ", dtype_name(want),
                  ", got ", view_str(t));
}

/// Throws ShapeError unless `t` is F32 or F64.
inline void check_floating(const char* op, const char* what, const TensorView& t) {
  SHEARS_CHECK_AS(ShapeError, is_floating(t.dtype), op, ": ", what, " must be F32 or F64, got ",
                  view_str(t));
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

// ---- keep indices (channel gather and scatter) ----------------------------------------------

/// Throws ShapeError unless `keep` is a 1-D I64 tensor (its device is the backend's check).
inline void check_keep_tensor(const char* op, const TensorView& keep) {
  SHEARS_CHECK_AS(ShapeError, keep.dtype == DType::I64 && keep.dim() == 1, op,
                  ": keep must be a 1-D I64 tensor, got ", view_str(keep));
}

/// Throws ShapeError unless the `count` keep values `k` (host memory) are in [0, size) and
/// strictly increasing; `dim` is the indexed dimension, for the message.
inline void check_keep_values(const char* op, const std::int64_t* k, std::int64_t count, int dim,
                              std::int64_t size) {
  for (std::int64_t i = 0; i < count; ++i) {
    SHEARS_CHECK_AS(ShapeError, k[i] >= 0 && k[i] < size, op, ": keep[", i, "] = ", k[i],
                    " is out of range for dimension ", dim, " of size ", size);
    if (i == 0) continue;
    SHEARS_CHECK_AS(ShapeError, k[i] != k[i - 1], op, ": keep has a duplicate: keep[", i,
                    "] = ", k[i], " repeats keep[", i - 1, "]");
    SHEARS_CHECK_AS(ShapeError, k[i] > k[i - 1], op, ": keep is not sorted: keep[", i, "] = ", k[i],
                    " comes after keep[", i - 1, "] = ", k[i - 1]);
  }
}

/// Throws ShapeError unless `small` is `full` with dimension `dim` cut to `count` entries.
inline void check_kept_shape(const char* op, const char* full_name, const TensorView& full,
                             const char* small_name, const TensorView& small, int dim,
                             std::int64_t count) {
  Shape want = full.shape;
  want[static_cast<std::size_t>(dim)] = count;
  SHEARS_CHECK_AS(ShapeError, small.shape == want && small.dtype == full.dtype, op, ": ",
                  small_name, " ", view_str(small), " does not fit ", full_name, " ",
                  view_str(full), " with ", count, " kept entries along dimension ", dim,
                  " (expected ", dtype_name(full.dtype), " ", shape_str(want), ")");
}

// ---- channel masks ----------------------------------------------------------------------------

/// Throws ShapeError unless `mask` is 1-D with one value per entry of dimension `dim` of `x`,
/// whose extent is `size`.
inline void check_mask_length(const char* op, const TensorView& x, int dim, std::int64_t size,
                              const TensorView& mask) {
  SHEARS_CHECK_AS(ShapeError, mask.dim() == 1 && mask.shape[0] == size, op, ": mask ",
                  view_str(mask), " must have length ", size, " to match dimension ", dim, " of x ",
                  view_str(x));
}

/// The soft-mask layout: x is (N, C, spatial...) and mask is (C) of x's dtype.
inline void check_soft_mask_layout(const char* op, const TensorView& x, const TensorView& mask) {
  SHEARS_CHECK_AS(ShapeError, x.dim() >= 2, op, ": x must be (N, C, ...), got ", view_str(x));
  SHEARS_CHECK_AS(ShapeError,
                  mask.dim() == 1 && mask.shape[0] == x.shape[1] && mask.dtype == x.dtype, op,
                  ": mask ", view_str(mask), " must be ", dtype_name(x.dtype), " [", x.shape[1],
                  "] to match x ", view_str(x));
}

}  // namespace shears::kernels
