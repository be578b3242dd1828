// CpuBackend::sgd_update: hand-computed steps for plain SGD, weight decay, momentum (first and
// later steps), dampening and Nesterov, a large update against a naive loop, and the error paths.

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/cpu_test_util.h"

namespace shears::testing {
namespace {

using kernels::cpu::CpuBackend;

SgdParams sgd(double lr, double momentum = 0, double dampening = 0, double weight_decay = 0,
              bool nesterov = false, bool first_step = false) {
  SgdParams p;
  p.lr = lr;
  p.momentum = momentum;
  p.dampening = dampening;
  p.weight_decay = weight_decay;
  p.nesterov = nesterov;
  p.first_step = first_step;
  return p;
}

template <typename T>
class SgdTyped : public ::testing::Test {
 protected:
  CpuBackend be_;
  // One scalar parameter: p = 1, grad = 0.5, lr = 0.1 unless a test says otherwise.
  std::vector<T> p_{1}, g_{0.5}, buf_{0};

  void step(const SgdParams& params, bool with_buffer) {
    TensorView b = view_of(buf_, {1});
    this->be_.sgd_update(view_of(p_, {1}), view_of(g_, {1}), with_buffer ? &b : nullptr, params);
  }
};
TYPED_TEST_SUITE(SgdTyped, FloatTypes, FloatTypeNames);

TYPED_TEST(SgdTyped, PlainStep) {
  this->step(sgd(0.1), false);
  EXPECT_TRUE(all_near(this->p_, {0.95}, tolerance<TypeParam>()));
}

TYPED_TEST(SgdTyped, WeightDecayAddsToGradient) {
  // g = 0.5 + 0.01 * 1 = 0.51; p = 1 - 0.051.
  this->step(sgd(0.1, 0, 0, 0.01), false);
  EXPECT_TRUE(all_near(this->p_, {0.949}, tolerance<TypeParam>()));
}

TYPED_TEST(SgdTyped, MomentumFirstStepCopiesGradientThenAccumulates) {
  this->buf_ = {123};  // ignored on the first step
  this->step(sgd(0.1, 0.9, 0, 0, false, true), true);
  EXPECT_TRUE(all_near(this->buf_, {0.5}, tolerance<TypeParam>()));
  EXPECT_TRUE(all_near(this->p_, {0.95}, tolerance<TypeParam>()));
  // buf = 0.9 * 0.5 + 0.5 = 0.95; p = 0.95 - 0.095.
  this->step(sgd(0.1, 0.9), true);
  EXPECT_TRUE(all_near(this->buf_, {0.95}, tolerance<TypeParam>()));
  EXPECT_TRUE(all_near(this->p_, {0.855}, tolerance<TypeParam>()));
}

TYPED_TEST(SgdTyped, DampeningScalesLaterGradientsOnly) {
  // First step: buf = g (no dampening, as PyTorch); p = 0.95.
  this->step(sgd(0.1, 0.9, 0.1, 0, false, true), true);
  EXPECT_TRUE(all_near(this->buf_, {0.5}, tolerance<TypeParam>()));
  // buf = 0.9 * 0.5 + 0.9 * 0.5 = 0.9; p = 0.95 - 0.09.
  this->step(sgd(0.1, 0.9, 0.1), true);
  EXPECT_TRUE(all_near(this->buf_, {0.9}, tolerance<TypeParam>()));
  EXPECT_TRUE(all_near(this->p_, {0.86}, tolerance<TypeParam>()));
}

TYPED_TEST(SgdTyped, NesterovLooksAhead) {
  // First: buf = 0.5; step g = 0.5 + 0.9 * 0.5 = 0.95; p = 1 - 0.095.
  this->step(sgd(0.1, 0.9, 0, 0, true, true), true);
  EXPECT_TRUE(all_near(this->p_, {0.905}, tolerance<TypeParam>()));
  // Second: buf = 0.45 + 0.5 = 0.95; step g = 0.5 + 0.855 = 1.355; p = 0.905 - 0.1355.
  this->step(sgd(0.1, 0.9, 0, 0, true), true);
  EXPECT_TRUE(all_near(this->buf_, {0.95}, tolerance<TypeParam>()));
  EXPECT_TRUE(all_near(this->p_, {0.7695}, tolerance<TypeParam>()));
}

TYPED_TEST(SgdTyped, NesterovWithWeightDecayTwoSteps) {
  using T = TypeParam;
  this->p_ = {2};
  this->g_ = {1};
  // First: g = 1 + 0.1 * 2 = 1.2; buf = 1.2; step 1.2 + 0.9 * 1.2 = 2.28; p = 2 - 0.228.
  this->step(sgd(0.1, 0.9, 0, 0.1, true, true), true);
  EXPECT_TRUE(all_near(this->p_, {1.772}, tolerance<T>()));
  // Second: g = 1 + 0.1772 = 1.1772; buf = 1.08 + 1.1772 = 2.2572;
  // step 1.1772 + 0.9 * 2.2572 = 3.20868; p = 1.772 - 0.320868.
  this->step(sgd(0.1, 0.9, 0, 0.1, true), true);
  EXPECT_TRUE(all_near(this->buf_, {2.2572}, tolerance<T>()));
  EXPECT_TRUE(all_near(this->p_, {1.451132}, tolerance<T>()));
}

TYPED_TEST(SgdTyped, LargeUpdateMatchesNaiveLoop) {
  using T = TypeParam;
  const std::size_t n = 100000;
  auto p = ramp_values<T>(n, -1, 1, 81), g = ramp_values<T>(n, -1, 1, 82),
       buf = ramp_values<T>(n, -1, 1, 83);
  std::vector<double> want_p(n), want_buf(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double gi = static_cast<double>(g[i]) + 5e-4 * static_cast<double>(p[i]);
    want_buf[i] = 0.9 * static_cast<double>(buf[i]) + 0.75 * gi;
    want_p[i] = static_cast<double>(p[i]) - 0.05 * want_buf[i];
  }
  TensorView b = view_of(buf, {100, 1000});
  this->be_.sgd_update(view_of(p, {100, 1000}), view_of(g, {100, 1000}), &b,
                       sgd(0.05, 0.9, 0.25, 5e-4));
  EXPECT_TRUE(all_near(buf, want_buf, 4 * tolerance<T>()));
  EXPECT_TRUE(all_near(p, want_p, 4 * tolerance<T>()));
}

class Sgd : public ::testing::Test {
 protected:
  CpuBackend be_;
  std::vector<float> p_ = std::vector<float>(4), g_ = std::vector<float>(4);
};

TEST_F(Sgd, MomentumNeedsABuffer) {
  SHEARS_EXPECT_THROW_MSG(
      be_.sgd_update(view_of(p_, {4}), view_of(g_, {4}), nullptr, sgd(0.1, 0.9)), Error,
      "sgd_update: momentum 0.9 needs a momentum buffer for param F32 [4]");
}

TEST_F(Sgd, NesterovNeedsMomentumAndNoDampening) {
  std::vector<float> buf(4);
  TensorView b = view_of(buf, {4});
  SHEARS_EXPECT_THROW_MSG(
      be_.sgd_update(view_of(p_, {4}), view_of(g_, {4}), &b, sgd(0.1, 0, 0, 0, true)), Error,
      "Nesterov momentum needs momentum > 0 and zero dampening, got momentum 0");
  SHEARS_EXPECT_THROW_MSG(
      be_.sgd_update(view_of(p_, {4}), view_of(g_, {4}), &b, sgd(0.1, 0.9, 0.1, 0, true)), Error,
      "dampening 0.1");
}

TEST_F(Sgd, RejectsMismatchedShapesAndDtypes) {
  std::vector<float> g(3);
  SHEARS_EXPECT_THROW_MSG(be_.sgd_update(view_of(p_, {4}), view_of(g, {3}), nullptr, sgd(0.1)),
                          ShapeError, "param F32 [4] and grad F32 [3] must have the same");
  std::vector<double> buf(4);
  TensorView b = view_of(buf, {4});
  SHEARS_EXPECT_THROW_MSG(
      be_.sgd_update(view_of(p_, {4}), view_of(g_, {4}), &b, sgd(0.1, 0.9)), ShapeError,
      "param F32 [4] and momentum_buf F64 [4] must have the same shape and dtype");
}

}  // namespace
}  // namespace shears::testing
