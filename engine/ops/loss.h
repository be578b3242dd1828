#pragma once

#include "engine/tensor.h"

namespace shears {

/// Softmax / log-softmax over dim 1 of (N,C) logits. Differentiable.
Tensor softmax(const Tensor& x);
Tensor log_softmax(const Tensor& x);
/// Mean negative log-likelihood of log-probabilities (N,C) at labels (N, I64), with label
/// smoothing s: mean_i[(1-s)(-logp[i,y_i]) + s * mean_c(-logp[i,c])]. Returns shape {}.
/// An out-of-range label throws naming the row.
Tensor nll_loss(const Tensor& logp, const Tensor& labels, double label_smoothing = 0.0);
/// nll_loss(log_softmax(logits), labels, label_smoothing).
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, double label_smoothing = 0.0);
/// KL(p || q) summed over classes and averaged over the batch ("batchmean"), from
/// log-probabilities log_q (N,C) (the student) and log_p (N,C) (the target). Differentiable in
/// both; detach log_p for plain distillation.
Tensor kl_div(const Tensor& log_q, const Tensor& log_p);
/// mean((a - b)^2). Differentiable in both.
Tensor mse_loss(const Tensor& a, const Tensor& b);
/// mean(BCE(sigmoid(x), target)) computed stably from logits; target in [0,1], same shape.
/// Differentiable in x.
Tensor bce_with_logits(const Tensor& x, const Tensor& target);

}  // namespace shears
