#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "app/bench.h"
#include "app/cli.h"
#include "app/onnxruntime_bench.h"

namespace shears::app {

namespace {
const char* kHelp =
    "usage: shears bench (--checkpoint FILE | --run DIR | --model SPEC)... [--device cpu|cuda]\n"
    "                    [--batch 1,32,128] [--threads N] [--train] [--layers] [--json]\n"
    "                    [--min-time S] [--out FILE] [--remeasure] [--onnxruntime]\n"
    "\n"
    "Times every given network in one process, interleaved (the networks alternate within each\n"
    "round of samples), and sets the measurement beside FLOPs, parameters, activation bytes and a\n"
    "cost model's prediction. Ratios are to the first network given.\n"
    "  --checkpoint FILE  a checkpoint with its architecture (metadata 'arch')\n"
    "  --run DIR          a run directory: its dense network and, if it pruned, the pruned one\n"
    "  --model SPEC       NAME[:keep=R][:round=N]: a registry model with random weights; keep=R\n"
    "                     multiplies every ResNet block's inner widths by R (uniform pruning),\n"
    "                     round=N rounds them up to multiples of N, round=auto picks each from\n"
    "                     a measured latency table of its layer shape (cached; never a width\n"
    "                     slower than a slightly larger one)\n"
    "  --batch LIST       batch sizes (default 1,32,128)\n"
    "  --threads N        OpenMP and BLAS threads (default: the environment's)\n"
    "  --train            also time one SGD training step (forward, backward, update)\n"
    "  --layers           per-op profile (conv / bn / linear / elementwise / pool), each network\n"
    "                     against the first; with --train also a training-step profile\n"
    "                     (forward + backward per layer, loss, gradient sums, SGD update);\n"
    "                     on CUDA each conv's cuDNN algorithm\n"
    "  --json             print JSON instead of tables; --out FILE writes it to FILE as well\n"
    "  --min-time S       timed seconds per network and measurement at least (default 1)\n"
    "  --remeasure        measure the peak rates again instead of reading the cache\n"
    "  --onnxruntime      also run each network, exported to ONNX, in ONNX Runtime's CPU\n"
    "                     provider with the same threads and timing rules (after shears' own\n"
    "                     rounds): columns ORT ms and ours/ORT (ONNX Runtime from the venv of\n"
    "                     scripts/onnxruntime-venv beside the executable, or SHEARS_ORT_PYTHON)\n"
    "\n"
    "Timing: after 2 warm-up calls, each network's call count per sample is set so that a sample\n"
    "lasts >= 20 ms; rounds continue until every network has >= 5 samples and --min-time\n"
    "seconds (on CUDA each sample is timed with CUDA events on the backend's stream). Reported:\n"
    "median per call, +- half the interquartile range. Peak memory: the most\n"
    "tensor storage alive during one call, weights included (library scratch not counted).\n"
    "Cost model: per op max(FLOPs / peak FLOP/s, bytes / peak B/s) + per-kernel overhead; the\n"
    "rates are measured once per backend, device, thread count and CPU (a 3x3 convolution, a\n"
    "matrix product, a 32 MiB elementwise add, a one-element add) and cached in\n"
    "$SHEARS_CACHE_DIR, $XDG_CACHE_HOME/shears or ~/.cache/shears (peak_rates.json).\n";
}  // namespace

int command_bench(const std::vector<std::string>& args) {
  Args a(args,
         {"--checkpoint", "--run", "--model", "--device", "--batch", "--threads", "--min-time",
          "--out"},
         {"--help", "--train", "--layers", "--json", "--remeasure", "--onnxruntime"}, "bench");
  if (a.has("--help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (!a.positional().empty())
    throw Error("shears bench: unexpected argument '" + a.positional()[0] + "' (see --help)");
  if (a.has("--threads")) {
    const std::string t = a.value("--threads");
    char* end = nullptr;
    long n = std::strtol(t.c_str(), &end, 10);
    if (t.empty() || *end != '\0' || n < 1) {
      throw ConfigError("--threads '" + t + "': expected a positive integer");
    }
    // The OpenMP and BLAS runtimes read their thread counts when they load: restart once.
    const char* cur = std::getenv("OMP_NUM_THREADS");
    if (cur == nullptr || t != cur) {
      setenv("OMP_NUM_THREADS", t.c_str(), 1);
      setenv("OPENBLAS_NUM_THREADS", t.c_str(), 1);
      std::vector<std::string> argv_s{"shears", "bench"};
      argv_s.insert(argv_s.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& s : argv_s) argv.push_back(s.data());
      argv.push_back(nullptr);
      execv("/proc/self/exe", argv.data());
    }
  }
  BenchOptions o;
  o.batches = parse_batches(a.value("--batch", "1,32,128"));
  const std::string device = a.value("--device", "cpu");
  if (device != "cpu" && device != "cuda") {
    throw ConfigError("--device '" + device + "': expected cpu or cuda");
  }
  o.device = device == "cuda" ? Device::cuda(0) : Device::cpu();
  o.train = a.has("--train");
  o.layers = a.has("--layers");
  o.remeasure_rates = a.has("--remeasure");
  o.onnxruntime = a.has("--onnxruntime");
  if (o.onnxruntime && o.device != Device::cpu()) {
    throw ConfigError("--onnxruntime times ONNX Runtime's CPU provider: use --device cpu");
  }
  if (o.onnxruntime) onnxruntime_python();  // fails early, naming the venv to install
  if (a.has("--min-time")) {
    const std::string t = a.value("--min-time");
    char* end = nullptr;
    double s = std::strtod(t.c_str(), &end);
    if (t.empty() || *end != '\0' || !(s > 0)) {
      throw ConfigError("--min-time '" + t + "': expected a positive number of seconds");
    }
    o.timing.min_time_s = s;
  } else {
    o.timing.min_time_s = 1.0;
  }
  // Networks in command-line order.
  std::vector<BenchNetwork> nets;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i], value;
    auto eq = flag.find('=');
    if (eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else if (i + 1 < args.size()) {
      value = args[i + 1];
    }
    if (flag == "--checkpoint") {
      nets.push_back(network_from_checkpoint(value));
    } else if (flag == "--run") {
      for (auto& n : networks_from_run(value)) nets.push_back(std::move(n));
    } else if (flag == "--model") {
      nets.push_back(network_from_spec(value, o.batches.front(), o.device));
    }
    if (eq == std::string::npos &&
        (flag == "--checkpoint" || flag == "--run" || flag == "--model" || flag == "--device" ||
         flag == "--batch" || flag == "--threads" || flag == "--min-time" || flag == "--out")) {
      ++i;
    }
  }
  if (nets.empty()) {
    throw ConfigError("shears bench: no network given (use --checkpoint, --run or --model)");
  }
  BenchResult result = run_bench(nets, o);
  if (o.onnxruntime) time_onnxruntime(nets, result, o);
  if (a.has("--json") || a.has("--out")) {
    std::string j = bench_json(result, o);
    if (a.has("--out")) {
      std::ofstream out(a.value("--out"));
      if (!out) throw Error(a.value("--out") + ": cannot write");
      out << j << "\n";
    }
    if (a.has("--json")) {
      std::printf("%s\n", j.c_str());
      return 0;
    }
  }
  std::fputs(bench_table(result, o).c_str(), stdout);
  return 0;
}

}  // namespace shears::app
