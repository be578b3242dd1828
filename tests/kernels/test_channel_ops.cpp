// CpuBackend structured-pruning channel kernels: gather and scatter with empty, partial and
// keep-all lists on odd channel counts (13, 27) along dims 0, 1 and the last; exact equality for
// data movement; channel_mask and the soft mask; and every keep validation error.

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/cpu_test_util.h"

namespace shears::testing {
namespace {

using kernels::cpu::CpuBackend;

struct Split {
  std::int64_t outer = 1, size = 1, inner = 1;
};

Split split(const Shape& s, int dim) {
  Split r;
  for (int d = 0; d < static_cast<int>(s.size()); ++d) {
    const std::int64_t n = s[static_cast<std::size_t>(d)];
    if (d < dim) r.outer *= n;
    if (d == dim) r.size = n;
    if (d > dim) r.inner *= n;
  }
  return r;
}

Shape with_dim(Shape s, int dim, std::int64_t n) {
  s[static_cast<std::size_t>(dim)] = n;
  return s;
}

// Keep lists for a dimension of `size`: empty, every third (singleton runs), a block plus
// stragglers (long and short runs), and all.
std::vector<std::vector<std::int64_t>> keep_lists(std::int64_t size) {
  std::vector<std::int64_t> third, mixed, all;
  for (std::int64_t i = 0; i < size; i += 3) third.push_back(i);
  for (std::int64_t i = 0; i < size; ++i) {
    if (i < size / 2 || i % 4 == 1) mixed.push_back(i);
    all.push_back(i);
  }
  return {{}, third, mixed, all};
}

template <typename T>
std::vector<T> naive_gather(const std::vector<T>& x, const Shape& s, int dim,
                            const std::vector<std::int64_t>& keep) {
  const Split p = split(s, dim);
  std::vector<T> out;
  for (std::int64_t o = 0; o < p.outer; ++o)
    for (std::int64_t k : keep)
      for (std::int64_t i = 0; i < p.inner; ++i)
        out.push_back(x[static_cast<std::size_t>((o * p.size + k) * p.inner + i)]);
  return out;
}

template <typename T>
std::vector<T> naive_scatter(const std::vector<T>& src, std::vector<T> out, const Shape& s, int dim,
                             const std::vector<std::int64_t>& keep) {
  const Split p = split(s, dim);
  const std::int64_t count = static_cast<std::int64_t>(keep.size());
  for (std::int64_t o = 0; o < p.outer; ++o)
    for (std::int64_t j = 0; j < count; ++j)
      for (std::int64_t i = 0; i < p.inner; ++i)
        out[static_cast<std::size_t>((o * p.size + keep[static_cast<std::size_t>(j)]) * p.inner +
                                     i)] =
            src[static_cast<std::size_t>((o * count + j) * p.inner + i)];
  return out;
}

template <typename T>
class ChannelOpsTyped : public ::testing::Test {
 protected:
  CpuBackend be_;

  // Gathers then scatters back into a sentinel-filled tensor along `dim`, for every keep list,
  // comparing with the naive versions for exact equality.
  void check_round_trip(const Shape& s, int dim) {
    const std::int64_t size = s[static_cast<std::size_t>(dim)];
    const auto x = ramp_values<T>(static_cast<std::size_t>(shape_numel(s)), -5, 5, 71);
    for (const auto& keep_values : keep_lists(size)) {
      SCOPED_TRACE(shape_str(s) + " dim " + std::to_string(dim) + " keeping " +
                   std::to_string(keep_values.size()));
      std::vector<std::int64_t> keep = keep_values;
      const std::int64_t count = static_cast<std::int64_t>(keep.size());
      const Shape small = with_dim(s, dim, count);
      std::vector<T> in = x, out(static_cast<std::size_t>(shape_numel(small)), T(-1));
      be_.channel_gather(view_of(in, s), dim, view_of(keep, {count}), view_of(out, small));
      ASSERT_EQ(out, naive_gather(x, s, dim, keep));

      std::vector<T> target(x.size(), T(42));
      be_.channel_scatter(view_of(out, small), dim, view_of(keep, {count}), view_of(target, s));
      ASSERT_EQ(target, naive_scatter(out, std::vector<T>(x.size(), T(42)), s, dim, keep));
    }
  }
};
TYPED_TEST_SUITE(ChannelOpsTyped, FloatTypes, FloatTypeNames);

TYPED_TEST(ChannelOpsTyped, GatherScatterAlongDimOne) {
  this->check_round_trip({2, 13, 3, 3}, 1);
  this->check_round_trip({4, 27, 5, 7}, 1);
}

TYPED_TEST(ChannelOpsTyped, GatherScatterAlongDimZero) {
  this->check_round_trip({13, 27, 3, 3}, 0);
  this->check_round_trip({27, 5}, 0);
}

TYPED_TEST(ChannelOpsTyped, GatherScatterAlongInnerAndLastDims) {
  this->check_round_trip({3, 4, 13, 5}, 2);
  this->check_round_trip({6, 27}, 1);
  this->check_round_trip({2, 3, 13}, 2);
}

TYPED_TEST(ChannelOpsTyped, GatherScatterLargeTensorsUseParallelPaths) {
  this->check_round_trip({32, 27, 24, 24}, 1);
  this->check_round_trip({27, 13, 40, 40}, 0);
  this->check_round_trip({1024, 513}, 1);
}

TYPED_TEST(ChannelOpsTyped, GatherKnownValuesWithNegativeDim) {
  using T = TypeParam;
  std::vector<T> x{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, out(8);
  std::vector<std::int64_t> keep{0, 2};
  this->be_.channel_gather(view_of(x, {2, 3, 2}), -2, view_of(keep, {2}), view_of(out, {2, 2, 2}));
  EXPECT_EQ(out, (std::vector<T>{0, 1, 4, 5, 6, 7, 10, 11}));
}

TYPED_TEST(ChannelOpsTyped, ScatterLeavesUnkeptEntries) {
  using T = TypeParam;
  std::vector<T> src{1, 2, 3, 4}, out(6, T(9));
  std::vector<std::int64_t> keep{0, 2};
  this->be_.channel_scatter(view_of(src, {2, 2}), 1, view_of(keep, {2}), view_of(out, {2, 3}));
  EXPECT_EQ(out, (std::vector<T>{1, 9, 2, 3, 9, 4}));
}

TYPED_TEST(ChannelOpsTyped, ChannelMaskInPlaceAlongAnyDim) {
  using T = TypeParam;
  std::vector<T> x(12, T(2));
  std::vector<T> mask_c{1, 0, 0.5};
  this->be_.channel_mask(view_of(x, {2, 3, 2}), 1, view_of(mask_c, {3}));
  EXPECT_EQ(x, (std::vector<T>{2, 2, 0, 0, 1, 1, 2, 2, 0, 0, 1, 1}));
  std::vector<T> mask_n{3, 0};
  this->be_.channel_mask(view_of(x, {2, 3, 2}), 0, view_of(mask_n, {2}));
  EXPECT_EQ(x, (std::vector<T>{6, 6, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0}));
  std::vector<T> mask_w{1, -1};
  this->be_.channel_mask(view_of(x, {2, 3, 2}), -1, view_of(mask_w, {2}));
  EXPECT_EQ(x, (std::vector<T>{6, -6, 0, 0, 3, -3, 0, 0, 0, 0, 0, 0}));
}

TYPED_TEST(ChannelOpsTyped, ChannelMaskAcceptsEitherMaskDtype) {
  using T = TypeParam;
  std::vector<T> x(27 * 4, T(1));
  std::vector<double> mask64(27, 0.0);
  std::vector<float> mask32(27, 0.0f);
  for (std::size_t c = 0; c < 27; c += 2) mask64[c] = mask32[c] = 1;
  this->be_.channel_mask(view_of(x, {2, 27, 2}), 1, view_of(mask64, {27}));
  std::vector<T> y = x;
  this->be_.channel_mask(view_of(y, {2, 27, 2}), 1, view_of(mask32, {27}));
  EXPECT_EQ(x, y);
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_EQ(x[i], T((i / 2) % 27 % 2 == 0 ? 1 : 0));
}

TYPED_TEST(ChannelOpsTyped, SoftMaskForwardAndBackward) {
  using T = TypeParam;
  // x (N=2, C=3, 1, 2), mask (3).
  std::vector<T> x{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, mask{0.5, -1, 2}, y(12);
  const Shape s{2, 3, 1, 2};
  this->be_.soft_mask_forward(view_of(x, s), view_of(mask, {3}), view_of(y, s));
  EXPECT_TRUE(all_near(y, {0.5, 1, -3, -4, 10, 12, 3.5, 4, -9, -10, 22, 24}, 0.0));

  std::vector<T> gy{1, 1, 2, 2, 0, 1, 1, 0, 1, 1, 0, 2}, gx(12), gm(3);
  TensorView gxv = view_of(gx, s), gmv = view_of(gm, {3});
  this->be_.soft_mask_backward(view_of(x, s), view_of(mask, {3}), view_of(gy, s), &gxv, &gmv);
  EXPECT_TRUE(all_near(gx, {0.5, 0.5, -2, -2, 0, 2, 0.5, 0, -1, -1, 0, 4}, 0.0));
  // grad_mask[c] = sum of gy * x over n and spatial positions.
  EXPECT_TRUE(all_near(gm, {1 + 2 + 7, 6 + 8 + 9 + 10, 6 + 24}, 0.0));
}

TYPED_TEST(ChannelOpsTyped, SoftMaskBackwardWithoutMaskGradientSkipsX) {
  using T = TypeParam;
  std::vector<T> mask{2, 3}, gy{1, 1, 1, 1}, gx(4);
  const Shape s{1, 2, 2, 1};
  // As the engine does when no mask gradient is wanted: x carries its shape but no data.
  const TensorView x{nullptr, s, DTypeOf<T>::value, Device::cpu()};
  TensorView gxv = view_of(gx, s);
  this->be_.soft_mask_backward(x, view_of(mask, {2}), view_of(gy, s), &gxv, nullptr);
  EXPECT_TRUE(all_near(gx, {2, 2, 3, 3}, 0.0));
}

TYPED_TEST(ChannelOpsTyped, SoftMaskLargeGradientMatchesNaive) {
  using T = TypeParam;
  const Shape s{16, 27, 16, 16};
  const std::size_t n = static_cast<std::size_t>(shape_numel(s));
  auto x = ramp_values<T>(n, -1, 1, 72), gy = ramp_values<T>(n, -1, 1, 73);
  auto mask = ramp_values<T>(27, 0, 1, 74);
  std::vector<T> gm(27);
  TensorView gmv = view_of(gm, {27});
  this->be_.soft_mask_backward(view_of(x, s), view_of(mask, {27}), view_of(gy, s), nullptr, &gmv);
  std::vector<double> want(27, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    want[(i / 256) % 27] += static_cast<double>(gy[i]) * static_cast<double>(x[i]);
  }
  EXPECT_TRUE(all_near(gm, want, 10 * tolerance<T>()));
}

class ChannelOps : public ::testing::Test {
 protected:
  CpuBackend be_;
  std::vector<float> x_ = std::vector<float>(2 * 13 * 4), out_ = std::vector<float>(2 * 3 * 4);
  const Shape shape_{2, 13, 4};

  void expect_keep_error(std::vector<std::int64_t> keep, const std::string& needle) {
    SCOPED_TRACE(needle);
    const std::int64_t count = static_cast<std::int64_t>(keep.size());
    std::vector<float> small(static_cast<std::size_t>(2 * count * 4));
    SHEARS_EXPECT_THROW_MSG(be_.channel_gather(view_of(x_, shape_), 1, view_of(keep, {count}),
                                               view_of(small, {2, count, 4})),
                            ShapeError, "channel_gather: " + needle);
    SHEARS_EXPECT_THROW_MSG(be_.channel_scatter(view_of(small, {2, count, 4}), 1,
                                                view_of(keep, {count}), view_of(x_, shape_)),
                            ShapeError, "channel_scatter: " + needle);
  }
};

TEST_F(ChannelOps, IntegerAndByteDataMoveExactly) {
  std::vector<std::int64_t> x{1, 2, 3, 4, 5, 6}, out(4), keep{0, 2};
  be_.channel_gather(view_of(x, {2, 3}), 1, view_of(keep, {2}), view_of(out, {2, 2}));
  EXPECT_EQ(out, (std::vector<std::int64_t>{1, 3, 4, 6}));
  std::vector<std::uint8_t> bytes{1, 2, 3, 4, 5, 6}, back(6, 0), small{7, 8};
  std::vector<std::int64_t> one{1};
  be_.channel_scatter(view_of(small, {1, 2}), 0, view_of(one, {1}), view_of(back, {3, 2}));
  EXPECT_EQ(back, (std::vector<std::uint8_t>{0, 0, 7, 8, 0, 0}));
}

TEST_F(ChannelOps, KeepValidationErrorsNameTheProblemAndIndex) {
  expect_keep_error({0, 5, 1}, "keep is not sorted: keep[2] = 1 comes after keep[1] = 5");
  expect_keep_error({0, 5, 5}, "keep has a duplicate: keep[2] = 5 repeats keep[1]");
  expect_keep_error({0, 13}, "keep[1] = 13 is out of range for dimension 1 of size 13");
  expect_keep_error({-1, 2}, "keep[0] = -1 is out of range for dimension 1 of size 13");
}

TEST_F(ChannelOps, RejectsBadKeepDtypeAndOutputShape) {
  std::vector<std::int32_t> keep32{0, 1, 2};
  SHEARS_EXPECT_THROW_MSG(
      be_.channel_gather(view_of(x_, shape_), 1, view_of(keep32, {3}), view_of(out_, {2, 3, 4})),
      ShapeError, "keep must be a 1-D I64 tensor, got I32 [3]");
  std::vector<std::int64_t> keep{0, 1, 2};
  SHEARS_EXPECT_THROW_MSG(
      be_.channel_gather(view_of(x_, shape_), 1, view_of(keep, {3}), view_of(out_, {2, 4, 3})),
      ShapeError,
      "channel_gather: out F32 [2, 4, 3] does not fit x F32 [2, 13, 4] with 3 kept entries along "
      "dimension 1 (expected F32 [2, 3, 4])");
  std::vector<double> wrong(24);
  SHEARS_EXPECT_THROW_MSG(
      be_.channel_scatter(view_of(wrong, {2, 3, 4}), 1, view_of(keep, {3}), view_of(x_, shape_)),
      ShapeError, "src F64 [2, 3, 4] does not fit out F32 [2, 13, 4]");
  SHEARS_EXPECT_THROW_MSG(
      be_.channel_gather(view_of(x_, shape_), 3, view_of(keep, {3}), view_of(out_, {2, 3, 4})),
      ShapeError, "channel_gather: dim 3 is out of range for F32 [2, 13, 4]");
}

TEST_F(ChannelOps, MasksRejectWrongLengths) {
  std::vector<float> mask(12);
  SHEARS_EXPECT_THROW_MSG(be_.channel_mask(view_of(x_, shape_), 1, view_of(mask, {12})), ShapeError,
                          "channel_mask: mask F32 [12] must have length 13 to match dimension 1");
  std::vector<float> y(x_.size());
  SHEARS_EXPECT_THROW_MSG(
      be_.soft_mask_forward(view_of(x_, shape_), view_of(mask, {12}), view_of(y, shape_)),
      ShapeError, "soft_mask_forward: mask F32 [12] must be F32 [13] to match x F32 [2, 13, 4]");
}

}  // namespace
}  // namespace shears::testing
