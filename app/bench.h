#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "app/roofline.h"
#include "app/timing.h"
#include "models/arch.h"

namespace shears::app {

/// One network to benchmark: its module, the architecture it was built from and where it came
/// from (shown in tables).
struct BenchNetwork {
  std::string label;
  std::shared_ptr<nn::Module> module;
  models::Arch arch;
};

/// The network of a checkpoint (its recorded architecture, its weights). Throws CheckpointError
/// naming the file when it records no architecture or its tensors do not fit that architecture.
BenchNetwork network_from_checkpoint(const std::string& path);
/// The dense and the pruned network of a run directory (DIR/summary.json required; the dense
/// network from DIR/train/last.safetensors when present, else the summary's model at its default
/// widths; the pruned one from DIR/pruned.safetensors when the run pruned). Throws Error naming
/// the missing or unreadable file.
std::vector<BenchNetwork> networks_from_run(const std::string& dir);
/// A registry model with random weights: "NAME", optionally followed by ":keep=R" (every ResNet
/// block's inner widths times R, rounded, at least 1: uniform pruning) and ":round=N" (those
/// widths rounded up to a multiple of N, at most the dense width) or ":round=auto" (each width
/// chosen from the measured latency table of its layer shape at `auto_batch`, see
/// auto_round_widths). Throws ConfigError naming the spec for an unknown model or option.
BenchNetwork network_from_spec(const std::string& spec, std::int64_t auto_batch = 1,
                               const Device& device = Device::cpu());

struct BenchOptions {
  Device device = Device::cpu();
  std::vector<std::int64_t> batches{1, 32, 128};
  bool train = false;
  bool layers = false;
  bool remeasure_rates = false;
  /// Also time every network in ONNX Runtime (app/onnxruntime_bench.h).
  bool onnxruntime = false;
  TimingOptions timing;
};

/// Measured and modelled figures of one network at one batch size.
struct BenchRow {
  std::string label;
  std::int64_t batch = 0;
  std::int64_t macs = 0;  // per image, conv + linear
  std::int64_t params = 0;
  double activation_bytes = 0;  // every op output of one forward pass at this batch
  TimingStats infer;
  double infer_peak_bytes = 0;  // peak tensor storage during one forward pass, weights included
  double predicted_infer_s = 0;
  bool has_train = false;
  TimingStats train;
  double train_peak_bytes = 0;  // one training step: weights, gradients, momentum included
  double predicted_train_s = 0;
  bool has_ort = false;
  TimingStats ort;  // the same network in ONNX Runtime's CPU provider
};

/// Time per op group and per layer of one network at one batch (forward, eval), median over
/// interleaved passes.
struct LayerTime {
  std::string layer, op, kind;
  Shape output;
  double ms = 0;           // forward
  double backward_ms = 0;  // training profiles: this op's backward
  std::string algorithm;   // conv: the backend's algorithm (CUDA: cuDNN's), when it names one
  double predicted_ms = 0;
  double flops = 0, bytes = 0;
};
struct LayerProfile {
  std::string label;
  std::int64_t batch = 0;
  std::vector<LayerTime> layers;
  /// A training-step profile (profile_train_layers): layers hold the network's forward ops (train
  /// mode) with their backward times; the rest of the step below.
  bool train = false;
  double loss_ms = 0, loss_backward_ms = 0;  // cross entropy and its backward
  double accumulate_ms = 0;                  // gradients summed into the weights after backward
  double optimizer_ms = 0;                   // the SGD update
};

/// Times every network at every batch, interleaved (networks alternate within each round).
struct BenchResult {
  PeakRates rates;
  std::vector<BenchRow> rows;  // batch-major: all networks at the first batch, then the next
  std::vector<LayerProfile> profiles;
  std::string ort_version;  // ONNX Runtime's, when rows have ort times
};
BenchResult run_bench(std::vector<BenchNetwork>& networks, const BenchOptions& options);

/// Per-op times of a forward pass: the gap between consecutive ops (device synchronised at each),
/// median over `passes` passes that alternate between the networks. Each conv records the
/// algorithm the backend ran (Backend::last_conv_algorithm: cuDNN's on CUDA).
std::vector<LayerProfile> profile_layers(std::vector<BenchNetwork>& networks, std::int64_t batch,
                                         const PeakRates& rates, const Device& device, int passes);

/// Per-op times of a training step: every forward op (train mode) and its backward (the gap
/// between consecutive backward ops, device synchronised at each), the loss, the leaf gradient
/// accumulation and the SGD update; median over `passes` steps alternating between the networks.
std::vector<LayerProfile> profile_train_layers(std::vector<BenchNetwork>& networks,
                                               std::int64_t batch, const PeakRates& rates,
                                               const Device& device, int passes);

/// The result as text tables (ratios to the first network of each batch) and as JSON.
std::string bench_table(const BenchResult& result, const BenchOptions& options);
std::string bench_json(const BenchResult& result, const BenchOptions& options);

/// The device-side timer time_interleaved uses on `device`: CUDA events (Backend::time_ms) on a
/// CUDA device, null (the host clock) on the CPU.
std::function<double(const std::function<void()>&)> device_timer(const Device& device);

/// Parses "1,32,128": positive integers; throws ConfigError naming --batch otherwise.
std::vector<std::int64_t> parse_batches(const std::string& text);

}  // namespace shears::app
