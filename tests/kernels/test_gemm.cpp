// Known-answer tests of CpuBackend::gemm against a naive product in double: all four transpose
// combinations, alpha/beta, f32 and f64, degenerate sizes and shape errors.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"

namespace shears {
namespace {

using kernels::cpu::CpuBackend;

// Values in [-1, 1] exact in f32, so the double reference sees exactly what f32 sees.
std::vector<double> random_values(std::int64_t count, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<double> v(static_cast<std::size_t>(count));
  for (auto& x : v) x = static_cast<double>(dist(rng));
  return v;
}

template <typename T>
TensorView view(std::vector<T>& data, const Shape& shape) {
  return TensorView{data.data(), shape, DTypeOf<T>::value, Device::cpu()};
}

struct GemmCase {
  bool trans_a, trans_b;
  double alpha, beta;
};

std::string case_name(const GemmCase& g) {
  auto number = [](double v) {
    std::string s = v < 0 ? "Minus" : "";
    const double a = std::abs(v);
    if (a == 0.0) return s + "0";
    if (a == 1.0) return s + "1";
    if (a == 0.5) return s + "Half";
    return s + "1p5";
  };
  return std::string(g.trans_a ? "AT" : "A") + (g.trans_b ? "BT" : "B") + "Alpha" +
         number(g.alpha) + "Beta" + number(g.beta);
}

class GemmKnownAnswer : public ::testing::TestWithParam<GemmCase> {
 protected:
  // c (m x n) = alpha * op(a) @ op(b) + beta * c with m = 7, n = 5, k = 11.
  template <typename T>
  void check(double tol) {
    const GemmCase& gc = GetParam();
    const std::int64_t m = 7, n = 5, k = 11;
    const Shape a_shape = gc.trans_a ? Shape{k, m} : Shape{m, k};
    const Shape b_shape = gc.trans_b ? Shape{n, k} : Shape{k, n};
    const auto ad = random_values(m * k, 1), bd = random_values(k * n, 2);
    const auto cd = random_values(m * n, 3);
    std::vector<double> expected(cd.size());
    for (std::int64_t i = 0; i < m; ++i) {
      for (std::int64_t j = 0; j < n; ++j) {
        double sum = 0.0;
        for (std::int64_t p = 0; p < k; ++p) {
          const double av = gc.trans_a ? ad[p * m + i] : ad[i * k + p];
          const double bv = gc.trans_b ? bd[j * k + p] : bd[p * n + j];
          sum += av * bv;
        }
        expected[i * n + j] = gc.alpha * sum + gc.beta * cd[i * n + j];
      }
    }
    std::vector<T> a(ad.begin(), ad.end()), b(bd.begin(), bd.end()), c(cd.begin(), cd.end());
    backend_.gemm(gc.trans_a, gc.trans_b, gc.alpha, view(a, a_shape), view(b, b_shape), gc.beta,
                  view(c, {m, n}));
    for (std::size_t i = 0; i < c.size(); ++i) {
      SCOPED_TRACE(i);
      EXPECT_NEAR(static_cast<double>(c[i]), expected[i],
                  tol * std::max(1.0, std::abs(expected[i])));
    }
  }

  CpuBackend backend_;
};

TEST_P(GemmKnownAnswer, F32) { check<float>(1e-5); }
TEST_P(GemmKnownAnswer, F64) { check<double>(1e-12); }

std::vector<GemmCase> gemm_cases() {
  std::vector<GemmCase> cases;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      cases.push_back({ta, tb, 1.0, 0.0});
      cases.push_back({ta, tb, 0.5, 1.0});
      cases.push_back({ta, tb, -1.5, 0.5});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllTransposes, GemmKnownAnswer, ::testing::ValuesIn(gemm_cases()),
                         [](const ::testing::TestParamInfo<GemmCase>& info) {
                           return case_name(info.param);
                         });

// With beta == 0 the old contents of c are never read, so NaN there does not leak through.
TEST(GemmBetaZero, IgnoresNaNInOutput) {
  CpuBackend backend;
  std::vector<float> a{1, 2, 3, 4, 5, 6}, b{1, 0, 0, 1, 1, 1};
  std::vector<float> c(4, std::numeric_limits<float>::quiet_NaN());
  backend.gemm(false, false, 1.0, view(a, {2, 3}), view(b, {3, 2}), 0.0, view(c, {2, 2}));
  EXPECT_EQ(c, (std::vector<float>{4, 5, 10, 11}));
  std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end());
  std::vector<double> cd(4, std::numeric_limits<double>::quiet_NaN());
  backend.gemm(false, false, 2.0, view(ad, {2, 3}), view(bd, {3, 2}), 0.0, view(cd, {2, 2}));
  EXPECT_EQ(cd, (std::vector<double>{8, 10, 20, 22}));
}

// An empty inner dimension leaves c = beta * c (zeros, even over NaN, when beta == 0).
TEST(GemmDegenerate, EmptyInnerDimension) {
  CpuBackend backend;
  std::vector<float> a, b, c{1, 2, 3, 4, 5, 6};
  backend.gemm(false, false, 1.0, view(a, {2, 0}), view(b, {0, 3}), 0.5, view(c, {2, 3}));
  EXPECT_EQ(c, (std::vector<float>{0.5f, 1, 1.5f, 2, 2.5f, 3}));
  std::vector<float> nan_c(6, std::numeric_limits<float>::quiet_NaN());
  backend.gemm(true, true, 1.0, view(a, {0, 2}), view(b, {3, 0}), 0.0, view(nan_c, {2, 3}));
  EXPECT_EQ(nan_c, std::vector<float>(6, 0.0f));
}

// An empty output is a no-op: no element of memory the views point at is written (a guard value
// sits where the output points) and the inputs are untouched.
TEST(GemmDegenerate, EmptyOutput) {
  CpuBackend backend;
  std::vector<double> a{1, 2, 3, 4, 5, 6}, b{-1}, c{7};
  backend.gemm(false, false, 1.0, view(a, {2, 3}), view(b, {3, 0}), 0.0, view(c, {2, 0}));
  EXPECT_EQ(c, std::vector<double>{7});
  EXPECT_EQ(a, (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(b, std::vector<double>{-1});
}

// Runs `f`, expecting a ShapeError whose message contains every string in `parts`.
template <typename F>
void expect_shape_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no ShapeError thrown";
  } catch (const ShapeError& e) {
    const std::string what = e.what();
    for (const auto& part : parts) {
      EXPECT_NE(what.find(part), std::string::npos) << "'" << part << "' not in: " << what;
    }
  }
}

TEST(GemmBadInput, InnerDimensionsDiffer) {
  CpuBackend backend;
  std::vector<float> a(12), b(12), c(12);
  expect_shape_error(
      [&] {
        backend.gemm(false, false, 1.0, view(a, {3, 4}), view(b, {3, 4}), 0.0, view(c, {3, 4}));
      },
      {"a [3, 4]", "b [3, 4]", "c [3, 4]", "op(a) is [3, 4], op(b) is [3, 4]"});
}

TEST(GemmBadInput, OutputShapeWrong) {
  CpuBackend backend;
  std::vector<float> a(12), b(12), c(12);
  expect_shape_error(
      [&] {
        backend.gemm(true, false, 1.0, view(a, {4, 3}), view(b, {4, 3}), 0.0, view(c, {4, 3}));
      },
      {"a [4, 3] (transposed)", "c [4, 3]", "c must be [3, 3]"});
}

TEST(GemmBadInput, NotTwoDimensional) {
  CpuBackend backend;
  std::vector<float> a(12), b(12), c(12);
  expect_shape_error(
      [&] {
        backend.gemm(false, false, 1.0, view(a, {3, 4, 1}), view(b, {4, 3}), 0.0, view(c, {3, 3}));
      },
      {"2-D", "a [3, 4, 1]"});
}

TEST(GemmBadInput, MixedDtypes) {
  CpuBackend backend;
  std::vector<float> a(12), b(12);
  std::vector<double> c(9);
  expect_shape_error(
      [&] {
        backend.gemm(false, false, 1.0, view(a, {3, 4}), view(b, {4, 3}), 0.0, view(c, {3, 3}));
      },
      {"share a dtype", "F32, F32, F64"});
}

TEST(GemmBadInput, IntegerDtype) {
  CpuBackend backend;
  std::vector<std::int32_t> a(4), b(4), c(4);
  expect_shape_error(
      [&] {
        backend.gemm(false, false, 1.0, view(a, {2, 2}), view(b, {2, 2}), 0.0, view(c, {2, 2}));
      },
      {"F32 and F64", "I32"});
}

}  // namespace
}  // namespace shears
