// CpuBackend index_select, index_add and slice_copy along every kind of dimension, on floating and
// integer data, against a naive reference; the parallel copy paths; and the error paths.

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/cpu_test_util.h"

namespace shears::testing {
namespace {

using kernels::cpu::CpuBackend;

template <typename T>
std::vector<T> iota(std::size_t n) {
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<T>(i);
  return v;
}

// out[o, i, k] = x[o, index[i], k] for x seen as (outer, size, inner) around `dim`.
template <typename T>
std::vector<T> naive_select(const std::vector<T>& x, const Shape& s, int dim,
                            const std::vector<std::int64_t>& index) {
  std::int64_t outer = 1, inner = 1;
  for (int d = 0; d < dim; ++d) outer *= s[static_cast<std::size_t>(d)];
  for (std::size_t d = static_cast<std::size_t>(dim) + 1; d < s.size(); ++d) inner *= s[d];
  const std::int64_t size = s[static_cast<std::size_t>(dim)];
  std::vector<T> out;
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i : index)
      for (std::int64_t k = 0; k < inner; ++k)
        out.push_back(x[static_cast<std::size_t>((o * size + i) * inner + k)]);
  return out;
}

Shape with_dim(Shape s, int dim, std::int64_t n) {
  s[static_cast<std::size_t>(dim)] = n;
  return s;
}

template <typename T>
class IndexTyped : public ::testing::Test {
 protected:
  CpuBackend be_;
};
TYPED_TEST_SUITE(IndexTyped, FloatTypes, FloatTypeNames);

TYPED_TEST(IndexTyped, IndexSelectEveryDimWithDuplicatesAndReversal) {
  using T = TypeParam;
  const Shape s{3, 5, 2, 4};
  const auto x = iota<T>(120);
  for (int dim = 0; dim < 4; ++dim) {
    SCOPED_TRACE(dim);
    const std::int64_t size = s[static_cast<std::size_t>(dim)];
    std::vector<std::int64_t> index{size - 1, 0, size - 1, 1 % size, 0};
    std::vector<T> in = x, out(static_cast<std::size_t>(120 / size * 5));
    this->be_.index_select(view_of(in, s), dim, view_of(index, {5}),
                           view_of(out, with_dim(s, dim, 5)));
    EXPECT_EQ(out, naive_select(x, s, dim, index));
  }
}

TYPED_TEST(IndexTyped, IndexSelectNegativeDimAndEmptyIndex) {
  using T = TypeParam;
  auto x = iota<T>(6);
  std::vector<std::int64_t> index{2, 0};
  std::vector<T> out(4);
  this->be_.index_select(view_of(x, {2, 3}), -1, view_of(index, {2}), view_of(out, {2, 2}));
  EXPECT_EQ(out, (std::vector<T>{2, 0, 5, 3}));
  std::vector<std::int64_t> none;
  std::vector<T> empty;
  this->be_.index_select(view_of(x, {2, 3}), 1, view_of(none, {0}), view_of(empty, {2, 0}));
}

TYPED_TEST(IndexTyped, IndexAddAccumulatesDuplicates) {
  using T = TypeParam;
  // src (2, 3) added into out (2, 4) along dim 1 at columns {1, 3, 1}.
  std::vector<T> src{1, 2, 3, 4, 5, 6}, out{10, 10, 10, 10, 20, 20, 20, 20};
  std::vector<std::int64_t> index{1, 3, 1};
  this->be_.index_add(view_of(src, {2, 3}), 1, view_of(index, {3}), view_of(out, {2, 4}));
  EXPECT_EQ(out, (std::vector<T>{10, 14, 10, 12, 20, 30, 20, 25}));
}

TYPED_TEST(IndexTyped, IndexAddIsTheAdjointOfIndexSelect) {
  using T = TypeParam;
  const Shape s{4, 7, 3};
  for (int dim = 0; dim < 3; ++dim) {
    SCOPED_TRACE(dim);
    const std::int64_t size = s[static_cast<std::size_t>(dim)];
    std::vector<std::int64_t> index{0, size - 1, 1, 0, size - 1, 2};
    const Shape os = with_dim(s, dim, 6);
    auto g = iota<T>(static_cast<std::size_t>(shape_numel(os)));
    std::vector<T> gx(84, T(0));
    this->be_.index_add(view_of(g, os), dim, view_of(index, {6}), view_of(gx, s));
    // gx[j] = sum of g over selected positions that read j.
    auto positions = iota<double>(84);
    const auto read = naive_select(positions, s, dim, index);
    std::vector<double> want(84, 0.0);
    for (std::size_t i = 0; i < read.size(); ++i) {
      want[static_cast<std::size_t>(read[i])] += static_cast<double>(g[i]);
    }
    EXPECT_TRUE(all_near(gx, want, 0.0));
  }
}

TYPED_TEST(IndexTyped, LargeIndexOpsMatchNaive) {
  using T = TypeParam;
  // Many short runs (dim 1, inner 64) and few long runs (dim 0 of two 1 MiB rows).
  const Shape s{64, 300, 64};
  auto x = ramp_values<T>(static_cast<std::size_t>(shape_numel(s)), -1, 1, 61);
  std::vector<std::int64_t> index;
  for (std::int64_t i = 0; i < 300; i += 3) index.push_back(299 - i);
  std::vector<T> out(64 * 100 * 64);
  this->be_.index_select(view_of(x, s), 1, view_of(index, {100}), view_of(out, {64, 100, 64}));
  EXPECT_EQ(out, naive_select(x, s, 1, index));

  const Shape rows{2, 262144};
  auto big = ramp_values<T>(524288, -1, 1, 62);
  std::vector<std::int64_t> swap{1, 0, 1};
  std::vector<T> picked(3 * 262144);
  this->be_.index_select(view_of(big, rows), 0, view_of(swap, {3}), view_of(picked, {3, 262144}));
  EXPECT_EQ(picked, naive_select(big, rows, 0, swap));

  std::vector<T> acc(x.size(), T(0));
  std::vector<std::int64_t> all(300);
  for (std::int64_t i = 0; i < 300; ++i) all[static_cast<std::size_t>(i)] = i;
  this->be_.index_add(view_of(x, s), 1, view_of(all, {300}), view_of(acc, s));
  EXPECT_EQ(acc, x);
}

TYPED_TEST(IndexTyped, SliceCopyAlongEveryDim) {
  using T = TypeParam;
  const Shape s{3, 4, 5};
  const auto x = iota<T>(60);
  for (int dim = 0; dim < 3; ++dim) {
    SCOPED_TRACE(dim);
    const std::int64_t size = s[static_cast<std::size_t>(dim)];
    // Copy entries [1, size) of x into entries [0, size - 1) of a zero-filled dst of equal shape.
    std::vector<T> src = x, dst(60, T(0));
    this->be_.slice_copy(view_of(src, s), dim, 1, view_of(dst, s), 0, size - 1);
    std::vector<std::int64_t> shifted;
    for (std::int64_t i = 1; i < size; ++i) shifted.push_back(i);
    const auto moved = naive_select(x, s, dim, shifted);
    std::vector<std::int64_t> head;
    for (std::int64_t i = 0; i < size - 1; ++i) head.push_back(i);
    EXPECT_EQ(naive_select(dst, s, dim, head), moved);
    EXPECT_EQ(naive_select(dst, s, dim, {size - 1}),
              std::vector<T>(static_cast<std::size_t>(60 / size), T(0)));
  }
}

TYPED_TEST(IndexTyped, SliceCopyBetweenDifferentSizes) {
  using T = TypeParam;
  // Concatenation-style: a (2, 2) block goes to columns [3, 5) of a (2, 5) destination.
  std::vector<T> src{1, 2, 3, 4}, dst(10, T(0));
  this->be_.slice_copy(view_of(src, {2, 2}), 1, 0, view_of(dst, {2, 5}), 3, 2);
  EXPECT_EQ(dst, (std::vector<T>{0, 0, 0, 1, 2, 0, 0, 0, 3, 4}));
  this->be_.slice_copy(view_of(src, {2, 2}), 1, 0, view_of(dst, {2, 5}), 0, 0);
  EXPECT_EQ(dst, (std::vector<T>{0, 0, 0, 1, 2, 0, 0, 0, 3, 4}));
}

class Index : public ::testing::Test {
 protected:
  CpuBackend be_;
  std::vector<float> x_ = iota<float>(12), out_ = std::vector<float>(12);
};

TEST_F(Index, DataMovementWorksOnIntegerDtypes) {
  std::vector<std::int64_t> x{10, 11, 12, 13, 14, 15}, out(4), index{2, 0};
  be_.index_select(view_of(x, {2, 3}), 1, view_of(index, {2}), view_of(out, {2, 2}));
  EXPECT_EQ(out, (std::vector<std::int64_t>{12, 10, 15, 13}));
  std::vector<std::uint8_t> bytes{1, 2, 3, 4, 5, 6}, dst(6, 0);
  be_.slice_copy(view_of(bytes, {3, 2}), 0, 1, view_of(dst, {3, 2}), 0, 2);
  EXPECT_EQ(dst, (std::vector<std::uint8_t>{3, 4, 5, 6, 0, 0}));
}

TEST_F(Index, RejectsOutOfRangeIndexValues) {
  std::vector<std::int64_t> index{0, 3, 4};
  std::vector<float> out(9);
  SHEARS_EXPECT_THROW_MSG(
      be_.index_select(view_of(x_, {3, 4}), 1, view_of(index, {3}), view_of(out, {3, 3})),
      ShapeError, "index_select: index[2] = 4 is out of range for dimension 1 of size 4");
  index = {-1, 0, 0};
  SHEARS_EXPECT_THROW_MSG(
      be_.index_select(view_of(x_, {3, 4}), 1, view_of(index, {3}), view_of(out, {3, 3})),
      ShapeError, "index[0] = -1 is out of range");
  std::vector<float> src(3);
  std::vector<std::int64_t> one{3};
  SHEARS_EXPECT_THROW_MSG(
      be_.index_add(view_of(src, {1, 3}), 0, view_of(one, {1}), view_of(out_, {3, 4})), ShapeError,
      "index_add: index[0] = 3 is out of range for dimension 0 of size 3");
}

TEST_F(Index, RejectsBadIndexDtypeDimAndShapes) {
  std::vector<std::int32_t> index32{0};
  std::vector<float> out(3);
  SHEARS_EXPECT_THROW_MSG(
      be_.index_select(view_of(x_, {3, 4}), 1, view_of(index32, {1}), view_of(out, {3, 1})),
      ShapeError, "index must be a 1-D I64 tensor, got I32 [1]");
  std::vector<std::int64_t> index{0};
  SHEARS_EXPECT_THROW_MSG(
      be_.index_select(view_of(x_, {3, 4}), 2, view_of(index, {1}), view_of(out, {3, 1})),
      ShapeError, "index_select: dim 2 is out of range for F32 [3, 4]");
  SHEARS_EXPECT_THROW_MSG(
      be_.index_select(view_of(x_, {3, 4}), 1, view_of(index, {1}), view_of(out, {1, 3})),
      ShapeError,
      "out F32 [1, 3] does not fit x F32 [3, 4] along dimension 1 (expected F32 [3, 1])");
}

TEST_F(Index, SliceCopyRejectsRangesOutsideTheTensors) {
  std::vector<float> dst(6);
  SHEARS_EXPECT_THROW_MSG(be_.slice_copy(view_of(x_, {3, 4}), 1, 2, view_of(dst, {3, 2}), 0, 3),
                          ShapeError,
                          "slice_copy: source range [2, 5) is outside dimension 1 of src [3, 4]");
  SHEARS_EXPECT_THROW_MSG(
      be_.slice_copy(view_of(x_, {3, 4}), 1, 0, view_of(dst, {3, 2}), 1, 2), ShapeError,
      "slice_copy: destination range [1, 3) is outside dimension 1 of dst [3, 2]");
  SHEARS_EXPECT_THROW_MSG(be_.slice_copy(view_of(x_, {3, 4}), 1, 0, view_of(dst, {2, 3}), 0, 1),
                          ShapeError,
                          "dst F32 [2, 3] does not fit src F32 [3, 4] along dimension 1");
  SHEARS_EXPECT_THROW_MSG(be_.slice_copy(view_of(x_, {3, 4}), 0, -1, view_of(out_, {3, 4}), 0, 1),
                          ShapeError, "source range [-1, 0)");
}

}  // namespace
}  // namespace shears::testing
