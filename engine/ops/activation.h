#pragma once

#include "engine/tensor.h"

namespace shears {

/// Elementwise activations on floating tensors of any shape; differentiable.
Tensor relu(const Tensor& x);
/// max(x, 0) + slope * min(x, 0); slope must be > 0.
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor exp(const Tensor& x);
/// |x|; the gradient is sign(x) (0 at 0).
Tensor abs(const Tensor& x);
/// -1, 0 or 1 elementwise; the gradient is 0.
Tensor sign(const Tensor& x);
/// min(max(x, lo), hi) (lo <= hi); the gradient passes where lo <= x <= hi.
Tensor clamp(const Tensor& x, double lo, double hi);
/// The proximal map of t * |x|: sign(x) * max(|x| - t, 0) (t >= 0), as sign(x) * relu(|x| - t).
Tensor soft_threshold(const Tensor& x, double t);

}  // namespace shears
