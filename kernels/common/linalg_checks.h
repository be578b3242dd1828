#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/common/error.h"
#include "kernels/common/view.h"

// Argument checks that every backend's linear algebra shares, so the messages are one text.

namespace shears {

/// Checks the economy-size SVD operands of an (m, n) matrix `a`: u (m, k), s (k), vt (k, n) with
/// k = min(m, n). Throws ShapeError naming every shape. `a` must already be 2-D.
inline void check_svd_shapes(const TensorView& a, const TensorView& u, const TensorView& s,
                             const TensorView& vt) {
  const std::int64_t m = a.shape[0], n = a.shape[1], k = std::min(m, n);
  SHEARS_CHECK_AS(ShapeError,
                  u.shape == Shape({m, k}) && s.shape == Shape({k}) && vt.shape == Shape({k, n}),
                  "svd of a ", shape_str(a.shape), " matrix needs u [", m, ", ", k, "], s [", k,
                  "] and vt [", k, ", ", n, "], got u ", shape_str(u.shape), ", s ",
                  shape_str(s.shape), ", vt ", shape_str(vt.shape));
}

}  // namespace shears
