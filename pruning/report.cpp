#include "pruning/report.h"

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/autograd/op_table.h"
#include "engine/rng.h"
#include "kernels/common/error.h"
#include "models/registry.h"
#include "models/resnet_cifar.h"

namespace shears::pruning {

namespace {

/// Where a conv of a CIFAR ResNet sits, by its weight name.
enum class CifarConv { Stem, FirstBlockFirst, BlockFirst, BlockSecond, Projection, Unknown };

/// "layerS.B.<rest>" with S in 1..3 and B a block number: `rest`, or "" when not of that form.
std::string block_rest(const std::string& name, int& stage, int& block) {
  if (name.compare(0, 5, "layer") != 0 || name.size() < 9) return "";
  const char s = name[5];
  if (s < '1' || s > '3' || name[6] != '.') return "";
  std::size_t i = 7;
  std::size_t digits = 0;
  block = 0;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9') {
    block = block * 10 + (name[i] - '0');
    ++i;
    ++digits;
  }
  if (digits == 0 || i >= name.size() || name[i] != '.') return "";
  stage = s - '0';
  return name.substr(i + 1);
}

CifarConv classify(const std::string& name) {
  if (name == "conv1.weight") return CifarConv::Stem;
  int stage = 0, block = 0;
  const std::string rest = block_rest(name, stage, block);
  if (rest == "conv1.weight") {
    return stage == 1 && block == 0 ? CifarConv::FirstBlockFirst : CifarConv::BlockFirst;
  }
  if (rest == "conv2.weight") return CifarConv::BlockSecond;
  if (rest == "downsample.0.weight") return CifarConv::Projection;
  return CifarConv::Unknown;
}

nlohmann::json shape_json(const Shape& shape) {
  nlohmann::json out = nlohmann::json::array();
  for (std::int64_t s : shape) out.push_back(s);
  return out;
}

}  // namespace

CostComparison compare_costs(const CostReport& dense, const CostReport& pruned) {
  std::map<std::string, std::size_t> pruned_index;
  for (std::size_t i = 0; i < pruned.layers.size(); ++i) {
    const bool fresh = pruned_index.emplace(pruned.layers[i].name, i).second;
    SHEARS_CHECK(fresh, "compare_costs: the pruned report names layer ", pruned.layers[i].name,
                 " twice");
  }
  CostComparison out;
  std::map<std::string, bool> seen;
  std::vector<bool> matched(pruned.layers.size(), false);
  for (const LayerCost& d : dense.layers) {
    SHEARS_CHECK(seen.emplace(d.name, true).second, "compare_costs: the dense report names layer ",
                 d.name, " twice");
    LayerCostChange c;
    c.name = d.name;
    c.op = d.op;
    c.weight_before = d.weight_shape;
    c.macs_before = d.macs;
    c.params_before = d.params;
    auto it = pruned_index.find(d.name);
    if (it != pruned_index.end()) {
      const LayerCost& p = pruned.layers[it->second];
      matched[it->second] = true;
      c.weight_after = p.weight_shape;
      c.macs_after = p.macs;
      c.params_after = p.params;
    }
    c.macs_reduction_percent = reduction_percent(c.macs_before, c.macs_after);
    out.layers.push_back(c);
  }
  for (std::size_t i = 0; i < pruned.layers.size(); ++i) {
    if (matched[i]) continue;
    const LayerCost& p = pruned.layers[i];
    LayerCostChange c;
    c.name = p.name;
    c.op = p.op;
    c.weight_after = p.weight_shape;
    c.macs_after = p.macs;
    c.params_after = p.params;
    out.layers.push_back(c);
  }
  out.macs_before = dense.macs;
  out.macs_after = pruned.macs;
  out.params_before = dense.params;
  out.params_after = pruned.params;
  out.macs_reduction_percent = reduction_percent(dense.macs, pruned.macs);
  out.params_reduction_percent = reduction_percent(dense.params, pruned.params);
  return out;
}

std::string cost_comparison_json(const CostComparison& comparison) {
  // nlohmann::ordered_json keeps the documented key order in the written file.
  nlohmann::ordered_json out;
  out["macs_before"] = comparison.macs_before;
  out["macs_after"] = comparison.macs_after;
  out["macs_reduction_percent"] = comparison.macs_reduction_percent;
  out["params_before"] = comparison.params_before;
  out["params_after"] = comparison.params_after;
  out["params_reduction_percent"] = comparison.params_reduction_percent;
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const LayerCostChange& c : comparison.layers) {
    nlohmann::ordered_json l;
    l["name"] = c.name;
    l["op"] = c.op;
    l["weight_before"] = shape_json(c.weight_before);
    l["weight_after"] = shape_json(c.weight_after);
    l["macs_before"] = c.macs_before;
    l["macs_after"] = c.macs_after;
    l["macs_reduction_percent"] = c.macs_reduction_percent;
    l["params_before"] = c.params_before;
    l["params_after"] = c.params_after;
    layers.push_back(std::move(l));
  }
  out["layers"] = std::move(layers);
  return out.dump();
}

AnalyticFlops analytic_sfp_flops(const CostReport& dense, double keep_ratio) {
  SHEARS_CHECK_AS(ConfigError, keep_ratio > 0.0 && keep_ratio <= 1.0,
                  "analytic SFP FLOPs: keep ratio ", keep_ratio, " is outside (0, 1]");
  const double r = keep_ratio;
  AnalyticFlops out;
  for (const LayerCost& layer : dense.layers) {
    if (layer.op != op_name(Op::Conv2d)) continue;
    double factor = 1.0;
    switch (classify(layer.name)) {
      case CifarConv::Stem:
      case CifarConv::BlockFirst:
        factor = r;
        break;
      case CifarConv::FirstBlockFirst:
      case CifarConv::BlockSecond:
        factor = r * r;
        break;
      case CifarConv::Projection:
        factor = 1.0;
        break;
      case CifarConv::Unknown:
        throw ConfigError("analytic SFP FLOPs: conv '" + layer.name +
                          "' is not a CIFAR ResNet layer (conv1, layerS.B.conv1, layerS.B.conv2, "
                          "layerS.B.downsample.0)");
    }
    out.dense_conv_macs += layer.macs;
    out.pruned_conv_macs += factor * static_cast<double>(layer.macs);
  }
  out.reduction_percent =
      out.dense_conv_macs > 0
          ? 100.0 * (1.0 - out.pruned_conv_macs / static_cast<double>(out.dense_conv_macs))
          : 0.0;
  return out;
}

double analytic_sfp_flops_reduction(const models::Arch& arch, double keep_ratio) {
  if (models::resnet_cifar_depth(arch.name) == 0) {
    throw ConfigError(
        "analytic SFP FLOPs: '" + arch.name +
        "' is not a CIFAR ResNet (resnet20, resnet32, resnet44, resnet56, resnet110)");
  }
  // Building draws initial weights from the default generator; the count must not change what a
  // later seeded build produces.
  const Generator saved = default_generator();
  std::shared_ptr<nn::Module> model;
  try {
    model = models::build_model(arch);
  } catch (...) {
    default_generator() = saved;
    throw;
  }
  default_generator() = saved;
  return analytic_sfp_flops(count_cost(*model, arch.input), keep_ratio).reduction_percent;
}

}  // namespace shears::pruning
