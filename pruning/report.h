#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/arch.h"
#include "pruning/cost_model.h"

namespace shears::pruning {

/// One conv or linear layer before and after pruning. A layer absent from one side (removed, or
/// new) has zero MACs and params and an empty weight shape there.
struct LayerCostChange {
  std::string name;  // weight parameter name, e.g. "layer1.0.conv1.weight"
  std::string op;    // "conv2d" or "linear"
  Shape weight_before, weight_after;
  std::int64_t macs_before = 0, macs_after = 0;
  std::int64_t params_before = 0, params_after = 0;  // weight + bias
  double macs_reduction_percent = 0.0;               // 100 * (1 - after / before); 0 if before is 0
};

/// A dense and a pruned cost report side by side, per layer and in total (MACs per sample; params
/// of the whole model, BN included), for summaries and `shears flops`.
struct CostComparison {
  std::vector<LayerCostChange> layers;  // the dense report's order, then layers only in `pruned`
  std::int64_t macs_before = 0, macs_after = 0;
  std::int64_t params_before = 0, params_after = 0;
  double macs_reduction_percent = 0.0;
  double params_reduction_percent = 0.0;
};

/// Pairs the layers of two reports by name. Throws Error when a report names a layer twice.
CostComparison compare_costs(const CostReport& dense, const CostReport& pruned);

/// The comparison as one JSON object:
///   {"macs_before": .., "macs_after": .., "macs_reduction_percent": ..,
///    "params_before": .., "params_after": .., "params_reduction_percent": ..,
///    "layers": [{"name": .., "op": .., "weight_before": [..], "weight_after": [..],
///                "macs_before": .., "macs_after": .., "macs_reduction_percent": ..,
///                "params_before": .., "params_after": ..}, ...]}
std::string cost_comparison_json(const CostComparison& comparison);

/// FLOPs of a CIFAR ResNet under SFP/FPGM as their papers report them: an analytic count with the
/// exact keep ratio, convolutions only.
struct AnalyticFlops {
  std::int64_t dense_conv_macs = 0;
  double pruned_conv_macs = 0.0;
  double reduction_percent = 0.0;  // 100 * (1 - pruned / dense)
};

/// The analytic count behind the FLOPs column of the CIFAR-10 results of He et al. (SFP,
/// IJCAI 2018; official code utils/cifar_resnet_flop.py, whose figures FPGM, CVPR 2019, reuses),
/// applied to the per-layer MACs of a dense CIFAR ResNet's cost report
/// with keep ratio r in (0, 1]:
///   stem conv1 x r; layerS.B.conv1 x r (its input is the full-width residual stream);
///   layerS.B.conv2 x r^2 (input and output filters both pruned);
///   ⚠ layer1.0.conv1 x r^2: the original counts the first block's first conv as if the stem
///   output fed it pruned. This quirk is what makes ResNet-20 at r = 0.7 give the published
///   42.2 % and ResNet-56 at r = 0.6 give 52.6 %.
/// Projection (option-B downsample) convs, which the original networks do not have, count x 1;
/// linear layers are excluded from both counts. Throws ConfigError when a conv of `dense` is not
/// named like a CIFAR ResNet layer, or r is outside (0, 1].
AnalyticFlops analytic_sfp_flops(const CostReport& dense, double keep_ratio);

/// analytic_sfp_flops(count_cost(build_model(arch), arch.input), keep_ratio).reduction_percent.
/// Builds `arch` on the CPU without disturbing the default generator. Throws ConfigError when
/// `arch` is not a CIFAR ResNet (resnet20 ... resnet110) or as analytic_sfp_flops.
double analytic_sfp_flops_reduction(const models::Arch& arch, double keep_ratio);

}  // namespace shears::pruning
