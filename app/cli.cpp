#include "app/cli.h"

#include <algorithm>
#include <cstdio>

#include "kernels/common/error.h"

namespace shears::app {

namespace {
const char* kUsage =
    "usage: shears <command> [options]\n"
    "\n"
    "commands:\n"
    "  run CONFIG      run an experiment: data, model, training, evaluation, benchmark\n"
    "  train CONFIG    train the experiment's model (no evaluation report)\n"
    "  eval CONFIG     evaluate the experiment's model (--checkpoint F to load weights)\n"
    "  flops           FLOPs (MACs) and parameters of a model or checkpoint\n"
    "  inspect FILE    architecture, per-layer channels and parameter counts of a checkpoint\n"
    "  bench           dense vs pruned: measured latency, throughput, memory, cost model\n"
    "  report RUN...   one HTML page (or Markdown table) comparing run directories\n"
    "  export CKPT     the network of a checkpoint as an ONNX model (--out MODEL.onnx)\n"
    "\n"
    "`shears <command> --help` describes each command's options.\n";
}  // namespace

Args::Args(const std::vector<std::string>& args, const std::vector<std::string>& with_value,
           const std::vector<std::string>& switches, const std::string& command) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0 || a == "--") {
      positional_.push_back(a);
      continue;
    }
    std::string flag = a, value;
    bool inline_value = false;
    if (auto eq = a.find('='); eq != std::string::npos) {
      flag = a.substr(0, eq);
      value = a.substr(eq + 1);
      inline_value = true;
    }
    bool takes_value = std::find(with_value.begin(), with_value.end(), flag) != with_value.end();
    bool is_switch = std::find(switches.begin(), switches.end(), flag) != switches.end();
    if (!takes_value && !is_switch) {
      throw Error("shears " + command + ": unknown option '" + flag + "' (see --help)");
    }
    if (takes_value && !inline_value) {
      if (i + 1 >= args.size()) throw Error("shears " + command + ": " + flag + " needs a value");
      value = args[++i];
    }
    flags_.emplace_back(flag, value);
  }
}

bool Args::has(const std::string& flag) const {
  return std::any_of(flags_.begin(), flags_.end(), [&](auto& f) { return f.first == flag; });
}

std::string Args::value(const std::string& flag, const std::string& fallback) const {
  for (auto it = flags_.rbegin(); it != flags_.rend(); ++it)
    if (it->first == flag) return it->second;
  return fallback;
}

std::vector<std::string> Args::values(const std::string& flag) const {
  std::vector<std::string> out;
  for (auto& [f, v] : flags_)
    if (f == flag) out.push_back(v);
  return out;
}

int run_cli(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string& command = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "run") return command_run(rest, RunMode::Full);
  if (command == "train") return command_run(rest, RunMode::TrainOnly);
  if (command == "eval") return command_eval(rest);
  if (command == "flops") return command_flops(rest);
  if (command == "inspect") return command_inspect(rest);
  if (command == "bench") return command_bench(rest);
  if (command == "report") return command_report(rest);
  if (command == "export") return command_export(rest);
  throw Error("unknown command '" + command +
              "' (known: run, train, eval, flops, inspect, bench, report, export; see shears "
              "--help)");
}

}  // namespace shears::app
