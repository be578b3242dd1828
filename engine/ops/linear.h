#pragma once

#include "engine/tensor.h"

namespace shears {

/// y (N,out) = x (N,in) @ weight (out,in)^T + bias (out, optional). Differentiable in all three.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
/// a (M,K) @ b (K,N) → (M,N). Differentiable.
Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace shears
