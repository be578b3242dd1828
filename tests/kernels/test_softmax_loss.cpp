// CpuBackend softmax, log-softmax, NLL (with label smoothing) and BCE-with-logits: hand-computed
// values, numerical stability, gradients against central differences, and the error paths.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/cpu_test_util.h"

namespace shears::testing {
namespace {

using kernels::cpu::CpuBackend;

// log_softmax([1, 2, 3]) = [1, 2, 3] - log(e + e^2 + e^3) = [1, 2, 3] - 3.4076059644443806.
constexpr double kLse123 = 3.4076059644443806;

template <typename T>
class SoftmaxLossTyped : public ::testing::Test {
 protected:
  CpuBackend be_;
};
TYPED_TEST_SUITE(SoftmaxLossTyped, FloatTypes, FloatTypeNames);

TYPED_TEST(SoftmaxLossTyped, SoftmaxKnownValues) {
  using T = TypeParam;
  std::vector<T> x{1, 2, 3, 0, 0, 0}, y(6);
  this->be_.softmax_forward(view_of(x, {2, 3}), view_of(y, {2, 3}), false);
  EXPECT_TRUE(all_near(y,
                       {std::exp(1 - kLse123), std::exp(2 - kLse123), std::exp(3 - kLse123),
                        1.0 / 3, 1.0 / 3, 1.0 / 3},
                       tolerance<T>()));
  this->be_.softmax_forward(view_of(x, {2, 3}), view_of(y, {2, 3}), true);
  EXPECT_TRUE(all_near(
      y, {1 - kLse123, 2 - kLse123, 3 - kLse123, -std::log(3.0), -std::log(3.0), -std::log(3.0)},
      tolerance<T>()));
}

TYPED_TEST(SoftmaxLossTyped, SoftmaxIsStableForLargeLogits) {
  using T = TypeParam;
  std::vector<T> x{1000, 1001, 1002, -1000, -1001, -1002}, y(6), ly(6);
  this->be_.softmax_forward(view_of(x, {2, 3}), view_of(y, {2, 3}), false);
  this->be_.softmax_forward(view_of(x, {2, 3}), view_of(ly, {2, 3}), true);
  EXPECT_TRUE(all_near(y,
                       {std::exp(1 - kLse123), std::exp(2 - kLse123), std::exp(3 - kLse123),
                        std::exp(3 - kLse123), std::exp(2 - kLse123), std::exp(1 - kLse123)},
                       tolerance<T>()));
  EXPECT_TRUE(
      all_near(ly, {1 - kLse123, 2 - kLse123, 3 - kLse123, 3 - kLse123, 2 - kLse123, 1 - kLse123},
               tolerance<T>()));
}

// Central differences of L = sum(r * f(x)) in double, with f softmax or log-softmax per row.
std::vector<double> softmax_grad_reference(const std::vector<double>& x, std::int64_t rows,
                                           std::int64_t cols, const std::vector<double>& r,
                                           bool log) {
  auto loss = [&](const std::vector<double>& v) {
    double l = 0;
    for (std::int64_t i = 0; i < rows; ++i) {
      double m = -1e300, s = 0;
      for (std::int64_t c = 0; c < cols; ++c)
        m = std::max(m, v[static_cast<std::size_t>(i * cols + c)]);
      for (std::int64_t c = 0; c < cols; ++c)
        s += std::exp(v[static_cast<std::size_t>(i * cols + c)] - m);
      for (std::int64_t c = 0; c < cols; ++c) {
        const std::size_t at = static_cast<std::size_t>(i * cols + c);
        const double ls = v[at] - m - std::log(s);
        l += r[at] * (log ? ls : std::exp(ls));
      }
    }
    return l;
  };
  std::vector<double> g(x.size());
  const double h = 1e-6;
  for (std::size_t i = 0; i < x.size(); ++i) {
    auto p = x, m = x;
    p[i] += h;
    m[i] -= h;
    g[i] = (loss(p) - loss(m)) / (2 * h);
  }
  return g;
}

TYPED_TEST(SoftmaxLossTyped, SoftmaxBackwardMatchesFiniteDifferences) {
  using T = TypeParam;
  const std::int64_t rows = 4, cols = 7;
  auto x = ramp_values<T>(28, -3, 3, 51), r = ramp_values<T>(28, -1, 1, 52);
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-8;
  for (bool log : {false, true}) {
    SCOPED_TRACE(log ? "log_softmax" : "softmax");
    std::vector<T> y(28), gx(28);
    this->be_.softmax_forward(view_of(x, {rows, cols}), view_of(y, {rows, cols}), log);
    this->be_.softmax_backward(view_of(y, {rows, cols}), view_of(r, {rows, cols}),
                               view_of(gx, {rows, cols}), log);
    EXPECT_TRUE(
        all_near(gx, softmax_grad_reference(to_double(x), rows, cols, to_double(r), log), tol));
  }
}

TYPED_TEST(SoftmaxLossTyped, SoftmaxLargeRowsSumToOne) {
  using T = TypeParam;
  const std::int64_t rows = 256, cols = 1000;
  auto x = ramp_values<T>(static_cast<std::size_t>(rows * cols), -20, 20, 53);
  std::vector<T> y(x.size());
  this->be_.softmax_forward(view_of(x, {rows, cols}), view_of(y, {rows, cols}), false);
  for (std::int64_t i = 0; i < rows; ++i) {
    double s = 0;
    for (std::int64_t c = 0; c < cols; ++c)
      s += static_cast<double>(y[static_cast<std::size_t>(i * cols + c)]);
    ASSERT_NEAR(s, 1.0, 1e-5) << "row " << i;
  }
}

// logp = log_softmax([[1, 2, 3], [1, 1, 1]]), labels {2, 0}.
template <typename T>
std::vector<T> known_logp() {
  const double l3 = std::log(3.0);
  return {static_cast<T>(1 - kLse123), static_cast<T>(2 - kLse123), static_cast<T>(3 - kLse123),
          static_cast<T>(-l3),         static_cast<T>(-l3),         static_cast<T>(-l3)};
}

TYPED_TEST(SoftmaxLossTyped, NllLossKnownValues) {
  using T = TypeParam;
  auto logp = known_logp<T>();
  std::vector<std::int64_t> labels{2, 0};
  std::vector<T> loss(1);
  this->be_.nll_loss_forward(view_of(logp, {2, 3}), view_of(labels, {2}), 0.0, view_of(loss, {}));
  // mean(-(3 - lse), log 3)
  EXPECT_TRUE(all_near(loss, {(kLse123 - 3 + std::log(3.0)) / 2}, tolerance<T>()));
  this->be_.nll_loss_forward(view_of(logp, {2, 3}), view_of(labels, {2}), 0.1, view_of(loss, {}));
  // Row 0: 0.9 * (lse - 3) + 0.1 * mean(lse - 1, lse - 2, lse - 3) = 0.9 * 0.40761 + 0.1 * 1.40761.
  // Row 1: every class has -logp = log 3, so smoothing changes nothing.
  const double row0 = 0.9 * (kLse123 - 3) + 0.1 * (kLse123 - 2);
  EXPECT_TRUE(all_near(loss, {(row0 + std::log(3.0)) / 2}, tolerance<T>()));
  EXPECT_NEAR(static_cast<double>(loss[0]), 0.8031091, 1e-6);
}

TYPED_TEST(SoftmaxLossTyped, NllLossBackwardKnownValues) {
  using T = TypeParam;
  std::vector<std::int64_t> labels{2, 0};
  std::vector<T> grad_loss{1}, g(6);
  this->be_.nll_loss_backward(view_of(labels, {2}), 0.0, view_of(grad_loss, {}),
                              view_of(g, {2, 3}));
  EXPECT_TRUE(all_near(g, {0, 0, -0.5, -0.5, 0, 0}, 0.0));
  grad_loss[0] = 2;
  this->be_.nll_loss_backward(view_of(labels, {2}), 0.1, view_of(grad_loss, {}),
                              view_of(g, {2, 3}));
  // grad_loss / N * (-(1-s)[c == label] - s/C) = 1 * (-0.9 [c == label] - 0.1/3)
  const double off = -0.1 / 3, on = -0.9 - 0.1 / 3;
  EXPECT_TRUE(all_near(g, {off, off, on, on, off, off}, tolerance<T>()));
}

TYPED_TEST(SoftmaxLossTyped, NllLossGradientMatchesFiniteDifferences) {
  using T = TypeParam;
  const std::int64_t n = 5, c = 4;
  const double s = 0.2;
  auto logp = ramp_values<T>(20, -4, 0, 54);
  std::vector<std::int64_t> labels{3, 0, 1, 3, 2};
  auto loss_of = [&](const std::vector<double>& lp) {
    double total = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      double mean = 0;
      for (std::int64_t k = 0; k < c; ++k) mean -= lp[static_cast<std::size_t>(i * c + k)] / c;
      total +=
          (1 - s) * -lp[static_cast<std::size_t>(i * c + labels[static_cast<std::size_t>(i)])] +
          s * mean;
    }
    return total / n;
  };
  std::vector<T> loss(1), grad_loss{1}, g(20);
  this->be_.nll_loss_forward(view_of(logp, {n, c}), view_of(labels, {n}), s, view_of(loss, {}));
  EXPECT_TRUE(all_near(loss, {loss_of(to_double(logp))}, tolerance<T>()));
  this->be_.nll_loss_backward(view_of(labels, {n}), s, view_of(grad_loss, {}), view_of(g, {n, c}));
  std::vector<double> want(20);
  const auto base = to_double(logp);
  for (std::size_t i = 0; i < 20; ++i) {
    auto p = base, m = base;
    p[i] += 1e-6;
    m[i] -= 1e-6;
    want[i] = (loss_of(p) - loss_of(m)) / 2e-6;
  }
  EXPECT_TRUE(all_near(g, want, 1e-6));
}

TYPED_TEST(SoftmaxLossTyped, NllLossLargeBatchMatchesNaive) {
  using T = TypeParam;
  const std::int64_t n = 512, c = 100;
  auto logp = ramp_values<T>(static_cast<std::size_t>(n * c), -6, 0, 55);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = (i * 37) % c;
  double want = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    want -= 0.95 * static_cast<double>(
                       logp[static_cast<std::size_t>(i * c + labels[static_cast<std::size_t>(i)])]);
    for (std::int64_t k = 0; k < c; ++k)
      want -= 0.05 * static_cast<double>(logp[static_cast<std::size_t>(i * c + k)]) / c;
  }
  std::vector<T> loss(1);
  this->be_.nll_loss_forward(view_of(logp, {n, c}), view_of(labels, {n}), 0.05, view_of(loss, {}));
  EXPECT_TRUE(all_near(loss, {want / n}, tolerance<T>()));
}

TYPED_TEST(SoftmaxLossTyped, BceWithLogitsKnownValues) {
  using T = TypeParam;
  std::vector<T> x{0, 2, -3}, t{1, 0, 0.5}, loss(1);
  this->be_.bce_with_logits_forward(view_of(x, {3}), view_of(t, {3}), view_of(loss, {}));
  const double want =
      (std::log(2.0) + (2 + std::log1p(std::exp(-2.0))) + (1.5 + std::log1p(std::exp(-3.0)))) / 3;
  EXPECT_TRUE(all_near(loss, {want}, tolerance<T>()));
  EXPECT_NEAR(static_cast<double>(loss[0]), 1.4562209, 1e-6);

  std::vector<T> grad_loss{2}, gx(3);
  this->be_.bce_with_logits_backward(view_of(x, {3}), view_of(t, {3}), view_of(grad_loss, {}),
                                     view_of(gx, {3}));
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  EXPECT_TRUE(
      all_near(gx, {2 * (0.5 - 1) / 3, 2 * sig(2) / 3, 2 * (sig(-3) - 0.5) / 3}, tolerance<T>()));
}

TYPED_TEST(SoftmaxLossTyped, BceWithLogitsIsStableForLargeLogits) {
  using T = TypeParam;
  std::vector<T> x{1000, -1000, 1000, -1000}, t{1, 0, 0, 1}, loss(1), grad_loss{1}, gx(4);
  this->be_.bce_with_logits_forward(view_of(x, {2, 2}), view_of(t, {2, 2}), view_of(loss, {}));
  EXPECT_TRUE(all_near(loss, {1000.0 / 2}, tolerance<T>()));
  this->be_.bce_with_logits_backward(view_of(x, {2, 2}), view_of(t, {2, 2}), view_of(grad_loss, {}),
                                     view_of(gx, {2, 2}));
  EXPECT_TRUE(all_near(gx, {0, 0, 0.25, -0.25}, 0.0));
}

class SoftmaxLoss : public ::testing::Test {
 protected:
  CpuBackend be_;
  std::vector<float> logp_ = std::vector<float>(6), loss_ = std::vector<float>(1);
};

TEST_F(SoftmaxLoss, NllRejectsOutOfRangeLabelNamingRowAndLabel) {
  std::vector<std::int64_t> labels{0, 3};
  SHEARS_EXPECT_THROW_MSG(
      be_.nll_loss_forward(view_of(logp_, {2, 3}), view_of(labels, {2}), 0.0, view_of(loss_, {})),
      ShapeError, "nll_loss_forward: label 3 at row 1 is out of range for 3 classes");
  labels = {-1, 0};
  std::vector<float> grad_loss{1}, g(6);
  SHEARS_EXPECT_THROW_MSG(
      be_.nll_loss_backward(view_of(labels, {2}), 0.0, view_of(grad_loss, {}), view_of(g, {2, 3})),
      ShapeError, "label -1 at row 0 is out of range");
}

TEST_F(SoftmaxLoss, NllRejectsBadLabelsAndSmoothing) {
  std::vector<std::int32_t> labels32{0, 1};
  SHEARS_EXPECT_THROW_MSG(
      be_.nll_loss_forward(view_of(logp_, {2, 3}), view_of(labels32, {2}), 0.0, view_of(loss_, {})),
      ShapeError, "labels must be I64 [2], got I32 [2]");
  std::vector<std::int64_t> labels{0, 1, 2};
  SHEARS_EXPECT_THROW_MSG(
      be_.nll_loss_forward(view_of(logp_, {2, 3}), view_of(labels, {3}), 0.0, view_of(loss_, {})),
      ShapeError, "labels must be I64 [2], got I64 [3]");
  SHEARS_EXPECT_THROW_MSG(
      be_.nll_loss_forward(view_of(logp_, {2, 3}), view_of(labels, {2}), 1.5, view_of(loss_, {})),
      Error, "label smoothing must be in [0, 1], got 1.5");
  std::vector<double> loss64(1);
  SHEARS_EXPECT_THROW_MSG(
      be_.nll_loss_forward(view_of(logp_, {2, 3}), view_of(labels, {2}), 0.0, view_of(loss64, {})),
      ShapeError, "loss must be a F32 scalar, got F64 []");
}

TEST_F(SoftmaxLoss, SoftmaxRejectsNonMatrices) {
  std::vector<float> y(6);
  SHEARS_EXPECT_THROW_MSG(be_.softmax_forward(view_of(logp_, {6}), view_of(y, {6}), false),
                          ShapeError, "softmax_forward: x must have 2 dimension(s), got F32 [6]");
  SHEARS_EXPECT_THROW_MSG(
      be_.softmax_backward(view_of(logp_, {2, 3}), view_of(y, {3, 2}), view_of(y, {2, 3}), true),
      ShapeError, "log_softmax_backward: y F32 [2, 3] and grad_y F32 [3, 2]");
}

TEST_F(SoftmaxLoss, BceRejectsMismatchedTarget) {
  std::vector<float> t(4);
  SHEARS_EXPECT_THROW_MSG(
      be_.bce_with_logits_forward(view_of(logp_, {6}), view_of(t, {4}), view_of(loss_, {})),
      ShapeError, "bce_with_logits_forward: x F32 [6] and target F32 [4] must have the same");
}

}  // namespace
}  // namespace shears::testing
