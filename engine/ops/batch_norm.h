#pragma once

#include "engine/tensor.h"

namespace shears {

/// Batch normalisation over (N,C,H,W) or (N,C) input, per channel C. weight/bias (C) optional
/// (affine); running_mean/running_var (C) optional. In training the batch statistics normalise
/// (biased variance) and the running statistics, when given, are updated in place with
/// `momentum` (unbiased variance), as PyTorch. In eval the running statistics normalise.
/// Differentiable in x, weight and bias.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  double momentum = 0.1, double eps = 1e-5);

}  // namespace shears
