#include "app/timing.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "kernels/common/error.h"

namespace shears::app {

namespace {
double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0.0;
  double pos = q * static_cast<double>(sorted.size() - 1);
  auto lo = static_cast<std::size_t>(std::floor(pos));
  std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  double f = pos - static_cast<double>(lo);
  return sorted[lo] * (1.0 - f) + sorted[hi] * f;
}
}  // namespace

TimingStats stats_of(std::vector<double> sample_ms) {
  TimingStats s;
  s.sample_ms = sample_ms;
  s.samples = static_cast<int>(sample_ms.size());
  if (sample_ms.empty()) return s;
  std::sort(sample_ms.begin(), sample_ms.end());
  s.median_ms = quantile(sample_ms, 0.5);
  s.p25_ms = quantile(sample_ms, 0.25);
  s.p75_ms = quantile(sample_ms, 0.75);
  s.min_ms = sample_ms.front();
  s.max_ms = sample_ms.back();
  s.spread = s.median_ms > 0 ? 0.5 * (s.p75_ms - s.p25_ms) / s.median_ms : 0.0;
  return s;
}

std::vector<TimingStats> time_interleaved(
    const std::vector<std::function<void()>>& workloads, const TimingOptions& o,
    const std::function<void()>& sync, const std::function<double()>& now_s,
    const std::function<double(const std::function<void()>&)>& device_ms) {
  SHEARS_CHECK_AS(ConfigError, o.min_samples >= 1 && o.max_samples >= o.min_samples,
                  "timing: need 1 <= min_samples <= max_samples");
  auto now = [&]() -> double {
    if (now_s) return now_s();
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  auto synced = [&] {
    if (sync) sync();
  };
  // Seconds that `iterations` calls of workload i take: the device's timer when given, else the
  // host clock around the calls and a synchronisation.
  auto run_timed = [&](std::size_t i, int iterations) -> double {
    auto batch = [&] {
      for (int k = 0; k < iterations; ++k) workloads[i]();
    };
    if (device_ms) return device_ms(batch) / 1e3;
    double t0 = now();
    batch();
    synced();
    return now() - t0;
  };
  const std::size_t n = workloads.size();
  for (int w = 0; w < o.warmup; ++w)
    for (auto& f : workloads) f();
  synced();
  // Calibration: grow the call count of each workload until one batch lasts min_sample_s.
  std::vector<int> iters(n, 1);
  for (std::size_t i = 0; i < n; ++i) {
    for (;;) {
      double dt = run_timed(i, iters[i]);
      if (dt >= o.min_sample_s || iters[i] >= (1 << 24)) break;
      // Aim 20 % past the threshold, at least doubling when the estimate is unreliable.
      double want = dt > 0 ? o.min_sample_s * 1.2 / dt * iters[i] : 10.0 * iters[i];
      iters[i] = static_cast<int>(
          std::min<double>(std::max<double>(want, 2.0 * iters[i]), static_cast<double>(1 << 24)));
    }
  }
  std::vector<std::vector<double>> samples(n);
  std::vector<double> timed(n, 0.0);
  const double start = now();
  for (int round = 0; round < o.max_samples; ++round) {
    for (std::size_t i = 0; i < n; ++i) {
      synced();
      double dt = run_timed(i, iters[i]);
      samples[i].push_back(1e3 * dt / iters[i]);
      timed[i] += dt;
    }
    if (round + 1 < o.min_samples) continue;
    bool enough =
        std::all_of(timed.begin(), timed.end(), [&](double t) { return t >= o.min_time_s; });
    if (enough || now() - start >= o.max_total_s) break;
  }
  std::vector<TimingStats> out;
  for (std::size_t i = 0; i < n; ++i) {
    TimingStats s = stats_of(samples[i]);
    s.iterations = iters[i];
    s.total_s = timed[i];
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace shears::app
