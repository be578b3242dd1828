// One-shot pruning (Li et al., ICLR 2017): rank each selected layer's filters on the trained
// weights, remove the weakest physically, then fine-tune. Also the random baseline, and the
// plan builder shared with scratch training.
#include "pruning/methods/l1_random.h"

#include "engine/log.h"
#include "models/model.h"
#include "pruning/cost_model.h"
#include "pruning/surgery.h"

namespace shears::pruning {

PrunePlan plan_by_criterion(const nn::Module& model, const DependencyGraph& graph,
                            const SelectionSpec& spec, Criterion criterion, bool floor_count,
                            Generator& gen, const WidthChooser* widths) {
  PrunePlan plan;
  for (const SelectedGroup& s : select_groups(graph, model, spec)) {
    const Group& g = *s.group;
    std::int64_t free = std::count(g.blocked.begin(), g.blocked.end(), false);
    std::int64_t n =
        floor_count ? pruned_count_floor(g.size, s.ratio) : pruned_count_keep(g.size, s.ratio);
    n = removed_for(spec, g, g.size, n, widths);
    n = std::min(n, free - (free == g.size ? 1 : 0));
    if (n <= 0) continue;
    plan[g.id] = choose_channels(g, group_scores(model, g, criterion, gen), n);
  }
  return plan;
}

nlohmann::json plan_report(const nn::Module& model, const DependencyGraph& graph,
                           const PrunePlan& plan, const SelectionSpec& spec, double rate) {
  SelectionSpec s = spec;
  s.rate = rate;
  nlohmann::json out = nlohmann::json::array();
  for (const SelectedGroup& sel : select_groups(graph, model, s)) {
    const Group& g = *sel.group;
    auto it = plan.find(g.id);
    std::int64_t removed = it == plan.end() ? 0 : static_cast<std::int64_t>(it->second.size());
    out.push_back({{"group", g.id},
                   {"producers", g.producers},
                   {"ratio", sel.ratio},
                   {"size", g.size},
                   {"kept_before_rounding", g.size - pruned_count_keep(g.size, sel.ratio)},
                   {"kept", g.size - removed}});
  }
  return out;
}

nlohmann::json round_to_json(const SelectionSpec& spec) {
  return spec.round_auto ? nlohmann::json("auto") : nlohmann::json(spec.round_to);
}

void add_rate_report(nlohmann::json& report, const SelectionSpec& spec, double rate) {
  if (!spec.rates.empty()) {
    nlohmann::json rates = nlohmann::json::object();
    for (const auto& [k, v] : spec.rates) rates[k] = v;
    report["rates"] = rates;
    if (rate > 0) report["rate"] = rate;
  } else {
    report["rate"] = rate;
  }
}

OneShotMethod::OneShotMethod(const Config& section, Criterion criterion)
    : criterion_(criterion), spec_(SelectionSpec::parse(section, {"skip", "group"}, "skip")) {
  flops_target_ = section.get<double>("flops_target", 0.0);
  if (flops_target_ < 0 || flops_target_ >= 1) {
    throw section.error("flops_target", "must be a reduction in [0, 1)");
  }
  if (flops_target_ > 0 && spec_.rate > 0) {
    throw section.error("flops_target", "is set together with rate; choose one");
  }
}

std::string OneShotMethod::name() const {
  return criterion_ == Criterion::Random ? "random" : "l1";
}

PrunePlan OneShotMethod::plan(const nn::Module& model, const DependencyGraph& graph,
                              const Shape& input, std::uint64_t seed, double* rate_used,
                              const WidthChooser* widths) const {
  Generator gen(seed);
  if (flops_target_ <= 0) {
    if (rate_used) *rate_used = spec_.rate;
    return plan_by_criterion(model, graph, spec_, criterion_, false, gen, widths);
  }
  // A FLOPs target: bisect the global ratio until the traced reduction of the pruned
  // architecture reaches the target (the count is monotone in the ratio).
  nn::Module& m = const_cast<nn::Module&>(model);
  std::int64_t dense = count_cost(m, input).macs;
  double lo = 0.0, hi = 0.95;
  PrunePlan best;
  for (int it = 0; it < 14; ++it) {
    double mid = (lo + hi) / 2;
    SelectionSpec s = spec_;
    s.rate = mid;
    Generator g(seed);
    PrunePlan p = plan_by_criterion(model, graph, s, criterion_, false, g, widths);
    SurgeryResult r = apply_surgery(m, graph, p);
    double red = reduction_percent(dense, count_cost(*r.model, input).macs) / 100.0;
    if (red >= flops_target_) {
      hi = mid;
      best = p;
      if (rate_used) *rate_used = mid;
    } else {
      lo = mid;
    }
  }
  SHEARS_CHECK(!best.empty(), "flops_target ", flops_target_,
               " cannot be reached with the selected layers");
  return best;
}

std::unique_ptr<WidthChooser> OneShotMethod::width_chooser(const PruneContext& ctx) const {
  if (!spec_.round_auto) return nullptr;
  return std::make_unique<WidthChooser>(*ctx.model, ctx.input, ctx.width_latency,
                                        spec_.round_where);
}

PruneResult OneShotMethod::run(PruneContext& ctx) {
  DependencyGraph graph = DependencyGraph::build(*ctx.model, ctx.input);
  double rate = 0;
  std::unique_ptr<WidthChooser> widths = width_chooser(ctx);
  PrunePlan p = plan(*ctx.model, graph, ctx.input, ctx.seed, &rate, widths.get());
  SurgeryResult r = apply_surgery(*ctx.model, graph, p);
  log_info(name() + ": pruned " + std::to_string(p.size()) + " groups; fine-tuning " +
           std::to_string(ctx.recipe.epochs) + " epochs");
  if (ctx.recipe.epochs > 0) ctx.train_model(*r.model, ctx.recipe, nullptr, "finetune", nullptr);
  nlohmann::json report = {{"criterion", criterion_name(criterion_)},
                           {"residual", spec_.residual == ResidualMode::Group ? "group" : "skip"},
                           {"groups_pruned", p.size()},
                           {"round_to", round_to_json(spec_)},
                           {"groups", plan_report(*ctx.model, graph, p, spec_, rate)},
                           {"finetune_epochs", ctx.recipe.epochs}};
  add_rate_report(report, spec_, rate);
  if (flops_target_ > 0) report["flops_target"] = flops_target_;
  return PruneResult{r.model, r.arch, report.dump(), nullptr};
}

}  // namespace shears::pruning
