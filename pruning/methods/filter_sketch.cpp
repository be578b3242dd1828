// FilterSketch (Lin et al., "Toward Compact ConvNets via Structure-Sparsity Regularized Filter
// Pruning" / FilterSketch, 2020; methods.md section 4): each selected layer's N filters are
// replaced by l = int(r N) Frequent-Directions sketch rows, built into a smaller network by the
// replacement surgery, then fine-tuned.
#include "pruning/methods/filter_sketch.h"

#include <cctype>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/log.h"
#include "models/model.h"
#include "models/registry.h"
#include "pruning/criteria/frequent_directions.h"

namespace shears::pruning {

namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string where_of(const Config& section, const std::string& key) {
  return section.location(key) + ": key '" + section.path() + "." + key + "'";
}

}  // namespace

std::vector<std::vector<std::string>> sketch_units(const nn::Module& model) {
  const models::Arch arch = models::arch_of(model);
  const std::string family = models::model_info(arch.name).family;
  std::vector<std::vector<std::string>> units;
  for (const auto& [layer, width] : arch.widths) {
    (void)width;
    if (family == "resnet_cifar" || family == "resnet_imagenet") {
      if (!starts_with(layer, "layer")) continue;
      if (ends_with(layer, ".conv1")) {
        units.push_back({layer});
      } else if (ends_with(layer, ".conv2") &&
                 arch.has_width(layer.substr(0, layer.size() - 6) + ".conv3")) {
        units.back().push_back(layer);  // bottleneck: conv2 shares its block's rate
      }
    } else if (family == "googlenet") {
      if (ends_with(layer, ".branch3x3.0")) {
        units.push_back({layer});
      } else if (ends_with(layer, ".branch5x5.0")) {
        units.back().push_back(layer);
      } else if (ends_with(layer, ".branch5x5.3")) {
        units.back().push_back(layer);
      }
    } else {
      throw ConfigError("filtersketch: model '" + arch.name + "' (" + family +
                        ") has no FilterSketch layer selection; supported: CIFAR ResNets, "
                        "ImageNet ResNets, googlenet");
    }
  }
  return units;
}

std::vector<double> parse_sketch_rates(const std::string& text, const std::string& where) {
  std::string s;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) s += c;
  auto fail = [&]() -> std::vector<double> {
    throw ConfigError(where + ": cannot read sketch rates '" + text +
                      "'; write a number, a list, or terms like '[0.6]*27' joined by '+'");
  };
  std::vector<double> out;
  if (s.empty()) return fail();
  if (s.front() != '[') {
    try {
      std::size_t used = 0;
      double v = std::stod(s, &used);
      if (used != s.size()) return fail();
      return {v};
    } catch (const std::exception&) {
      return fail();
    }
  }
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '[') return fail();
    const std::size_t close = s.find(']', i);
    if (close == std::string::npos) return fail();
    std::vector<double> term;
    std::stringstream items(s.substr(i + 1, close - i - 1));
    std::string item;
    while (std::getline(items, item, ',')) {
      try {
        std::size_t used = 0;
        term.push_back(std::stod(item, &used));
        if (used != item.size()) return fail();
      } catch (const std::exception&) {
        return fail();
      }
    }
    if (term.empty()) return fail();
    i = close + 1;
    long repeat = 1;
    if (i < s.size() && s[i] == '*') {
      std::size_t end = i + 1;
      while (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end]))) ++end;
      if (end == i + 1) return fail();
      repeat = std::stol(s.substr(i + 1, end - i - 1));
      i = end;
    }
    for (long r = 0; r < repeat; ++r) out.insert(out.end(), term.begin(), term.end());
    if (i < s.size()) {
      if (s[i] != '+') return fail();
      ++i;
      if (i == s.size()) return fail();
    }
  }
  return out;
}

ReplacementPlan sketch_plan(const nn::Module& model, const DependencyGraph& graph,
                            const std::vector<double>& rates, SketchMode mode,
                            std::vector<SketchLayer>* layers) {
  const auto units = sketch_units(model);
  const std::string arch_name = models::arch_of(model).name;
  if (rates.size() != 1 && rates.size() != units.size()) {
    throw ConfigError("filtersketch: " + arch_name + " has " + std::to_string(units.size()) +
                      " sketch units (one rate each, or one rate for all), got " +
                      std::to_string(rates.size()) + " rates");
  }
  ReplacementPlan plan;
  std::map<std::string, int> replaced_group;  // producer weight -> group id
  nn::Module& m = const_cast<nn::Module&>(model);
  for (std::size_t u = 0; u < units.size(); ++u) {
    const double rate = rates.size() == 1 ? rates[0] : rates[u];
    if (!(rate > 0.0 && rate <= 1.0)) {
      throw ConfigError("filtersketch: keep rate " + std::to_string(rate) + " of unit " +
                        std::to_string(u) + " (" + units[u].front() + ") is outside (0, 1]");
    }
    for (const std::string& layer : units[u]) {
      const std::string wname = layer + ".weight";
      const Tensor w = m.tensor_at(wname);
      SHEARS_CHECK(w.dim() == 4, "filtersketch: '", wname, "' is not a conv weight");
      const Group* g = graph.group_of(wname);
      SHEARS_CHECK(g != nullptr, "filtersketch: '", wname, "' makes no channel group");
      SHEARS_CHECK(!g->residual && g->producers.size() == 1, "filtersketch: the channels of '",
                   layer, "' are residual-coupled or shared; FilterSketch sketches inner layers");
      const std::int64_t n = w.size(0), d = w.numel() / n;
      // int(N * r) as the reference computes it, at least one filter.
      const std::int64_t l =
          std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(n) * rate));
      SketchLayer info{layer, n, l, false};
      if (l >= d) {
        info.copied = true;
        info.width = n;
      } else if (l < n) {
        plan.widths[g->id] = l;
        replaced_group[wname] = g->id;
      }
      if (layers) layers->push_back(info);
    }
  }
  // New values for every conv touched by a replaced group: filters first, then input channels.
  for (auto& [name, t] : m.named_parameters()) {
    if (t.dim() != 4) continue;
    const bool out_sketched = replaced_group.count(name) > 0;
    std::int64_t in_width = 0;
    for (const auto& [gid, width] : plan.widths) {
      if (graph.groups()[static_cast<std::size_t>(gid)].member(name, 1)) in_width = width;
    }
    if (!out_sketched && in_width == 0) continue;
    Tensor w = t.detach();
    if (out_sketched) w = sketch_filters(w, plan.widths.at(replaced_group.at(name)));
    if (in_width > 0) w = sketch_channels(w, in_width, mode == SketchMode::Faithful);
    plan.tensors[name] = w;
    const std::string bias = name.substr(0, name.size() - 7) + ".bias";
    if (out_sketched) {
      for (auto& [pname, p] : m.named_parameters()) {
        if (pname == bias) {
          plan.tensors[bias] = Tensor::zeros({w.size(0)}, p.dtype(), p.device());
        }
      }
    }
  }
  return plan;
}

FilterSketchMethod::FilterSketchMethod(const Config& section) {
  where_ = where_of(section, "sketch_rates");
  try {
    rates_ = section.get<std::vector<double>>("sketch_rates");
  } catch (const ConfigError&) {
    rates_ = parse_sketch_rates(section.get<std::string>("sketch_rates"), where_);
  }
  if (rates_.empty()) throw ConfigError(where_ + ": needs at least one keep rate");
  for (double r : rates_) {
    if (!(r > 0.0 && r <= 1.0)) {
      throw ConfigError(where_ + ": keep rate " + std::to_string(r) + " is outside (0, 1]");
    }
  }
  const std::string mode = section.get("mode", "faithful");
  if (mode == "faithful") {
    mode_ = SketchMode::Faithful;
  } else if (mode == "corrected") {
    mode_ = SketchMode::Corrected;
  } else {
    throw ConfigError(where_of(section, "mode") + ": '" + mode +
                      "' is not a FilterSketch mode (faithful, corrected)");
  }
}

PruneResult FilterSketchMethod::run(PruneContext& ctx) {
  DependencyGraph graph = DependencyGraph::build(*ctx.model, ctx.input);
  std::vector<SketchLayer> layers;
  ReplacementPlan plan;
  try {
    plan = sketch_plan(*ctx.model, graph, rates_, mode_, &layers);
  } catch (const ConfigError& e) {
    throw ConfigError(where_ + ": " + e.what());
  }
  SurgeryResult r = apply_replacement(*ctx.model, graph, plan);
  nlohmann::json sketched = nlohmann::json::array(), copied = nlohmann::json::array();
  for (const SketchLayer& s : layers) {
    if (s.copied) {
      copied.push_back(s.layer);
    } else {
      sketched.push_back({{"layer", s.layer}, {"filters", s.filters}, {"width", s.width}});
    }
  }
  const char* mode = mode_ == SketchMode::Faithful ? "faithful" : "corrected";
  log_info("filtersketch (" + std::string(mode) + "): sketched " +
           std::to_string(plan.widths.size()) + " layers, copied " + std::to_string(copied.size()) +
           "; fine-tuning " + std::to_string(ctx.recipe.epochs) + " epochs");
  if (ctx.recipe.epochs > 0) ctx.train_model(*r.model, ctx.recipe, nullptr, "finetune", nullptr);
  nlohmann::json report = {{"mode", mode},        {"sketch_rates", rates_},
                           {"weight_norm", "l2"}, {"sketched", sketched},
                           {"copied", copied},    {"finetune_epochs", ctx.recipe.epochs}};
  return PruneResult{r.model, r.arch, report.dump(), nullptr};
}

}  // namespace shears::pruning
