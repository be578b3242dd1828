#pragma once

// The one-shot methods `l1` (Li et al., ICLR 2017) and `random` (its baseline): OneShotMethod,
// and the plan builder the scratch methods share.

#include <nlohmann/json.hpp>

#include "pruning/methods/method.h"
#include "pruning/methods/selection.h"

namespace shears::pruning {

/// The channels to remove from each selected group: the `n` lowest-scoring by `criterion`, with
/// n = floor(size * ratio) (`floor_count`, SFP/FPGM) or size - int(size * (1 - ratio)) (L1),
/// then round_to (removed_for; `widths` is needed for round_to: auto).
PrunePlan plan_by_criterion(const nn::Module& model, const DependencyGraph& graph,
                            const SelectionSpec& spec, Criterion criterion, bool floor_count,
                            Generator& gen, const WidthChooser* widths = nullptr);

/// The round_to a report records: the integer, or "auto".
nlohmann::json round_to_json(const SelectionSpec& spec);

/// For a summary: one entry per group `spec` selects (with global ratio `rate`), with its
/// producers, ratio, size, the kept width before round_to and the kept width of `plan`.
nlohmann::json plan_report(const nn::Module& model, const DependencyGraph& graph,
                           const PrunePlan& plan, const SelectionSpec& spec, double rate);
/// Adds "rate" (and "rates" when per-layer ratios were given) to a method report.
void add_rate_report(nlohmann::json& report, const SelectionSpec& spec, double rate);

/// L1-norm (Li et al., ICLR 2017) or random one-shot pruning, then fine-tuning with the
/// experiment's fine-tune recipe. Keys: the SelectionSpec keys (residual: skip|group) and
/// `flops_target` (a FLOPs reduction in [0, 1) reached by bisecting the global rate).
class OneShotMethod : public Method {
 public:
  OneShotMethod(const Config& section, Criterion criterion);
  std::string name() const override;
  PruneResult run(PruneContext& context) override;
  /// The plan this method would apply to `model` (and the global rate it used); `widths` chooses
  /// the kept widths for round_to: auto.
  PrunePlan plan(const nn::Module& model, const DependencyGraph& graph, const Shape& input,
                 std::uint64_t seed, double* rate_used, const WidthChooser* widths = nullptr) const;
  /// The chooser for round_to: auto over `ctx` (its model, input and width_latency), or null
  /// when round_to is not auto.
  std::unique_ptr<WidthChooser> width_chooser(const PruneContext& ctx) const;

 private:
  Criterion criterion_;
  SelectionSpec spec_;
  double flops_target_ = 0.0;
};

}  // namespace shears::pruning
