#pragma once

#include "engine/dist/communicator.h"
#include "engine/nn/module.h"
#include "engine/tensor.h"

namespace shears::dist {

/// Training-mode batch normalisation with statistics over the whole global batch: every rank's
/// (N,C,H,W) or (N,C) x together, as one process would compute them on the concatenated batch.
/// Two-pass statistics (mean, then the centred sum of squares), three allreduces per forward and
/// two per backward, all of C values. Running statistics are updated in place as batch_norm does
/// (unbiased variance over the global count). Differentiable in x, weight and bias; the weight
/// and bias gradients are this rank's share (summed across ranks with the other gradients).
Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Tensor& running_mean, const Tensor& running_var, double momentum,
                       double eps, Communicator& comm);

/// Makes every BatchNorm2d of `model` synchronise its training statistics over `comm`
/// (null: back to per-rank statistics). Returns the number of layers changed.
int set_sync_batch_norm(nn::Module& model, Communicator* comm);

}  // namespace shears::dist
