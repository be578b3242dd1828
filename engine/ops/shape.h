#pragma once

#include <vector>

#include "engine/tensor.h"

namespace shears {

/// Same data, new shape (one dimension may be -1). Shares storage; differentiable.
Tensor reshape(const Tensor& x, const Shape& shape);
/// Collapses dimensions start_dim.. into one: (N,C,H,W) → (N,C*H*W) for start_dim 1.
Tensor flatten(const Tensor& x, int start_dim = 1);
/// Joins tensors along `dim` (all other dimensions equal). Differentiable.
Tensor concat(const std::vector<Tensor>& xs, int dim);
/// A copy of x's range [start, start+length) along `dim`. Differentiable.
Tensor narrow(const Tensor& x, int dim, std::int64_t start, std::int64_t length);
/// x indexed along `dim` by index (I64, on x's device, any order, repeats allowed).
/// Differentiable in x (gradients of repeated indices add up).
Tensor index_select(const Tensor& x, int dim, const Tensor& index);

}  // namespace shears
