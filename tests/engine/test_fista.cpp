// Parameter groups of SGD, the pointwise ops of the L1 proximal step, and FISTA on lasso
// problems whose solutions are known.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/ops.h"
#include "engine/optim/fista.h"
#include "engine/optim/lr_schedule.h"
#include "engine/optim/sgd.h"
#include "tests/support/expect_error.h"

namespace shears::testing {
namespace {

Tensor param(std::vector<double> v) {
  const auto n = static_cast<std::int64_t>(v.size());
  Tensor p = Tensor::from_vector<double>(v, {n});
  p.set_requires_grad(true);
  return p;
}

void set_grad(const Tensor& p, std::vector<double> g) {
  const auto n = static_cast<std::int64_t>(g.size());
  p.set_grad(Tensor::from_vector<double>(g, {n}));
}

TEST(SgdGroups, EachGroupUsesItsOwnLrMomentumAndWeightDecay) {
  Tensor a = param({1.0, 2.0});
  Tensor b = param({1.0, -1.0});
  Tensor c = param({3.0});
  optim::SgdOptions base;
  base.lr = 0.1;
  optim::Sgd sgd({{"a", a}, {"b", b}, {"c", c}}, base);
  optim::ParamGroup g;
  g.name = "special";
  g.params = {"b"};
  g.options.lr = 0.5;
  g.options.weight_decay = 0.2;
  g.options.momentum = 0.9;
  EXPECT_EQ(sgd.add_group(g), 1);
  EXPECT_EQ(sgd.group_of("b"), 1);
  EXPECT_EQ(sgd.group_of("a"), 0);
  sgd.exclude({"c"});
  for (int step = 0; step < 2; ++step) {
    set_grad(a, {1.0, 1.0});
    set_grad(b, {1.0, 1.0});
    set_grad(c, {1.0});
    sgd.step();
  }
  // a: plain SGD, lr 0.1, no decay: 1 - 0.2, 2 - 0.2.
  auto va = a.to_vector<double>();
  EXPECT_DOUBLE_EQ(va[0], 0.8);
  EXPECT_DOUBLE_EQ(va[1], 1.8);
  // b[0]: g1 = 1 + 0.2*1 = 1.2, buf = 1.2, p = 1 - 0.6 = 0.4; g2 = 1 + 0.08 = 1.08,
  // buf = 0.9*1.2 + 1.08 = 2.16, p = 0.4 - 1.08 = -0.68.
  auto vb = b.to_vector<double>();
  EXPECT_NEAR(vb[0], -0.68, 1e-12);
  // b[1]: g1 = 1 - 0.2 = 0.8, p = -1 - 0.4 = -1.4; g2 = 1 - 0.28 = 0.72, buf = 0.72 + 0.72 =
  // 1.44, p = -1.4 - 0.72 = -2.12.
  EXPECT_NEAR(vb[1], -2.12, 1e-12);
  // c is excluded: untouched.
  EXPECT_DOUBLE_EQ(c.item(), 3.0);
  EXPECT_EQ(sgd.group_options(1).lr, 0.5);
  EXPECT_EQ(sgd.group_name(1), "special");
}

TEST(SgdGroups, GroupScheduleFollowsTheEpochAndDefaultFollowsSetLr) {
  Tensor a = param({0.0});
  Tensor b = param({0.0});
  optim::SgdOptions base;
  base.lr = 0.1;
  optim::Sgd sgd({{"a", a}, {"b", b}}, base);
  optim::StepLr schedule(0.01, 30, 0.1);
  optim::ParamGroup g;
  g.name = "masks";
  g.params = {"b"};
  g.options.lr = 0.01;
  g.schedule = &schedule;
  const int index = sgd.add_group(g);
  sgd.set_lr(0.05);
  sgd.set_epoch(31.5);
  EXPECT_DOUBLE_EQ(sgd.lr(), 0.05);
  EXPECT_NEAR(sgd.group_options(index).lr, 0.001, 1e-15);
  set_grad(a, {1.0});
  set_grad(b, {1.0});
  sgd.step();
  EXPECT_DOUBLE_EQ(a.item(), -0.05);
  EXPECT_NEAR(b.item(), -0.001, 1e-15);
}

TEST(SgdGroups, BadGroupsAreNamed) {
  Tensor a = param({0.0});
  optim::Sgd sgd({{"a", a}}, optim::SgdOptions{});
  optim::ParamGroup g;
  g.name = "x";
  g.params = {"nope"};
  EXPECT_THROW_MSG(sgd.add_group(g), Error, "nope");
  g.params = {"a", "a"};
  EXPECT_THROW_MSG(sgd.add_group(g), Error, "twice");
  g.params = {"a"};
  sgd.add_group(g);
  g.name = "y";
  EXPECT_THROW_MSG(sgd.add_group(g), Error, "already in group 'x'");
  EXPECT_THROW_MSG(sgd.exclude({"zz"}), Error, "zz");
}

TEST(Pointwise, HandValues) {
  Tensor x = Tensor::from_vector<float>({-2.0f, -0.3f, 0.0f, 0.2f, 1.5f}, {5});
  EXPECT_EQ(shears::abs(x).to_vector<float>(), (std::vector<float>{2.0f, 0.3f, 0.0f, 0.2f, 1.5f}));
  EXPECT_EQ(sign(x).to_vector<float>(), (std::vector<float>{-1.0f, -1.0f, 0.0f, 1.0f, 1.0f}));
  EXPECT_EQ(clamp(x, -0.5, 1.0).to_vector<float>(),
            (std::vector<float>{-0.5f, -0.3f, 0.0f, 0.2f, 1.0f}));
  // Soft thresholding at 0.5: sign(x) max(|x| - 0.5, 0).
  EXPECT_EQ(soft_threshold(x, 0.5).to_vector<float>(),
            (std::vector<float>{-1.5f, 0.0f, 0.0f, 0.0f, 1.0f}));
  EXPECT_EQ(soft_threshold(x, 0.0).to_vector<float>(), x.to_vector<float>());
  EXPECT_THROW_MSG(clamp(x, 1.0, 0.0), Error, "lo must be <= hi");
  EXPECT_THROW_MSG(soft_threshold(x, -1.0), Error, "threshold");
}

// 0.5 |A x - b|^2 + lambda |x|_1 with A (m x n) row-major: the gradient of the smooth part.
std::vector<double> lasso_grad(const std::vector<double>& A, const std::vector<double>& b,
                               const std::vector<double>& x, int m, int n) {
  std::vector<double> r(static_cast<std::size_t>(m)), g(static_cast<std::size_t>(n), 0.0);
  for (int i = 0; i < m; ++i) {
    double s = -b[static_cast<std::size_t>(i)];
    for (int j = 0; j < n; ++j)
      s += A[static_cast<std::size_t>(i * n + j)] * x[static_cast<std::size_t>(j)];
    r[static_cast<std::size_t>(i)] = s;
  }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j)
      g[static_cast<std::size_t>(j)] +=
          A[static_cast<std::size_t>(i * n + j)] * r[static_cast<std::size_t>(i)];
  return g;
}

std::vector<double> run_fista(const std::vector<double>& A, const std::vector<double>& b, int m,
                              int n, double lambda, bool nonnegative, int iters,
                              double upper = std::numeric_limits<double>::infinity(),
                              double* param_min = nullptr, double* param_max = nullptr) {
  double frob = 0;
  for (double a : A) frob += a * a;  // >= the largest eigenvalue of A^T A
  Tensor x = param(std::vector<double>(static_cast<std::size_t>(n), 0.0));
  optim::FistaOptions o;
  o.lr = 1.0 / frob;
  o.lambda = lambda;
  o.nonnegative = nonnegative;
  o.upper = upper;
  optim::Fista fista({{"x", x}}, o);
  for (int k = 0; k < iters; ++k) {
    set_grad(x, lasso_grad(A, b, x.to_vector<double>(), m, n));
    fista.step();
    for (double v : x.to_vector<double>()) {
      if (param_min != nullptr) *param_min = std::min(*param_min, v);
      if (param_max != nullptr) *param_max = std::max(*param_max, v);
    }
  }
  fista.finalize();
  return x.to_vector<double>();
}

TEST(Fista, DiagonalLassoReachesTheClosedForm) {
  // A = diag(d): x_j = soft(d_j b_j, lambda) / d_j^2 exactly.
  const std::vector<double> d = {2.0, 1.0, 0.5, 3.0};
  const std::vector<double> b = {1.0, -0.2, 3.0, -1.0};
  std::vector<double> A(16, 0.0);
  for (int j = 0; j < 4; ++j) A[static_cast<std::size_t>(j * 5)] = d[static_cast<std::size_t>(j)];
  const double lambda = 0.4;
  auto x = run_fista(A, b, 4, 4, lambda, false, 3000);
  for (int j = 0; j < 4; ++j) {
    const double z = d[static_cast<std::size_t>(j)] * b[static_cast<std::size_t>(j)];
    const double want = (z > 0 ? 1 : -1) * std::max(std::abs(z) - lambda, 0.0) /
                        (d[static_cast<std::size_t>(j)] * d[static_cast<std::size_t>(j)]);
    EXPECT_NEAR(x[static_cast<std::size_t>(j)], want, 1e-6) << j;
  }
  // b[1] = -0.2 with d = 1 is below the threshold: exactly zero.
  EXPECT_EQ(x[1], 0.0);
}

TEST(Fista, BoxConstrainedDiagonalLassoReachesTheClippedClosedForm) {
  // min 0.5 |diag(d) x - b|^2 + lambda |x|_1 over 0 <= x <= 1: separable, so each x_j is the
  // unconstrained non-negative solution clipped to [0, 1].
  const std::vector<double> d = {2.0, 1.0, 0.5, 3.0, 1.0};
  const std::vector<double> b = {1.0, -0.2, 3.0, -1.0, 0.7};
  std::vector<double> A(25, 0.0);
  for (int j = 0; j < 5; ++j) A[static_cast<std::size_t>(j * 6)] = d[static_cast<std::size_t>(j)];
  const double lambda = 0.4;
  double lo = 1e9, hi = -1e9;
  auto x = run_fista(A, b, 5, 5, lambda, true, 3000, 1.0, &lo, &hi);
  const std::vector<double> want = {0.4, 0.0, 1.0, 0.0, 0.3};  // z = d b, (z - lambda) / d^2
  for (int j = 0; j < 5; ++j) EXPECT_NEAR(x[static_cast<std::size_t>(j)], want[j], 1e-6) << j;
  EXPECT_EQ(x[2], 1.0);  // 6 / 0.25 unconstrained: the bound
  EXPECT_EQ(x[1], 0.0);
  // The extrapolated points the parameter held stayed in the box too.
  EXPECT_GE(lo, 0.0);
  EXPECT_LE(hi, 1.0);
  // Without the bound, x_2 = (1.5 - 0.4) / 0.25 = 4.4.
  auto free = run_fista(A, b, 5, 5, lambda, true, 3000);
  EXPECT_NEAR(free[2], 4.4, 1e-6);
}

TEST(Fista, GeneralLassoSatisfiesTheOptimalityConditions) {
  // A fixed, non-orthogonal 6 x 4 problem: at the solution, g = A^T (A x - b) has
  // g_j = -lambda sign(x_j) where x_j != 0 and |g_j| <= lambda where x_j == 0.
  const std::vector<double> A = {1.0, 0.5,  -0.3, 0.2, 0.1, 1.2, 0.4, -0.5, -0.7, 0.3, 1.0, 0.1,
                                 0.2, -0.4, 0.6,  0.9, 0.5, 0.5, 0.5, 0.5,  -0.2, 0.8, 0.1, -1.0};
  const std::vector<double> b = {1.0, -0.5, 0.8, 0.3, 1.1, -0.9};
  const double lambda = 0.3;
  auto x = run_fista(A, b, 6, 4, lambda, false, 20000);
  auto g = lasso_grad(A, b, x, 6, 4);
  int zeros = 0;
  for (int j = 0; j < 4; ++j) {
    const double xj = x[static_cast<std::size_t>(j)], gj = g[static_cast<std::size_t>(j)];
    if (xj == 0.0) {
      ++zeros;
      EXPECT_LE(std::abs(gj), lambda + 1e-9) << j;
    } else {
      EXPECT_NEAR(gj, -lambda * (xj > 0 ? 1 : -1), 1e-6) << j;
    }
  }
  EXPECT_LT(zeros, 4);  // a non-trivial solution
  // The non-negative variant is the lasso restricted to x >= 0: g_j = -lambda where x_j > 0 and
  // g_j >= -lambda where x_j == 0.
  auto xp = run_fista(A, b, 6, 4, lambda, true, 20000);
  auto gp = lasso_grad(A, b, xp, 6, 4);
  for (int j = 0; j < 4; ++j) {
    const double xj = xp[static_cast<std::size_t>(j)], gj = gp[static_cast<std::size_t>(j)];
    EXPECT_GE(xj, 0.0);
    if (xj > 0) {
      EXPECT_NEAR(gj, -lambda, 1e-6) << j;
    } else {
      EXPECT_GE(gj, -lambda - 1e-9) << j;
    }
  }
}

TEST(Fista, ReferenceModeStepsByHand) {
  // The reference update: y = x_k + ((t - 1) / t')(x_k - x_{k-1}), x_{k+1} = max(soft(y - lr g,
  // lr lambda), 0), with the gradient taken at x_k.
  Tensor x = param({1.0, 0.05});
  optim::FistaOptions o;
  o.lr = 0.1;
  o.lambda = 1.0;
  o.lookahead_gradient = false;
  optim::Fista fista({{"x", x}}, o);
  set_grad(x, {2.0, 0.0});
  fista.step();  // t = 1: no momentum; z = (0.8, 0.05); threshold 0.1 -> (0.7, 0)
  auto v = x.to_vector<double>();
  EXPECT_NEAR(v[0], 0.7, 1e-12);
  EXPECT_EQ(v[1], 0.0);
  const double t1 = (1.0 + std::sqrt(5.0)) / 2.0;
  EXPECT_NEAR(fista.momentum_t(), t1, 1e-12);
  set_grad(x, {0.0, 0.0});
  fista.step();
  // y = 0.7 + ((t1 - 1) / t2)(0.7 - 1.0); x = y - 0.1
  const double t2 = (1.0 + std::sqrt(1.0 + 4.0 * t1 * t1)) / 2.0;
  const double y = 0.7 + (t1 - 1.0) / t2 * (0.7 - 1.0);
  EXPECT_NEAR(x.to_vector<double>()[0], y - 0.1, 1e-12);
  // The state round-trips.
  auto state = fista.state_dict();
  Tensor x2 = param({0.0, 0.0});
  x2.detach().copy_(x.detach());
  optim::Fista other({{"x", x2}}, o);
  other.load_state_dict(state);
  set_grad(x, {0.3, -0.2});
  set_grad(x2, {0.3, -0.2});
  fista.step();
  other.step();
  EXPECT_EQ(x.to_vector<double>(), x2.to_vector<double>());
}

}  // namespace
}  // namespace shears::testing
