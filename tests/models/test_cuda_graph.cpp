// Recorded training steps (StepGraph, CUDA graphs) against eager ones: a ResNet-20 step replayed
// from a graph gives the same bytes as the eager step (loss, parameters, momentum, BN buffers and
// counters) with a learning rate that changes every step and a batch shape that changes; steps
// that cannot be recorded fall back to eager ones with the same results; the trainer with
// cuda_graphs on equals the trainer with it off. Deterministic algorithms, TF32 off, so "the
// same" is exact. Skipped without a GPU.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn/batch_norm2d.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "engine/optim/lr_schedule.h"
#include "engine/optim/sgd.h"
#include "engine/rng.h"
#include "engine/train/step_graph.h"
#include "engine/train/trainer.h"
#include "kernels/common/registry.h"
#include "models/arch.h"
#include "models/registry.h"
#include "tests/support/cuda_test.h"
#include "tests/support/memory_source.h"

namespace shears::testing {
namespace {

class CudaGraphStep : public CudaTest {
 protected:
  void SetUp() override {
    CudaTest::SetUp();
    if (IsSkipped()) return;
    CudaPolicy policy;
    policy.tf32_conv = false;
    policy.tf32_matmul = false;
    policy.deterministic = true;
    set_cuda_policy(policy);
  }
  void TearDown() override { set_cuda_policy(CudaPolicy{}); }
};

std::vector<std::uint8_t> bytes_of(const Tensor& t) {
  const Tensor host = t.detach().to(Device::cpu());
  std::vector<std::uint8_t> out(host.nbytes());
  if (!out.empty()) std::memcpy(out.data(), host.raw_data(), out.size());
  return out;
}

struct StepRun {
  std::vector<std::vector<std::uint8_t>> losses;
  std::map<std::string, std::vector<std::uint8_t>> state;  // parameters, buffers, momentum
  std::int64_t sgd_steps = 0, replays = 0, graphs = 0;
  std::string fallback;
};

// `batches` SGD steps of ResNet-20 (a-subsample shortcut: the cached device index is read by
// the recorded step) on device, through a StepGraph (enabled or not); batch b has batch_sizes[b]
// images, and the LR changes every step.
StepRun train(bool graphs, const std::vector<std::int64_t>& batch_sizes,
              const std::function<void(const Tensor& loss)>& in_step = nullptr,
              bool dropout = false) {
  const Device dev = Device::cuda(0);
  manual_seed(5);
  models::Arch arch = models::default_arch("resnet20");
  arch.shortcut = models::Shortcut::SubsamplePad;
  std::shared_ptr<nn::Module> model = models::build_model(arch);
  model->to(dev);
  model->train();
  optim::SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.weight_decay = 5e-4;
  optim::Sgd sgd(model->named_parameters(), o);
  std::vector<Tensor> params;
  for (auto& [name, p] : model->named_parameters()) params.push_back(p);
  StepGraph step(
      params,
      [&](const Tensor& x, const Tensor& y) -> std::vector<Tensor> {
        Tensor logits = model->forward(x);
        if (dropout) logits = shears::dropout(logits, 0.2, true);
        Tensor loss = cross_entropy(logits, y);
        if (in_step) in_step(loss);
        sgd.zero_grad();
        loss.backward();
        sgd.step();
        return {logits.detach(), loss.detach()};
      },
      graphs);
  StepRun r;
  Generator gen(7);
  for (std::size_t b = 0; b < batch_sizes.size(); ++b) {
    const std::int64_t n = batch_sizes[b];
    const Tensor x = rand_uniform({n, 3, 32, 32}, -1.0, 1.0, gen).to(dev);
    std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = (i * 3 + b) % 10;
    const Tensor y = Tensor::from_vector(labels, {n}).to(dev);
    sgd.set_lr(0.1 / static_cast<double>(b + 1));
    std::vector<Tensor> out = step.run(x, y);
    r.losses.push_back(bytes_of(out[1]));
  }
  for (const auto& [name, t] : model->state_dict()) r.state[name] = bytes_of(t);
  for (const auto& [name, t] : sgd.state_dict()) r.state[name] = bytes_of(t);
  r.sgd_steps = sgd.steps();
  r.replays = step.replays();
  r.graphs = step.graphs();
  r.fallback = step.fallback_reason();
  return r;
}

void expect_same(const StepRun& got, const StepRun& want) {
  ASSERT_EQ(got.losses.size(), want.losses.size());
  for (std::size_t i = 0; i < want.losses.size(); ++i) {
    EXPECT_EQ(got.losses[i], want.losses[i]) << "loss of step " << i;
  }
  ASSERT_EQ(got.state.size(), want.state.size());
  for (const auto& [name, bytes] : want.state) {
    EXPECT_EQ(got.state.at(name), bytes) << name;
  }
  EXPECT_EQ(got.sgd_steps, want.sgd_steps);
}

TEST_F(CudaGraphStep, ReplayedStepEqualsTheEagerStep) {
  const std::vector<std::int64_t> sizes(6, 8);
  const StepRun eager = train(false, sizes);
  const StepRun recorded = train(true, sizes);
  EXPECT_EQ(eager.replays, 0);
  // Step 1 eager, step 2 recorded (and run), steps 3..6 replays.
  EXPECT_EQ(recorded.graphs, 1) << recorded.fallback;
  EXPECT_EQ(recorded.replays, 4) << recorded.fallback;
  EXPECT_EQ(recorded.fallback, "");
  expect_same(recorded, eager);
  // The BN counters advanced once per step, replays included.
  std::vector<std::uint8_t> six(sizeof(std::int64_t));
  const std::int64_t v = 6;
  std::memcpy(six.data(), &v, sizeof v);
  for (const auto& [name, bytes] : recorded.state) {
    if (name.find("num_batches_tracked") != std::string::npos) {
      EXPECT_EQ(bytes, six) << name;
    }
  }
}

TEST_F(CudaGraphStep, EachBatchShapeGetsItsGraph) {
  const std::vector<std::int64_t> sizes{8, 8, 8, 4, 8, 4, 4, 8};
  const StepRun eager = train(false, sizes);
  const StepRun recorded = train(true, sizes);
  // 8: eager, recorded, replays at steps 3, 5 and 8; 4: eager, recorded, replay at step 7.
  EXPECT_EQ(recorded.graphs, 2) << recorded.fallback;
  EXPECT_EQ(recorded.replays, 4) << recorded.fallback;
  expect_same(recorded, eager);
}

TEST_F(CudaGraphStep, AHostReadInTheStepFallsBackToEagerSteps) {
  const std::vector<std::int64_t> sizes(4, 8);
  auto read = [](const Tensor& loss) { (void)loss.item(); };
  const StepRun eager = train(false, sizes, read);
  const StepRun recorded = train(true, sizes, read);
  EXPECT_EQ(recorded.replays, 0);
  EXPECT_EQ(recorded.graphs, 0);
  EXPECT_NE(recorded.fallback.find("copy_to_host"), std::string::npos) << recorded.fallback;
  expect_same(recorded, eager);
}

TEST_F(CudaGraphStep, DropoutFallsBackToEagerSteps) {
  const std::vector<std::int64_t> sizes(4, 8);
  const StepRun recorded = train(true, sizes, nullptr, true);
  EXPECT_EQ(recorded.replays, 0);
  EXPECT_NE(recorded.fallback.find("dropout"), std::string::npos) << recorded.fallback;
  // The failed recording drew no mask seed: the run equals an eager one from the same seed.
  const StepRun eager = train(false, sizes, nullptr, true);
  expect_same(recorded, eager);
}

TEST_F(CudaGraphStep, TrainerWithGraphsEqualsTrainerWithout) {
  auto fit = [](bool graphs, std::int64_t* replays) {
    const Device dev = Device::cuda(0);
    manual_seed(3);
    std::shared_ptr<nn::Module> model = models::build_model(models::default_arch("resnet20"));
    model->to(dev);
    optim::SgdOptions o;
    o.lr = 0.05;
    o.momentum = 0.9;
    optim::Sgd sgd(model->named_parameters(), o);
    optim::CosineLr schedule(0.05, 2);
    Generator gen(4);
    const Tensor images = rand_uniform({40, 3, 32, 32}, -1.0, 1.0, gen);
    std::vector<std::int64_t> labels(40);
    for (std::int64_t i = 0; i < 40; ++i) labels[static_cast<std::size_t>(i)] = i % 10;
    // 40 images in batches of 16: 16, 16, 8 per epoch (the last batch a second shape).
    MemorySource data(images, Tensor::from_vector(labels, {40}), 16, 10, true, 2);
    TrainerOptions to;
    to.epochs = 2;
    to.device = dev;
    to.progress = false;
    to.step_graphs = graphs;
    Trainer trainer(*model, sgd, schedule, to);
    const std::vector<EpochMetrics> m = trainer.fit(data, nullptr);
    *replays = trainer.graph_replays();
    std::map<std::string, std::vector<std::uint8_t>> state;
    for (const auto& [name, t] : model->state_dict()) state[name] = bytes_of(t);
    state["train_loss"] = std::vector<std::uint8_t>(sizeof(double));
    std::memcpy(state["train_loss"].data(), &m.back().train_loss, sizeof(double));
    return state;
  };
  std::int64_t eager_replays = -1, graph_replays = -1;
  const auto eager = fit(false, &eager_replays);
  const auto recorded = fit(true, &graph_replays);
  EXPECT_EQ(eager_replays, 0);
  // Epoch 1: 16 eager, 16 recorded, 8 eager; epoch 2: 16 replayed twice, 8 recorded.
  EXPECT_EQ(graph_replays, 2);
  ASSERT_EQ(recorded.size(), eager.size());
  for (const auto& [name, bytes] : eager) EXPECT_EQ(recorded.at(name), bytes) << name;
}

}  // namespace
}  // namespace shears::testing
