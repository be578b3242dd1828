#pragma once

#include <vector>

#include "engine/tensor.h"

namespace shears {

/// y = x (N,C,H,W) * mask (C) per channel: a learnable soft channel mask. Differentiable in
/// both; the mask's gradient is the per-channel sum of grad_y * x.
Tensor soft_mask(const Tensor& x, const Tensor& mask);

// The structured-pruning data movements below are not recorded by autograd: they reshape
// parameters and optimiser state during surgery.

/// A new tensor with only the `keep` entries (sorted, unique, in range) of x along `dim`.
Tensor channel_gather(const Tensor& x, int dim, const std::vector<std::int64_t>& keep);
/// Writes src's entries into out at positions `keep` along `dim`; other entries unchanged.
void channel_scatter(const Tensor& src, int dim, const std::vector<std::int64_t>& keep,
                     const Tensor& out);
/// Multiplies x's entries along `dim` by mask (length x.size(dim), 0/1 for hard masks) in place.
void channel_mask_(const Tensor& x, int dim, const Tensor& mask);

}  // namespace shears
