// The training step on CUDA against the CPU (here, beside the models, because it trains a
// ResNet-20; the backend-level CUDA tests are in tests/cuda): one ResNet-20 SGD step (loss, every
// gradient, every updated parameter and BN buffer), the BN batch counter, the device-side running
// metrics and their deferred label check, and bit-identical repeated runs with deterministic
// algorithms.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "engine/autograd/grad_mode.h"
#include "engine/nn/batch_norm2d.h"
#include "engine/ops.h"
#include "engine/optim/sgd.h"
#include "engine/rng.h"
#include "engine/train/metrics.h"
#include "kernels/common/error.h"
#include "kernels/common/registry.h"
#include "models/arch.h"
#include "models/registry.h"
#include "tests/support/cuda_test.h"

namespace shears::testing {
namespace {

class CudaTraining : public CudaTest {
 protected:
  void SetUp() override {
    CudaTest::SetUp();
    if (IsSkipped()) return;
    set_allow_tf32(false);
  }
  void TearDown() override { set_cuda_policy(CudaPolicy{}); }
};

// max |got - want| <= atol + rtol * max |want|, over the whole tensor.
::testing::AssertionResult close(const Tensor& got, const Tensor& want, double rtol, double atol,
                                 const std::string& what) {
  const std::vector<float> g = got.to(Device::cpu()).to(DType::F32).to_vector<float>();
  const std::vector<float> w = want.to(Device::cpu()).to(DType::F32).to_vector<float>();
  if (g.size() != w.size()) return ::testing::AssertionFailure() << what << ": sizes differ";
  double scale = 0.0, worst = 0.0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    scale = std::max(scale, std::fabs(static_cast<double>(w[i])));
    const double d = std::fabs(static_cast<double>(g[i]) - static_cast<double>(w[i]));
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  if (worst <= atol + rtol * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << what << ": largest difference " << worst << " at " << at << " (CUDA " << g[at]
         << ", CPU " << w[at] << "), allowed " << atol + rtol * scale;
}

struct StepResult {
  Tensor loss;
  std::map<std::string, Tensor> grads, state;
};

// One SGD step (momentum, weight decay) of `arch` from seed 5 on `device`, batch 8.
StepResult one_step(const models::Arch& arch, const Device& device) {
  manual_seed(5);
  std::shared_ptr<nn::Module> model = models::build_model(arch);
  model->to(device);
  model->train();
  optim::SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.weight_decay = 5e-4;
  optim::Sgd sgd(model->named_parameters(), o);
  Generator gen(7);
  const Tensor x = rand_uniform({8, 3, 32, 32}, -1.0, 1.0, gen).to(device);
  const Tensor y = Tensor::from_vector<std::int64_t>({0, 1, 2, 3, 4, 5, 6, 7}, {8}).to(device);
  sgd.zero_grad();
  Tensor loss = cross_entropy(model->forward(x), y);
  loss.backward();
  StepResult r;
  r.loss = loss.detach().to(Device::cpu());
  for (const auto& [name, p] : model->named_parameters())
    r.grads[name] = p.grad().to(Device::cpu());
  sgd.step();
  for (const auto& [name, t] : model->state_dict()) r.state[name] = t.detach().to(Device::cpu());
  return r;
}

TEST_F(CudaTraining, ResNet20StepEqualsTheCpuStep) {
  for (models::Shortcut shortcut :
       {models::Shortcut::AvgPoolZeros, models::Shortcut::SubsamplePad}) {
    models::Arch arch = models::default_arch("resnet20");
    arch.shortcut = shortcut;
    const StepResult cpu = one_step(arch, Device::cpu());
    const StepResult gpu = one_step(arch, Device::cuda(0));
    const std::string tag = shortcut == models::Shortcut::SubsamplePad ? " (a-subsample)" : "";
    // f32 both sides, TF32 off: the loss to 1e-5, gradients to 1e-3 of their largest entry (the
    // backward passes sum over up to 8 * 32 * 32 values in different orders), parameters after
    // the step to 1e-5 (lr 0.1 times those gradient differences), BN buffers to 1e-5.
    EXPECT_TRUE(close(gpu.loss, cpu.loss, 1e-5, 0.0, "loss" + tag));
    ASSERT_EQ(gpu.grads.size(), cpu.grads.size());
    for (const auto& [name, g] : cpu.grads) {
      EXPECT_TRUE(close(gpu.grads.at(name), g, 1e-3, 1e-6, "grad " + name + tag));
    }
    ASSERT_EQ(gpu.state.size(), cpu.state.size());
    for (const auto& [name, t] : cpu.state) {
      if (t.dtype() == DType::I64) {
        EXPECT_EQ(gpu.state.at(name).to_vector<std::int64_t>(), t.to_vector<std::int64_t>())
            << name << tag;
      } else {
        EXPECT_TRUE(close(gpu.state.at(name), t, 1e-5, 1e-6, name + tag));
      }
    }
  }
}

TEST_F(CudaTraining, BatchNormCounterAdvancesAndStaysOnTheHost) {
  nn::BatchNorm2d bn(4);
  bn.to(Device::cuda(0));
  bn.train();
  Generator gen(3);
  const Tensor x = rand_uniform({2, 4, 3, 3}, -1.0, 1.0, gen).to(Device::cuda(0));
  bn.forward(x);
  bn.forward(x);
  EXPECT_TRUE(bn.num_batches_tracked.device().is_cpu());
  EXPECT_TRUE(bn.running_mean.device() == Device::cuda(0));
  EXPECT_EQ(bn.num_batches_tracked.to_vector<std::int64_t>(), std::vector<std::int64_t>{2});
  bn.eval();
  bn.forward(x);
  EXPECT_EQ(bn.num_batches_tracked.to_vector<std::int64_t>(), std::vector<std::int64_t>{2});
}

TEST_F(CudaTraining, DeviceMetricsEqualTheHostOnes) {
  Generator gen(11);
  AccuracyMeter cpu, gpu;
  for (int b = 0; b < 3; ++b) {
    // Rounded logits make ties, which both sides break towards the lower class index.
    Tensor logits = rand_uniform({37, 10}, -2.0, 2.0, gen);
    std::vector<float> v = logits.to_vector<float>();
    for (float& f : v) f = std::round(f * 2.0f) / 2.0f;
    logits = Tensor::from_vector(v, {37, 10});
    std::vector<std::int64_t> labels(37);
    for (std::size_t i = 0; i < labels.size(); ++i)
      labels[i] = static_cast<std::int64_t>((i * 3 + b) % 10);
    const Tensor y = Tensor::from_vector(labels, {37});
    const Tensor loss = cross_entropy(logits, y);
    cpu.add(logits, y, loss.item());
    gpu.add(logits.to(Device::cuda(0)), y.to(Device::cuda(0)), loss.to(Device::cuda(0)));
  }
  EXPECT_EQ(gpu.count(), cpu.count());
  EXPECT_DOUBLE_EQ(gpu.top1(), cpu.top1());
  EXPECT_DOUBLE_EQ(gpu.top5(), cpu.top5());
  EXPECT_NEAR(gpu.loss(), cpu.loss(), 1e-6 * (1.0 + std::fabs(cpu.loss())));
}

TEST_F(CudaTraining, AnOutOfRangeLabelIsThrownWhenTheMetricsAreRead) {
  const Device gpu = Device::cuda(0);
  Generator gen(12);
  const Tensor logits = rand_uniform({4, 5}, -1.0, 1.0, gen).to(gpu);
  const Tensor y = Tensor::from_vector<std::int64_t>({0, 1, 7, 2}, {4}).to(gpu);
  AccuracyMeter meter;
  Tensor loss;
  ASSERT_NO_THROW({
    loss = cross_entropy(logits, y);
    meter.add(logits, y, loss);
  }) << "the label check must not make the host wait";
  try {
    (void)meter.loss();
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("label 7 at row 2 is out of range for 5 classes"),
              std::string::npos)
        << e.what();
  }
}

// Parameters (as bytes) after three steps of a small conv net with deterministic algorithms.
std::vector<std::uint8_t> deterministic_run() {
  CudaPolicy policy;
  policy.deterministic = true;
  set_cuda_policy(policy);
  models::Arch arch = models::default_arch("resnet20");
  manual_seed(9);
  std::shared_ptr<nn::Module> model = models::build_model(arch);
  model->to(Device::cuda(0));
  model->train();
  optim::SgdOptions o;
  o.lr = 0.05;
  o.momentum = 0.9;
  optim::Sgd sgd(model->named_parameters(), o);
  Generator gen(13);
  const Tensor x = rand_uniform({16, 3, 32, 32}, -1.0, 1.0, gen).to(Device::cuda(0));
  std::vector<std::int64_t> labels(16);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int64_t>(i % 10);
  const Tensor y = Tensor::from_vector(labels, {16}).to(Device::cuda(0));
  for (int s = 0; s < 3; ++s) {
    sgd.zero_grad();
    Tensor loss = cross_entropy(model->forward(x), y);
    loss.backward();
    sgd.step();
  }
  std::vector<std::uint8_t> bytes;
  for (const auto& [name, t] : model->state_dict()) {
    const Tensor c = t.detach().to(Device::cpu());
    const auto* p = static_cast<const std::uint8_t*>(c.raw_data());
    bytes.insert(bytes.end(), p, p + c.numel() * static_cast<std::int64_t>(dtype_size(c.dtype())));
  }
  return bytes;
}

TEST_F(CudaTraining, DeterministicRunsGiveIdenticalBytes) {
  const std::vector<std::uint8_t> first = deterministic_run();
  const std::vector<std::uint8_t> second = deterministic_run();
  ASSERT_EQ(first.size(), second.size());
  EXPECT_TRUE(first == second) << "two deterministic runs differ";
}

}  // namespace
}  // namespace shears::testing
