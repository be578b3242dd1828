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
/// is on the model's device, in the model's train/eval mode. The default generator is left as it
/// was (building the smaller network draws no random numbers that training would see). Throws
/// Error naming the tensor when the graph and the rebuilt architecture disagree.
SurgeryResult apply_surgery(nn::Module& model, const DependencyGraph& graph, const PrunePlan& plan);

/// What export_masked did.
struct MaskedExport {
  SurgeryResult surgery;
  /// The channels removed (the plan minus `not_constant`).
  PrunePlan removed;
  /// Plan channels left in the network because some consumer does not see a constant there
  /// (their producers were not all zeroed, or the value varies over the image or the batch).
  PrunePlan not_constant;
  /// Consumer layers that received a folded constant: convs get a constant-input kernel,
  /// linear layers a bias.
  std::vector<std::string> folded;
};

/// Physically removes masked channels from a network that was trained with them masked the
/// way SFP and FPGM mask: only the producers' filters are zero, so in eval mode each such channel
/// still carries a constant into its consumers (relu(beta - gamma * mu / sqrt(var + eps)) after a
/// conv-BN-ReLU). `model` is run once in eval mode on `probe` (N, C, H, W, on the model's device;
/// N >= 2 real or random images) to read, at every consumer of every plan channel (the next
/// conv's input channels, a linear layer's input features), the value the channel carries. Where
/// it is the same at every position and every image the channel is removed and its constant
/// folded into the consumer: a conv gets the constant-input term of nn::Conv2d (exact at the
/// zero-padded border too), a linear layer adds it to its bias. Other channels stay (listed in
/// `not_constant`). The result computes what `model` computes in eval mode, to float rounding.
/// `model` is unchanged and left in its train/eval mode. Throws as apply_surgery.
MaskedExport export_masked(nn::Module& model, const DependencyGraph& graph, const PrunePlan& plan,
                           const Tensor& probe);

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
