#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/config/config.h"
#include "engine/nn/module.h"
#include "pruning/criteria/criterion.h"
#include "pruning/dependency.h"
#include "pruning/width_choice.h"

namespace shears::pruning {

/// How residual-coupled channels (the stem, block outputs, projections) are treated.
enum class ResidualMode {
  Skip,   // left alone, as L1 and the seed papers' residual handling
  Mask,   // SFP/FPGM faithful mode: each conv's filters masked on their own; kept full width
  Group,  // extension: the whole group pruned together, ranked by the mean over its producers
};

/// Which layers a method prunes and at what ratio, read from the `prune:` section:
///   rate: 0.4                    prune ratio of every selected layer
///   rates: {layer1: 0.6, ...}    per-layer ratios by longest layer-path prefix (overrides rate)
///   skip: [layer1.0.conv1, ...]  layer paths left alone
///   skip_conv_index: [16, 20]    1-based conv numbers in network order (stem = 1), as Li et al.
///   residual: skip|mask|group    residual-coupled channels (mask only for sfp/fpgm)
///   include_linear: false        also prune hidden FC layers (VGG's classifier)
///   round_to: 1                  kept widths rounded to multiples of N (see rounded_removed), or
///                                `auto`: chosen from measured latencies (see removed_for)
struct SelectionSpec {
  double rate = 0.0;
  std::vector<std::pair<std::string, double>> rates;
  std::vector<std::string> skip;
  std::vector<int> skip_conv_index;
  ResidualMode residual = ResidualMode::Skip;
  bool include_linear = false;
  std::int64_t round_to = 1;
  bool round_auto = false;  // round_to: auto
  std::string round_where;  // where round_to was set (file:line), for errors

  /// Parses the keys above from `section`; `allowed_residual` lists the modes the method accepts.
  static SelectionSpec parse(const Config& section,
                             const std::vector<std::string>& allowed_residual,
                             const std::string& default_residual);
  /// The ratio for a producer layer path ("layer1.0.conv1"), or a negative value when skipped.
  double ratio_for(const std::string& layer, int conv_index) const;
  /// The number of channels to remove from a unit of `size` channels when the ratio alone would
  /// remove `removed`: the kept width size - removed rounded to the nearest multiple of
  /// round_to (halves up), never to zero (at least round_to, or size when size < round_to) and
  /// never above size. With round_to 1, `removed` unchanged.
  std::int64_t rounded_removed(std::int64_t size, std::int64_t removed) const;
};

/// The number of channels to remove from `group` (`size` channels) when its ratio alone would
/// remove `removed`: rounded_removed for an integer round_to; for round_to: auto, size minus
/// `widths`'s choice (the kept width is never below what the ratio keeps). Throws ConfigError when
/// round_to is auto and `widths` is null.
std::int64_t removed_for(const SelectionSpec& spec, const Group& group, std::int64_t size,
                         std::int64_t removed, const WidthChooser* widths);

/// A group chosen for pruning with the ratio that applies to it.
struct SelectedGroup {
  const Group* group = nullptr;
  double ratio = 0.0;
};

/// The groups of `graph` that `spec` selects: prunable groups made by at least one conv (or a
/// linear layer when include_linear), residual groups only in Group mode. A group's ratio is
/// that of its first producer.
std::vector<SelectedGroup> select_groups(const DependencyGraph& graph, const nn::Module& model,
                                         const SelectionSpec& spec);

/// Every conv weight (rank-4 parameter named "*.weight") in network order with its 1-based index.
std::vector<std::string> conv_weights(const nn::Module& model);

/// Per-channel importance of a group: the criterion of its producers' filters at each channel's
/// positions, averaged (not summed) over the producers that make the channel, so channels made
/// by more producers (later stages of a zero-padded residual stream) are not favoured; for a
/// one-producer group, exactly the per-filter criterion. The seed papers rank one conv at a time
/// and never combine producers; averaging follows the dependency-group mode of docs/methods.md §9.
/// For the geometric median each producer is ranked among the filters it makes.
std::vector<double> group_scores(const nn::Module& model, const Group& group, Criterion criterion,
                                 Generator& gen);

/// The `n` lowest-scoring channels of `group` among `candidates` (all when empty), skipping any
/// channel whose removal would leave a member with no position at all (in a residual group with
/// zero-padded shortcuts, a stage's producers own only part of the channels). Sorted by index.
std::vector<std::int64_t> choose_channels(const Group& group, const std::vector<double>& scores,
                                          std::int64_t n);

/// The layer path of a parameter name ("layer1.0.conv1.weight" -> "layer1.0.conv1").
std::string layer_of(const std::string& param);

}  // namespace shears::pruning
