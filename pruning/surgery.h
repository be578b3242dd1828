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

/// A replacement plan: groups whose channels are *rewritten* rather than selected (FilterSketch's
/// sketched filters, methods that learn or generate new filters). Each listed group shrinks to
/// `widths[group id]` channels (1 <= width <= group size), and the new values of the tensors
/// along those channels come from `tensors` (full tensors of the pruned network, by parameter
/// name: the producers' filters and biases, the consumers' input channels). Batch norms among a
/// replaced group's members are re-initialised unless `tensors` holds them: weight 1, bias 0,
/// running mean 0, running variance 1, num_batches_tracked 0. Every other member of a replaced
/// group must be in `tensors`. Tensors outside the listed groups are copied (sliced when another
/// listed group runs through them), as apply_surgery does.
struct ReplacementPlan {
  std::map<int, std::int64_t> widths;
  std::map<std::string, Tensor> tensors;
};

/// Builds the network of `plan`: the architecture with the replaced groups at their new widths
/// (as apply_surgery with each group's trailing removable channels removed), every untouched
/// tensor copied, BN members re-initialised and the `tensors` written in. The result's `keep`
/// describes the removal used to build the shapes; the replaced channels carry the new values.
/// Throws Error naming the group or tensor for a width outside [1, size], a group with too few
/// removable channels, a member of a replaced group that nothing supplies, a supplied tensor
/// whose shape differs from the pruned network's, or a name the network does not have.
SurgeryResult apply_replacement(nn::Module& model, const DependencyGraph& graph,
                                const ReplacementPlan& plan);

/// `t` with only the kept positions along each listed dimension (channel_gather per dimension).
Tensor slice_tensor(const Tensor& t, const std::map<int, std::vector<std::int64_t>>& keep);

/// Moves an optimiser to a pruned model: rebinds it to the new parameters and slices every
/// momentum buffer with the same keep map, so training continues where it was.
void slice_optimizer(optim::Sgd& optimizer, const SurgeryResult& result);

}  // namespace shears::pruning
