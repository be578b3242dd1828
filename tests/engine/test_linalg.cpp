// The SVD seam: LAPACK gesdd behind Backend::svd, canonical signs in linalg::svd.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/linalg/svd.h"
#include "engine/ops/linear.h"
#include "engine/rng.h"
#include "tests/support/allclose.h"
#include "tests/support/expect_error.h"

namespace shears::testing {
namespace {

struct SvdCase {
  std::int64_t m, n;
  DType dtype;
};

class SvdShapes : public ::testing::TestWithParam<SvdCase> {};

// a = u diag(s) vt, orthonormal factors, s descending and >= 0, the sign convention holds.
TEST_P(SvdShapes, ReconstructsWithOrthonormalFactors) {
  const SvdCase c = GetParam();
  Generator gen(11);
  Tensor a = randn({c.m, c.n}, gen, 0.0, 1.0, c.dtype);
  linalg::Svd f = linalg::svd(a);
  const std::int64_t k = std::min(c.m, c.n);
  ASSERT_EQ(f.u.shape(), Shape({c.m, k}));
  ASSERT_EQ(f.s.shape(), Shape({k}));
  ASSERT_EQ(f.vt.shape(), Shape({k, c.n}));
  const double tol = c.dtype == DType::F32 ? 2e-5 : 1e-12;
  std::vector<double> s = f.s.to_vector<double>();
  for (std::int64_t j = 0; j < k; ++j) {
    EXPECT_GE(s[j], 0.0);
    if (j > 0) {
      EXPECT_LE(s[j], s[j - 1]);
    }
  }
  // u diag(s) vt
  std::vector<double> us = f.u.to_vector<double>();
  for (std::int64_t i = 0; i < c.m; ++i)
    for (std::int64_t j = 0; j < k; ++j) us[i * k + j] *= s[j];
  Tensor rebuilt = matmul(Tensor::from_vector(us, {c.m, k}).to(c.dtype), f.vt);
  EXPECT_TRUE(allclose(rebuilt, a, tol * 10, tol * 10));
  // vt vt^T = I and u^T u = I, in double.
  Tensor eye_k = Tensor::zeros({k, k}, DType::F64);
  for (std::int64_t j = 0; j < k; ++j) eye_k.data<double>()[j * k + j] = 1.0;
  Tensor vt64 = f.vt.to(DType::F64), u64 = f.u.to(DType::F64);
  Tensor vtt = Tensor::from_vector(vt64.to_vector<double>(), {k, c.n});
  std::vector<double> vt_t(static_cast<std::size_t>(k * c.n)),
      u_t(static_cast<std::size_t>(k * c.m));
  const std::vector<double> vtv = vt64.to_vector<double>(), uv = u64.to_vector<double>();
  for (std::int64_t j = 0; j < k; ++j) {
    for (std::int64_t col = 0; col < c.n; ++col) vt_t[col * k + j] = vtv[j * c.n + col];
    for (std::int64_t row = 0; row < c.m; ++row) u_t[j * c.m + row] = uv[row * k + j];
  }
  EXPECT_TRUE(allclose(matmul(vtt, Tensor::from_vector(vt_t, {c.n, k})), eye_k, tol * 10, 0));
  EXPECT_TRUE(allclose(matmul(Tensor::from_vector(u_t, {k, c.m}), u64), eye_k, tol * 10, 0));
  // Canonical signs: the largest-magnitude entry of every row of vt is positive.
  std::vector<double> vt = f.vt.to_vector<double>();
  for (std::int64_t j = 0; j < k; ++j) {
    std::int64_t best = 0;
    for (std::int64_t col = 1; col < c.n; ++col)
      if (std::abs(vt[j * c.n + col]) > std::abs(vt[j * c.n + best])) best = col;
    EXPECT_GT(vt[j * c.n + best], 0.0) << "row " << j;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, SvdShapes,
                         ::testing::Values(SvdCase{7, 3, DType::F32}, SvdCase{3, 7, DType::F32},
                                           SvdCase{16, 144, DType::F32}, SvdCase{5, 5, DType::F64},
                                           SvdCase{13, 27, DType::F64}),
                         [](const ::testing::TestParamInfo<SvdCase>& info) {
                           return std::to_string(info.param.m) + "x" +
                                  std::to_string(info.param.n) +
                                  (info.param.dtype == DType::F32 ? "F32" : "F64");
                         });

// A hand-computed case: singular values of [[3, 0], [0, -2], [0, 0]] are 3 and 2, with
// v1 = e1 and v2 = e2 (signs made positive), so u's second column carries the minus sign.
TEST(Svd, KnownAnswer) {
  Tensor a = Tensor::from_vector(std::vector<double>{3, 0, 0, -2, 0, 0}, {3, 2});
  linalg::Svd f = linalg::svd(a);
  EXPECT_TRUE(allclose(f.s, Tensor::from_vector(std::vector<double>{3, 2}, {2}), 1e-14, 0));
  EXPECT_TRUE(
      allclose(f.vt, Tensor::from_vector(std::vector<double>{1, 0, 0, 1}, {2, 2}), 1e-14, 0));
  EXPECT_TRUE(
      allclose(f.u, Tensor::from_vector(std::vector<double>{1, 0, 0, -1, 0, 0}, {3, 2}), 1e-14, 0));
}

TEST(Svd, RejectsBadInput) {
  EXPECT_THROW_MSG(linalg::svd(Tensor::zeros({4})), ShapeError, "svd");
  EXPECT_THROW_MSG(linalg::svd(Tensor::zeros({2, 2}, DType::I64)), ShapeError, "svd");
  Tensor nan = Tensor::full({3, 3}, std::nan(""), DType::F64);
  EXPECT_THROW(linalg::svd(nan), Error);
}

}  // namespace
}  // namespace shears::testing
