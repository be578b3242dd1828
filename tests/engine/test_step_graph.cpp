// The host side of recorded steps, which runs on any machine: graph::Recording defers host
// effects and refuses what cannot be replayed; BatchNorm2d and Sgd register their per-step
// counters as effects; StepGraph runs every step eagerly where the device cannot record (the
// CPU) and the CPU backend refuses to record. The CUDA side is tests/models/test_cuda_graph.cpp.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/graph/recording.h"
#include "engine/nn/batch_norm2d.h"
#include "engine/ops.h"
#include "engine/optim/sgd.h"
#include "engine/rng.h"
#include "engine/train/step_graph.h"
#include "kernels/common/registry.h"

namespace shears {
namespace {

TEST(GraphRecording, EffectsRunAtOnceOutsideAndLaterInside) {
  int count = 0;
  graph::host_effect([&] { ++count; });
  EXPECT_EQ(count, 1);
  graph::before_launch([&] { count += 10; });  // nothing to prepare outside a recording
  EXPECT_EQ(count, 1);
  EXPECT_FALSE(graph::recording());
  EXPECT_NO_THROW(graph::require_eager("not recording"));
  graph::Effects effects;
  {
    graph::Recording recording;
    EXPECT_TRUE(graph::recording());
    graph::host_effect([&] { ++count; });
    graph::before_launch([&] { count += 10; });
    EXPECT_EQ(count, 1);
    try {
      graph::require_eager("a host-side draw");
      FAIL() << "expected GraphCaptureError";
    } catch (const GraphCaptureError& e) {
      EXPECT_STREQ(e.what(), "a host-side draw");
    }
    EXPECT_THROW(graph::Recording nested, Error);
    effects = recording.take();
  }
  EXPECT_FALSE(graph::recording());
  ASSERT_EQ(effects.before.size(), 1u);
  ASSERT_EQ(effects.after.size(), 1u);
  // Every launch: prepare, run, count.
  for (int launch = 0; launch < 3; ++launch) {
    effects.run_before();
    effects.run_after();
  }
  EXPECT_EQ(count, 1 + 3 * 11);
}

TEST(GraphRecording, BatchNormAndSgdCountThroughEffects) {
  nn::BatchNorm2d bn(3);
  bn.train();
  Generator gen(2);
  const Tensor x = rand_uniform({4, 3, 2, 2}, -1.0, 1.0, gen);
  optim::SgdOptions o;
  o.lr = 0.1;
  optim::Sgd sgd(bn.named_parameters(), o);
  graph::Effects effects;
  {
    graph::Recording recording;
    Tensor loss = sum(bn.forward(x));
    loss.backward();
    sgd.step();
    effects = recording.take();
  }
  // Recorded once: nothing counted until the effects run (once per launch).
  EXPECT_EQ(bn.num_batches_tracked.to_vector<std::int64_t>(), std::vector<std::int64_t>{0});
  EXPECT_EQ(sgd.steps(), 0);
  effects.run_after();
  effects.run_after();
  EXPECT_EQ(bn.num_batches_tracked.to_vector<std::int64_t>(), std::vector<std::int64_t>{2});
  EXPECT_EQ(sgd.steps(), 2);
  // Eager: at once.
  bn.forward(x);
  EXPECT_EQ(bn.num_batches_tracked.to_vector<std::int64_t>(), std::vector<std::int64_t>{3});
}

TEST(GraphRecording, DropoutAndMomentumCreationRefuseRecording) {
  const Tensor x = Tensor::ones({2, 3});
  {
    graph::Recording recording;
    EXPECT_THROW(dropout(x, 0.5, true), GraphCaptureError);
    // An explicit seed is replayable; eval mode draws nothing.
    EXPECT_NO_THROW(dropout(x, 0.5, true, 123));
    EXPECT_NO_THROW(dropout(x, 0.5, false));
  }
  Tensor w = Tensor::ones({3}).set_requires_grad();
  optim::SgdOptions o;
  o.momentum = 0.9;
  optim::Sgd sgd(TensorList{{"w", w}}, o);
  w.set_grad(Tensor::ones({3}));
  {
    graph::Recording recording;
    EXPECT_THROW(sgd.step(), GraphCaptureError);  // the momentum buffer would be created
  }
  sgd.step();  // eager: creates it
  {
    graph::Recording recording;
    EXPECT_NO_THROW(sgd.step());
  }
}

TEST(StepGraphCpu, EveryStepRunsEagerlyOnTheCpu) {
  int calls = 0;
  StepGraph step(
      {},
      [&](const Tensor& x, const Tensor&) -> std::vector<Tensor> {
        ++calls;
        EXPECT_FALSE(graph::recording());
        return {scale(x, 2.0)};
      },
      true);
  const Tensor x = Tensor::from_vector(std::vector<float>{1, 2}, {2});
  const Tensor y = Tensor::from_vector(std::vector<std::int64_t>{0, 1}, {2});
  for (int i = 0; i < 4; ++i) {
    std::vector<Tensor> out = step.run(x, y);
    EXPECT_EQ(out[0].to_vector<float>(), (std::vector<float>{2, 4}));
  }
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(step.eager_steps(), 4);
  EXPECT_EQ(step.replays(), 0);
  EXPECT_EQ(step.graphs(), 0);
}

TEST(StepGraphCpu, TheCpuBackendCannotRecord) {
  Backend& cpu = backend_for(Device::cpu());
  EXPECT_FALSE(cpu.graph_unsupported_reason().empty());
  EXPECT_FALSE(cpu.capturing());
  EXPECT_THROW(cpu.begin_capture(), GraphCaptureError);
  EXPECT_THROW(cpu.end_capture(), GraphCaptureError);
  EXPECT_NO_THROW(cpu.abort_capture());
  // A device-resident LR is for device backends.
  std::vector<float> p{1, 2}, g{1, 1};
  const float lr = 0.5f;
  TensorView pv{p.data(), {2}, DType::F32, Device::cpu()};
  TensorView gv{g.data(), {2}, DType::F32, Device::cpu()};
  SgdParams sp;
  sp.lr_device = &lr;
  EXPECT_THROW(cpu.sgd_update(pv, gv, nullptr, sp), Error);
  // The default upload: a copy in new memory.
  void* ptr = cpu.allocate_from_host(p.data(), sizeof(float) * 2);
  EXPECT_EQ(static_cast<float*>(ptr)[1], 2.0f);
  cpu.deallocate(ptr, sizeof(float) * 2);
}

}  // namespace
}  // namespace shears
