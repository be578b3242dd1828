#include "pruning/methods/soft.h"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "engine/log.h"
#include "pruning/cost_model.h"
#include "pruning/mask.h"
#include "pruning/surgery.h"

namespace shears::pruning {

namespace {

/// One masked unit: a whole group (channels masked in every producer) or a single conv weight.
struct Unit {
  const Group* group = nullptr;
  std::string weight;
  double ratio = 0.0;
  std::vector<std::int64_t> masked;  // channels (group) or filters (weight) currently zeroed
};

std::int64_t unit_size(nn::Module& model, const Unit& u) {
  return u.group ? u.group->size : model.tensor_at(u.weight).size(0);
}

/// Scores of the unit's channels for a criterion (summed over producers for a group).
std::vector<double> unit_scores(nn::Module& model, const Unit& u, Criterion c,
                                const std::vector<std::int64_t>& subset, Generator& gen) {
  if (c == Criterion::GeometricMedian) {
    if (u.group == nullptr) return geometric_median_distance(model.tensor_at(u.weight), subset);
    std::vector<double> sum(subset.size(), 0.0);
    for (const std::string& p : u.group->producers) {
      const Member* m = u.group->member(p, 0);
      std::vector<std::int64_t> filters;
      for (std::int64_t k : subset)
        filters.push_back(m->positions[static_cast<std::size_t>(k)].front());
      std::vector<double> g = geometric_median_distance(model.tensor_at(p), filters);
      for (std::size_t i = 0; i < g.size(); ++i) sum[i] += g[i];
    }
    return sum;
  }
  std::vector<double> all = u.group ? group_scores(model, *u.group, c, gen)
                                    : (c == Criterion::L1 ? filter_l1(model.tensor_at(u.weight))
                                                          : filter_l2(model.tensor_at(u.weight)));
  std::vector<double> out;
  for (std::int64_t k : subset) out.push_back(all[static_cast<std::size_t>(k)]);
  return out;
}

class SoftHooks : public TrainerHooks {
 public:
  SoftHooks(std::vector<Unit>& units, bool fpgm, double norm_rate, double dist_rate, bool grad_mask,
            int interval, std::int64_t epochs)
      : units_(units),
        fpgm_(fpgm),
        norm_rate_(norm_rate),
        dist_rate_(dist_rate),
        grad_mask_(grad_mask),
        interval_(interval),
        epochs_(epochs) {}

  void remask(nn::Module& model) {
    Generator gen(1);
    for (Unit& u : units_) {
      std::int64_t n = unit_size(model, u);
      std::vector<std::int64_t> all;
      for (std::int64_t k = 0; k < n; ++k)
        if (!u.group || !u.group->blocked[static_cast<std::size_t>(k)]) all.push_back(k);
      auto pick = [&](const std::vector<double>& scores, const std::vector<std::int64_t>& ids,
                      std::int64_t k) { return pick_for(u, scores, ids, k); };
      std::vector<std::int64_t> chosen;
      if (!fpgm_) {
        chosen = pick(unit_scores(model, u, Criterion::L2, all, gen), all,
                      pruned_count_floor(n, u.ratio));
      } else {
        // Norm part first, then the geometric-median distance over the remaining filters.
        double norm_share = u.ratio * norm_rate_ / std::max(norm_rate_ + dist_rate_, 1e-12);
        double dist_share = u.ratio - norm_share;
        chosen = pick(unit_scores(model, u, Criterion::L2, all, gen), all,
                      pruned_count_floor(n, norm_share));
        std::vector<std::int64_t> rest;
        for (std::int64_t k : all)
          if (!std::binary_search(chosen.begin(), chosen.end(), k)) rest.push_back(k);
        std::vector<std::int64_t> by_dist =
            pick(unit_scores(model, u, Criterion::GeometricMedian, rest, gen), rest,
                 pruned_count_floor(n, dist_share));
        chosen.insert(chosen.end(), by_dist.begin(), by_dist.end());
        std::sort(chosen.begin(), chosen.end());
      }
      u.masked = chosen;
      if (u.group) {
        mask_channels(model, *u.group, chosen, false);
      } else {
        mask_filters(model, u.weight, chosen);
      }
    }
  }

  void on_train_begin(Trainer& t) override { remask(t.model()); }
  void after_backward(Trainer& t) override {
    if (!fpgm_ || !grad_mask_) return;
    for (const Unit& u : units_) {
      if (u.group) {
        for (const std::string& p : u.group->producers) {
          const Member* m = u.group->member(p, 0);
          std::vector<std::int64_t> filters;
          for (std::int64_t k : u.masked)
            for (std::int64_t pos : m->positions[static_cast<std::size_t>(k)])
              filters.push_back(pos);
          mask_gradient(t.model(), p, filters);
        }
      } else {
        mask_gradient(t.model(), u.weight, u.masked);
      }
    }
  }
  void on_epoch_end(Trainer& t, const EpochMetrics& m) override {
    if (m.epoch % interval_ == 0 || m.epoch == epochs_) remask(t.model());
  }

 private:
  /// The k lowest-scoring of `ids` (scores aligned with ids); never all of a unit's channels.
  static std::vector<std::int64_t> pick_for(const Unit& u, const std::vector<double>& scores,
                                            const std::vector<std::int64_t>& ids, std::int64_t k) {
    if (u.group != nullptr) {
      std::vector<double> full(static_cast<std::size_t>(u.group->size),
                               std::numeric_limits<double>::infinity());
      for (std::size_t i = 0; i < ids.size(); ++i)
        full[static_cast<std::size_t>(ids[i])] = scores[i];
      return choose_channels(*u.group, full,
                             std::min<std::int64_t>(k, static_cast<std::int64_t>(ids.size()) - 1));
    }
    std::vector<std::int64_t> out;
    for (std::int64_t i :
         smallest(scores, std::min<std::int64_t>(k, static_cast<std::int64_t>(ids.size()) - 1)))
      out.push_back(ids[static_cast<std::size_t>(i)]);
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<Unit>& units_;
  bool fpgm_;
  double norm_rate_, dist_rate_;
  bool grad_mask_;
  int interval_;
  std::int64_t epochs_;
};

}  // namespace

SoftMethod::SoftMethod(const Config& s, bool fpgm) : fpgm_(fpgm) {
  if (fpgm) {
    dist_rate_ = s.get<double>("dist_rate", 0.4);
    norm_rate_ = s.get<double>("norm_rate", 0.0);
    grad_mask_ = s.get<bool>("grad_mask", true);
    if (dist_rate_ < 0 || norm_rate_ < 0 || dist_rate_ + norm_rate_ >= 1) {
      throw ConfigError(s.file() + ":" + std::to_string(s.line()) + ": '" + s.path() +
                        "': dist_rate + norm_rate must be in [0, 1)");
    }
    if (s.has("rate")) {
      throw ConfigError(s.file() + ":" + std::to_string(s.line()) + ": '" + s.path() +
                        "': fpgm takes dist_rate and norm_rate, not rate");
    }
  }
  spec_ = SelectionSpec::parse(s, {"skip", "mask", "group"}, "mask");
  if (fpgm) spec_.rate = dist_rate_ + norm_rate_;
  interval_ = s.get<int>("interval", 1);
  if (interval_ < 1) {
    throw ConfigError(s.file() + ":" + std::to_string(s.line()) + ": key '" + s.path() +
                      ".interval' must be >= 1");
  }
}

PruneResult SoftMethod::run(PruneContext& ctx) {
  nn::Module& model = *ctx.model;
  DependencyGraph graph = DependencyGraph::build(model, ctx.input);
  std::vector<Unit> units;
  for (const SelectedGroup& s : select_groups(graph, model, spec_)) {
    units.push_back(Unit{s.group, "", s.ratio, {}});
  }
  if (spec_.residual == ResidualMode::Mask) {
    // The papers' "every conv": residual convs are masked filter by filter on their own.
    std::vector<std::string> convs = conv_weights(model);
    for (const Group& g : graph.groups()) {
      if (!g.residual) continue;
      for (const std::string& p : g.producers) {
        auto it = std::find(convs.begin(), convs.end(), p);
        if (it == convs.end()) continue;
        double r = spec_.ratio_for(layer_of(p), static_cast<int>(it - convs.begin()) + 1);
        if (r > 0) units.push_back(Unit{nullptr, p, r, {}});
      }
    }
  }
  SHEARS_CHECK(!units.empty(), name(), ": no layer is selected for pruning");
  SoftHooks hooks(units, fpgm_, norm_rate_, dist_rate_, grad_mask_, interval_, ctx.recipe.epochs);
  if (ctx.recipe.epochs > 0) {
    ctx.train_model(model, ctx.recipe, &hooks, name(), nullptr);
  } else {
    hooks.remask(model);
  }
  // Hard pruning: the last masks of whole groups are removed physically.
  PrunePlan plan;
  std::int64_t masked_convs = 0;
  for (const Unit& u : units) {
    if (u.group && !u.masked.empty()) plan[u.group->id] = u.masked;
    if (!u.group) ++masked_convs;
  }
  SurgeryResult r = apply_surgery(model, graph, plan);
  nlohmann::json report = {
      {"mode", spec_.residual == ResidualMode::Mask    ? "faithful (residual convs masked)"
               : spec_.residual == ResidualMode::Group ? "extended (residual groups pruned)"
                                                       : "residual groups skipped"},
      {"groups_pruned", plan.size()},
      {"residual_convs_masked_full_width", masked_convs},
      {"epochs", ctx.recipe.epochs},
      {"interval", interval_}};
  if (fpgm_) {
    report["dist_rate"] = dist_rate_;
    report["norm_rate"] = norm_rate_;
    report["grad_mask"] = grad_mask_;
  } else {
    report["rate"] = spec_.rate;
  }
  log_info(name() + ": removed " + std::to_string(plan.size()) + " groups physically");
  return PruneResult{r.model, r.arch, report.dump()};
}

}  // namespace shears::pruning
