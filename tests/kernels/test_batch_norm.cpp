// CpuBackend batch normalisation: hand-computed training and eval outputs, running-statistic
// updates, and gradients against central differences of a naive double forward.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/cpu_test_util.h"

namespace shears::testing {
namespace {

using kernels::cpu::CpuBackend;

// x (N=2, C=2, H=1, W=2): channel 0 holds {1, 3, 5, 7} (mean 4, biased variance 5, unbiased
// 20/3); channel 1 holds {2, 2, 4, 8} (mean 4, biased variance 6, unbiased 8).
const std::vector<double> kX{1, 3, 2, 2, 5, 7, 4, 8};
const Shape kShape{2, 2, 1, 2};

template <typename T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// Naive forward in double: y = (x - mean) / sqrt(var + eps) * w + b, with the batch mean and
// biased variance in training and rm/rv in eval.
std::vector<double> naive_bn(const std::vector<double>& x, const Shape& s,
                             const std::vector<double>& w, const std::vector<double>& b,
                             bool training, const std::vector<double>& rm,
                             const std::vector<double>& rv, double eps) {
  const std::int64_t n = s[0], c = s[1], sp = shape_numel(s) / (n * c);
  std::vector<double> y(x.size());
  for (std::int64_t ch = 0; ch < c; ++ch) {
    double mean = 0, var = 0;
    if (training) {
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t k = 0; k < sp; ++k)
          mean += x[static_cast<std::size_t>((i * c + ch) * sp + k)];
      mean /= static_cast<double>(n * sp);
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t k = 0; k < sp; ++k) {
          const double d = x[static_cast<std::size_t>((i * c + ch) * sp + k)] - mean;
          var += d * d;
        }
      var /= static_cast<double>(n * sp);
    } else {
      mean = rm[static_cast<std::size_t>(ch)];
      var = rv[static_cast<std::size_t>(ch)];
    }
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t k = 0; k < sp; ++k) {
        const std::size_t at = static_cast<std::size_t>((i * c + ch) * sp + k);
        y[at] = (x[at] - mean) / std::sqrt(var + eps) * w[static_cast<std::size_t>(ch)] +
                b[static_cast<std::size_t>(ch)];
      }
  }
  return y;
}

template <typename T>
class BatchNormTyped : public ::testing::Test {
 protected:
  CpuBackend be_;
};
TYPED_TEST_SUITE(BatchNormTyped, FloatTypes, FloatTypeNames);

TYPED_TEST(BatchNormTyped, TrainingForwardKnownValuesAndRunningUpdate) {
  using T = TypeParam;
  auto x = cast<T>(kX);
  std::vector<T> w{2, 0.5}, b{1, -1}, rm{0, 1}, rv{1, 2}, y(8), mean(2), invstd(2);
  BatchNormParams p;
  p.training = true;
  p.momentum = 0.1;
  p.eps = 0.0;
  TensorView wv = view_of(w, {2}), bv = view_of(b, {2}), rmv = view_of(rm, {2}),
             rvv = view_of(rv, {2});
  this->be_.batch_norm_forward(view_of(x, kShape), &wv, &bv, &rmv, &rvv, view_of(y, kShape),
                               view_of(mean, {2}), view_of(invstd, {2}), p);
  const double s0 = 2.0 / std::sqrt(5.0), s1 = 0.5 / std::sqrt(6.0);
  EXPECT_TRUE(all_near(y,
                       {-3 * s0 + 1, -1 * s0 + 1, -2 * s1 - 1, -2 * s1 - 1, 1 * s0 + 1, 3 * s0 + 1,
                        0 * s1 - 1, 4 * s1 - 1},
                       tolerance<T>()));
  EXPECT_TRUE(all_near(mean, {4, 4}, tolerance<T>()));
  EXPECT_TRUE(all_near(invstd, {1 / std::sqrt(5.0), 1 / std::sqrt(6.0)}, tolerance<T>()));
  // running = 0.9 * running + 0.1 * batch, with the unbiased batch variance.
  EXPECT_TRUE(all_near(rm, {0.4, 1.3}, tolerance<T>()));
  EXPECT_TRUE(all_near(rv, {0.9 + 0.1 * 20.0 / 3.0, 1.8 + 0.8}, tolerance<T>()));
}

TYPED_TEST(BatchNormTyped, TrainingWithoutAffineOrRunningStats) {
  using T = TypeParam;
  auto x = cast<T>(kX);
  std::vector<T> y(8), mean(2), invstd(2);
  BatchNormParams p;
  p.eps = 1e-5;
  this->be_.batch_norm_forward(view_of(x, kShape), nullptr, nullptr, nullptr, nullptr,
                               view_of(y, kShape), view_of(mean, {2}), view_of(invstd, {2}), p);
  EXPECT_TRUE(
      all_near(y, naive_bn(kX, kShape, {1, 1}, {0, 0}, true, {}, {}, 1e-5), tolerance<T>()));
  EXPECT_TRUE(
      all_near(invstd, {1 / std::sqrt(5.0 + 1e-5), 1 / std::sqrt(6.0 + 1e-5)}, tolerance<T>()));
}

TYPED_TEST(BatchNormTyped, EvalUsesRunningStatsAndLeavesThem) {
  using T = TypeParam;
  auto x = cast<T>(kX);
  std::vector<T> w{2, 0.5}, b{1, -1}, rm{3, -1}, rv{4, 0.25}, y(8), mean(2), invstd(2);
  BatchNormParams p;
  p.training = false;
  p.eps = 0.0;
  TensorView wv = view_of(w, {2}), bv = view_of(b, {2}), rmv = view_of(rm, {2}),
             rvv = view_of(rv, {2});
  this->be_.batch_norm_forward(view_of(x, kShape), &wv, &bv, &rmv, &rvv, view_of(y, kShape),
                               view_of(mean, {2}), view_of(invstd, {2}), p);
  // channel 0: (x - 3) / 2 * 2 + 1 = x - 2; channel 1: (x + 1) / 0.5 * 0.5 - 1 = x.
  EXPECT_TRUE(all_near(y, {-1, 1, 2, 2, 3, 5, 4, 8}, tolerance<T>()));
  EXPECT_TRUE(all_near(mean, {3, -1}, 0.0));
  EXPECT_TRUE(all_near(invstd, {0.5, 2}, tolerance<T>()));
  EXPECT_TRUE(all_near(rm, {3, -1}, 0.0));
  EXPECT_TRUE(all_near(rv, {4, 0.25}, 0.0));
}

TYPED_TEST(BatchNormTyped, LargeForwardMatchesNaive) {
  using T = TypeParam;
  const Shape s{8, 16, 24, 24};
  auto x = ramp_values<T>(static_cast<std::size_t>(shape_numel(s)), -3, 5, 21);
  auto w = ramp_values<T>(16, 0.5, 2, 22), b = ramp_values<T>(16, -1, 1, 23);
  std::vector<T> y(x.size()), mean(16), invstd(16);
  BatchNormParams p;
  TensorView wv = view_of(w, {16}), bv = view_of(b, {16});
  this->be_.batch_norm_forward(view_of(x, s), &wv, &bv, nullptr, nullptr, view_of(y, s),
                               view_of(mean, {16}), view_of(invstd, {16}), p);
  EXPECT_TRUE(all_near(y,
                       naive_bn(to_double(x), s, to_double(w), to_double(b), true, {}, {}, p.eps),
                       10 * tolerance<T>()));
}

// Gradients of L = sum(r * y) against central differences of the naive double forward.
template <typename T>
void check_backward(CpuBackend& be, bool training, bool with_weight) {
  SCOPED_TRACE(std::string(training ? "training" : "eval") + (with_weight ? ", weight" : ""));
  const Shape s{3, 2, 2, 3};
  const std::size_t n = static_cast<std::size_t>(shape_numel(s));
  const std::vector<double> xd = to_double(ramp_values<double>(n, -2, 2, 31));
  const std::vector<double> r = to_double(ramp_values<double>(n, -1, 1, 32));
  std::vector<double> wd{1.5, -0.7}, bd{0.2, 0.3};
  if (!with_weight) wd = {1, 1};
  const std::vector<double> rmd{0.3, -0.2}, rvd{1.7, 0.6};
  const double eps = 1e-5;
  auto loss = [&](const std::vector<double>& x, const std::vector<double>& w,
                  const std::vector<double>& b) {
    const std::vector<double> y = naive_bn(x, s, w, b, training, rmd, rvd, eps);
    double l = 0;
    for (std::size_t i = 0; i < n; ++i) l += r[i] * y[i];
    return l;
  };
  const double h = 1e-6;
  std::vector<double> want_gx(n), want_gw(2), want_gb(2);
  for (std::size_t i = 0; i < n; ++i) {
    auto xp = xd, xm = xd;
    xp[i] += h;
    xm[i] -= h;
    want_gx[i] = (loss(xp, wd, bd) - loss(xm, wd, bd)) / (2 * h);
  }
  for (std::size_t c = 0; c < 2; ++c) {
    auto wp = wd, wm = wd, bp = bd, bm = bd;
    wp[c] += h;
    wm[c] -= h;
    bp[c] += h;
    bm[c] -= h;
    want_gw[c] = (loss(xd, wp, bd) - loss(xd, wm, bd)) / (2 * h);
    want_gb[c] = (loss(xd, wd, bp) - loss(xd, wd, bm)) / (2 * h);
  }
  auto x = std::vector<T>(xd.begin(), xd.end());
  auto gy = std::vector<T>(r.begin(), r.end());
  std::vector<T> w(wd.begin(), wd.end()), b(bd.begin(), bd.end()), rm(rmd.begin(), rmd.end()),
      rv(rvd.begin(), rvd.end()), y(n), mean(2), invstd(2), gx(n), gw(2), gb(2);
  BatchNormParams p;
  p.training = training;
  p.eps = eps;
  TensorView wv = view_of(w, {2}), bv = view_of(b, {2}), rmv = view_of(rm, {2}),
             rvv = view_of(rv, {2}), gxv = view_of(gx, s), gwv = view_of(gw, {2}),
             gbv = view_of(gb, {2});
  be.batch_norm_forward(view_of(x, s), with_weight ? &wv : nullptr, &bv, &rmv, &rvv, view_of(y, s),
                        view_of(mean, {2}), view_of(invstd, {2}), p);
  be.batch_norm_backward(view_of(x, s), view_of(gy, s), with_weight ? &wv : nullptr,
                         view_of(mean, {2}), view_of(invstd, {2}), &gxv, &gwv, &gbv, training, eps);
  const double tol = std::is_same_v<T, float> ? 1e-4 : 1e-7;
  EXPECT_TRUE(all_near(gx, want_gx, tol));
  EXPECT_TRUE(all_near(gw, want_gw, tol));
  EXPECT_TRUE(all_near(gb, want_gb, tol));
}

TYPED_TEST(BatchNormTyped, TrainingBackwardMatchesFiniteDifferences) {
  check_backward<TypeParam>(this->be_, true, true);
  check_backward<TypeParam>(this->be_, true, false);
}

TYPED_TEST(BatchNormTyped, EvalBackwardMatchesFiniteDifferences) {
  check_backward<TypeParam>(this->be_, false, true);
  check_backward<TypeParam>(this->be_, false, false);
}

TYPED_TEST(BatchNormTyped, BackwardComputesOnlyRequestedGradients) {
  using T = TypeParam;
  auto x = cast<T>(kX);
  std::vector<T> gy{1, 0, 0, 1, 2, 0, 1, 0}, y(8), mean(2), invstd(2), gw(2, T(7)), gx(8);
  BatchNormParams p;
  this->be_.batch_norm_forward(view_of(x, kShape), nullptr, nullptr, nullptr, nullptr,
                               view_of(y, kShape), view_of(mean, {2}), view_of(invstd, {2}), p);
  TensorView gwv = view_of(gw, {2});
  this->be_.batch_norm_backward(view_of(x, kShape), view_of(gy, kShape), nullptr,
                                view_of(mean, {2}), view_of(invstd, {2}), nullptr, &gwv, nullptr,
                                true, 1e-5);
  // grad_weight[c] = sum(g * xhat): channel 0 has g = 1, 2 at x = 1, 5 -> (-3 + 2) / sqrt(5).
  EXPECT_NEAR(static_cast<double>(gw[0]), -1.0 / std::sqrt(5.0 + 1e-5), 1e-5);
  TensorView gxv = view_of(gx, kShape);
  this->be_.batch_norm_backward(view_of(x, kShape), view_of(gy, kShape), nullptr,
                                view_of(mean, {2}), view_of(invstd, {2}), &gxv, nullptr, nullptr,
                                true, 1e-5);
  double sum = 0;
  for (T v : gx) sum += static_cast<double>(v);
  EXPECT_NEAR(sum, 0.0, 1e-5);  // training-mode input gradients sum to zero per channel
}

class BatchNorm : public ::testing::Test {
 protected:
  CpuBackend be_;
  std::vector<float> x_ = std::vector<float>(6), y_ = std::vector<float>(6),
                     mean_ = std::vector<float>(3), invstd_ = std::vector<float>(3);
};

TEST_F(BatchNorm, TrainingNeedsMoreThanOneValuePerChannel) {
  BatchNormParams p;
  SHEARS_EXPECT_THROW_MSG(be_.batch_norm_forward(view_of(x_, {1, 3, 1, 1}), nullptr, nullptr,
                                                 nullptr, nullptr, view_of(y_, {1, 3, 1, 1}),
                                                 view_of(mean_, {3}), view_of(invstd_, {3}), p),
                          ShapeError,
                          "training needs more than one value per channel, got x F32 [1, 3, 1, 1]");
}

TEST_F(BatchNorm, EvalNeedsRunningStatistics) {
  BatchNormParams p;
  p.training = false;
  SHEARS_EXPECT_THROW_MSG(be_.batch_norm_forward(view_of(x_, {2, 3, 1, 1}), nullptr, nullptr,
                                                 nullptr, nullptr, view_of(y_, {2, 3, 1, 1}),
                                                 view_of(mean_, {3}), view_of(invstd_, {3}), p),
                          ShapeError, "eval mode needs running_mean and running_var");
}

TEST_F(BatchNorm, RejectsMisshapedChannelVectors) {
  BatchNormParams p;
  std::vector<float> w(2);
  TensorView wv = view_of(w, {2});
  SHEARS_EXPECT_THROW_MSG(be_.batch_norm_forward(view_of(x_, {2, 3, 1, 1}), &wv, nullptr, nullptr,
                                                 nullptr, view_of(y_, {2, 3, 1, 1}),
                                                 view_of(mean_, {3}), view_of(invstd_, {3}), p),
                          ShapeError,
                          "weight must be F32 [3] to match x F32 [2, 3, 1, 1], got F32 [2]");
  std::vector<double> gb(3);
  TensorView gbv = view_of(gb, {3});
  SHEARS_EXPECT_THROW_MSG(
      be_.batch_norm_backward(view_of(x_, {2, 3, 1, 1}), view_of(y_, {2, 3, 1, 1}), nullptr,
                              view_of(mean_, {3}), view_of(invstd_, {3}), nullptr, nullptr, &gbv,
                              true, 1e-5),
      ShapeError, "grad_bias must be F32 [3]");
  SHEARS_EXPECT_THROW_MSG(
      be_.batch_norm_forward(view_of(x_, {6}), nullptr, nullptr, nullptr, nullptr, view_of(y_, {6}),
                             view_of(mean_, {3}), view_of(invstd_, {3}), p),
      ShapeError, "x must be (N, C, ...), got F32 [6]");
}

}  // namespace
}  // namespace shears::testing
