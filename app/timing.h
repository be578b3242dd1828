#pragma once

#include <functional>
#include <vector>

namespace shears::app {

/// How `time_interleaved` samples. A sample is `iterations` back-to-back calls timed together
/// (per-call time = total / iterations); `iterations` is chosen once per workload, after warm-up,
/// so that a sample lasts at least `min_sample_s` (Google Benchmark's rule of repeating short
/// workloads until the timer's resolution and call overhead are negligible).
struct TimingOptions {
  int warmup = 2;              // untimed calls of each workload before calibration
  int min_samples = 5;         // rounds at least
  int max_samples = 100;       // rounds at most
  double min_time_s = 0.5;     // timed seconds per workload at least (all its samples together)
  double min_sample_s = 0.02;  // one sample lasts at least this long
  double max_total_s = 120.0;  // stop sampling after this many seconds altogether (>= min_samples)
};

/// Per-call statistics of one workload, in milliseconds.
struct TimingStats {
  double median_ms = 0, p25_ms = 0, p75_ms = 0, min_ms = 0, max_ms = 0;
  /// Half the interquartile range relative to the median (0.05: the middle half of the samples
  /// lies within about +-5 % of the median).
  double spread = 0;
  int samples = 0;
  int iterations = 0;  // calls per sample
  double total_s = 0;  // timed seconds, all samples
  std::vector<double> sample_ms;
};

/// Times several workloads interleaved: warm-up, calibration, then rounds in which every workload
/// gives one sample in turn, so slow drifts of a shared machine (other processes, clock changes)
/// hit every workload alike. Stops once every workload has min_samples samples and min_time_s of
/// timed calls, or at max_samples, or when max_total_s is spent. `sync` (may be null) is called
/// before reading the clock (device synchronisation). `now_s` (may be null: steady_clock) is the
/// clock in seconds, injectable for tests. `device_ms` (may be null) times one sample's calls
/// on the device instead of the host clock: given the sample's work, it returns its milliseconds
/// (CUDA: events recorded on the backend's stream around the work, Backend::time_ms).
std::vector<TimingStats> time_interleaved(
    const std::vector<std::function<void()>>& workloads, const TimingOptions& options,
    const std::function<void()>& sync = nullptr, const std::function<double()>& now_s = nullptr,
    const std::function<double(const std::function<void()>&)>& device_ms = nullptr);

/// Statistics of a set of samples (ms); the fields other than those of the samples stay 0.
TimingStats stats_of(std::vector<double> sample_ms);

}  // namespace shears::app
