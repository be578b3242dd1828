#pragma once

#include "engine/tensor.h"

namespace shears {

/// Sum of all elements, shape {}.
Tensor sum(const Tensor& x);
/// Mean of all elements, shape {}.
Tensor mean(const Tensor& x);
/// x summed down to `shape` (broadcast-compatible with x): the adjoint of broadcasting.
Tensor sum_to(const Tensor& x, const Shape& shape);

}  // namespace shears
