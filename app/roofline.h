#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/autograd/trace.h"
#include "engine/nn/module.h"

namespace shears::app {

/// What one op of a forward pass costs at a given batch: arithmetic (FLOPs counted as
/// 2 x multiply-accumulates for conv/linear, one per output element for elementwise ops, two for
/// batch norm's scale and shift) and the bytes it must move at least (every input and output
/// tensor read or written once). `kind` groups ops for the profile: conv, bn, linear,
/// elementwise (activations, add, mul, ...), pool, view (reshape: no kernel) or other.
struct OpCost {
  std::string layer;  // parameter-derived name ("layer1.0.conv1", "layer1.0.bn1") or "relu#7"
  std::string op;     // the engine op: conv2d, batch_norm, linear, relu, add, ...
  std::string kind;
  Shape output;  // with the batch dimension
  double flops = 0;
  double bytes = 0;
};

/// The cost of one traced op. `layer` names it (may be empty; then op#index is used by callers).
OpCost op_cost(const OpRecord& record, const std::string& layer);

/// Traces one eval-mode forward pass of `model` on a (batch, C, H, W) input and returns the cost
/// of every op in order, named after the model's parameters where an op reads one (conv, BN and
/// linear weights), else "op#k" counting that op's occurrences.
std::vector<OpCost> trace_op_costs(nn::Module& model, const Shape& input_chw, std::int64_t batch);

/// Achievable rates of this machine and backend, measured through the engine's own kernels.
struct PeakRates {
  double flops_per_s = 0;  // best of a large 3x3 convolution and a large matrix product
  double bytes_per_s = 0;  // a 32 MiB elementwise add into a preallocated output (3 streams)
  double overhead_s = 0;   // one engine add of single-element tensors: per-kernel overhead
  // flops_per_s and bytes_per_s come from the fastest sample of each probe, overhead_s from
  // the median.
  std::string key;     // what the rates are valid for (backend, device, threads, CPU)
  std::string source;  // "measured" or the cache file they were read from
};

/// The key rates are cached under: the probe version, backend name, device, OpenMP/BLAS thread
/// count, SHEARS_CPU_CONV, and the CPU model from /proc/cpuinfo.
std::string peak_rates_key(const Device& device);
/// Measures the rates now (about two seconds).
PeakRates measure_peak_rates(const Device& device);
/// The cache file: $SHEARS_CACHE_DIR, else $XDG_CACHE_HOME/shears, else $HOME/.cache/shears,
/// then /peak_rates.json (one JSON object: key -> rates).
std::string peak_rates_cache_path();

/// The JSON object in the cache file `path` (peak rates, width and layer latency tables); an
/// empty object when the file is missing, damaged or not an object, so the cache is measured
/// afresh.
nlohmann::json read_json_cache(const std::string& path);
/// Writes `cache` to `path` atomically, creating its directory; an unwritable cache is skipped
/// (what it holds is still valid for this run).
void write_json_cache(const std::string& path, const nlohmann::json& cache, int indent);
/// The cached rates for this key, measured and stored first when absent or when `remeasure`.
PeakRates cached_peak_rates(const Device& device, bool remeasure);

/// Roofline time of one op: max(flops / peak flops, bytes / peak bandwidth) + per-kernel
/// overhead (views cost nothing). Training counts each op three times (forward, and the two
/// gradient products of conv/linear or the gradient pass of memory-bound ops reading and writing
/// about twice as much), plus the SGD update reading weight, gradient and momentum and writing
/// two of them (5 x parameter bytes at the bandwidth).
double predict_op_s(const OpCost& cost, const PeakRates& rates);
double predict_forward_s(const std::vector<OpCost>& costs, const PeakRates& rates);
double predict_train_step_s(const std::vector<OpCost>& costs, std::int64_t param_count,
                            const PeakRates& rates);

}  // namespace shears::app
