#include <gtest/gtest.h>

#include <cmath>

#include "engine/ops.h"
#include "engine/optim/lr_schedule.h"
#include "engine/optim/sgd.h"
#include "tests/support/allclose.h"

namespace shears::testing {
namespace {

/// One parameter p with a fixed gradient per step, stepped by SGD.
std::vector<double> run_sgd(const optim::SgdOptions& o, const std::vector<double>& grads,
                            double p0) {
  Tensor p = Tensor::from_vector<double>({p0}, {1});
  p.set_requires_grad(true);
  optim::Sgd sgd({{"p", p}}, o);
  std::vector<double> trace;
  for (double g : grads) {
    p.set_grad(Tensor::from_vector<double>({g}, {1}));
    sgd.step();
    trace.push_back(p.item());
  }
  return trace;
}

TEST(Sgd, PlainStep) {
  optim::SgdOptions o;
  o.lr = 0.5;
  auto t = run_sgd(o, {2.0, -1.0}, 1.0);
  EXPECT_DOUBLE_EQ(t[0], 0.0);  // 1 - 0.5*2
  EXPECT_DOUBLE_EQ(t[1], 0.5);  // 0 + 0.5
}

TEST(Sgd, MomentumAndWeightDecayByHand) {
  optim::SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.weight_decay = 0.01;
  // step 1: g = 1 + 0.01*1 = 1.01; buf = 1.01; p = 1 - 0.101 = 0.899
  // step 2: g = 1 + 0.01*0.899 = 1.00899; buf = 0.9*1.01 + 1.00899 = 1.91799; p = 0.899 - 0.191799
  auto t = run_sgd(o, {1.0, 1.0}, 1.0);
  EXPECT_NEAR(t[0], 0.899, 1e-12);
  EXPECT_NEAR(t[1], 0.899 - 0.191799, 1e-12);
}

TEST(Sgd, NesterovByHand) {
  optim::SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.nesterov = true;
  // step 1: buf = 1; g = 1 + 0.9*1 = 1.9; p = 1 - 0.19 = 0.81
  // step 2: buf = 0.9 + 2 = 2.9; g = 2 + 0.9*2.9 = 4.61; p = 0.81 - 0.461 = 0.349
  auto t = run_sgd(o, {1.0, 2.0}, 1.0);
  EXPECT_NEAR(t[0], 0.81, 1e-12);
  EXPECT_NEAR(t[1], 0.349, 1e-12);
}

TEST(Sgd, DampeningScalesLaterGradients) {
  optim::SgdOptions o;
  o.lr = 1.0;
  o.momentum = 0.5;
  o.dampening = 0.5;
  // step 1: buf = g = 2 (no dampening on the first step); p = -2
  // step 2: buf = 0.5*2 + 0.5*2 = 2; p = -4
  auto t = run_sgd(o, {2.0, 2.0}, 0.0);
  EXPECT_NEAR(t[0], -2.0, 1e-12);
  EXPECT_NEAR(t[1], -4.0, 1e-12);
}

TEST(Sgd, ExcludesBatchNormAndBiasFromWeightDecay) {
  Tensor w = Tensor::ones({2, 2}, DType::F64), b = Tensor::ones({2}, DType::F64);
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  optim::SgdOptions o;
  o.lr = 1.0;
  o.weight_decay = 0.1;
  o.no_decay_bn_and_bias = true;
  optim::Sgd sgd({{"w", w}, {"b", b}}, o);
  w.set_grad(Tensor::zeros({2, 2}, DType::F64));
  b.set_grad(Tensor::zeros({2}, DType::F64));
  sgd.step();
  EXPECT_NEAR(w.to_vector<double>()[0], 0.9, 1e-12);
  EXPECT_NEAR(b.to_vector<double>()[0], 1.0, 1e-12);
}

TEST(Sgd, MomentumBufferIsAddressableByName) {
  Tensor w = Tensor::ones({3}, DType::F64);
  w.set_requires_grad(true);
  optim::SgdOptions o;
  o.momentum = 0.9;
  optim::Sgd sgd({{"layer.weight", w}}, o);
  EXPECT_FALSE(sgd.momentum_buffer("layer.weight").defined());
  w.set_grad(Tensor::from_vector<double>({1, 2, 3}, {3}));
  sgd.step();
  EXPECT_TRUE(
      allclose(sgd.momentum_buffer("layer.weight"), Tensor::from_vector<double>({1, 2, 3}, {3})));
  // Surgery: a smaller parameter with a sliced buffer.
  Tensor w2 = Tensor::ones({2}, DType::F64);
  w2.set_requires_grad(true);
  sgd.rebind({{"layer.weight", w2}});
  sgd.set_momentum_buffer("layer.weight", Tensor::from_vector<double>({1, 3}, {2}));
  w2.set_grad(Tensor::zeros({2}, DType::F64));
  sgd.step();
  EXPECT_TRUE(
      allclose(sgd.momentum_buffer("layer.weight"), Tensor::from_vector<double>({0.9, 2.7}, {2})));
  EXPECT_THROW(sgd.momentum_buffer("missing"), Error);
}

TEST(Sgd, StateRoundTripsThroughStateDict) {
  Tensor w = Tensor::ones({2}, DType::F64);
  w.set_requires_grad(true);
  optim::SgdOptions o;
  o.momentum = 0.9;
  optim::Sgd a({{"w", w}}, o), b({{"w", w}}, o);
  w.set_grad(Tensor::from_vector<double>({1, 2}, {2}));
  a.step();
  b.load_state_dict(a.state_dict(), a.steps());
  EXPECT_TRUE(equal(b.momentum_buffer("w"), a.momentum_buffer("w")));
  EXPECT_EQ(b.steps(), 1);
  EXPECT_THROW(b.load_state_dict({{"momentum.other", Tensor::ones({2})}}, 0), CheckpointError);
}

TEST(LrSchedule, StepAtChosenEpochs) {
  optim::StepLr s(0.1, 30, 0.1);
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.1);
  EXPECT_DOUBLE_EQ(s.lr_at(29.9), 0.1);
  EXPECT_NEAR(s.lr_at(30), 0.01, 1e-15);
  EXPECT_NEAR(s.lr_at(65), 0.001, 1e-15);
}

TEST(LrSchedule, MultiStepAtMilestones) {
  optim::MultiStepLr s(0.1, {60, 120, 160}, 0.2);
  EXPECT_DOUBLE_EQ(s.lr_at(59), 0.1);
  EXPECT_NEAR(s.lr_at(60), 0.02, 1e-15);
  EXPECT_NEAR(s.lr_at(120), 0.004, 1e-15);
  EXPECT_NEAR(s.lr_at(199), 0.0008, 1e-15);
}

TEST(LrSchedule, CosineEndpointsAndMiddle) {
  optim::CosineLr s(0.1, 100, 0.0);
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.1);
  EXPECT_NEAR(s.lr_at(50), 0.05, 1e-15);
  EXPECT_NEAR(s.lr_at(100), 0.0, 1e-15);
  EXPECT_NEAR(s.lr_at(25), 0.05 * (1 + std::cos(M_PI / 4)), 1e-15);
}

TEST(LrSchedule, LinearWarmupThenInner) {
  optim::WarmupLr s(std::make_unique<optim::MultiStepLr>(0.1, std::vector<int>{30}, 0.1), 5, 0.0);
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.0);
  EXPECT_NEAR(s.lr_at(2.5), 0.05, 1e-15);
  EXPECT_DOUBLE_EQ(s.lr_at(5), 0.1);
  EXPECT_NEAR(s.lr_at(31), 0.01, 1e-15);
}

}  // namespace
}  // namespace shears::testing
