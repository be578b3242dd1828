// Whole-network benchmarks, dense vs pruned in one run: inference and one SGD training step of
// ResNet-56 (CIFAR, 32x32) and ResNet-50 (ImageNet, 224x224), and the same networks after L1
// pruning of half of every block's inner channels. Report images/s; the pruned/dense ratio is
// printed at the end. `--peak-memory MODEL:VARIANT:BATCH:STEPS` instead runs training steps
// only and prints the process's peak resident memory (compared against PyTorch by
// scripts/bench-network). `--device cuda` runs every case on the GPU (each timed iteration ends
// with a stream synchronisation). `--step MODEL:VARIANT:BATCH:STEPS` runs STEPS training steps
// the way bench/reference/torch_network.py does (the first untimed, one synchronisation after
// the rest) and prints one JSON line: step time, images/s, peak resident memory and, on CUDA,
// the allocator's peak reserved device memory. With `--graph` the steps of --step are recorded
// into a device graph and replayed (StepGraph: the first step eager, the second recorded, the
// timed ones replays); the JSON line then says "mode": "graph", how many steps were replays and,
// if the step could not be recorded, why. scripts/device-check runs both modes.
#include <sys/resource.h>

#include <chrono>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "engine/autograd/grad_mode.h"
#include "engine/ops/loss.h"
#include "engine/optim/sgd.h"
#include "engine/rng.h"
#include "engine/train/step_graph.h"
#include "kernels/common/error.h"
#include "kernels/common/registry.h"
#include "kernels/cpu/conv_library.h"
#include "models/registry.h"
#include "pruning/dependency.h"
#include "pruning/methods/l1_random.h"
#include "pruning/methods/selection.h"
#include "pruning/surgery.h"

namespace {

using namespace shears;

Device g_device = Device::cpu();
bool g_graph = false;

void sync_device() {
  if (!g_device.is_cpu()) backend_for(g_device).synchronize();
}

struct Net {
  std::shared_ptr<nn::Module> model;
  Shape input;
};

/// The dense network, or its L1-pruned version (block-internal groups at ratio 0.5).
Net make_net(const std::string& name, bool pruned) {
  manual_seed(1);
  models::Arch arch = models::default_arch(name);
  Net net{models::build_model(arch), arch.input};
  if (pruned) {
    pruning::DependencyGraph graph = pruning::DependencyGraph::build(*net.model, net.input);
    pruning::SelectionSpec spec;
    spec.rate = 0.5;
    Generator gen(1);
    pruning::PrunePlan plan =
        pruning::plan_by_criterion(*net.model, graph, spec, pruning::Criterion::L1, false, gen);
    net.model = pruning::apply_surgery(*net.model, graph, plan).model;
  }
  net.model->to(g_device);
  return net;
}

void inference(benchmark::State& state, const std::string& name, bool pruned, std::int64_t batch) {
  Net net = make_net(name, pruned);
  net.model->eval();
  NoGrad no_grad;
  Tensor x = Tensor::ones({batch, net.input[0], net.input[1], net.input[2]}).to(g_device);
  for (auto _ : state) {
    Tensor y = net.model->forward(x);
    benchmark::DoNotOptimize(y.raw_data());
    sync_device();
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

void train_step(benchmark::State& state, const std::string& name, bool pruned, std::int64_t batch) {
  Net net = make_net(name, pruned);
  net.model->train();
  optim::SgdOptions o;
  o.lr = 0.01;
  o.momentum = 0.9;
  o.weight_decay = 5e-4;
  optim::Sgd sgd(net.model->named_parameters(), o);
  Generator gen(3);
  Tensor x =
      rand_uniform({batch, net.input[0], net.input[1], net.input[2]}, -1, 1, gen).to(g_device);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(batch));
  for (std::int64_t i = 0; i < batch; ++i) labels[static_cast<std::size_t>(i)] = i % 10;
  Tensor y = Tensor::from_vector(labels, {batch}).to(g_device);
  for (auto _ : state) {
    sgd.zero_grad();
    Tensor loss = cross_entropy(net.model->forward(x), y);
    loss.backward();
    sgd.step();
    sync_device();
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

int peak_memory(const std::string& spec) {
  char model[64] = {0}, variant[16] = {0};
  int batch = 0, steps = 0;
  if (std::sscanf(spec.c_str(), "%63[^:]:%15[^:]:%d:%d", model, variant, &batch, &steps) != 4) {
    std::fprintf(stderr, "--peak-memory expects MODEL:dense|pruned:BATCH:STEPS\n");
    return 2;
  }
  Net net = make_net(model, std::strcmp(variant, "pruned") == 0);
  optim::SgdOptions o;
  o.lr = 0.01;
  o.momentum = 0.9;
  optim::Sgd sgd(net.model->named_parameters(), o);
  Tensor x = Tensor::ones({batch, net.input[0], net.input[1], net.input[2]}).to(g_device);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(batch), 1);
  Tensor y = Tensor::from_vector(labels, {batch}).to(g_device);
  for (int s = 0; s < steps; ++s) {
    sgd.zero_grad();
    Tensor loss = cross_entropy(net.model->forward(x), y);
    loss.backward();
    sgd.step();
  }
  sync_device();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf(
      "{\"engine\": \"shears\", \"model\": \"%s\", \"variant\": \"%s\", \"batch\": %d, "
      "\"peak_rss_mb\": %.1f}\n",
      model, variant, batch, usage.ru_maxrss / 1024.0);
  return 0;
}

// torch_network.py's protocol: one untimed step (allocation, algorithm choice), then STEPS - 1
// steps and one synchronisation.
int step_json(const std::string& spec) {
  char model[64] = {0}, variant[16] = {0};
  int batch = 0, steps = 0;
  if (std::sscanf(spec.c_str(), "%63[^:]:%15[^:]:%d:%d", model, variant, &batch, &steps) != 4 ||
      batch < 1 || steps < 1) {
    std::fprintf(stderr, "--step expects MODEL:dense|pruned:BATCH:STEPS\n");
    return 2;
  }
  Net net = make_net(model, std::strcmp(variant, "pruned") == 0);
  net.model->train();
  optim::SgdOptions o;
  o.lr = 0.01;
  o.momentum = 0.9;
  optim::Sgd sgd(net.model->named_parameters(), o);
  Tensor x = Tensor::ones({batch, net.input[0], net.input[1], net.input[2]}).to(g_device);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(batch), 1);
  Tensor y = Tensor::from_vector(labels, {batch}).to(g_device);
  std::vector<Tensor> params;
  for (auto& [name, p] : net.model->named_parameters()) params.push_back(p);
  StepGraph graph(
      params,
      [&](const Tensor& images, const Tensor& labels) -> std::vector<Tensor> {
        sgd.zero_grad();
        Tensor logits = net.model->forward(images);
        Tensor loss = cross_entropy(logits, labels);
        loss.backward();
        sgd.step();
        return {logits.detach(), loss.detach()};
      },
      g_graph, 1);
  auto step = [&] { graph.run(x, y); };
  step();
  if (g_graph) step();  // recorded (and run once) here, replayed below
  sync_device();
  const auto start = std::chrono::steady_clock::now();
  const int timed = std::max(steps - 1, 1);
  for (int s = 0; s < timed; ++s) step();
  sync_device();
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() /
      timed;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const DeviceMemoryStats mem = device_memory_stats(g_device);
  std::string fallback;
  for (char c : graph.fallback_reason()) {
    if (c == '"' || c == '\\') fallback += '\\';
    fallback += c;
  }
  std::printf(
      "{\"engine\": \"shears\", \"device\": \"%s\", \"model\": \"%s\", \"variant\": \"%s\", "
      "\"batch\": %d, \"mode\": \"%s\", \"step_ms\": %.2f, \"images_per_s\": %.1f, "
      "\"peak_rss_mb\": %.1f, \"peak_device_mb\": %.1f, \"graph_device_mb\": %.1f, "
      "\"replays\": %lld, \"graph_fallback\": \"%s\"}\n",
      g_device.str().c_str(), model, variant, batch, g_graph ? "graph" : "eager", ms,
      batch / ms * 1e3, usage.ru_maxrss / 1024.0,
      static_cast<double>(mem.peak_reserved_bytes + mem.graph_peak_reserved_bytes) / (1 << 20),
      static_cast<double>(mem.graph_peak_reserved_bytes) / (1 << 20),
      static_cast<long long>(graph.replays()), fallback.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // --device is ours: taken out before Google Benchmark sees the arguments.
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
      try {
        g_device = parse_device(argv[i + 1]);
      } catch (const Error& e) {
        std::fprintf(stderr, "--device: %s\n", e.what());
        return 2;
      }
      for (int j = i; j + 2 <= argc; ++j) argv[j] = argv[j + 2];
      argc -= 2;
      --i;
    } else if (std::strcmp(argv[i], "--graph") == 0) {
      g_graph = true;
      for (int j = i; j + 1 <= argc; ++j) argv[j] = argv[j + 1];
      argc -= 1;
      --i;
    }
  }
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--peak-memory") == 0) return peak_memory(argv[i + 1]);
    if (std::strcmp(argv[i], "--step") == 0) return step_json(argv[i + 1]);
  }
  // Names are <Inference|TrainStep>/<model>/<dense|pruned>/<batch>; scripts/bench-network runs
  // them one at a time, interleaved with the same case in PyTorch.
  struct Case {
    const char* model;
    bool train;
    std::int64_t batch;
  };
  for (Case c :
       {Case{"resnet56", false, 128}, Case{"resnet56", true, 128}, Case{"resnet50", false, 1},
        Case{"resnet50", false, 8}, Case{"resnet50", true, 8}}) {
    for (bool pruned : {false, true}) {
      const std::string name = std::string(c.train ? "TrainStep/" : "Inference/") + c.model +
                               (pruned ? "/pruned/" : "/dense/") + std::to_string(c.batch);
      benchmark::RegisterBenchmark(name.c_str(), c.train ? train_step : inference, c.model, pruned,
                                   c.batch)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("backend", shears::backend_for(g_device).name());
  benchmark::AddCustomContext("conv_library", shears::kernels::cpu::conv_library_name(
                                                  shears::kernels::cpu::conv_library()));
  benchmark::AddCustomContext("math_libraries", shears::kernels::cpu::cpu_math_libraries());
  benchmark::AddCustomContext("pruning", "L1, ratio 0.5 of every block's inner channels");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
