#include <cstdio>

#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/experiment.h"
#include "models/registry.h"
#include "pruning/cost_model.h"

namespace shears::app {

namespace {
const char* kHelp =
    "usage: shears flops (--model NAME | --checkpoint FILE) [--input CxHxW] [--classes N]\n"
    "                    [--json] [--layers]\n"
    "\n"
    "Counts multiply-accumulates (FLOPs as the pruning papers report them) of conv and linear\n"
    "layers for one image, and all parameters, by tracing a forward pass.\n"
    "  --input CxHxW   input shape (default 3x32x32 for CIFAR models, 3x224x224 for ImageNet)\n"
    "  --classes N     number of classes (default 10 / 1000)\n"
    "  --layers        list every layer\n";

Shape parse_chw(const std::string& text) {
  Shape s;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto x = text.find('x', start);
    std::string part = text.substr(start, x == std::string::npos ? std::string::npos : x - start);
    try {
      std::size_t used = 0;
      long long v = std::stoll(part, &used);
      if (used != part.size() || v <= 0) throw std::invalid_argument(part);
      s.push_back(v);
    } catch (const std::logic_error&) {
      throw Error("--input " + text + ": expected CxHxW with positive integers, e.g. 3x32x32");
    }
    if (x == std::string::npos) break;
    start = x + 1;
  }
  if (s.size() != 3) throw Error("--input " + text + ": expected CxHxW, e.g. 3x32x32");
  return s;
}

int parse_classes(const std::string& text) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used == text.size() && v > 0 && v <= 1000000) return static_cast<int>(v);
  } catch (const std::logic_error&) {
  }
  throw Error("--classes " + text + ": expected a positive whole number of classes, e.g. 10");
}
}  // namespace

int command_flops(const std::vector<std::string>& args) {
  Args a(args, {"--model", "--checkpoint", "--input", "--classes"},
         {"--help", "--json", "--layers"}, "flops");
  if (a.has("--help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (a.has("--model") == a.has("--checkpoint")) {
    throw Error("shears flops: give exactly one of --model NAME or --checkpoint FILE");
  }
  BuiltModel model;
  std::string name = a.value("--model");
  Shape input;
  if (a.has("--checkpoint")) {
    std::string arch = checkpoint_arch(a.value("--checkpoint"));
    if (arch.empty()) {
      throw Error(a.value("--checkpoint") + ": records no architecture (metadata 'arch')");
    }
    model = build_model_from_arch(arch);
    name = model.name;
  }
  // The registry's defaults: CIFAR models 3x32x32 and 10 classes, ImageNet ones 3x224x224 and 1000.
  const models::ModelInfo& info = models::model_info(a.has("--model") ? name : model.name);
  input = a.has("--input") ? parse_chw(a.value("--input")) : info.input;
  if (a.has("--model")) {
    ModelSpec spec;
    spec.arch = name;
    const int classes = a.has("--classes") ? parse_classes(a.value("--classes"))
                                           : static_cast<int>(info.num_classes);
    model = build_model(spec, classes, input);
  }
  pruning::CostReport cost = pruning::count_cost(*model.module, input);
  if (a.has("--json")) {
    nlohmann::json j = {
        {"model", model.name}, {"input", input}, {"params", cost.params}, {"flops", cost.macs}};
    if (a.has("--layers")) {
      nlohmann::json layers = nlohmann::json::array();
      for (auto& l : cost.layers) {
        layers.push_back({{"name", l.name},
                          {"op", l.op},
                          {"weight", l.weight_shape},
                          {"output", l.output_shape},
                          {"flops", l.macs},
                          {"params", l.params}});
      }
      j["layers"] = layers;
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  if (a.has("--layers")) {
    std::printf("%-36s %-8s %-20s %14s %10s\n", "layer", "op", "weight", "flops", "params");
    for (auto& l : cost.layers) {
      std::printf("%-36s %-8s %-20s %14lld %10lld\n", l.name.c_str(), l.op.c_str(),
                  shape_str(l.weight_shape).c_str(), static_cast<long long>(l.macs),
                  static_cast<long long>(l.params));
    }
  }
  std::printf("%s on %s: %.2f M params, %.2f M FLOPs (MACs)\n", model.name.c_str(),
              shape_str(input).c_str(), cost.params / 1e6, cost.macs / 1e6);
  return 0;
}

}  // namespace shears::app
