#include "pruning/search/channel_space.h"

#include <algorithm>

#include "engine/config/config.h"
#include "models/model.h"
#include "models/registry.h"
#include "pruning/cost_model.h"
#include "pruning/criteria/criterion.h"
#include "pruning/methods/selection.h"

namespace shears::pruning::search {

UnitSharing parse_unit_sharing(const std::string& name) {
  if (name == "group") return UnitSharing::Group;
  if (name == "block") return UnitSharing::Block;
  if (name == "module") return UnitSharing::Module;
  throw ConfigError("unknown unit sharing '" + name + "' (known: group, block, module)");
}

UnitSharing default_unit_sharing(const std::string& model_name) {
  if (model_name == "resnet50" || model_name == "resnet101" || model_name == "resnet152")
    return UnitSharing::Block;
  if (model_name == "googlenet") return UnitSharing::Module;
  return UnitSharing::Group;
}

namespace {
std::string first_component(const std::string& path) { return path.substr(0, path.find('.')); }
std::string parent_path(const std::string& path) {
  auto dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(0, dot);
}
bool is_conv(const nn::Module& model, const std::string& weight) {
  for (const auto& [name, t] : model.named_parameters())
    if (name == weight) return t.dim() == 4;
  return false;
}
}  // namespace

std::vector<SearchUnit> search_units(const DependencyGraph& graph, const nn::Module& model,
                                     UnitSharing sharing, const std::vector<std::string>& skip) {
  std::vector<SearchUnit> units;
  std::vector<std::string> keys;
  for (const Group& g : graph.groups()) {
    if (!g.prunable() || g.producers.empty() || g.residual) continue;
    bool conv = false;
    for (const std::string& p : g.producers) conv |= is_conv(model, p);
    if (!conv) continue;
    const std::string layer = layer_of(g.producers.front());
    if (std::find(skip.begin(), skip.end(), layer) != skip.end()) continue;
    std::string key = layer;
    if (sharing == UnitSharing::Block) {
      if (layer.find('.') == std::string::npos) continue;  // the stem is not a block's
      key = parent_path(layer);
    }
    if (sharing == UnitSharing::Module) {
      key = first_component(layer);
      bool internal = std::all_of(g.members.begin(), g.members.end(),
                                  [&](const Member& m) { return first_component(m.name) == key; });
      if (!internal) continue;
    }
    auto it = std::find(keys.begin(), keys.end(), key);
    if (it == keys.end() || sharing == UnitSharing::Group) {
      keys.push_back(key);
      units.push_back(SearchUnit{layer, {g.id}, g.size});
    } else {
      units[static_cast<std::size_t>(it - keys.begin())].groups.push_back(g.id);
    }
  }
  return units;
}

GroupWidths widths_of_code(const std::vector<SearchUnit>& units, const DependencyGraph& graph,
                           const std::vector<int>& code) {
  SHEARS_CHECK(code.size() == units.size(), "a code of ", code.size(), " values for ", units.size(),
               " search units");
  GroupWidths widths;
  for (std::size_t j = 0; j < units.size(); ++j) {
    for (int gid : units[j].groups) {
      std::int64_t size = graph.groups()[static_cast<std::size_t>(gid)].size;
      widths[gid] = std::max<std::int64_t>(1, size * code[j] / 10);
    }
  }
  return widths;
}

ArchCost::ArchCost(nn::Module& model, const DependencyGraph& graph, const Shape& input_chw) {
  // (tensor name, dim) -> (group id, group size)
  std::map<std::string, std::vector<std::pair<int, std::pair<int, std::int64_t>>>> dims;
  for (const Group& g : graph.groups())
    for (const Member& m : g.members) dims[m.name].push_back({m.dim, {g.id, g.size}});
  auto scaled_of = [&](const std::string& name, std::int64_t base) {
    Scaled s;
    s.base = base;
    auto it = dims.find(name);
    if (it != dims.end())
      for (const auto& [dim, gs] : it->second) s.dims.push_back(gs);
    return s;
  };
  // Producers that make every channel of their group give its width (in a group joined through
  // zero-padded shortcuts a producer makes only part of the channels). Residual groups are not
  // read from an architecture: they stay at full width.
  for (const Group& g : graph.groups()) {
    if (g.residual) continue;
    std::vector<std::string> layers;
    for (const std::string& p : g.producers) {
      const Member* m = g.member(p, 0);
      if (m != nullptr && std::all_of(m->positions.begin(), m->positions.end(),
                                      [](const auto& pos) { return !pos.empty(); }))
        layers.push_back(layer_of(p));
    }
    producers_.emplace_back(g.id, layers);
  }
  CostReport report = count_cost(model, input_chw);
  for (const LayerCost& l : report.layers) layers_.push_back(scaled_of(l.name, l.macs));
  for (const auto& [name, t] : model.named_parameters())
    params_.push_back(scaled_of(name, t.numel()));
  dense_ = cost(GroupWidths{});
}

std::int64_t ArchCost::scaled(const Scaled& s, const GroupWidths& kept) const {
  std::int64_t v = s.base;
  for (const auto& [gid, size] : s.dims) {
    auto it = kept.find(gid);
    if (it != kept.end()) v = v / size * it->second;
  }
  return v;
}

ArchCost::Cost ArchCost::cost(const GroupWidths& kept) const {
  Cost c;
  for (const Scaled& s : layers_) c.macs += scaled(s, kept);
  for (const Scaled& s : params_) c.params += scaled(s, kept);
  return c;
}

bool fit_budget(std::vector<int>& code, const Budget& budget, const ArchCost& costs,
                const std::vector<SearchUnit>& units, const DependencyGraph& graph,
                Generator& gen) {
  auto within = [&] {
    ArchCost::Cost c = costs.cost(widths_of_code(units, graph, code));
    return (budget.max_macs < 0 || c.macs <= budget.max_macs) &&
           (budget.max_params < 0 || c.params <= budget.max_params);
  };
  if (within()) return true;
  if (!budget.repair) return false;
  while (!within()) {
    std::vector<std::size_t> wide;
    for (std::size_t j = 0; j < code.size(); ++j)
      if (code[j] > 1) wide.push_back(j);
    if (wide.empty()) return false;
    --code[wide[static_cast<std::size_t>(gen.next_u64() % wide.size())]];
  }
  return true;
}

ArchCost::Cost ArchCost::cost(const models::Arch& arch) const {
  GroupWidths kept;
  for (const auto& [gid, layers] : producers_) {
    for (const std::string& layer : layers) {
      if (!arch.has_width(layer)) continue;
      const std::int64_t w = arch.width(layer);
      auto [it, inserted] = kept.emplace(gid, w);
      SHEARS_CHECK(inserted || it->second == w, "architecture gives layers of one channel group ",
                   "different widths (", layer, ": ", w, ", another: ", it->second, ")");
    }
  }
  return cost(kept);
}

Inherit parse_inherit(const std::string& name) {
  if (name == "random_pretrain") return Inherit::RandomPretrain;
  if (name == "l1_pretrain") return Inherit::L1Pretrain;
  if (name == "random_init") return Inherit::RandomInit;
  throw ConfigError("unknown weight inheritance '" + name +
                    "' (known: random_pretrain, l1_pretrain, random_init)");
}

std::string inherit_name(Inherit inherit) {
  switch (inherit) {
    case Inherit::RandomPretrain:
      return "random_pretrain";
    case Inherit::L1Pretrain:
      return "l1_pretrain";
    case Inherit::RandomInit:
      return "random_init";
  }
  return "";
}

PrunePlan plan_for_widths(const nn::Module& model, const DependencyGraph& graph,
                          const GroupWidths& kept, Inherit inherit, Generator& gen) {
  PrunePlan plan;
  for (const auto& [gid, k] : kept) {
    const Group& g = graph.groups()[static_cast<std::size_t>(gid)];
    const std::int64_t remove = g.size - std::min(k, g.size);
    if (remove <= 0) continue;
    if (inherit == Inherit::L1Pretrain) {
      std::vector<double> scores = group_scores(model, g, Criterion::L1, gen);
      plan[gid] = choose_channels(g, scores, remove);
      continue;
    }
    std::vector<std::int64_t> free;
    for (std::int64_t c = 0; c < g.size; ++c)
      if (!g.blocked[static_cast<std::size_t>(c)]) free.push_back(c);
    const std::int64_t keep_free =
        std::max<std::int64_t>(0, static_cast<std::int64_t>(free.size()) - remove);
    // The first keep_free entries of a partial Fisher-Yates shuffle are the kept channels.
    for (std::int64_t i = 0; i < keep_free; ++i) {
      auto span = static_cast<std::uint64_t>(static_cast<std::int64_t>(free.size()) - i);
      auto j = i + static_cast<std::int64_t>(gen.next_u64() % span);
      std::swap(free[static_cast<std::size_t>(i)], free[static_cast<std::size_t>(j)]);
    }
    std::vector<std::int64_t> removed(free.begin() + keep_free, free.end());
    std::sort(removed.begin(), removed.end());
    plan[gid] = removed;
  }
  return plan;
}

SurgeryResult build_candidate(nn::Module& dense, const DependencyGraph& graph,
                              const PrunePlan& plan, Inherit inherit, Generator& gen) {
  GeneratorScope scope(gen);
  SurgeryResult result = apply_surgery(dense, graph, plan);
  if (inherit == Inherit::RandomInit) {
    Device device = Device::cpu();
    for (auto& [name, t] : dense.named_parameters()) device = t.device();
    result.model = models::build_model(result.arch);
    result.model->to(device);
    result.model->train(dense.is_training());
  }
  return result;
}

}  // namespace shears::pruning::search
