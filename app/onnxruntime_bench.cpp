#include "app/onnxruntime_bench.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "models/onnx/onnx.h"

namespace shears::app {

namespace {

// The timing side in ONNX Runtime, written next to the exported models for each run.
const char* kTimingScript = R"PY(
import json, sys, time
import numpy as np
import onnxruntime as ort

m = json.load(open(sys.argv[1]))
t = m["timing"]
so = ort.SessionOptions()
so.intra_op_num_threads = m["threads"]
so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
out = {"onnxruntime": ort.__version__, "runs": []}
for r in m["runs"]:
    s = ort.InferenceSession(r["onnx"], so, providers=["CPUExecutionProvider"])
    feed = {"input": np.random.default_rng(1).uniform(-1, 1, r["shape"]).astype(np.float32)}
    for _ in range(t["warmup"]):
        s.run(None, feed)
    calls = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            s.run(None, feed)
        d = time.perf_counter() - t0
        if d >= t["min_sample_s"] or calls >= 1 << 20:
            break
        calls *= 2
    samples, total = [], 0.0
    while len(samples) < t["max_samples"] and total < t["max_total_s"] and (
            len(samples) < t["min_samples"] or total < t["min_time_s"]):
        t0 = time.perf_counter()
        for _ in range(calls):
            s.run(None, feed)
        d = time.perf_counter() - t0
        total += d
        samples.append(1e3 * d / calls)
    out["runs"].append({"samples_ms": samples, "calls": calls})
json.dump(out, open(sys.argv[2], "w"))
)PY";

int shears_threads() {
  for (const char* var : {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"}) {
    if (const char* v = std::getenv(var)) {
      int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

std::string onnxruntime_python() {
  if (const char* env = std::getenv("SHEARS_ORT_PYTHON"); env != nullptr && *env != '\0') {
    if (!std::filesystem::exists(env))
      throw Error(std::string("SHEARS_ORT_PYTHON=") + env + ": no such file");
    return env;
  }
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string python = (exe.parent_path() / "onnxruntime-venv/bin/python3").string();
  if (ec || !std::filesystem::exists(python)) {
    throw Error("shears bench --onnxruntime: no ONNX Runtime venv at " + python +
                " (run scripts/onnxruntime-venv BUILD_DIR, or set SHEARS_ORT_PYTHON)");
  }
  return python;
}

void time_onnxruntime(std::vector<BenchNetwork>& networks, BenchResult& result,
                      const BenchOptions& options) {
  if (!models::onnx_available()) {
    throw Error("shears bench --onnxruntime: shears was built without ONNX support");
  }
  const std::string python = onnxruntime_python();
  const auto dir = std::filesystem::temp_directory_path() /
                   ("shears-ort-" + std::to_string(static_cast<long>(getpid())));
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::filesystem::path p;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(p, ec);
    }
  } cleanup{dir};

  nlohmann::json manifest;
  manifest["threads"] = shears_threads();
  manifest["timing"] = {{"warmup", options.timing.warmup},
                        {"min_samples", options.timing.min_samples},
                        {"max_samples", options.timing.max_samples},
                        {"min_time_s", options.timing.min_time_s},
                        {"min_sample_s", options.timing.min_sample_s},
                        {"max_total_s", options.timing.max_total_s}};
  manifest["runs"] = nlohmann::json::array();
  std::vector<std::string> files;
  for (std::size_t n = 0; n < networks.size(); ++n) {
    const std::string path = (dir / ("net" + std::to_string(n) + ".onnx")).string();
    models::export_onnx(*networks[n].module, path, {}, models::arch_to_json(networks[n].arch));
    files.push_back(path);
  }
  // Rows are batch-major: every network at the first batch, then at the next.
  for (std::size_t i = 0; i < result.rows.size(); ++i) {
    const BenchRow& row = result.rows[i];
    const std::size_t n = i % networks.size();
    const Shape& in = networks[n].arch.input;
    manifest["runs"].push_back({{"onnx", files[n]}, {"shape", {row.batch, in[0], in[1], in[2]}}});
  }
  const std::string script = (dir / "time_ort.py").string();
  const std::string mpath = (dir / "manifest.json").string(), rpath = (dir / "out.json").string();
  std::ofstream(script) << kTimingScript;
  std::ofstream(mpath) << manifest.dump();
  const std::string cmd = "'" + python + "' '" + script + "' '" + mpath + "' '" + rpath + "'";
  if (std::system(cmd.c_str()) != 0) {
    throw Error("shears bench --onnxruntime: the ONNX Runtime timing (" + python + ") failed");
  }
  std::ifstream f(rpath);
  nlohmann::json out = nlohmann::json::parse(f);
  result.ort_version = out.value("onnxruntime", "");
  for (std::size_t i = 0; i < result.rows.size(); ++i) {
    const nlohmann::json& run = out["runs"].at(i);
    result.rows[i].ort = stats_of(run["samples_ms"].get<std::vector<double>>());
    result.rows[i].ort.iterations = run["calls"].get<int>();
    result.rows[i].has_ort = true;
  }
}

}  // namespace shears::app
