#pragma once

#include <memory>

#include "engine/nn/module.h"
#include "engine/optim/sgd.h"
#include "models/arch.h"
#include "pruning/dependency.h"

namespace shears::pruning {

/// A physically pruned network: a plain dense model of the same family with smaller widths.
struct SurgeryResult {
  std::shared_ptr<nn::Module> model;
  models::Arch arch;  // rebuilds `model` (stored in checkpoints as metadata "arch")
  KeepMap keep;       // which positions of every touched tensor survived
};

/// Removes the channels of `plan` from `model` (a models::Model traced into `graph`): builds the
/// smaller architecture and copies every kept slice of every parameter and buffer (weights,
/// biases, BN parameters and running statistics) through the channel gather kernel. The result
/// is on the model's device, in the model's train/eval mode. Throws Error naming the tensor when
/// the graph and the rebuilt architecture disagree.
SurgeryResult apply_surgery(nn::Module& model, const DependencyGraph& graph, const PrunePlan& plan);

/// `t` with only the kept positions along each listed dimension (channel_gather per dimension).
Tensor slice_tensor(const Tensor& t, const std::map<int, std::vector<std::int64_t>>& keep);

/// Moves an optimiser to a pruned model: rebinds it to the new parameters and slices every
/// momentum buffer with the same keep map, so training continues where it was.
void slice_optimizer(optim::Sgd& optimizer, const SurgeryResult& result);

}  // namespace shears::pruning
