#pragma once

// The space a channel-count search moves in: units (one code dimension each, setting the width of
// one or more dependency groups), the cost of any point of the space computed from the dense
// network's trace without building weights, and candidates built from a point with weights
// inherited from the dense model.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/nn/module.h"
#include "engine/rng.h"
#include "models/arch.h"
#include "pruning/dependency.h"
#include "pruning/surgery.h"

namespace shears::pruning::search {

/// One dimension of a search code: the groups whose widths it sets together.
struct SearchUnit {
  std::string name;           // the layer path of the first group's first producer
  std::vector<int> groups;    // group ids in network order
  std::int64_t channels = 0;  // the first group's full width (reports)
};

/// How groups are gathered into units.
enum class UnitSharing {
  Group,   // every group its own unit (VGG, basic-block ResNets)
  Block,   // groups made in one block ("layerS.B": a bottleneck's conv1 and conv2) share a unit;
           // groups made outside any block (a stem feeding a projection) are not searched
  Module,  // groups internal to one top-level module (an Inception module's reduce and middle
           // convs) share a unit; groups that leave the module (branch outputs) are not searched
};
/// "group", "block", "module"; throws ConfigError listing them.
UnitSharing parse_unit_sharing(const std::string& name);
/// The sharing ABCPruner uses for a registry model (docs/methods.md §5): Block for resnet50,
/// resnet101 and resnet152, Module for googlenet, Group otherwise.
UnitSharing default_unit_sharing(const std::string& model_name);

/// The searched units of `model`: every prunable, non-residual group made by a convolution
/// (residual channels are never searched), minus groups whose first producer's layer is in
/// `skip`, gathered by `sharing`. Units keep network order.
std::vector<SearchUnit> search_units(const DependencyGraph& graph, const nn::Module& model,
                                     UnitSharing sharing,
                                     const std::vector<std::string>& skip = {});

/// Channels kept per group id.
using GroupWidths = std::map<int, std::int64_t>;

/// ABCPruner's widths of a code: unit j's groups keep int(C·code[j]/10) channels (at least 1) of
/// their C. Throws Error when the code's length differs from the number of units.
GroupWidths widths_of_code(const std::vector<SearchUnit>& units, const DependencyGraph& graph,
                           const std::vector<int>& code);

/// MACs and parameters of any width assignment of a network, from one trace of the dense network:
/// a layer's MACs and a parameter's size scale with the kept fraction of every grouped dimension
/// they have. Equal to count_cost of the pruned network (tested), without building it.
class ArchCost {
 public:
  ArchCost(nn::Module& model, const DependencyGraph& graph, const Shape& input_chw);
  struct Cost {
    std::int64_t macs = 0;
    std::int64_t params = 0;
  };
  Cost cost(const GroupWidths& kept) const;
  /// The cost of `arch`, a width assignment of the same network (what MetaPruning's genes or
  /// a checkpoint give): every non-residual group takes the width the architecture gives its
  /// producers; residual groups stay at full width (no search here changes them). Throws Error
  /// when two producers of one group have different widths.
  Cost cost(const models::Arch& arch) const;
  Cost dense() const { return dense_; }

 private:
  struct Scaled {
    std::int64_t base = 0;
    std::vector<std::pair<int, std::int64_t>> dims;  // (group id, full size)
  };
  std::int64_t scaled(const Scaled& s, const GroupWidths& kept) const;
  std::vector<Scaled> layers_;  // MACs of conv/linear layers
  std::vector<Scaled> params_;  // every parameter tensor
  // group id -> layer paths of the producers that make every channel of the group
  std::vector<std::pair<int, std::vector<std::string>>> producers_;
  Cost dense_;
};

/// A FLOPs and/or parameter ceiling for candidates.
struct Budget {
  std::int64_t max_macs = -1;    // < 0: no ceiling
  std::int64_t max_params = -1;  // < 0: no ceiling
  bool repair = true;            // narrow an over-budget code instead of rejecting it
  bool active() const { return max_macs >= 0 || max_params >= 0; }
};

/// Whether `code` may be evaluated under `budget`: true when it fits; otherwise, when repairing,
/// one unit chosen at random (from `gen`) among those above 1 is narrowed by one step at a time
/// until the code fits (true) or no unit can be narrowed (false); when rejecting, false.
bool fit_budget(std::vector<int>& code, const Budget& budget, const ArchCost& costs,
                const std::vector<SearchUnit>& units, const DependencyGraph& graph, Generator& gen);

/// Where a candidate's weights come from.
enum class Inherit {
  RandomPretrain,  // k channels of each shrunk group drawn at random, sorted (ABCPruner)
  L1Pretrain,      // the k channels with the largest filter L1 norm
  RandomInit,      // the architecture only, with fresh weights
};
/// "random_pretrain", "l1_pretrain", "random_init"; throws ConfigError listing them.
Inherit parse_inherit(const std::string& name);
std::string inherit_name(Inherit inherit);

/// The channels each group of `kept` loses: a random choice (RandomPretrain, RandomInit) drawn
/// from `gen`, or the lowest filter L1 norms (L1Pretrain). Blocked channels are always kept.
PrunePlan plan_for_widths(const nn::Module& model, const DependencyGraph& graph,
                          const GroupWidths& kept, Inherit inherit, Generator& gen);

/// The candidate network of `plan`: surgery on `dense` (the kept slices of every weight, so the
/// next layer's inputs follow each pick), or for RandomInit the same architecture with fresh
/// weights. Every draw (the pruned network's initialisation included) comes from `gen`, never
/// from the process-wide generator.
SurgeryResult build_candidate(nn::Module& dense, const DependencyGraph& graph,
                              const PrunePlan& plan, Inherit inherit, Generator& gen);

}  // namespace shears::pruning::search
