// CpuBackend elementwise primitives and dropout masks: known answers and a naive double
// reference for broadcasting, on F32 and F64, plus every error path.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/common/counter_rng.h"
#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/cpu_test_util.h"

namespace shears::testing {
namespace {

using kernels::cpu::CpuBackend;

double apply(BinaryOp op, double a, double b) {
  switch (op) {
    case BinaryOp::Add:
      return a + b;
    case BinaryOp::Sub:
      return a - b;
    case BinaryOp::Mul:
      return a * b;
    case BinaryOp::Div:
      return a / b;
  }
  return 0.0;
}

// Naive numpy broadcasting: for each output multi-index, the operand index uses 0 in every
// dimension where the operand has size 1 (or is absent).
std::vector<double> naive_binary(BinaryOp op, const std::vector<double>& a, const Shape& sa,
                                 const std::vector<double>& b, const Shape& sb, const Shape& so) {
  const std::size_t rank = so.size();
  std::vector<double> out(static_cast<std::size_t>(shape_numel(so)));
  std::vector<std::int64_t> idx(rank, 0);
  for (std::size_t flat = 0; flat < out.size(); ++flat) {
    std::int64_t rest = static_cast<std::int64_t>(flat);
    for (std::size_t d = rank; d-- > 0;) {
      idx[d] = rest % so[d];
      rest /= so[d];
    }
    auto offset = [&](const Shape& s) {
      std::int64_t off = 0;
      for (std::size_t d = 0; d < s.size(); ++d) {
        const std::size_t od = d + rank - s.size();
        off = off * s[d] + (s[d] == 1 ? 0 : idx[od]);
      }
      return static_cast<std::size_t>(off);
    };
    out[flat] = apply(op, a[offset(sa)], b[offset(sb)]);
  }
  return out;
}

template <typename T>
class ElementwiseTyped : public ::testing::Test {
 protected:
  CpuBackend be_;

  void check_binary(BinaryOp op, const Shape& sa, const Shape& sb, const Shape& so) {
    SCOPED_TRACE(shape_str(sa) + " op " + shape_str(sb) + " -> " + shape_str(so));
    auto a = ramp_values<T>(static_cast<std::size_t>(shape_numel(sa)), -2.0, 2.0, 3);
    auto b = ramp_values<T>(static_cast<std::size_t>(shape_numel(sb)), 0.5, 3.0, 4);
    std::vector<T> out(static_cast<std::size_t>(shape_numel(so)), T(-99));
    be_.binary(op, view_of(a, sa), view_of(b, sb), view_of(out, so));
    EXPECT_TRUE(
        all_near(out, naive_binary(op, to_double(a), sa, to_double(b), sb, so), tolerance<T>()));
  }
};
TYPED_TEST_SUITE(ElementwiseTyped, FloatTypes, FloatTypeNames);

TYPED_TEST(ElementwiseTyped, BinarySameShapeKnownValues) {
  using T = TypeParam;
  std::vector<T> a{1, 2, 3, 4}, b{4, 3, 2, 1}, out(4);
  const Shape s{2, 2};
  this->be_.binary(BinaryOp::Add, view_of(a, s), view_of(b, s), view_of(out, s));
  EXPECT_TRUE(all_near(out, {5, 5, 5, 5}, 0.0));
  this->be_.binary(BinaryOp::Sub, view_of(a, s), view_of(b, s), view_of(out, s));
  EXPECT_TRUE(all_near(out, {-3, -1, 1, 3}, 0.0));
  this->be_.binary(BinaryOp::Mul, view_of(a, s), view_of(b, s), view_of(out, s));
  EXPECT_TRUE(all_near(out, {4, 6, 6, 4}, 0.0));
  this->be_.binary(BinaryOp::Div, view_of(a, s), view_of(b, s), view_of(out, s));
  EXPECT_TRUE(all_near(out, {0.25, 2.0 / 3.0, 1.5, 4}, tolerance<T>()));
}

TYPED_TEST(ElementwiseTyped, BinaryPerChannelMaskBothDirections) {
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
    this->check_binary(op, {2, 3, 4, 5}, {1, 3, 1, 1}, {2, 3, 4, 5});
    this->check_binary(op, {1, 3, 1, 1}, {2, 3, 4, 5}, {2, 3, 4, 5});
  }
}

TYPED_TEST(ElementwiseTyped, BinaryVectorAndScalar) {
  for (BinaryOp op : {BinaryOp::Sub, BinaryOp::Div}) {
    this->check_binary(op, {4, 7}, {7}, {4, 7});
    this->check_binary(op, {7}, {4, 7}, {4, 7});
    this->check_binary(op, {2, 3, 4, 5}, {5}, {2, 3, 4, 5});
    this->check_binary(op, {2, 3, 4}, {}, {2, 3, 4});
    this->check_binary(op, {}, {2, 3, 4}, {2, 3, 4});
    this->check_binary(op, {2, 3, 4}, {1}, {2, 3, 4});
    this->check_binary(op, {}, {}, {});
  }
}

TYPED_TEST(ElementwiseTyped, BinaryTwoSidedBroadcast) {
  this->check_binary(BinaryOp::Sub, {5, 1}, {1, 6}, {5, 6});
  this->check_binary(BinaryOp::Div, {2, 1, 3}, {4, 1}, {2, 4, 3});
  this->check_binary(BinaryOp::Mul, {3, 1, 4, 1}, {1, 2, 1, 5}, {3, 2, 4, 5});
}

TYPED_TEST(ElementwiseTyped, BinaryLargeTensorsUseEveryPath) {
  this->check_binary(BinaryOp::Mul, {8, 64, 16, 16}, {1, 64, 1, 1}, {8, 64, 16, 16});
  this->check_binary(BinaryOp::Sub, {1}, {100003}, {100003});
  this->check_binary(BinaryOp::Add, {300, 257}, {300, 257}, {300, 257});
  this->check_binary(BinaryOp::Div, {300, 1}, {1, 257}, {300, 257});
}

TYPED_TEST(ElementwiseTyped, BinaryOutputMayAliasTheFirstOperand) {
  using T = TypeParam;
  std::vector<T> acc(6, T(1)), g{1, 2, 3};
  this->be_.binary(BinaryOp::Add, view_of(acc, {2, 3}), view_of(g, {3}), view_of(acc, {2, 3}));
  EXPECT_TRUE(all_near(acc, {2, 3, 4, 2, 3, 4}, 0.0));
}

TYPED_TEST(ElementwiseTyped, BinaryEmptyOutput) {
  using T = TypeParam;
  std::vector<T> a, b{1, 2}, out;
  this->be_.binary(BinaryOp::Add, view_of(a, {0, 2}), view_of(b, {2}), view_of(out, {0, 2}));
  SUCCEED();
}

TYPED_TEST(ElementwiseTyped, AxpbyScalesAndAccumulates) {
  using T = TypeParam;
  std::vector<T> x{1, 2, 3}, y{10, 20, 30};
  this->be_.axpby(2.0, view_of(x, {3}), 0.5, view_of(y, {3}));
  EXPECT_TRUE(all_near(y, {7, 14, 21}, 0.0));
}

TYPED_TEST(ElementwiseTyped, AxpbyWithZeroBetaIgnoresNaN) {
  using T = TypeParam;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> x{1, -2, 3}, y{nan, nan, std::numeric_limits<T>::infinity()};
  this->be_.axpby(-3.0, view_of(x, {3}), 0.0, view_of(y, {3}));
  EXPECT_TRUE(all_near(y, {-3, 6, -9}, 0.0));
}

TYPED_TEST(ElementwiseTyped, AxpbyLarge) {
  using T = TypeParam;
  auto x = ramp_values<T>(100000, -1, 1, 5), y = ramp_values<T>(100000, -1, 1, 6);
  std::vector<double> want(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) want[i] = 0.5 * x[i] - 2.0 * y[i];
  this->be_.axpby(0.5, view_of(x, {100000}), -2.0, view_of(y, {100000}));
  EXPECT_TRUE(all_near(y, want, tolerance<T>()));
}

TYPED_TEST(ElementwiseTyped, ActivationForwardKnownValues) {
  using T = TypeParam;
  const std::vector<T> x{-2, -0.5, 0, 0.5, 3};
  std::vector<T> in = x, y(x.size());
  const Shape s{5};
  auto run = [&](ActivationKind kind, double alpha) {
    this->be_.activation_forward(kind, alpha, view_of(in, s), view_of(y, s));
    return y;
  };
  EXPECT_TRUE(all_near(run(ActivationKind::Relu, 0), {0, 0, 0, 0.5, 3}, 0.0));
  EXPECT_TRUE(
      all_near(run(ActivationKind::LeakyRelu, 0.1), {-0.2, -0.05, 0, 0.5, 3}, tolerance<T>()));
  std::vector<double> sig, th, ex;
  for (T v : x) {
    const double d = static_cast<double>(v);
    sig.push_back(1.0 / (1.0 + std::exp(-d)));
    th.push_back(std::tanh(d));
    ex.push_back(std::exp(d));
  }
  EXPECT_TRUE(all_near(run(ActivationKind::Sigmoid, 0), sig, tolerance<T>()));
  EXPECT_TRUE(all_near(run(ActivationKind::Tanh, 0), th, tolerance<T>()));
  EXPECT_TRUE(all_near(run(ActivationKind::Exp, 0), ex, tolerance<T>()));
}

TYPED_TEST(ElementwiseTyped, SigmoidIsFiniteAtExtremes) {
  using T = TypeParam;
  std::vector<T> x{-1000, -80, 80, 1000}, y(4);
  this->be_.activation_forward(ActivationKind::Sigmoid, 0, view_of(x, {4}), view_of(y, {4}));
  for (T v : y) EXPECT_TRUE(std::isfinite(v)) << v;
  EXPECT_EQ(y[0], T(0));
  EXPECT_EQ(y[3], T(1));
  EXPECT_GT(y[1], T(0));
}

TYPED_TEST(ElementwiseTyped, ReluKeepsNaNAndRunsInPlace) {
  using T = TypeParam;
  std::vector<T> x{-1, std::numeric_limits<T>::quiet_NaN(), 2};
  this->be_.activation_forward(ActivationKind::Relu, 0, view_of(x, {3}), view_of(x, {3}));
  EXPECT_EQ(x[0], T(0));
  EXPECT_TRUE(std::isnan(x[1]));
  EXPECT_EQ(x[2], T(2));
}

TYPED_TEST(ElementwiseTyped, ActivationBackwardFromOutput) {
  using T = TypeParam;
  const std::vector<T> x{-2, -0.5, 0, 0.5, 3};
  const std::vector<T> g{1, 2, 3, 4, 5};
  const Shape s{5};
  struct Case {
    ActivationKind kind;
    double alpha;
  };
  for (Case c : {Case{ActivationKind::Relu, 0}, Case{ActivationKind::LeakyRelu, 0.2},
                 Case{ActivationKind::Sigmoid, 0}, Case{ActivationKind::Tanh, 0},
                 Case{ActivationKind::Exp, 0}}) {
    SCOPED_TRACE(static_cast<int>(c.kind));
    std::vector<T> in = x, gy = g, y(5), gx(5);
    this->be_.activation_forward(c.kind, c.alpha, view_of(in, s), view_of(y, s));
    this->be_.activation_backward(c.kind, c.alpha, view_of(y, s), view_of(gy, s), view_of(gx, s));
    std::vector<double> want;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double v = static_cast<double>(x[i]), gi = static_cast<double>(g[i]);
      double d = 0.0;
      switch (c.kind) {
        case ActivationKind::Relu:
          d = v > 0 ? 1.0 : 0.0;
          break;
        case ActivationKind::LeakyRelu:
          d = v > 0 ? 1.0 : c.alpha;
          break;
        case ActivationKind::Sigmoid: {
          const double sg = 1.0 / (1.0 + std::exp(-v));
          d = sg * (1.0 - sg);
          break;
        }
        case ActivationKind::Tanh:
          d = 1.0 - std::tanh(v) * std::tanh(v);
          break;
        case ActivationKind::Exp:
          d = std::exp(v);
          break;
      }
      want.push_back(d * gi);
    }
    EXPECT_TRUE(all_near(gx, want, 4 * tolerance<T>()));
  }
}

TYPED_TEST(ElementwiseTyped, ActivationLargeInPlaceGradient) {
  using T = TypeParam;
  const std::size_t n = 70000;
  auto y = ramp_values<T>(n, -1, 1, 7), g = ramp_values<T>(n, -1, 1, 8);
  std::vector<double> want(n);
  for (std::size_t i = 0; i < n; ++i) {
    want[i] = static_cast<double>(g[i]) * (1.0 - static_cast<double>(y[i]) * y[i]);
  }
  this->be_.activation_backward(ActivationKind::Tanh, 0, view_of(y, {70000}), view_of(g, {70000}),
                                view_of(g, {70000}));
  EXPECT_TRUE(all_near(g, want, 4 * tolerance<T>()));
}

TYPED_TEST(ElementwiseTyped, DropoutMaskMatchesCounterGenerator) {
  using T = TypeParam;
  const double p = 0.3;
  std::vector<T> mask(50000);
  this->be_.dropout_mask(view_of(mask, {50000}), p, 1234);
  std::size_t zeros = 0;
  for (std::size_t i = 0; i < mask.size(); ++i) {
    const T want = counter_uniform(1234, i) >= p ? static_cast<T>(1.0 / (1.0 - p)) : T(0);
    ASSERT_EQ(mask[i], want) << "at " << i;
    zeros += mask[i] == T(0);
  }
  EXPECT_NEAR(static_cast<double>(zeros) / mask.size(), p, 0.01);
  std::vector<T> again(50000), other(50000);
  this->be_.dropout_mask(view_of(again, {50000}), p, 1234);
  this->be_.dropout_mask(view_of(other, {50000}), p, 1235);
  EXPECT_EQ(mask, again);
  EXPECT_NE(mask, other);
}

TYPED_TEST(ElementwiseTyped, DropoutMaskEdgeProbabilities) {
  using T = TypeParam;
  std::vector<T> mask(1000);
  this->be_.dropout_mask(view_of(mask, {1000}), 0.0, 9);
  for (T v : mask) ASSERT_EQ(v, T(1));
  this->be_.dropout_mask(view_of(mask, {1000}), 1.0, 9);
  for (T v : mask) ASSERT_EQ(v, T(0));
}

class Elementwise : public ::testing::Test {
 protected:
  CpuBackend be_;
};

TEST_F(Elementwise, FillEveryDtype) {
  std::vector<float> f(3);
  std::vector<double> d(3);
  std::vector<std::int32_t> i32(3);
  std::vector<std::int64_t> i64(3);
  std::vector<std::uint8_t> u8(3);
  be_.fill(view_of(f, {3}), 2.5);
  be_.fill(view_of(d, {3}), -0.125);
  be_.fill(view_of(i32, {3}), -7);
  be_.fill(view_of(i64, {3}), 1e15);
  be_.fill(view_of(u8, {3}), 200);
  EXPECT_EQ(f, std::vector<float>(3, 2.5f));
  EXPECT_EQ(d, std::vector<double>(3, -0.125));
  EXPECT_EQ(i32, std::vector<std::int32_t>(3, -7));
  EXPECT_EQ(i64, std::vector<std::int64_t>(3, 1000000000000000LL));
  EXPECT_EQ(u8, std::vector<std::uint8_t>(3, 200));
}

TEST_F(Elementwise, FillLargeTensor) {
  std::vector<float> f(100000, 1.0f);
  be_.fill(view_of(f, {100, 1000}), 0.0);
  EXPECT_EQ(f, std::vector<float>(100000, 0.0f));
}

TEST_F(Elementwise, FillIntegersSaturates) {
  std::vector<std::int32_t> i32(1);
  std::vector<std::uint8_t> u8(1);
  be_.fill(view_of(i32, {1}), 1e20);
  EXPECT_EQ(i32[0], std::numeric_limits<std::int32_t>::max());
  be_.fill(view_of(u8, {1}), -3);
  EXPECT_EQ(u8[0], 0);
  be_.fill(view_of(i32, {1}), std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(i32[0], 0);
}

TEST_F(Elementwise, ConvertBetweenDtypes) {
  std::vector<float> f{2.7f, -2.7f, 0.5f, 255.0f};
  std::vector<std::int32_t> i32(4);
  be_.convert(view_of(f, {4}), view_of(i32, {4}));
  EXPECT_EQ(i32, (std::vector<std::int32_t>{2, -2, 0, 255}));

  std::vector<double> d(4);
  be_.convert(view_of(i32, {4}), view_of(d, {4}));
  EXPECT_EQ(d, (std::vector<double>{2, -2, 0, 255}));

  std::vector<std::uint8_t> u8(4);
  be_.convert(view_of(f, {4}), view_of(u8, {4}));
  EXPECT_EQ(u8, (std::vector<std::uint8_t>{2, 0, 0, 255}));

  std::vector<float> back(4);
  be_.convert(view_of(u8, {4}), view_of(back, {4}));
  EXPECT_EQ(back, (std::vector<float>{2, 0, 0, 255}));

  std::vector<double> precise{0.1, 1e300, -1e-300, 3};
  std::vector<float> narrow(4);
  be_.convert(view_of(precise, {4}), view_of(narrow, {4}));
  EXPECT_EQ(narrow[0], 0.1f);
  EXPECT_TRUE(std::isinf(narrow[1]));
  EXPECT_EQ(narrow[3], 3.0f);

  std::vector<std::int64_t> labels{0, 9, -1, 1LL << 40};
  std::vector<double> as_double(4);
  be_.convert(view_of(labels, {2, 2}), view_of(as_double, {2, 2}));
  EXPECT_EQ(as_double, (std::vector<double>{0, 9, -1, 1099511627776.0}));
}

TEST_F(Elementwise, ConvertFloatToIntegerSaturatesAndMapsNaNToZero) {
  std::vector<double> d{std::numeric_limits<double>::quiet_NaN(), 1e30, -1e30, -5.5};
  std::vector<std::int64_t> i64(4);
  be_.convert(view_of(d, {4}), view_of(i64, {4}));
  EXPECT_EQ(i64[0], 0);
  EXPECT_EQ(i64[1], std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(i64[2], std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(i64[3], -5);
}

TEST_F(Elementwise, ConvertLargeSameDtypeCopies) {
  auto src = ramp_values<float>(100000, -3, 3);
  std::vector<float> dst(100000);
  be_.convert(view_of(src, {100000}), view_of(dst, {100000}));
  EXPECT_EQ(src, dst);
}

TEST_F(Elementwise, ConvertShapeMismatchThrows) {
  std::vector<float> a(6);
  std::vector<double> b(6);
  SHEARS_EXPECT_THROW_MSG(be_.convert(view_of(a, {2, 3}), view_of(b, {3, 2})), ShapeError,
                          "convert: x F32 [2, 3] and out F64 [3, 2] must have the same shape");
}

TEST_F(Elementwise, BinaryRejectsIncompatibleShapes) {
  std::vector<float> a(6), b(4), out(6);
  SHEARS_EXPECT_THROW_MSG(
      be_.binary(BinaryOp::Add, view_of(a, {2, 3}), view_of(b, {4}), view_of(out, {2, 3})),
      ShapeError, "binary: output [2, 3] is not the broadcast shape of [2, 3] and [4]");
  std::vector<float> c(3), small(4);
  SHEARS_EXPECT_THROW_MSG(
      be_.binary(BinaryOp::Add, view_of(a, {2, 3}), view_of(c, {3}), view_of(small, {2, 2})),
      ShapeError, "is not the broadcast shape");
  std::vector<float> big(12);
  SHEARS_EXPECT_THROW_MSG(
      be_.binary(BinaryOp::Add, view_of(a, {2, 3}), view_of(c, {3}), view_of(big, {2, 2, 3})),
      ShapeError, "is not the broadcast shape");
}

TEST_F(Elementwise, BinaryRejectsMixedAndIntegerDtypes) {
  std::vector<float> a(3), out(3);
  std::vector<double> b(3);
  SHEARS_EXPECT_THROW_MSG(
      be_.binary(BinaryOp::Mul, view_of(a, {3}), view_of(b, {3}), view_of(out, {3})), ShapeError,
      "must share a dtype");
  std::vector<std::int32_t> i(3), j(3), k(3);
  SHEARS_EXPECT_THROW_MSG(
      be_.binary(BinaryOp::Mul, view_of(i, {3}), view_of(j, {3}), view_of(k, {3})), ShapeError,
      "binary: a must be F32 or F64, got I32 [3]");
}

TEST_F(Elementwise, AxpbyRejectsMismatchedShapes) {
  std::vector<float> x(3), y(4);
  SHEARS_EXPECT_THROW_MSG(be_.axpby(1, view_of(x, {3}), 1, view_of(y, {4})), ShapeError,
                          "axpby: x F32 [3] and y F32 [4] must have the same shape and dtype");
}

TEST_F(Elementwise, ActivationRejectsBadSlopeAndDtype) {
  std::vector<float> x(3), y(3);
  SHEARS_EXPECT_THROW_MSG(
      be_.activation_forward(ActivationKind::LeakyRelu, 0.0, view_of(x, {3}), view_of(y, {3})),
      Error, "leaky-ReLU slope must be > 0");
  SHEARS_EXPECT_THROW_MSG(be_.activation_backward(ActivationKind::LeakyRelu, -0.1, view_of(x, {3}),
                                                  view_of(y, {3}), view_of(y, {3})),
                          Error, "got -0.1");
  std::vector<std::int64_t> i(3), j(3);
  SHEARS_EXPECT_THROW_MSG(
      be_.activation_forward(ActivationKind::Relu, 0, view_of(i, {3}), view_of(j, {3})), ShapeError,
      "activation_forward: supports F32 and F64, got I64 [3]");
  std::vector<float> z(4);
  SHEARS_EXPECT_THROW_MSG(
      be_.activation_forward(ActivationKind::Relu, 0, view_of(x, {3}), view_of(z, {4})), ShapeError,
      "must have the same shape and dtype");
}

TEST_F(Elementwise, DropoutRejectsBadProbabilityAndDtype) {
  std::vector<float> m(4);
  SHEARS_EXPECT_THROW_MSG(be_.dropout_mask(view_of(m, {4}), -0.1, 1), Error,
                          "dropout_mask: probability must be in [0, 1], got -0.1");
  SHEARS_EXPECT_THROW_MSG(be_.dropout_mask(view_of(m, {4}), 1.5, 1), Error, "got 1.5");
  std::vector<std::int32_t> i(4);
  SHEARS_EXPECT_THROW_MSG(be_.dropout_mask(view_of(i, {4}), 0.5, 1), ShapeError,
                          "mask must be F32 or F64");
}

TEST_F(Elementwise, RejectsNonCpuViews) {
  std::vector<float> x(3), y(3);
  TensorView gpu = view_of(x, {3});
  gpu.device = Device::cuda(0);
  SHEARS_EXPECT_THROW_MSG(be_.fill(gpu, 1.0), ShapeError,
                          "fill: x F32 [3] is on cuda:0, the CPU backend needs CPU tensors");
  SHEARS_EXPECT_THROW_MSG(be_.axpby(1, gpu, 0, view_of(y, {3})), ShapeError, "is on cuda:0");
}

}  // namespace
}  // namespace shears::testing
