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

}  // namespace shears
