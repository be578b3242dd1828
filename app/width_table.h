#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "app/timing.h"
#include "kernels/common/device.h"
#include "models/arch.h"
#include "pruning/methods/method.h"
#include "pruning/width_choice.h"

namespace shears::app {

/// The layers a free width c sits between: conv(in_channels -> c, kernel, stride) on an
/// (batch, in_channels, height * stride, width * stride) input, batch norm, ReLU, then
/// conv(c -> out_channels, out_kernel, or kernel when 0) at (height, width): a ResNet block's
/// inner width.
struct WidthProbe {
  std::int64_t in_channels = 16, out_channels = 16, height = 32, width = 32;
  int kernel = 3, stride = 1;
  std::int64_t batch = 1;
  int out_kernel = 0;
  std::string key() const;
};

/// Median forward latency (ms) of the probe at every width in `widths`, measured interleaved.
std::map<std::int64_t, double> measure_width_latency(const WidthProbe& probe,
                                                     const std::vector<std::int64_t>& widths,
                                                     const Device& device,
                                                     const TimingOptions& timing);

/// The probe of `site` at `batch`.
WidthProbe probe_of(const pruning::WidthSite& site, std::int64_t batch);
/// The timing a width table is measured with: short samples, at least 5 per width.
TimingOptions width_table_timing();
/// PruneContext::width_latency of a run deployed at `batch` on `device`: cached_width_latency of
/// each site's probe with width_table_timing (prune.round_to: auto).
pruning::WidthLatencyFn width_latency_fn(std::int64_t batch, const Device& device);

/// As measure_width_latency, read from and added to the cache width_latency.json beside
/// peak_rates.json (keyed by the peak-rates key of the device and the probe), so each machine
/// and layer shape is measured once. Widths missing from the cache are measured.
std::map<std::int64_t, double> cached_width_latency(const WidthProbe& probe,
                                                    const std::vector<std::int64_t>& widths,
                                                    const Device& device,
                                                    const TimingOptions& timing, bool remeasure);

/// round_to: auto for a pruned ResNet: every block inner width of `pruned` (see
/// network_from_spec) is replaced by pruning::choose_width over the measured table of its layer
/// shape, with the cap min(dense width, wanted rounded up to a multiple of 8, + 8). Returns the new
/// Arch.
models::Arch auto_round_widths(const models::Arch& pruned, const models::Arch& dense,
                               std::int64_t batch, const Device& device,
                               const TimingOptions& timing);

/// Median forward latency (ms) of one conv2d or linear layer of `shape` (random weights and
/// input, no bias) on `device`.
double measure_layer_latency(const pruning::LayerShape& shape, const Device& device,
                             const TimingOptions& timing);

/// The per-layer latency table of a latency-targeted search (PruneContext::layer_latency): each
/// layer shape is measured once per machine and kept in layer_latency.json beside
/// peak_rates.json (keyed by the peak-rates key of the device, then LayerShape::key), read once
/// when the table is made and rewritten atomically after each new measurement. Thread-safe.
class LayerLatencyTable {
 public:
  /// `timing` for the measurements; write: whether new entries are saved (rank 0 only).
  LayerLatencyTable(Device device, TimingOptions timing, bool write = true);
  double operator()(const pruning::LayerShape& shape);
  /// Shapes measured by this table (not read from the cache).
  std::int64_t measured() const { return measured_; }
  /// Short measurements that suit a table of many small layers: 1 warm-up, 5 to 50 samples of
  /// at least 2 ms, 0.05 s per shape.
  static TimingOptions table_timing();

 private:
  Device device_;
  TimingOptions timing_;
  bool write_;
  std::string path_, device_key_;
  std::map<std::string, double> cache_;
  std::int64_t measured_ = 0;
  mutable std::mutex mutex_;
};
/// The probe of `site` at `batch`.
WidthProbe probe_of(const pruning::WidthSite& site, std::int64_t batch);
/// The timing a width table is measured with: short samples, at least 5 per width.
TimingOptions width_table_timing();
/// PruneContext::width_latency of a run deployed at `batch` on `device`: cached_width_latency of
/// each site's probe with width_table_timing (prune.round_to: auto).
pruning::WidthLatencyFn width_latency_fn(std::int64_t batch, const Device& device);

}  // namespace shears::app
