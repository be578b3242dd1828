// The option-A shortcut of the CIFAR ResNets: each variant's padding and its traced ops.

#include <gtest/gtest.h>

#include "tests/models/model_test_util.h"

namespace shears::models {
namespace {

using shears::testing::allclose;
using shears::testing::equal;
using namespace test_util;

// x (1, 2, 4, 4) holding 0..31.
Tensor iota_input() {
  std::vector<float> v(32);
  for (int i = 0; i < 32; ++i) v[static_cast<std::size_t>(i)] = static_cast<float>(i);
  return Tensor::from_vector(v, {1, 2, 4, 4});
}

// Channel c of (1, C, 2, 2) as four values; pixels (0,0) (0,2) (2,0) (2,2) of the input.
std::vector<float> channel(const Tensor& y, std::int64_t c) {
  const auto v = y.to_vector<float>();
  return {v.begin() + 4 * c, v.begin() + 4 * (c + 1)};
}

TEST(OptionAShortcut, AvgPoolVariantAppendsZeroChannels) {
  const Tensor y = zero_pad_shortcut(iota_input(), 4, 2, Shortcut::AvgPoolZeros);
  ASSERT_EQ(y.shape(), (Shape{1, 4, 2, 2}));
  EXPECT_EQ(channel(y, 0), (std::vector<float>{0, 2, 8, 10}));
  EXPECT_EQ(channel(y, 1), (std::vector<float>{16, 18, 24, 26}));
  EXPECT_EQ(channel(y, 2), (std::vector<float>{0, 0, 0, 0}));
  EXPECT_EQ(channel(y, 3), (std::vector<float>{0, 0, 0, 0}));
}

// Rethinking's variant: the mean of each 2x2 patch, then zero channels appended.
TEST(OptionAShortcut, AvgPool2VariantAveragesPatches) {
  const Tensor y = zero_pad_shortcut(iota_input(), 4, 2, Shortcut::AvgPool2Zeros);
  ASSERT_EQ(y.shape(), (Shape{1, 4, 2, 2}));
  EXPECT_EQ(channel(y, 0), (std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f}));
  EXPECT_EQ(channel(y, 1), (std::vector<float>{18.5f, 20.5f, 26.5f, 28.5f}));
  EXPECT_EQ(channel(y, 3), (std::vector<float>{0, 0, 0, 0}));
  EXPECT_EQ(parse_shortcut("a-avgpool2"), Shortcut::AvgPool2Zeros);
  EXPECT_EQ(shortcut_name(Shortcut::AvgPool2Zeros), "a-avgpool2");
}

TEST(OptionAShortcut, SubsampleVariantPadsBothSides) {
  const Tensor y = zero_pad_shortcut(iota_input(), 4, 2, Shortcut::SubsamplePad);
  ASSERT_EQ(y.shape(), (Shape{1, 4, 2, 2}));
  EXPECT_EQ(channel(y, 0), (std::vector<float>{0, 0, 0, 0}));
  EXPECT_EQ(channel(y, 1), (std::vector<float>{0, 2, 8, 10}));
  EXPECT_EQ(channel(y, 2), (std::vector<float>{16, 18, 24, 26}));
  EXPECT_EQ(channel(y, 3), (std::vector<float>{0, 0, 0, 0}));
  // Odd padding puts the extra channel after the input; pad_front overrides the split.
  const Tensor odd = zero_pad_shortcut(iota_input(), 5, 2, Shortcut::SubsamplePad);
  EXPECT_EQ(channel(odd, 1), (std::vector<float>{0, 2, 8, 10}));
  EXPECT_EQ(channel(odd, 4), (std::vector<float>{0, 0, 0, 0}));
  const Tensor front0 = zero_pad_shortcut(iota_input(), 5, 2, Shortcut::SubsamplePad, 0);
  EXPECT_EQ(channel(front0, 0), (std::vector<float>{0, 2, 8, 10}));
  EXPECT_THROW_MSG(zero_pad_shortcut(iota_input(), 5, 2, Shortcut::SubsamplePad, 4), ShapeError,
                   "pad_front 4 is outside [0, 3]");
}

TEST(OptionAShortcut, NarrowerOutputKeepsLeadingChannels) {
  const Tensor y = zero_pad_shortcut(iota_input(), 1, 1, Shortcut::AvgPoolZeros);
  ASSERT_EQ(y.shape(), (Shape{1, 1, 4, 4}));
  const auto v = y.to_vector<float>();
  EXPECT_EQ(v.front(), 0.0f);
  EXPECT_EQ(v.back(), 15.0f);
  EXPECT_THROW_MSG(zero_pad_shortcut(iota_input(), 4, 2, Shortcut::Projection), ShapeError,
                   "no zero-pad shortcut");
}

TEST(OptionAShortcut, TraceShowsEachVariantsOps) {
  Arch arch = default_arch("resnet20");
  auto a = build_model(arch);
  arch.shortcut = Shortcut::SubsamplePad;
  auto b = build_model(arch);
  arch.shortcut = Shortcut::Projection;
  auto proj = build_model(arch);
  const auto ops_a = op_names(*a, {3, 32, 32});
  const auto ops_b = op_names(*b, {3, 32, 32});
  const auto ops_p = op_names(*proj, {3, 32, 32});
  // Nine residual adds in each; two padded shortcuts in option A, two projections in option B.
  for (const auto* ops : {&ops_a, &ops_b, &ops_p}) EXPECT_EQ(count_of(*ops, "add"), 9);
  EXPECT_EQ(count_of(ops_a, "avg_pool2d"), 2);
  EXPECT_EQ(count_of(ops_a, "concat"), 2);
  EXPECT_EQ(count_of(ops_b, "index_select"), 4);
  EXPECT_EQ(count_of(ops_b, "concat"), 2);
  EXPECT_EQ(count_of(ops_p, "concat"), 0);
  EXPECT_EQ(count_of(ops_p, "conv2d"), 19 + 2);
}

TEST(OptionAShortcut, PaddedChannelsOfABlockCarryOnlyTheResidualBranch) {
  // With zero residual-branch output (BN weight and bias 0), a width-doubling block returns
  // relu(shortcut): the subsampled input in the first half (variant a), zeros in the rest.
  CifarBasicBlock block(2, 3, 4, 2, Shortcut::AvgPoolZeros, false);
  block.bn2->weight.fill_(0.0);
  block.bn2->bias.fill_(0.0);
  block.eval();
  NoGrad no_grad;
  const Tensor y = block.forward(iota_input());
  EXPECT_TRUE(equal(y, zero_pad_shortcut(iota_input(), 4, 2, Shortcut::AvgPoolZeros)));
}

}  // namespace
}  // namespace shears::models
