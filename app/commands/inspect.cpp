#include <cstdio>

#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/experiment.h"
#include "engine/io/safetensors.h"

namespace shears::app {

namespace {
const char* kHelp =
    "usage: shears inspect FILE [--json]\n"
    "\n"
    "Shows a checkpoint's metadata (architecture, epoch), its tensors with shapes, and per-layer\n"
    "channel counts and parameter totals.\n";
}

int command_inspect(const std::vector<std::string>& args) {
  Args a(args, {}, {"--help", "--json"}, "inspect");
  if (a.has("--help")) {
    std::fputs(kHelp, stdout);
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
  return 0;
}

}  // namespace shears::app
