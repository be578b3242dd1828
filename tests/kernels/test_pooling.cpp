// CpuBackend max and average pooling: hand-computed windows with padding and ceil mode,
// PyTorch's count_include_pad divisors, adjoint checks of the backward passes, a naive reference
// for a large input, and the error paths.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/cpu_test_util.h"

namespace shears::testing {
namespace {

using kernels::cpu::CpuBackend;

Pool2dParams pool(int kh, int kw, int sh, int sw, int ph, int pw, bool ceil_mode,
                  bool count_include_pad = true) {
  Pool2dParams p;
  p.kernel_h = kh;
  p.kernel_w = kw;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_h = ph;
  p.pad_w = pw;
  p.ceil_mode = ceil_mode;
  p.count_include_pad = count_include_pad;
  return p;
}

template <typename T>
std::vector<T> iota(std::size_t n, double start = 1) {
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<T>(start + static_cast<double>(i));
  return v;
}

template <typename T>
double dot(const std::vector<T>& a, const std::vector<T>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

template <typename T>
class PoolingTyped : public ::testing::Test {
 protected:
  CpuBackend be_;
};
TYPED_TEST_SUITE(PoolingTyped, FloatTypes, FloatTypeNames);

TYPED_TEST(PoolingTyped, MaxPoolKnownValuesAndIndices) {
  using T = TypeParam;
  // 4x4 plane with values 1..16 permuted so that maxima sit in different window corners.
  std::vector<T> x{1, 9, 2, 3, 4, 5, 16, 6, 12, 7, 8, 10, 11, 13, 15, 14};
  std::vector<T> y(4);
  std::vector<std::int64_t> idx(4);
  this->be_.max_pool2d_forward(view_of(x, {1, 1, 4, 4}), view_of(y, {1, 1, 2, 2}),
                               view_of(idx, {1, 1, 2, 2}), pool(2, 2, 2, 2, 0, 0, false));
  EXPECT_TRUE(all_near(y, {9, 16, 13, 15}, 0.0));
  EXPECT_EQ(idx, (std::vector<std::int64_t>{1, 6, 13, 14}));
}

TYPED_TEST(PoolingTyped, MaxPoolWithPaddingIgnoresPad) {
  using T = TypeParam;
  // All-negative 3x3 input, kernel 3, stride 2, padding 1: out 2x2; padding must never win.
  std::vector<T> x = iota<T>(9, -9);  // -9 .. -1
  std::vector<T> y(4);
  std::vector<std::int64_t> idx(4);
  this->be_.max_pool2d_forward(view_of(x, {1, 1, 3, 3}), view_of(y, {1, 1, 2, 2}),
                               view_of(idx, {1, 1, 2, 2}), pool(3, 3, 2, 2, 1, 1, false));
  // Windows (rows x cols): [0,2)x[0,2), [0,2)x[1,3), [1,3)x[0,2), [1,3)x[1,3).
  EXPECT_TRUE(all_near(y, {-5, -4, -2, -1}, 0.0));
  EXPECT_EQ(idx, (std::vector<std::int64_t>{4, 5, 7, 8}));
}

TYPED_TEST(PoolingTyped, MaxPoolCeilModeKeepsPartialWindow) {
  using T = TypeParam;
  // 5x5, kernel 2, stride 2: floor gives 2x2, ceil gives 3x3 with a last one-row/column window.
  std::vector<T> x = iota<T>(25);
  std::vector<T> y(9);
  std::vector<std::int64_t> idx(9);
  this->be_.max_pool2d_forward(view_of(x, {1, 1, 5, 5}), view_of(y, {1, 1, 3, 3}),
                               view_of(idx, {1, 1, 3, 3}), pool(2, 2, 2, 2, 0, 0, true));
  EXPECT_TRUE(all_near(y, {7, 9, 10, 17, 19, 20, 22, 24, 25}, 0.0));
  EXPECT_EQ(idx, (std::vector<std::int64_t>{6, 8, 9, 16, 18, 19, 21, 23, 24}));
}

TYPED_TEST(PoolingTyped, CeilModeDropsWindowStartingInRightPadding) {
  using T = TypeParam;
  // 5x5, kernel 2, stride 2, padding 1, ceil: (5 + 2 - 2) / 2 rounds up to 3, plus 1 = 4, but the
  // fourth window would start at 6 - 1 = 5, past the input: PyTorch drops it, leaving 3.
  std::vector<T> x = iota<T>(25), y(9), bad(16);
  std::vector<std::int64_t> idx(9), bad_idx(16);
  this->be_.max_pool2d_forward(view_of(x, {1, 1, 5, 5}), view_of(y, {1, 1, 3, 3}),
                               view_of(idx, {1, 1, 3, 3}), pool(2, 2, 2, 2, 1, 1, true));
  // Row windows [0,1), [1,3), [3,5); same for columns.
  EXPECT_TRUE(all_near(y, {1, 3, 5, 11, 13, 15, 21, 23, 25}, 0.0));
  SHEARS_EXPECT_THROW_MSG(
      this->be_.max_pool2d_forward(view_of(x, {1, 1, 5, 5}), view_of(bad, {1, 1, 4, 4}),
                                   view_of(bad_idx, {1, 1, 4, 4}), pool(2, 2, 2, 2, 1, 1, true)),
      ShapeError, "(expected [1, 1, 3, 3])");
}

TYPED_TEST(PoolingTyped, MaxPoolPropagatesNaN) {
  using T = TypeParam;
  std::vector<T> x{1, std::numeric_limits<T>::quiet_NaN(), 5, 2};
  std::vector<T> y(1);
  std::vector<std::int64_t> idx(1);
  this->be_.max_pool2d_forward(view_of(x, {1, 1, 2, 2}), view_of(y, {1, 1, 1, 1}),
                               view_of(idx, {1, 1, 1, 1}), pool(2, 2, 2, 2, 0, 0, false));
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(idx[0], 1);
}

TYPED_TEST(PoolingTyped, MaxPoolBackwardAccumulatesOverlappingWindows) {
  using T = TypeParam;
  // 3x3 plane, kernel 2, stride 1: the centre (index 4, value 9) is the max of all four windows.
  std::vector<T> x{1, 2, 3, 4, 9, 5, 6, 7, 8};
  std::vector<T> y(4), gy{1, 2, 3, 4}, gx(9, T(-5));
  std::vector<std::int64_t> idx(4);
  const Shape xs{1, 1, 3, 3}, ys{1, 1, 2, 2};
  this->be_.max_pool2d_forward(view_of(x, xs), view_of(y, ys), view_of(idx, ys),
                               pool(2, 2, 1, 1, 0, 0, false));
  EXPECT_EQ(idx, (std::vector<std::int64_t>{4, 4, 4, 4}));
  this->be_.max_pool2d_backward(view_of(gy, ys), view_of(idx, ys), view_of(gx, xs));
  EXPECT_TRUE(all_near(gx, {0, 0, 0, 0, 10, 0, 0, 0, 0}, 0.0));
}

TYPED_TEST(PoolingTyped, AvgPoolDivisorsWithPaddingAndCeilMode) {
  using T = TypeParam;
  // One row of 6, kernel 1x3, stride 2, padding 0x1, ceil mode: 4 outputs. Windows over the
  // padded row (-1 .. 6): [-1,2), [1,4), [3,6), [5,7) where 6 is padding.
  std::vector<T> x = iota<T>(6), y(4);
  const Shape xs{1, 1, 1, 6}, ys{1, 1, 1, 4};
  this->be_.avg_pool2d_forward(view_of(x, xs), view_of(y, ys), pool(1, 3, 1, 2, 0, 1, true, true));
  // count_include_pad: divisors 3, 3, 3, 2 (the last window is clipped at input + padding).
  EXPECT_TRUE(all_near(y, {1, 3, 5, 3}, tolerance<T>()));
  this->be_.avg_pool2d_forward(view_of(x, xs), view_of(y, ys), pool(1, 3, 1, 2, 0, 1, true, false));
  // Without padding in the count: divisors 2, 3, 3, 1.
  EXPECT_TRUE(all_near(y, {1.5, 3, 5, 6}, tolerance<T>()));
}

TYPED_TEST(PoolingTyped, AvgPoolBackwardDistributesShares) {
  using T = TypeParam;
  std::vector<T> gy{6, 3, 3, 2}, gx(6);
  const Shape xs{1, 1, 1, 6}, ys{1, 1, 1, 4};
  this->be_.avg_pool2d_backward(view_of(gy, ys), view_of(gx, xs),
                                pool(1, 3, 1, 2, 0, 1, true, true));
  // Shares 2, 1, 1, 1 over windows [0,2), [1,4), [3,6), [5,6).
  EXPECT_TRUE(all_near(gx, {2, 3, 1, 2, 1, 2}, tolerance<T>()));
}

// <pool(x), g> == <x, pool_backward(g)> for both poolings: the backward passes are the exact
// adjoints (max pooling is linear once its indices are fixed).
TYPED_TEST(PoolingTyped, BackwardIsTheAdjointOfForward) {
  using T = TypeParam;
  struct Geometry {
    std::int64_t h, w;
    Pool2dParams p;
  };
  const std::vector<Geometry> cases{
      {7, 9, pool(3, 3, 2, 2, 1, 1, false)},       {7, 9, pool(3, 3, 2, 2, 1, 1, true)},
      {6, 6, pool(2, 2, 2, 2, 1, 1, true, false)}, {8, 5, pool(3, 2, 1, 2, 1, 0, true, true)},
      {5, 5, pool(5, 5, 5, 5, 0, 0, false)},
  };
  for (const Geometry& g : cases) {
    SCOPED_TRACE(std::to_string(g.h) + "x" + std::to_string(g.w) + " k" +
                 std::to_string(g.p.kernel_h) + " s" + std::to_string(g.p.stride_h) + " p" +
                 std::to_string(g.p.pad_h) + (g.p.ceil_mode ? " ceil" : ""));
    auto out = [](std::int64_t in, int k, int s, int p, bool ceil) {
      std::int64_t span = in + 2 * p - k;
      std::int64_t o = (ceil ? (span + s - 1) / s : span / s) + 1;
      if (ceil && (o - 1) * s >= in + p) --o;
      return o;
    };
    const std::int64_t ho = out(g.h, g.p.kernel_h, g.p.stride_h, g.p.pad_h, g.p.ceil_mode);
    const std::int64_t wo = out(g.w, g.p.kernel_w, g.p.stride_w, g.p.pad_w, g.p.ceil_mode);
    const Shape xs{2, 3, g.h, g.w}, ys{2, 3, ho, wo};
    auto x = ramp_values<T>(static_cast<std::size_t>(shape_numel(xs)), -1, 1, 41);
    auto gy = ramp_values<T>(static_cast<std::size_t>(shape_numel(ys)), -1, 1, 42);
    std::vector<T> y(gy.size()), gx(x.size());
    std::vector<std::int64_t> idx(gy.size());
    this->be_.avg_pool2d_forward(view_of(x, xs), view_of(y, ys), g.p);
    this->be_.avg_pool2d_backward(view_of(gy, ys), view_of(gx, xs), g.p);
    EXPECT_NEAR(dot(y, gy), dot(x, gx), 1e-4);
    this->be_.max_pool2d_forward(view_of(x, xs), view_of(y, ys), view_of(idx, ys), g.p);
    this->be_.max_pool2d_backward(view_of(gy, ys), view_of(idx, ys), view_of(gx, xs));
    EXPECT_NEAR(dot(y, gy), dot(x, gx), 1e-4);
  }
}

TYPED_TEST(PoolingTyped, LargeInputMatchesNaive) {
  using T = TypeParam;
  const Pool2dParams p = pool(3, 3, 2, 2, 1, 1, true, false);
  const std::int64_t n = 4, c = 16, h = 33, w = 31;
  const std::int64_t ho = 17, wo = 16;
  auto x = ramp_values<T>(static_cast<std::size_t>(n * c * h * w), -4, 4, 43);
  std::vector<T> ymax(static_cast<std::size_t>(n * c * ho * wo)), yavg(ymax.size());
  std::vector<std::int64_t> idx(ymax.size());
  const Shape xs{n, c, h, w}, ys{n, c, ho, wo};
  this->be_.max_pool2d_forward(view_of(x, xs), view_of(ymax, ys), view_of(idx, ys), p);
  this->be_.avg_pool2d_forward(view_of(x, xs), view_of(yavg, ys), p);
  std::vector<double> want_max, want_avg;
  for (std::int64_t pl = 0; pl < n * c; ++pl) {
    for (std::int64_t oh = 0; oh < ho; ++oh) {
      for (std::int64_t ow = 0; ow < wo; ++ow) {
        double best = -1e300, sum = 0;
        int count = 0;
        for (std::int64_t kh = 0; kh < 3; ++kh) {
          for (std::int64_t kw = 0; kw < 3; ++kw) {
            const std::int64_t ih = oh * 2 - 1 + kh, iw = ow * 2 - 1 + kw;
            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
            const double v =
                static_cast<double>(x[static_cast<std::size_t>((pl * h + ih) * w + iw)]);
            best = std::max(best, v);
            sum += v;
            ++count;
          }
        }
        want_max.push_back(best);
        want_avg.push_back(sum / count);
      }
    }
  }
  EXPECT_TRUE(all_near(ymax, want_max, 0.0));
  EXPECT_TRUE(all_near(yavg, want_avg, tolerance<T>()));
}

class Pooling : public ::testing::Test {
 protected:
  CpuBackend be_;
  std::vector<float> x_ = std::vector<float>(16), y_ = std::vector<float>(4);
  std::vector<std::int64_t> idx_ = std::vector<std::int64_t>(4);
};

TEST_F(Pooling, RejectsBadKernelStrideAndPadding) {
  SHEARS_EXPECT_THROW_MSG(
      be_.avg_pool2d_forward(view_of(x_, {1, 1, 4, 4}), view_of(y_, {1, 1, 2, 2}),
                             pool(0, 2, 2, 2, 0, 0, false)),
      ShapeError, "kernel and stride must be positive, got kernel 0x2");
  SHEARS_EXPECT_THROW_MSG(
      be_.max_pool2d_forward(view_of(x_, {1, 1, 4, 4}), view_of(y_, {1, 1, 2, 2}),
                             view_of(idx_, {1, 1, 2, 2}), pool(2, 2, 2, 2, 2, 0, false)),
      ShapeError, "padding must be in [0, kernel/2], got padding 2x0");
}

TEST_F(Pooling, RejectsOutputOfWrongShape) {
  std::vector<float> y(9);
  SHEARS_EXPECT_THROW_MSG(
      be_.avg_pool2d_forward(view_of(x_, {1, 1, 4, 4}), view_of(y, {1, 1, 3, 3}),
                             pool(2, 2, 2, 2, 0, 0, false)),
      ShapeError,
      "avg_pool2d_forward: y [1, 1, 3, 3] does not match x [1, 1, 4, 4] pooled with kernel 2x2, "
      "stride 2x2, padding 0x0 (expected [1, 1, 2, 2])");
}

TEST_F(Pooling, RejectsNonI64Indices) {
  std::vector<std::int32_t> idx(4);
  SHEARS_EXPECT_THROW_MSG(
      be_.max_pool2d_forward(view_of(x_, {1, 1, 4, 4}), view_of(y_, {1, 1, 2, 2}),
                             view_of(idx, {1, 1, 2, 2}), pool(2, 2, 2, 2, 0, 0, false)),
      ShapeError, "indices must be I64, got I32 [1, 1, 2, 2]");
}

TEST_F(Pooling, BackwardRejectsOutOfRangeIndex) {
  std::vector<float> gy{1, 1, 1, 1}, gx(16);
  std::vector<std::int64_t> idx{0, 5, 16, -1};
  SHEARS_EXPECT_THROW_MSG(
      be_.max_pool2d_backward(view_of(gy, {1, 1, 2, 2}), view_of(idx, {1, 1, 2, 2}),
                              view_of(gx, {1, 1, 4, 4})),
      ShapeError, "max_pool2d_backward: indices[2] = 16 is outside the 4x4 input plane");
}

TEST_F(Pooling, RejectsNonFourDimensionalInput) {
  SHEARS_EXPECT_THROW_MSG(be_.avg_pool2d_forward(view_of(x_, {4, 4}), view_of(y_, {1, 1, 2, 2}),
                                                 pool(2, 2, 2, 2, 0, 0, false)),
                          ShapeError, "x must have 4 dimension(s), got F32 [4, 4]");
}

}  // namespace
}  // namespace shears::testing
