#include <cstdio>

#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/experiment.h"
#include "engine/io/safetensors.h"
#include "models/arch.h"
#include "models/registry.h"
#include "pruning/dependency.h"

namespace shears::app {

namespace {
const char* kHelp =
    "usage: shears inspect FILE [--json] [--groups]\n"
    "       shears inspect --model NAME --groups\n"
    "\n"
    "Shows a checkpoint's metadata (architecture, epoch), its tensors with shapes, and per-layer\n"
    "channel counts and parameter totals. --groups lists the groups of coupled channels that\n"
    "pruning decides on (traced from the architecture the checkpoint records, or from --model).\n";

void print_groups(const BuiltModel& model) {
  models::Arch arch = models::arch_from_json(model.arch_json);
  pruning::DependencyGraph graph = pruning::DependencyGraph::build(*model.module, arch.input);
  std::printf("%s", graph.to_string().c_str());
}
}  // namespace

int command_inspect(const std::vector<std::string>& args) {
  Args a(args, {"--model"}, {"--help", "--json", "--groups"}, "inspect");
  if (a.has("--help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (a.has("--model")) {
    if (!a.has("--groups")) throw Error("shears inspect --model NAME needs --groups");
    models::Arch arch = models::default_arch(a.value("--model"));
    print_groups(BuiltModel{models::build_model(arch), models::arch_to_json(arch), arch.name});
    return 0;
  }
  if (a.positional().size() != 1) throw Error("shears inspect: expected one FILE (see --help)");
  const std::string& path = a.positional()[0];
  SafetensorsContents c = load_safetensors(path);
  std::int64_t total = 0;
  nlohmann::json tensors = nlohmann::json::array();
  for (auto& [name, t] : c.tensors) {
    bool param = name.rfind("optim.", 0) != 0 && name.find("running_") == std::string::npos &&
                 name.find("num_batches_tracked") == std::string::npos;
    if (param) total += t.numel();
    tensors.push_back({{"name", name}, {"dtype", dtype_name(t.dtype())}, {"shape", t.shape()}});
  }
  if (a.has("--json")) {
    nlohmann::json j = {
        {"file", path}, {"metadata", c.metadata}, {"tensors", tensors}, {"params", total}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%s\n", path.c_str());
  for (auto& [k, v] : c.metadata) {
    if (k == "rng_state") continue;
    std::printf("  %-16s %s\n", k.c_str(), v.c_str());
  }
  std::printf("\n%-48s %-5s %s\n", "tensor", "dtype", "shape (out, in, ...)");
  for (auto& [name, t] : c.tensors) {
    std::printf("%-48s %-5s %s\n", name.c_str(), dtype_name(t.dtype()),
                shape_str(t.shape()).c_str());
  }
  std::printf("\n%lld parameters (%.3f M), %zu tensors\n", static_cast<long long>(total),
              total / 1e6, c.tensors.size());
  if (a.has("--groups")) {
    auto arch = c.metadata.find("arch");
    if (arch == c.metadata.end()) throw Error(path + ": records no architecture (metadata 'arch')");
    BuiltModel model = build_model_from_arch(arch->second);
    load_weights(*model.module, path);
    std::printf("\n");
    print_groups(model);
  }
  return 0;
}

}  // namespace shears::app
