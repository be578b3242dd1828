#pragma once

#include "engine/rng.h"
#include "engine/tensor.h"

namespace shears::nn::init {

/// fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field (conv/linear).
std::int64_t fan_in(const Tensor& weight);
std::int64_t fan_out(const Tensor& weight);

/// Fills in place (CPU draws, copied to the tensor's device). Not recorded by autograd.
void uniform_(const Tensor& t, double lo, double hi, Generator& gen = default_generator());
void normal_(const Tensor& t, double mean, double stddev, Generator& gen = default_generator());
/// He et al. 2015 normal init: std = sqrt(2 / fan), fan = fan_out (mode "fan_out") or fan_in.
void kaiming_normal_(const Tensor& weight, bool fan_out_mode = true,
                     Generator& gen = default_generator());
/// PyTorch's default for Conv2d/Linear: weight ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (that is
/// kaiming_uniform with a = sqrt(5)), bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
void pytorch_default_(const Tensor& weight, const Tensor& bias,
                      Generator& gen = default_generator());

}  // namespace shears::nn::init
