// The soft methods `sfp` (He et al., IJCAI 2018) and `fpgm` (He et al., CVPR 2019): one
// schedule, two filter choices (SoftVariant).
#include "pruning/methods/sfp_fpgm.h"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "engine/log.h"
#include "models/model.h"
#include "pruning/cost_model.h"
#include "pruning/mask.h"
#include "pruning/report.h"
#include "pruning/surgery.h"

namespace shears::pruning {

namespace {

/// One masked unit: a whole group (channels masked in every producer) or a single conv weight.
struct Unit {
  const Group* group = nullptr;
  std::string weight;
  double ratio = 0.0;
  std::vector<std::int64_t> masked;  // channels (group) or filters (weight) currently zeroed
  const Group* site = nullptr;  // the group whose width round_to: auto chooses (group_of(weight))
};

std::int64_t unit_size(nn::Module& model, const Unit& u) {
  return u.group ? u.group->size : model.tensor_at(u.weight).size(0);
}

/// Scores of the unit's channels `subset` for a criterion. For a group: the mean over the
/// producers that make each channel, each producer ranked among the channels of `subset` it
/// makes (see group_scores).
std::vector<double> unit_scores(nn::Module& model, const Unit& u, Criterion c,
                                const std::vector<std::int64_t>& subset, Generator& gen) {
  if (c == Criterion::GeometricMedian) {
    if (u.group == nullptr) return geometric_median_distance(model.tensor_at(u.weight), subset);
    std::vector<double> sum(subset.size(), 0.0);
    std::vector<int> makers(subset.size(), 0);
    for (const std::string& p : u.group->producers) {
      const Member* m = u.group->member(p, 0);
      std::vector<std::int64_t> filters;
      std::vector<std::size_t> slot;  // index into subset of each filter
      for (std::size_t i = 0; i < subset.size(); ++i) {
        for (std::int64_t pos : m->positions[static_cast<std::size_t>(subset[i])]) {
          filters.push_back(pos);
          slot.push_back(i);
        }
      }
      if (filters.empty()) continue;
      std::vector<double> g = geometric_median_distance(model.tensor_at(p), filters);
      std::vector<bool> counted(subset.size(), false);
      for (std::size_t j = 0; j < g.size(); ++j) {
        sum[slot[j]] += g[j];
        if (!counted[slot[j]]) ++makers[slot[j]], counted[slot[j]] = true;
      }
    }
    for (std::size_t i = 0; i < sum.size(); ++i) {
      sum[i] = makers[i] > 0 ? sum[i] / makers[i] : std::numeric_limits<double>::infinity();
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
  SoftHooks(std::vector<Unit>& units, const SelectionSpec& spec, bool fpgm, double norm_rate,
            double dist_rate, bool grad_mask, bool mask_momentum, int interval, std::int64_t epochs,
            const WidthChooser* widths)
      : units_(units),
        spec_(spec),
        fpgm_(fpgm),
        norm_rate_(norm_rate),
        dist_rate_(dist_rate),
        grad_mask_(grad_mask),
        mask_momentum_(mask_momentum),
        interval_(interval),
        epochs_(epochs),
        widths_(widths) {}

  /// What round_to makes of `removed` of the unit's `n` channels (removed_for; a unit without a
  /// group to measure rounds to 8 under round_to: auto).
  std::int64_t rounded(const Unit& u, std::int64_t n, std::int64_t removed) const {
    if (spec_.round_auto && u.site == nullptr) {
      SelectionSpec eight = spec_;
      eight.round_auto = false;
      eight.round_to = 8;
      return eight.rounded_removed(n, removed);
    }
    if (spec_.round_auto) return removed_for(spec_, *u.site, n, removed, widths_);
    return spec_.rounded_removed(n, removed);
  }

  /// Chooses every unit's masked set afresh on the current weights and zeroes it.
  void remask(nn::Module& model, optim::Sgd* optimizer) {
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
        // Counts as the paper: floor(N * p), then the budget's round_to on the kept width.
        std::int64_t total = rounded(u, n, pruned_count_floor(n, u.ratio));
        chosen = pick(unit_scores(model, u, Criterion::L2, all, gen), all, total);
      } else {
        // Norm part first, then the geometric-median distance over the remaining filters; each
        // part floored on its own as the reference counts (floor(N * norm) + floor(N * dist)),
        // round_to then applied to the kept width and taken from the distance part.
        double norm_share = u.ratio * norm_rate_ / std::max(norm_rate_ + dist_rate_, 1e-12);
        double dist_share = u.ratio - norm_share;
        std::int64_t total =
            rounded(u, n, pruned_count_floor(n, norm_share) + pruned_count_floor(n, dist_share));
        std::int64_t by_norm = std::min(total, pruned_count_floor(n, norm_share));
        chosen = pick(unit_scores(model, u, Criterion::L2, all, gen), all, by_norm);
        std::vector<std::int64_t> rest;
        for (std::int64_t k : all)
          if (!std::binary_search(chosen.begin(), chosen.end(), k)) rest.push_back(k);
        std::vector<std::int64_t> by_dist =
            pick(unit_scores(model, u, Criterion::GeometricMedian, rest, gen), rest,
                 total - static_cast<std::int64_t>(chosen.size()));
        chosen.insert(chosen.end(), by_dist.begin(), by_dist.end());
        std::sort(chosen.begin(), chosen.end());
      }
      u.masked = chosen;
    }
    apply(model, optimizer);
  }

  /// Zeroes every unit's current masked set (and, with mask_momentum, its momentum).
  void apply(nn::Module& model, optim::Sgd* optimizer) {
    optim::Sgd* opt = mask_momentum_ ? optimizer : nullptr;
    for (const Unit& u : units_) {
      if (u.group) {
        mask_channels(model, *u.group, u.masked, false, opt);
      } else {
        mask_filters(model, u.weight, u.masked, opt);
      }
    }
  }

  void on_train_begin(Trainer& t) override {
    // A fresh run masks before training. A resumed one continues with the masks it had: the
    // checkpoint holds the weights as they were (regrown between re-masks for SFP), and the
    // restored sets drive FPGM's gradient masking and the export.
    if (!restored_) remask(t.model(), &t.optimizer());
  }
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
  /// The reference re-masks after epoch e (0-based) when e % interval == 0 or e is the last, and
  /// validates the masked network.
  void on_train_epoch_end(Trainer& t, std::int64_t epoch) override {
    if (epoch % interval_ == 0 || epoch == epochs_ - 1) remask(t.model(), &t.optimizer());
  }
  std::string state() const override {
    nlohmann::json units = nlohmann::json::array();
    for (const Unit& u : units_) units.push_back(u.masked);
    return nlohmann::json{{"masked", units}}.dump();
  }
  void load_state(const std::string& text) override {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw Error(std::string("soft-pruning masks do not parse: ") + e.what());
    }
    SHEARS_CHECK(
        j.contains("masked") && j["masked"].is_array() && j["masked"].size() == units_.size(),
        "soft-pruning masks: expected ", units_.size(), " masked sets");
    for (std::size_t i = 0; i < units_.size(); ++i) {
      units_[i].masked = j["masked"][i].get<std::vector<std::int64_t>>();
    }
    restored_ = true;
  }

 private:
  /// The k lowest-scoring of `ids` (scores aligned with ids); never all of a unit's channels.
  static std::vector<std::int64_t> pick_for(const Unit& u, const std::vector<double>& scores,
                                            const std::vector<std::int64_t>& ids, std::int64_t k) {
    if (k <= 0) return {};
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
  const SelectionSpec& spec_;
  bool fpgm_;
  double norm_rate_, dist_rate_;
  bool grad_mask_, mask_momentum_;
  int interval_;
  std::int64_t epochs_;
  const WidthChooser* widths_;
  bool restored_ = false;
};

bool is_cifar_resnet(const std::string& name) {
  return name == "resnet20" || name == "resnet32" || name == "resnet44" || name == "resnet56" ||
         name == "resnet110";
}

}  // namespace

SoftMethod::SoftMethod(const Config& s, SoftVariant variant) : fpgm_(variant == SoftVariant::Fpgm) {
  if (fpgm_) {
    dist_rate_ = s.get<double>("dist_rate", 0.4);
    norm_rate_ = s.get<double>("norm_rate", 0.0);
    grad_mask_ = s.get<bool>("grad_mask", true);
    if (dist_rate_ < 0 || norm_rate_ < 0 || dist_rate_ + norm_rate_ >= 1) {
      throw s.error("dist_rate", "plus norm_rate must be in [0, 1)");
    }
    if (s.has("rate")) {
      throw s.error("rate", "is not a key of fpgm: it takes dist_rate and norm_rate");
    }
  }
  spec_ = SelectionSpec::parse(s, {"skip", "mask", "group"}, "mask");
  if (fpgm_) spec_.rate = dist_rate_ + norm_rate_;
  interval_ = s.get<int>("interval", 1);
  if (interval_ < 1) {
    throw s.error("interval", "must be >= 1");
  }
  mask_momentum_ = s.get<bool>("mask_momentum", false);
  skip_downsample_ = s.get<bool>("skip_downsample", true);
}

PruneResult SoftMethod::run(PruneContext& ctx) {
  nn::Module& model = *ctx.model;
  DependencyGraph graph = DependencyGraph::build(model, ctx.input);
  std::vector<Unit> units;
  for (const SelectedGroup& s : select_groups(graph, model, spec_)) {
    units.push_back(Unit{s.group, "", s.ratio, {}, s.group});
  }
  if (spec_.residual == ResidualMode::Mask) {
    // The papers' "every conv": residual convs are masked filter by filter on their own; the
    // reference leaves ImageNet ResNets' projection (downsample) convs alone.
    std::vector<std::string> convs = conv_weights(model);
    for (const Group& g : graph.groups()) {
      if (!g.residual) continue;
      for (const std::string& p : g.producers) {
        auto it = std::find(convs.begin(), convs.end(), p);
        if (it == convs.end()) continue;
        if (skip_downsample_ && p.find("downsample") != std::string::npos) continue;
        double r = spec_.ratio_for(layer_of(p), static_cast<int>(it - convs.begin()) + 1);
        if (r > 0) units.push_back(Unit{nullptr, p, r, {}, graph.group_of(p)});
      }
    }
  }
  SHEARS_CHECK(!units.empty(), name(), ": no layer is selected for pruning");
  std::unique_ptr<WidthChooser> widths;
  if (spec_.round_auto)
    widths = std::make_unique<WidthChooser>(model, ctx.input, ctx.width_latency, spec_.round_where);
  SoftHooks hooks(units, spec_, fpgm_, norm_rate_, dist_rate_, grad_mask_, mask_momentum_,
                  interval_, ctx.recipe.epochs, widths.get());
  if (ctx.recipe.epochs > 0) {
    ctx.train_model(model, ctx.recipe, &hooks, name(), nullptr);
  } else {
    hooks.remask(model, nullptr);
  }
  // Export: the masked channels of whole groups are removed physically, their BN constants
  // folded into the consumers, so the small network computes what the masked one does.
  PrunePlan plan;
  std::int64_t masked_convs = 0;
  for (const Unit& u : units) {
    if (u.group && !u.masked.empty()) plan[u.group->id] = u.masked;
    if (!u.group) ++masked_convs;
  }
  Generator probe_gen(ctx.seed + 17);
  Tensor probe = rand_uniform({2, ctx.input[0], ctx.input[1], ctx.input[2]}, -2.0, 2.0, probe_gen,
                              DType::F32, ctx.device);
  MaskedExport ex = export_masked(model, graph, plan, probe);
  SurgeryResult& r = ex.surgery;

  // FLOPs three ways: the traced count of the export (the summary's), the count of the
  // reference export (which also computes only the kept filters of residual convs), and the
  // papers' analytic figure.
  CostReport dense_cost = count_cost(model, ctx.input);
  CostReport exported_cost = count_cost(*r.model, ctx.input);
  double reference_macs = static_cast<double>(exported_cost.macs);
  nlohmann::json unit_report = nlohmann::json::array();
  for (const Unit& u : units) {
    std::int64_t size = unit_size(model, u);
    nlohmann::json j = {{"ratio", u.ratio}, {"size", size}};
    if (u.group) {
      std::int64_t removed = 0;
      if (ex.removed.count(u.group->id))
        removed = static_cast<std::int64_t>(ex.removed.at(u.group->id).size());
      j["group"] = u.group->id;
      j["producers"] = u.group->producers;
      j["masked"] = u.masked.size();
      j["kept"] = size - removed;
    } else {
      j["layer"] = layer_of(u.weight);
      j["masked"] = u.masked.size();
      j["kept"] = size;  // stays at full width, masked filters computed as zeros
      for (const LayerCost& l : exported_cost.layers) {
        if (l.name == u.weight) {
          reference_macs -= static_cast<double>(l.macs) * static_cast<double>(u.masked.size()) /
                            static_cast<double>(size);
        }
      }
    }
    j["kept_before_rounding"] = size - pruned_count_floor(size, u.ratio);
    unit_report.push_back(j);
  }
  std::int64_t not_constant = 0;
  for (const auto& [gid, ks] : ex.not_constant)
    not_constant += static_cast<std::int64_t>(ks.size());
  nlohmann::json flops = {
      {"traced_dense_macs", dense_cost.macs},
      {"traced_exported_macs", exported_cost.macs},
      {"traced_exported_reduction_percent", reduction_percent(dense_cost.macs, exported_cost.macs)},
      {"reference_export_macs", reference_macs},
      {"reference_export_reduction_percent",
       100.0 * (1.0 -
                reference_macs / static_cast<double>(std::max<std::int64_t>(dense_cost.macs, 1)))}};
  models::Arch arch = models::arch_of(model);
  bool uniform = spec_.rates.empty() && spec_.skip.empty() && spec_.skip_conv_index.empty() &&
                 spec_.residual == ResidualMode::Mask && spec_.round_to == 1 && !spec_.round_auto;
  if (is_cifar_resnet(arch.name) && uniform) {
    flops["analytic_paper_reduction_percent"] =
        analytic_sfp_flops_reduction(arch, 1.0 - spec_.rate);
    flops["analytic_paper_keep_ratio"] = 1.0 - spec_.rate;
  } else {
    flops["analytic_paper_reduction_percent"] = nullptr;
    flops["analytic_paper_note"] =
        "the papers' analytic count applies to CIFAR ResNets with one ratio on every conv";
  }
  nlohmann::json report = {
      {"mode", spec_.residual == ResidualMode::Mask    ? "faithful (residual convs masked)"
               : spec_.residual == ResidualMode::Group ? "extended (residual groups pruned)"
                                                       : "residual groups skipped"},
      {"groups_pruned", ex.removed.size()},
      {"residual_convs_masked_full_width", masked_convs},
      {"channels_kept_not_constant", not_constant},
      {"constants_folded_into", ex.folded},
      {"epochs", ctx.recipe.epochs},
      {"interval", interval_},
      {"mask_momentum", mask_momentum_},
      {"skip_downsample", skip_downsample_},
      {"round_to", spec_.round_auto ? nlohmann::json("auto") : nlohmann::json(spec_.round_to)},
      {"units", unit_report},
      {"flops", flops}};
  if (fpgm_) {
    report["dist_rate"] = dist_rate_;
    report["norm_rate"] = norm_rate_;
    report["grad_mask"] = grad_mask_;
  } else {
    report["rate"] = spec_.rate;
  }
  if (!spec_.rates.empty()) {
    nlohmann::json rates = nlohmann::json::object();
    for (const auto& [k, v] : spec_.rates) rates[k] = v;
    report["rates"] = rates;
  }
  log_info(name() + ": removed " + std::to_string(ex.removed.size()) +
           " groups physically, constants folded into " + std::to_string(ex.folded.size()) +
           " layers");
  PruneResult result{r.model, r.arch, report.dump(), nullptr};
  result.trained = ctx.model;
  return result;
}

}  // namespace shears::pruning
