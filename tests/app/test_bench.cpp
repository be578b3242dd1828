#include <gtest/gtest.h>

#include <time.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "app/bench.h"
#include "app/cli.h"
#include "app/roofline.h"
#include "app/timing.h"
#include "app/width_table.h"
#include "engine/autograd/trace.h"
#include "engine/io/safetensors.h"
#include "engine/ops.h"
#include "engine/storage.h"
#include "models/arch.h"
#include "models/registry.h"
#include "pruning/cost_model.h"
#include "tests/support/temp_dir.h"

namespace shears::testing {
namespace {

std::string error_of(const std::vector<std::string>& args) {
  try {
    app::run_cli(args);
  } catch (const Error& e) {  // main() turns every shears::Error into exit status 1
    return e.what();
  }
  return "";
}

/// A clock that only the workloads move: each call of workload i advances it by cost[i].
TEST(Timing, FakeClockGivesExactMediansAndFollowsTheMinTimeRule) {
  double clock = 0;
  std::vector<char> calls;
  app::TimingOptions o;
  o.warmup = 1;
  o.min_samples = 5;
  o.min_time_s = 0.2;
  o.min_sample_s = 0.01;
  auto stats = app::time_interleaved({[&] { clock += 0.001, calls.push_back('a'); },
                                      [&] { clock += 0.003, calls.push_back('b'); }},
                                     o, nullptr, [&] { return clock; });
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_NEAR(stats[0].median_ms, 1.0, 1e-9);
  EXPECT_NEAR(stats[1].median_ms, 3.0, 1e-9);
  EXPECT_NEAR(stats[0].spread, 0.0, 1e-9);
  // Calibration: 1 ms calls are batched 12 to a sample (>= 10 ms), 3 ms calls 4 to a sample.
  EXPECT_EQ(stats[0].iterations, 12);
  EXPECT_EQ(stats[1].iterations, 4);
  // Rounds continue until both have >= 0.2 s timed: 12 ms samples need 17 rounds.
  EXPECT_EQ(stats[0].samples, 17);
  EXPECT_EQ(stats[1].samples, 17);
  EXPECT_GE(stats[0].total_s, 0.2);
  // Interleaved: after warm-up (a, b) and calibration (a x 1 + 12, b x 1 + 4), the samples
  // alternate: 12 a, 4 b, 12 a, ...
  std::string seq(calls.begin(), calls.end());
  std::string expect = "ab" + std::string(13, 'a') + std::string(5, 'b');
  for (int r = 0; r < 17; ++r) expect += std::string(12, 'a') + std::string(4, 'b');
  EXPECT_EQ(seq, expect);
}

TEST(Timing, MediansIgnoreOutliersAndMaxSamplesBounds) {
  double clock = 0;
  int n = 0;
  app::TimingOptions o;
  o.warmup = 0;
  o.min_samples = 3;
  o.max_samples = 9;
  o.min_time_s = 100;  // never reached: max_samples stops it
  o.min_sample_s = 0.0;
  auto stats = app::time_interleaved({[&] { clock += (++n % 4 == 0) ? 0.050 : 0.002; }}, o, nullptr,
                                     [&] { return clock; });
  EXPECT_EQ(stats[0].samples, 9);
  EXPECT_NEAR(stats[0].median_ms, 2.0, 1e-9);  // the 50 ms hiccups are in the upper quarter
  EXPECT_NEAR(stats[0].max_ms, 50.0, 1e-9);
}

volatile double g_sink = 0;
void spin(int n) {
  double acc = 0;
  for (int i = 0; i < n; ++i) acc += static_cast<double>(i) * 1e-9;
  g_sink = g_sink + acc;
}

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// A synthetic workload of known relative cost, timed by the real timing code: twice the loop,
// twice the time, in two independent measurements. The clock is this thread's CPU time, so that
// other processes on a shared machine (preemption) cannot move the medians; what is tested is
// the calibration, interleaving and statistics on real, noisy (cache, frequency) workloads.
TEST(Timing, SyntheticWorkloadGivesStableMedians) {
  app::TimingOptions o;
  o.min_time_s = 0.1;
  o.min_sample_s = 0.005;
  o.min_samples = 9;
  std::vector<double> medians;
  for (int trial = 0; trial < 2; ++trial) {
    auto s = app::time_interleaved({[] { spin(200000); }, [] { spin(400000); }}, o, nullptr,
                                   thread_cpu_s);
    double ratio = s[1].median_ms / s[0].median_ms;
    EXPECT_GT(ratio, 1.7) << "trial " << trial;
    EXPECT_LT(ratio, 2.3) << "trial " << trial;
    EXPECT_GE(s[0].samples, 9);
    EXPECT_LT(s[0].spread, 0.15) << "trial " << trial;
    medians.push_back(s[0].median_ms);
  }
  EXPECT_NEAR(medians[1] / medians[0], 1.0, 0.25);
}

TEST(CostModel, ConvBatchNormLinearMatchHandCounts) {
  Generator gen(1);
  Tensor x = rand_uniform({2, 3, 8, 8}, -1, 1, gen);
  Tensor w = rand_uniform({4, 3, 3, 3}, -1, 1, gen);
  Tensor b = Tensor::zeros({4});
  Tensor g = Tensor::ones({4}), beta = Tensor::zeros({4});
  Tensor rm = Tensor::zeros({4}), rv = Tensor::ones({4});
  Tensor fx = rand_uniform({2, 16}, -1, 1, gen), fw = rand_uniform({10, 16}, -1, 1, gen);
  Tensor fb = Tensor::zeros({10});
  std::vector<OpRecord> rec;
  {
    NoGrad no_grad;
    TraceScope trace;
    Tensor y = conv2d(x, w, b, 1, 1);
    batch_norm(y, g, beta, rm, rv, false, 0.1, 1e-5);
    linear(fx, fw, fb);
    rec = trace.records();
  }
  ASSERT_EQ(rec.size(), 3u);
  app::OpCost conv = app::op_cost(rec[0], "c");
  // 2 FLOPs per MAC; each of the 2*4*8*8 outputs takes 3*3*3 MACs.
  EXPECT_EQ(conv.kind, "conv");
  EXPECT_DOUBLE_EQ(conv.flops, 2.0 * (2 * 4 * 8 * 8) * (3 * 3 * 3));
  // Bytes: input 2*3*8*8 + weight 4*3*3*3 + bias 4 + output 2*4*8*8 floats.
  EXPECT_DOUBLE_EQ(conv.bytes, 4.0 * (384 + 108 + 4 + 512));
  app::OpCost bn = app::op_cost(rec[1], "b");
  EXPECT_EQ(bn.kind, "bn");
  EXPECT_DOUBLE_EQ(bn.flops, 2.0 * 512);
  EXPECT_DOUBLE_EQ(bn.bytes, 4.0 * (512 + 4 * 4 + 512));
  app::OpCost fc = app::op_cost(rec[2], "f");
  EXPECT_EQ(fc.kind, "linear");
  EXPECT_DOUBLE_EQ(fc.flops, 2.0 * 2 * 10 * 16);
  EXPECT_DOUBLE_EQ(fc.bytes, 4.0 * (32 + 160 + 10 + 20));
}

TEST(CostModel, NetworkTraceAgreesWithTheFlopsCounterAndPredictsRoofline) {
  models::Arch arch = models::default_arch("resnet20");
  auto model = models::build_model(arch);
  const std::int64_t batch = 3;
  auto ops = app::trace_op_costs(*model, arch.input, batch);
  pruning::CostReport cost = pruning::count_cost(*model, arch.input);
  double conv_linear_flops = 0;
  int bns = 0;
  for (auto& op : ops) {
    if (op.kind == "conv" || op.kind == "linear") conv_linear_flops += op.flops;
    if (op.kind == "bn") ++bns;
  }
  EXPECT_DOUBLE_EQ(conv_linear_flops, 2.0 * batch * static_cast<double>(cost.macs));
  EXPECT_EQ(bns, 19);  // stem + 2 per block x 9 blocks
  EXPECT_EQ(ops.front().layer, "conv1");
  EXPECT_EQ(ops.front().output, (Shape{3, 16, 32, 32}));
  app::PeakRates r;
  r.flops_per_s = 1e10;
  r.bytes_per_s = 1e9;
  r.overhead_s = 1e-6;
  app::OpCost c;
  c.kind = "conv";
  c.flops = 2e7;  // 2 ms of compute
  c.bytes = 1e6;  // 1 ms of memory
  EXPECT_DOUBLE_EQ(app::predict_op_s(c, r), 2e-3 + 1e-6);
  c.bytes = 5e6;
  EXPECT_DOUBLE_EQ(app::predict_op_s(c, r), 5e-3 + 1e-6);
  c.kind = "view";
  EXPECT_DOUBLE_EQ(app::predict_op_s(c, r), 0.0);
}

TEST(Bench, ModelSpecsPruneInnerWidthsUniformlyAndRound) {
  app::BenchNetwork half = app::network_from_spec("resnet56:keep=0.5");
  EXPECT_EQ(half.arch.width("layer1.0.conv1"), 8);
  EXPECT_EQ(half.arch.width("layer3.8.conv1"), 32);
  EXPECT_EQ(half.arch.width("layer1.0.conv2"), 16);  // the residual stream is kept
  app::BenchNetwork r8 = app::network_from_spec("resnet56:keep=0.6:round=8");
  EXPECT_EQ(r8.arch.width("layer1.0.conv1"), 16);  // 9.6 -> 10 -> 16 (capped at dense 16)
  EXPECT_EQ(r8.arch.width("layer2.0.conv1"), 24);  // 19.2 -> 19 -> 24
  EXPECT_EQ(r8.arch.width("layer3.0.conv1"), 40);  // 38.4 -> 38 -> 40
  app::BenchNetwork b50 = app::network_from_spec("resnet50:keep=0.5");
  EXPECT_EQ(b50.arch.width("layer1.0.conv1"), 32);
  EXPECT_EQ(b50.arch.width("layer1.0.conv2"), 32);
  EXPECT_EQ(b50.arch.width("layer1.0.conv3"), 256);
  EXPECT_NE(error_of({"bench", "--model", "resnet56:keep=2"}).find("resnet56:keep=2"),
            std::string::npos);
  EXPECT_NE(error_of({"bench", "--model", "resnet56:speed=1"}).find("unknown option 'speed'"),
            std::string::npos);
}

TEST(Bench, DenseVsPrunedRowsRatiosMemoryAndProfile) {
  TempDir dir;
  setenv("SHEARS_CACHE_DIR", dir.path().c_str(), 1);
  std::vector<app::BenchNetwork> nets{app::network_from_spec("resnet20"),
                                      app::network_from_spec("resnet20:keep=0.5")};
  app::BenchOptions o;
  o.batches = {2};
  o.train = true;
  o.layers = true;
  o.timing.min_time_s = 0.02;
  o.timing.min_samples = 3;
  o.timing.min_sample_s = 0.001;
  app::BenchResult r = app::run_bench(nets, o);
  unsetenv("SHEARS_CACHE_DIR");
  EXPECT_TRUE(std::filesystem::exists(dir.file("peak_rates.json")));  // measured and cached
  EXPECT_GT(r.rates.flops_per_s, 1e8);
  EXPECT_GT(r.rates.bytes_per_s, 1e8);
  ASSERT_EQ(r.rows.size(), 2u);
  const app::BenchRow &d = r.rows[0], &p = r.rows[1];
  EXPECT_GT(d.macs, p.macs);
  EXPECT_GT(d.params, p.params);
  EXPECT_GT(d.activation_bytes, p.activation_bytes);
  EXPECT_GE(d.infer.samples, 3);
  EXPECT_TRUE(d.has_train && p.has_train);
  EXPECT_GT(p.predicted_infer_s, 0);
  EXPECT_GT(d.predicted_infer_s / p.predicted_infer_s, 1.0);  // fewer FLOPs and bytes
  // Peak tensor memory: at least the weights and the input, more for a training step.
  EXPECT_GT(d.infer_peak_bytes, 4.0 * d.params);
  EXPECT_GT(d.train_peak_bytes, d.infer_peak_bytes);
  EXPECT_GT(d.train_peak_bytes, p.train_peak_bytes);
  ASSERT_EQ(r.profiles.size(), 4u);  // inference, then training step, of each network
  EXPECT_EQ(r.profiles[0].layers.size(),
            app::trace_op_costs(*nets[0].module, {3, 32, 32}, 2).size());
  EXPECT_FALSE(r.profiles[1].train);
  EXPECT_TRUE(r.profiles[2].train && r.profiles[3].train);
  std::string table = app::bench_table(r, o);
  EXPECT_NE(table.find("resnet20:keep=0.5"), std::string::npos);
  EXPECT_NE(table.find("per-op profile"), std::string::npos);
  nlohmann::json j = nlohmann::json::parse(app::bench_json(r, o));
  EXPECT_EQ(j["rows"].size(), 2u);
  EXPECT_DOUBLE_EQ(j["rows"][0]["speedup"].get<double>(), 1.0);
  EXPECT_NEAR(j["rows"][1]["flops_ratio"].get<double>(),
              static_cast<double>(d.macs) / static_cast<double>(p.macs), 1e-12);
  // The cache is read back, not remeasured.
  setenv("SHEARS_CACHE_DIR", dir.path().c_str(), 1);
  app::PeakRates again = app::cached_peak_rates(Device::cpu(), false);
  unsetenv("SHEARS_CACHE_DIR");
  EXPECT_EQ(again.source, dir.file("peak_rates.json"));
  EXPECT_DOUBLE_EQ(again.flops_per_s, r.rates.flops_per_s);
}

TEST(Bench, BadInputsAreNamed) {
  TempDir dir;
  EXPECT_NE(error_of({"bench", "--model", "resnet20", "--batch", "0"}).find("--batch '0'"),
            std::string::npos);
  EXPECT_NE(error_of({"bench", "--model", "resnet20", "--batch", "4,x"}).find("--batch"),
            std::string::npos);
  EXPECT_NE(error_of({"bench"}).find("no network given"), std::string::npos);
  EXPECT_NE(error_of({"bench", "--run", dir.path()}).find(dir.file("summary.json")),
            std::string::npos);
  EXPECT_NE(error_of({"bench", "--device", "tpu", "--model", "resnet20"}).find("--device"),
            std::string::npos);
  // A checkpoint whose tensors do not fit the widths it records.
  models::Arch arch = models::default_arch("resnet20");
  auto model = models::build_model(arch);
  models::Arch other = arch;
  other.set_width("layer1.0.conv1", 7);
  std::string ckpt = dir.file("mismatch.safetensors");
  save_safetensors(ckpt, model->state_dict(), {{"arch", models::arch_to_json(other)}});
  std::string m = error_of({"bench", "--checkpoint", ckpt});
  EXPECT_NE(m.find(ckpt), std::string::npos) << m;
  EXPECT_NE(m.find("layer1.0.conv1"), std::string::npos) << m;
  EXPECT_NE(
      error_of({"bench", "--checkpoint", dir.file("none.safetensors")}).find("none.safetensors"),
      std::string::npos);
  EXPECT_NE(error_of({"report"}).find("no run directory"), std::string::npos);
  EXPECT_NE(error_of({"report", dir.path()}).find(dir.file("summary.json")), std::string::npos);
  EXPECT_NE(error_of({"report", dir.path(), "--format", "pdf"}).find("--format"),
            std::string::npos);
}

TEST(WidthTable, ChooserNeverPicksAWidthSlowerThanALargerOne) {
  // Latency by width: 17..24 are slower than 24 (an odd-width penalty), 25.. grow again.
  std::map<std::int64_t, double> lat;
  for (std::int64_t c = 16; c <= 40; ++c) lat[c] = 1.0 + 0.01 * c + (c % 8 != 0 ? 0.3 : 0.0);
  EXPECT_EQ(pruning::choose_width(lat, 16, 40), 16);
  EXPECT_EQ(pruning::choose_width(lat, 17, 40), 24);  // 24 is faster than every width in 17..23
  // No multiple of 8 in range: 20 and 21 are within 2 % of the fastest (19), 22 is not.
  EXPECT_EQ(pruning::choose_width(lat, 19, 22), 21);
  EXPECT_EQ(pruning::choose_width(lat, 19, 22, 0.0), 19);  // without tolerance: strictly fastest
  EXPECT_EQ(pruning::choose_width(lat, 25, 40), 32);
  for (std::int64_t want = 16; want <= 40; ++want) {
    std::int64_t got = pruning::choose_width(lat, want, 40);
    ASSERT_GE(got, want);
    for (std::int64_t c = got + 1; c <= 40; ++c) EXPECT_LT(lat[got], lat[c] * 1.02) << want;
  }
}

TEST(WidthTable, MeasuredTableIsCachedPerShape) {
  TempDir dir;
  setenv("SHEARS_CACHE_DIR", dir.path().c_str(), 1);
  app::WidthProbe probe{8, 8, 8, 3, 1, 2};
  app::TimingOptions o;
  o.min_time_s = 0.01;
  o.min_samples = 3;
  o.min_sample_s = 0.001;
  auto t = app::cached_width_latency(probe, {4, 5, 8}, Device::cpu(), o, false);
  EXPECT_EQ(t.size(), 3u);
  for (auto& [c, ms] : t) EXPECT_GT(ms, 0.0) << c;
  auto again = app::cached_width_latency(probe, {4, 5, 8}, Device::cpu(), o, false);
  unsetenv("SHEARS_CACHE_DIR");
  EXPECT_EQ(again, t);  // read back from the cache, not remeasured
  EXPECT_TRUE(std::filesystem::exists(dir.file("width_latency.json")));
}

// The per-layer latency table of a latency-targeted search: a shape is measured once, kept in
// layer_latency.json, and a second table (another run on this machine) reads it back.
TEST(WidthTable, LayerLatencyTableMeasuresEachShapeOnce) {
  TempDir dir;
  setenv("SHEARS_CACHE_DIR", dir.path().c_str(), 1);
  app::TimingOptions o;
  o.min_time_s = 0.01;
  o.min_samples = 3;
  o.min_sample_s = 0.001;
  pruning::LayerShape conv;
  conv.in_channels = 8;
  conv.out_channels = 8;
  conv.height = conv.width = 8;
  conv.kernel = 3;
  conv.padding = 1;
  pruning::LayerShape depthwise = conv;
  depthwise.groups = 8;
  pruning::LayerShape fc;
  fc.op = "linear";
  fc.in_channels = 64;
  fc.out_channels = 10;
  app::LayerLatencyTable table(Device::cpu(), o);
  const double a = table(conv), b = table(depthwise), c = table(fc);
  EXPECT_GT(a, 0.0);
  EXPECT_GT(b, 0.0);
  EXPECT_GT(c, 0.0);
  EXPECT_EQ(table(conv), a);  // asked again: not remeasured
  EXPECT_EQ(table.measured(), 3);
  app::LayerLatencyTable again(Device::cpu(), o);
  EXPECT_EQ(again(conv), a);
  EXPECT_EQ(again(depthwise), b);
  EXPECT_EQ(again(fc), c);
  EXPECT_EQ(again.measured(), 0);  // all three read from the cache
  pruning::LayerShape bad = conv;
  bad.groups = 3;  // 8 input channels do not split into 3 groups
  EXPECT_THROW(again(bad), ConfigError);
  unsetenv("SHEARS_CACHE_DIR");
  EXPECT_TRUE(std::filesystem::exists(dir.file("layer_latency.json")));
}

TEST(BenchSupport, StorageCountersTrackLiveAndPeakBytes) {
  std::size_t base = storage_bytes_live();
  reset_storage_peak();
  EXPECT_EQ(storage_bytes_peak(), base);
  {
    Tensor a = Tensor::zeros({1000});
    EXPECT_EQ(storage_bytes_live(), base + 4000);
    {
      Tensor b = Tensor::zeros({500});
      EXPECT_EQ(storage_bytes_peak(), base + 6000);
    }
    EXPECT_EQ(storage_bytes_live(), base + 4000);
    EXPECT_EQ(storage_bytes_peak(), base + 6000);  // the peak stays until reset
  }
  EXPECT_EQ(storage_bytes_live(), base);
  reset_storage_peak();
  EXPECT_EQ(storage_bytes_peak(), base);
}

TEST(BenchSupport, OpObserverSeesEveryOpAfterItRan) {
  std::vector<std::string> names;
  std::vector<double> first_values;
  Tensor x = Tensor::full({4}, 2.0);
  {
    OpObserverScope observe([&](const char* name, const std::vector<Tensor>&, const Tensor& out) {
      names.push_back(name);
      first_values.push_back(out.to_vector<float>()[0]);  // the output is already computed
    });
    Tensor y = add(x, x);
    relu(mul(y, y));
    EXPECT_THROW(OpObserverScope([](const char*, const std::vector<Tensor>&, const Tensor&) {}),
                 Error);
  }
  add(x, x);  // no observer any more
  EXPECT_EQ(names, (std::vector<std::string>{"add", "mul", "relu"}));
  EXPECT_EQ(first_values, (std::vector<double>{4.0, 16.0, 16.0}));
}

TEST(BenchSupport, BackwardObserverNamesTheForwardOpOfEachBackward) {
  // Forward: add (0, no grad: constants only), mul (1), relu (2), sum (3); backward runs sum,
  // relu, mul in reverse order and calls back with their forward indices; add has no node.
  Tensor c = Tensor::full({4}, 1.0);
  Tensor w = Tensor::full({4}, -2.0);
  w.set_requires_grad(true);
  std::vector<std::size_t> backward;
  std::vector<std::string> names;
  {
    OpObserverScope observe(
        [&](const char* name, const std::vector<Tensor>&, const Tensor&) { names.push_back(name); },
        [&](std::size_t index) { backward.push_back(index); });
    Tensor k = add(c, c);
    Tensor loss = sum(relu(mul(k, w)));
    ASSERT_EQ(names.size(), 4u);
    loss.backward();  // the gradient ops it runs are observed too, after index 3
  }
  ASSERT_GE(names.size(), 4u);
  EXPECT_EQ(names[1], "mul");
  EXPECT_EQ(backward, (std::vector<std::size_t>{3, 2, 1}));
  // A graph built outside a backward-observing scope calls nothing.
  Tensor loss = sum(relu(mul(c, w)));
  loss.backward();
  EXPECT_EQ(backward.size(), 3u);
}

TEST(Timing, DeviceTimerReplacesTheHostClock) {
  // The host clock never moves; the injected device timer reports 2 ms per call of workload a
  // and 5 ms per call of b (as CUDA events would), so the medians are exactly those.
  int calls = 0;
  app::TimingOptions o;
  o.warmup = 1;
  o.min_samples = 4;
  o.min_time_s = 0.05;
  o.min_sample_s = 0.01;
  double per_call = 0;
  auto stats = app::time_interleaved(
      {[&] { ++calls, per_call = 2.0; }, [&] { ++calls, per_call = 5.0; }}, o, nullptr,
      [] { return 0.0; },
      [&](const std::function<void()>& work) {
        calls = 0;
        work();
        return calls * per_call;
      });
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_DOUBLE_EQ(stats[0].median_ms, 2.0);
  EXPECT_DOUBLE_EQ(stats[1].median_ms, 5.0);
  EXPECT_EQ(stats[0].iterations, 6);  // 2 ms calls: 1, then 6 (12 ms >= 10 ms)
  EXPECT_EQ(stats[1].iterations, 2);  // 5 ms calls: 2 (10 ms)
  EXPECT_GE(stats[0].total_s, 0.05);
  EXPECT_EQ(app::device_timer(Device::cpu()), nullptr);
}

TEST(BenchSupport, TrainingProfileTimesForwardAndBackwardOfEveryLayer) {
  std::vector<app::BenchNetwork> nets{app::network_from_spec("resnet20"),
                                      app::network_from_spec("resnet20:keep=0.5")};
  app::PeakRates rates;
  rates.flops_per_s = 1e10;
  rates.bytes_per_s = 1e10;
  auto prof = app::profile_train_layers(nets, 2, rates, Device::cpu(), 2);
  ASSERT_EQ(prof.size(), 2u);
  for (const auto& p : prof) {
    EXPECT_TRUE(p.train);
    int convs = 0, bns = 0;
    for (const auto& l : p.layers) {
      if (l.kind != "conv" && l.kind != "bn") continue;
      ++(l.kind == "conv" ? convs : bns);
      EXPECT_GT(l.backward_ms, 0.0) << l.layer;
    }
    EXPECT_EQ(convs, 19);  // ResNet-20: the stem and 18 block convs (option A: no projection)
    EXPECT_EQ(bns, 19);
    EXPECT_GT(p.optimizer_ms, 0.0);
    EXPECT_GT(p.loss_ms, 0.0);
  }
  // The pruned block convs do half the FLOPs of the dense ones, layer by layer.
  for (std::size_t i = 0; i < prof[0].layers.size(); ++i) {
    const auto& d = prof[0].layers[i];
    const auto& q = prof[1].layers[i];
    EXPECT_EQ(d.layer, q.layer);
    if (d.layer == "layer1.0.conv1") {
      EXPECT_DOUBLE_EQ(d.flops, 2 * q.flops);
    }
  }
  // The bench table prints the training-step section.
  app::BenchResult r;
  r.profiles = prof;
  app::BenchOptions o;
  o.batches = {2};
  r.rows.resize(2);
  EXPECT_NE(app::bench_table(r, o).find("training-step profile"), std::string::npos);
}

TEST(BenchCompare, PrintsPerBenchmarkRatiosOfTwoBuilds) {
  TempDir dir;
  auto write =
      [&](const std::string& name, double a, double b) {
        std::ofstream(dir.file(name))
            << R"({"context": {}, "benchmarks": [)"
            << R"({"name": "Inference/resnet56/dense", "run_type": "iteration", "real_time": )" << a
            << R"(, "time_unit": "ms"}, {"name": "Only/)" << name
            << R"(", "run_type": "iteration", "real_time": 1, "time_unit": "ms"},)"
            << R"({"name": "TrainStep/x", "run_type": "iteration", "real_time": )" << b
            << R"(, "time_unit": "us"}]})";
      };
  write("a.json", 10.0, 4000.0);
  write("b.json", 5.0, 6000.0);
  std::string cmd = std::string(SHEARS_SOURCE_DIR) + "/scripts/bench-compare " +
                    dir.file("a.json") + " " + dir.file("b.json") + " > " + dir.file("out.txt");
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(dir.file("out.txt"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("Inference/resnet56/dense"), std::string::npos) << text;
  EXPECT_NE(text.find(" 0.500"), std::string::npos) << text;  // B takes half A's time
  EXPECT_NE(text.find(" 1.500"), std::string::npos) << text;  // 6 ms vs 4 ms (us units)
  EXPECT_NE(text.find("only in A: Only/a.json"), std::string::npos) << text;
  std::string bad = std::string(SHEARS_SOURCE_DIR) + "/scripts/bench-compare " +
                    dir.file("missing.json") + " " + dir.file("b.json") + " 2> /dev/null";
  EXPECT_NE(std::system(bad.c_str()), 0);
}

}  // namespace
}  // namespace shears::testing
