#include "pruning/methods/selection.h"

#include <algorithm>
#include <limits>

namespace shears::pruning {

std::string layer_of(const std::string& param) {
  auto dot = param.rfind('.');
  return dot == std::string::npos ? param : param.substr(0, dot);
}

SelectionSpec SelectionSpec::parse(const Config& s, const std::vector<std::string>& allowed,
                                   const std::string& default_residual) {
  SelectionSpec spec;
  spec.rate = s.get<double>("rate", 0.0);
  if (spec.rate < 0 || spec.rate >= 1) {
    throw s.error("rate", "must be a prune ratio in [0, 1), got " + std::to_string(spec.rate));
  }
  if (s.has("rates")) {
    Config r = s.child("rates");
    for (const std::string& key : r.keys()) {
      double v = r.get<double>(key);
      if (v < 0 || v >= 1) {
        throw r.error(key, "must be a prune ratio in [0, 1), got " + std::to_string(v));
      }
      spec.rates.emplace_back(key, v);
    }
  }
  spec.skip = s.get<std::vector<std::string>>("skip", {});
  spec.skip_conv_index = s.get<std::vector<int>>("skip_conv_index", {});
  spec.include_linear = s.get<bool>("include_linear", false);
  if (s.has("round_to") && s.get<std::string>("round_to") == "auto") {
    spec.round_auto = true;
    spec.round_where = s.location("round_to");
  } else if (s.has("round_to")) {
    try {
      spec.round_to = s.get<std::int64_t>("round_to");
    } catch (const ConfigError&) {
      throw s.error("round_to", "must be a positive channel multiple or auto, got '" +
                                    s.get<std::string>("round_to") + "'");
    }
  }
  if (spec.round_to < 1) {
    throw s.error("round_to", "must be a positive channel multiple or auto, got " +
                                  std::to_string(spec.round_to));
  }
  std::string mode = s.get<std::string>("residual", default_residual);
  if (std::find(allowed.begin(), allowed.end(), mode) == allowed.end()) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    throw s.error("residual", "must be one of " + list + ", got '" + mode + "'");
  }
  spec.residual = mode == "skip"   ? ResidualMode::Skip
                  : mode == "mask" ? ResidualMode::Mask
                                   : ResidualMode::Group;
  return spec;
}

double SelectionSpec::ratio_for(const std::string& layer, int conv_index) const {
  if (std::find(skip.begin(), skip.end(), layer) != skip.end()) return -1;
  if (conv_index > 0 && std::find(skip_conv_index.begin(), skip_conv_index.end(), conv_index) !=
                            skip_conv_index.end()) {
    return -1;
  }
  double r = rate;
  std::size_t best = 0;
  for (const auto& [prefix, v] : rates) {
    bool match = layer == prefix ||
                 (layer.size() > prefix.size() && layer.compare(0, prefix.size(), prefix) == 0 &&
                  layer[prefix.size()] == '.');
    if (match && prefix.size() >= best) {
      best = prefix.size();
      r = v;
    }
  }
  return r;
}

std::int64_t SelectionSpec::rounded_removed(std::int64_t size, std::int64_t removed) const {
  if (round_to <= 1 || size <= 0) return removed;
  std::int64_t kept = size - removed;
  std::int64_t r = ((kept + round_to / 2) / round_to) * round_to;
  if (r == 0) r = round_to;
  if (r > size) r = (size / round_to) * round_to;
  if (r == 0) r = size;
  return size - r;
}

std::int64_t removed_for(const SelectionSpec& spec, const Group& group, std::int64_t size,
                         std::int64_t removed, const WidthChooser* widths) {
  if (!spec.round_auto) return spec.rounded_removed(size, removed);
  SHEARS_CHECK_AS(ConfigError, widths != nullptr, spec.round_where,
                  ": round_to: auto needs the runner's measured latency table "
                  "(PruneContext::width_latency), and none was given");
  if (size <= 0) return removed;
  return size - widths->kept(group, size, size - removed);
}

std::vector<std::string> conv_weights(const nn::Module& model) {
  std::vector<std::string> out;
  for (auto& [name, t] : model.named_parameters()) {
    if (t.dim() == 4 && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0) {
      out.push_back(name);
    }
  }
  return out;
}

std::vector<SelectedGroup> select_groups(const DependencyGraph& graph, const nn::Module& model,
                                         const SelectionSpec& spec) {
  std::vector<std::string> convs = conv_weights(model);
  auto conv_index = [&](const std::string& w) {
    auto it = std::find(convs.begin(), convs.end(), w);
    return it == convs.end() ? 0 : static_cast<int>(it - convs.begin()) + 1;
  };
  std::vector<SelectedGroup> out;
  for (const Group& g : graph.groups()) {
    if (!g.prunable() || g.producers.empty()) continue;
    if (g.residual && spec.residual != ResidualMode::Group) continue;
    bool has_conv = false;
    for (const auto& p : g.producers) has_conv |= conv_index(p) > 0;
    if (!has_conv && !spec.include_linear) continue;
    const std::string& first = g.producers.front();
    double r = spec.ratio_for(layer_of(first), conv_index(first));
    if (r <= 0) continue;
    out.push_back(SelectedGroup{&g, r});
  }
  return out;
}

std::vector<std::int64_t> choose_channels(const Group& group, const std::vector<double>& scores,
                                          std::int64_t n) {
  std::vector<std::int64_t> order(scores.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return scores[static_cast<std::size_t>(a)] < scores[static_cast<std::size_t>(b)];
  });
  // Positions each member still has.
  std::vector<std::int64_t> left(group.members.size(), 0);
  for (std::size_t m = 0; m < group.members.size(); ++m)
    for (const auto& p : group.members[m].positions) left[m] += static_cast<std::int64_t>(p.size());
  std::vector<std::int64_t> chosen;
  for (std::int64_t k : order) {
    if (static_cast<std::int64_t>(chosen.size()) >= n) break;
    if (group.blocked[static_cast<std::size_t>(k)]) continue;
    bool ok = true;
    for (std::size_t m = 0; m < group.members.size() && ok; ++m) {
      auto c =
          static_cast<std::int64_t>(group.members[m].positions[static_cast<std::size_t>(k)].size());
      ok = c == 0 || left[m] > c;
    }
    if (!ok) continue;
    for (std::size_t m = 0; m < group.members.size(); ++m)
      left[m] -=
          static_cast<std::int64_t>(group.members[m].positions[static_cast<std::size_t>(k)].size());
    chosen.push_back(k);
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

std::vector<double> group_scores(const nn::Module& model, const Group& group, Criterion criterion,
                                 Generator& gen) {
  std::vector<double> scores(static_cast<std::size_t>(group.size), 0.0);
  if (criterion == Criterion::Random) {
    for (double& s : scores) s = gen.uniform();
    return scores;
  }
  // Each channel's score is the mean over the producers that make it: in a residual group with
  // zero-padded shortcuts, later stages' channels have more producers than earlier ones.
  std::vector<int> makers(scores.size(), 0);
  for (const std::string& producer : group.producers) {
    const Member* m = group.member(producer, 0);
    Tensor w = const_cast<nn::Module&>(model).tensor_at(producer);
    std::vector<double> filter;
    if (criterion == Criterion::L1) {
      filter = filter_l1(w);
    } else if (criterion == Criterion::L2) {
      filter = filter_l2(w);
    } else {
      // Ranked among the filters this producer makes (in a zero-padded residual group a stage's
      // producers make only part of the channels).
      std::vector<std::int64_t> made;
      for (const auto& p : m->positions) made.insert(made.end(), p.begin(), p.end());
      std::sort(made.begin(), made.end());
      made.erase(std::unique(made.begin(), made.end()), made.end());
      std::vector<double> g = geometric_median_distance(w, made);
      filter.assign(static_cast<std::size_t>(w.size(0)), 0.0);
      for (std::size_t i = 0; i < made.size(); ++i)
        filter[static_cast<std::size_t>(made[i])] = g[i];
    }
    for (std::size_t k = 0; k < scores.size(); ++k) {
      for (std::int64_t p : m->positions[k]) scores[k] += filter[static_cast<std::size_t>(p)];
      makers[k] += m->positions[k].empty() ? 0 : 1;
    }
  }
  for (std::size_t k = 0; k < scores.size(); ++k)
    if (makers[k] > 1) scores[k] /= makers[k];
  // Blocked channels can never be chosen.
  for (std::size_t k = 0; k < scores.size(); ++k) {
    if (group.blocked[k]) scores[k] = std::numeric_limits<double>::infinity();
  }
  return scores;
}

}  // namespace shears::pruning
