// CpuBackend::sum_to against a naive double reference, on F32 and F64: every kept/reduced
// pattern, the parallel paths, f32 accuracy, and the error paths.

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/cpu_test_util.h"

namespace shears::testing {
namespace {

using kernels::cpu::CpuBackend;

// out[j] = sum of x[i] over every i whose index maps to j (out dims of size 1 or absent collapse).
std::vector<double> naive_sum_to(const std::vector<double>& x, const Shape& xs, const Shape& os) {
  std::vector<double> out(static_cast<std::size_t>(shape_numel(os)), 0.0);
  const std::size_t rank = xs.size(), lead = rank - os.size();
  std::vector<std::int64_t> idx(rank);
  for (std::size_t flat = 0; flat < x.size(); ++flat) {
    std::int64_t rest = static_cast<std::int64_t>(flat);
    for (std::size_t d = rank; d-- > 0;) {
      idx[d] = rest % xs[d];
      rest /= xs[d];
    }
    std::int64_t off = 0;
    for (std::size_t d = 0; d < os.size(); ++d)
      off = off * os[d] + (os[d] == 1 ? 0 : idx[d + lead]);
    out[static_cast<std::size_t>(off)] += x[flat];
  }
  return out;
}

template <typename T>
class SumToTyped : public ::testing::Test {
 protected:
  CpuBackend be_;

  void check(const Shape& xs, const Shape& os) {
    SCOPED_TRACE(shape_str(xs) + " -> " + shape_str(os));
    auto x = ramp_values<T>(static_cast<std::size_t>(shape_numel(xs)), -1.0, 1.0, 11);
    std::vector<T> out(static_cast<std::size_t>(shape_numel(os)), T(-99));
    be_.sum_to(view_of(x, xs), view_of(out, os));
    // Sums of up to ~1e6 terms of magnitude < 1: f32 keeps ~1e-7 relative per stored value.
    EXPECT_TRUE(all_near(out, naive_sum_to(to_double(x), xs, os), 10 * tolerance<T>()));
  }
};
TYPED_TEST_SUITE(SumToTyped, FloatTypes, FloatTypeNames);

TYPED_TEST(SumToTyped, KnownValues) {
  using T = TypeParam;
  std::vector<T> x{1, 2, 3, 4, 5, 6};
  std::vector<T> rows(2), cols(3), total(1);
  this->be_.sum_to(view_of(x, {2, 3}), view_of(rows, {2, 1}));
  EXPECT_TRUE(all_near(rows, {6, 15}, 0.0));
  this->be_.sum_to(view_of(x, {2, 3}), view_of(cols, {3}));
  EXPECT_TRUE(all_near(cols, {5, 7, 9}, 0.0));
  this->be_.sum_to(view_of(x, {2, 3}), view_of(total, {}));
  EXPECT_TRUE(all_near(total, {21}, 0.0));
  this->be_.sum_to(view_of(x, {2, 3}), view_of(total, {1}));
  EXPECT_TRUE(all_near(total, {21}, 0.0));
}

TYPED_TEST(SumToTyped, PerChannelAndVectorShapes) {
  this->check({2, 3, 4, 5}, {1, 3, 1, 1});
  this->check({2, 3, 4, 5}, {3, 1, 1});
  this->check({2, 3, 4, 5}, {5});
  this->check({2, 3, 4, 5}, {2, 1, 1, 1});
  this->check({2, 3, 4, 5}, {2, 1, 4, 1});
  this->check({2, 3, 4, 5}, {1, 3, 1, 5});
  this->check({7, 13}, {13});
  this->check({7, 13}, {7, 1});
}

TYPED_TEST(SumToTyped, IdentityScalarsAndSizeOneDims) {
  this->check({2, 3, 4}, {2, 3, 4});
  this->check({2, 1, 3}, {1, 1, 3});
  this->check({2, 1, 3}, {2, 1, 1});
  this->check({1, 1, 1}, {});
  this->check({}, {});
  this->check({5}, {1});
  this->check({2, 3}, {1, 1});
}

TYPED_TEST(SumToTyped, LargeTensorsUseEveryPath) {
  this->check({64, 4096}, {4096});
  this->check({16, 64, 1024}, {1, 64, 1});
  this->check({16, 64, 1024}, {16, 1, 1});
  this->check({1000003}, {});
  this->check({3, 5, 7000}, {3, 1, 7000});
}

TYPED_TEST(SumToTyped, EmptyInputGivesZeros) {
  using T = TypeParam;
  std::vector<T> x, out(3, T(5));
  this->be_.sum_to(view_of(x, {0, 3}), view_of(out, {3}));
  EXPECT_TRUE(all_near(out, {0, 0, 0}, 0.0));
}

class SumTo : public ::testing::Test {
 protected:
  CpuBackend be_;
};

TEST_F(SumTo, FloatSumsAccumulateInDouble) {
  // Two million copies of 0.1f: a float accumulator drifts by tens of units; the double one stays
  // within one float rounding of the exact sum.
  std::vector<float> x(2000000, 0.1f), out(1);
  be_.sum_to(view_of(x, {2000000}), view_of(out, {}));
  const double exact = 2000000.0 * static_cast<double>(0.1f);
  EXPECT_NEAR(out[0], exact, 0.02);
  std::vector<float> cols(2);
  be_.sum_to(view_of(x, {1000000, 2}), view_of(cols, {2}));
  EXPECT_NEAR(cols[0], exact / 2, 0.01);
  EXPECT_NEAR(cols[1], exact / 2, 0.01);
}

TEST_F(SumTo, RejectsIncompatibleShapes) {
  std::vector<float> x(8), out(3), big(16);
  SHEARS_EXPECT_THROW_MSG(be_.sum_to(view_of(x, {2, 4}), view_of(out, {3})), ShapeError,
                          "sum_to: out [3] is not broadcast-compatible with x [2, 4]");
  SHEARS_EXPECT_THROW_MSG(be_.sum_to(view_of(x, {2, 4}), view_of(big, {2, 2, 4})), ShapeError,
                          "is not broadcast-compatible");
}

TEST_F(SumTo, RejectsDtypeMismatch) {
  std::vector<float> x(4);
  std::vector<double> out(1);
  SHEARS_EXPECT_THROW_MSG(be_.sum_to(view_of(x, {4}), view_of(out, {})), ShapeError,
                          "sum_to: out F64 [] must have the dtype of x F32 [4]");
  std::vector<std::int64_t> xi(4), oi(1);
  SHEARS_EXPECT_THROW_MSG(be_.sum_to(view_of(xi, {4}), view_of(oi, {})), ShapeError,
                          "x must be F32 or F64");
}

}  // namespace
}  // namespace shears::testing
