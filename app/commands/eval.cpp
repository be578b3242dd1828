#include <cstdio>

#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/experiment.h"

namespace shears::app {

Config load_experiment_config(const Args& a, const char* command);

namespace {
const char* kHelp =
    "usage: shears eval CONFIG.yaml [--checkpoint FILE] [--set key=value ...] [--device D]\n"
    "\n"
    "Evaluates a model on the test split of CONFIG's dataset and prints top-1, top-5, loss,\n"
    "parameters, FLOPs and latency as JSON. The model is rebuilt from FILE's architecture when it\n"
    "records one (pruned models do), else from CONFIG's model section.\n";
}

int command_eval(const std::vector<std::string>& args) {
  Args a(args, {"--set", "--device", "--checkpoint"}, {"--help"}, "eval");
  if (a.has("--help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  Config config = load_experiment_config(a, "eval");
  if (a.has("--checkpoint")) config.set_override("model.checkpoint", a.value("--checkpoint"));
  ExperimentSpec spec = parse_experiment(config);
  Experiment experiment(spec, config, RunOptions{});
  config.check_all_read();
  BuiltModel model = experiment.make_model();
  ModelReport r = experiment.measure(*model.module);
  nlohmann::json j = report_json(r);
  j["model"] = model.name;
  j["splits"] = experiment.splits_json();
  std::printf("%s\n", j.dump(2).c_str());
  return 0;
}

}  // namespace shears::app
