#include <cstdio>

#include "app/cli.h"
#include "app/experiment.h"
#include "engine/config/config.h"
#include "engine/dist/communicator.h"
#include "engine/log.h"

namespace shears::app {

namespace {
const char* kRunHelp =
    "usage: shears run CONFIG.yaml [--set key=value ...] [--out DIR] [--device cpu|cuda]\n"
    "                              [--tf32 off|conv|all] [--deterministic] [--cuda-graphs on|off]\n"
    "                              [--no-resume] [--quiet]\n"
    "\n"
    "Runs the experiment CONFIG describes (schema: configs/README.md): builds the data and the\n"
    "model, trains (train.epochs > 0), evaluates on the test split, counts FLOPs and parameters,\n"
    "measures latency and writes DIR/summary.json, DIR/config.yaml (resolved), checkpoints and\n"
    "metrics.jsonl. An interrupted run resumes from its last checkpoint.\n"
    "Under mpirun or srun each rank trains on its share of every batch (docs/distributed.md).\n"
    "\n"
    "  --set key=value   override a config key (dotted path, YAML value); repeatable\n"
    "  --out DIR         run directory (default runs/<name>)\n"
    "  --device D        cpu, cuda or cuda:N (overrides the config's device)\n"
    "  --tf32 MODE       CUDA TF32 tensor-core maths: off, conv (convolutions only; the\n"
    "                    default, as PyTorch's) or all (convolutions and matrix products)\n"
    "  --deterministic   CUDA: deterministic algorithms only (bit-reproducible on one GPU)\n"
    "  --cuda-graphs M   CUDA: on (default) records the training step into a graph per batch\n"
    "                    shape and replays it; off runs every step eagerly\n"
    "  --no-resume       start from scratch even if DIR holds a checkpoint\n"
    "  --quiet           no progress output while training\n";
const char* kTrainHelp =
    "usage: shears train CONFIG.yaml [--set key=value ...] [--out DIR] [--device D] [--tf32 MODE]\n"
    "                                [--deterministic] [--cuda-graphs on|off] [--no-resume]\n"
    "\n"
    "Trains the experiment's model (train section) and keeps checkpoints in DIR/train; no\n"
    "evaluation report or benchmark.\n";
}  // namespace

/// Loads CONFIG with --set overrides and --device applied.
Config load_experiment_config(const Args& a, const char* command) {
  if (a.positional().size() != 1) {
    throw Error(std::string("shears ") + command + ": expected one CONFIG.yaml (see --help)");
  }
  Config config = Config::load_file(a.positional()[0]);
  for (const std::string& kv : a.values("--set")) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw ConfigError("--set " + kv + ": expected key=value");
    }
    config.set_override(kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (a.has("--device")) config.set_override("device", a.value("--device"));
  if (a.has("--tf32")) {
    const std::string mode = a.value("--tf32");
    if (mode != "off" && mode != "conv" && mode != "all") {
      throw ConfigError("--tf32 '" + mode + "': expected off, conv or all");
    }
    config.set_override("device_options.tf32_conv", mode == "off" ? "false" : "true");
    config.set_override("device_options.tf32_matmul", mode == "all" ? "true" : "false");
  }
  if (a.has("--deterministic")) config.set_override("device_options.deterministic", "true");
  if (a.has("--cuda-graphs")) {
    const std::string mode = a.value("--cuda-graphs");
    if (mode != "on" && mode != "off") {
      throw ConfigError("--cuda-graphs '" + mode + "': expected on or off");
    }
    config.set_override("device_options.cuda_graphs", mode == "on" ? "true" : "false");
  }
  return config;
}

int command_run(const std::vector<std::string>& args, RunMode mode) {
  const bool train_only = mode == RunMode::TrainOnly;
  Args a(args, {"--set", "--out", "--device", "--tf32", "--cuda-graphs"},
         {"--help", "--no-resume", "--quiet", "--deterministic"}, train_only ? "train" : "run");
  if (a.has("--help")) {
    std::fputs(train_only ? kTrainHelp : kRunHelp, stdout);
    return 0;
  }
  Config config = load_experiment_config(a, train_only ? "train" : "run");
  ExperimentSpec spec = parse_experiment(config);
  // Under a launcher: join the other ranks, and make sure they all run this same experiment.
  dist::Communicator& comm = dist::init_world(spec.device.is_cuda());
  if (comm.size() > 1) {
    set_log_rank(comm.rank());
    comm.check_same(config.dump() + "\n--out " + a.value("--out") +
                        (a.has("--no-resume") ? " --no-resume" : ""),
                    "the experiment (resolved configuration, --out, --no-resume)");
    // Device cuda (index 0) means each rank's own GPU: the one its NCCL communicator uses.
    if (spec.device.is_cuda() && spec.device.index == 0) {
      spec.device = Device::cuda(dist::local_gpu(comm.rank()));
    }
    log_info("data parallel over " + std::to_string(comm.size()) + " ranks (" + comm.describe() +
             ")");
  }
  RunOptions options;
  options.out_dir = a.value("--out");
  options.resume = !a.has("--no-resume");
  options.progress = !a.has("--quiet");
  Experiment experiment(spec, config, options);  // parses the pruning method's keys
  config.check_all_read();
  if (train_only) {
    BuiltModel model = experiment.make_model();
    experiment.train(*model.module, Experiment::recipe_of(spec.train), nullptr, "train");
    std::printf("checkpoints: %s/train\n", experiment.out_dir().c_str());
  } else {
    experiment.run();
  }
  return 0;
}

}  // namespace shears::app
