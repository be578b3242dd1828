// Filter-ranking criteria and pruned-count rounding against hand-computed answers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <vector>

#include "engine/rng.h"
#include "engine/tensor.h"
#include "kernels/common/error.h"
#include "pruning/criteria/criterion.h"
#include "tests/support/expect_error.h"

namespace shears::testing {
namespace {

using pruning::Criterion;
using Indices = std::vector<std::int64_t>;

/// A conv weight (3, 2, 1, 2): three filters of four values each.
///   filter 0: 1, -2, 3, -4    L1 = 1+2+3+4 = 10     L2 = sqrt(1+4+9+16) = sqrt(30)
///   filter 1: 0, 0, 0, 0.5    L1 = 0.5              L2 = 0.5
///   filter 2: -3, 4, 0, 0     L1 = 3+4 = 7          L2 = sqrt(9+16) = 5
Tensor three_filters() {
  return Tensor::from_vector<float>({1, -2, 3, -4, 0, 0, 0, 0.5f, -3, 4, 0, 0}, {3, 2, 1, 2});
}

/// Six 2-D "filters" (shape (6, 2, 1, 1)): an outlier at the origin and a square of side 2
/// around (11, 11), with the centre itself:
///   F0 (0,0)  F1 (10,10)  F2 (10,12)  F3 (12,10)  F4 (12,12)  F5 (11,11)
Tensor planar_filters() {
  return Tensor::from_vector<float>({0, 0, 10, 10, 10, 12, 12, 10, 12, 12, 11, 11}, {6, 2, 1, 1});
}

TEST(FilterNorm, L1ByHand) {
  const std::vector<double> l1 = pruning::filter_l1(three_filters());
  ASSERT_EQ(l1.size(), 3u);
  EXPECT_DOUBLE_EQ(l1[0], 10.0);
  EXPECT_DOUBLE_EQ(l1[1], 0.5);
  EXPECT_DOUBLE_EQ(l1[2], 7.0);
}

TEST(FilterNorm, L2ByHand) {
  const std::vector<double> l2 = pruning::filter_l2(three_filters());
  ASSERT_EQ(l2.size(), 3u);
  EXPECT_DOUBLE_EQ(l2[0], std::sqrt(30.0));
  EXPECT_DOUBLE_EQ(l2[1], 0.5);
  EXPECT_DOUBLE_EQ(l2[2], 5.0);
}

TEST(FilterNorm, LinearWeightRowsAreFilters) {
  // (2, 3): rows (3, -4, 0) and (-1, -1, -1): L1 7 and 3, L2 5 and sqrt(3).
  Tensor w = Tensor::from_vector<float>({3, -4, 0, -1, -1, -1}, {2, 3});
  EXPECT_EQ(pruning::filter_l1(w), (std::vector<double>{7.0, 3.0}));
  const std::vector<double> l2 = pruning::filter_l2(w);
  EXPECT_DOUBLE_EQ(l2[0], 5.0);
  EXPECT_DOUBLE_EQ(l2[1], std::sqrt(3.0));
}

TEST(FilterNorm, DoubleWeightsKeepTheirPrecision) {
  // 1 + 1e-12 is not representable in f32; the result must come from the f64 values.
  Tensor w = Tensor::from_vector<double>({1.0 + 1e-12, -1e-12}, {1, 2});
  EXPECT_DOUBLE_EQ(pruning::filter_l1(w)[0], 1.0 + 2e-12);
}

TEST(FilterNorm, ScalarWeightThrows) {
  EXPECT_THROW_MSG(pruning::filter_l1(Tensor::scalar(1.0)), ShapeError, "filter dimension");
  EXPECT_THROW_MSG(pruning::filter_l2(Tensor()), ShapeError, "undefined");
}

TEST(GeometricMedian, PicksTheFilterNearestTheOthersNotTheSmallest) {
  Tensor w = planar_filters();
  const double r2 = std::sqrt(2.0), r61 = std::sqrt(61.0);
  // g(F_k) = sum_j ||F_k - F_j||. Distances: side of the square 2, its diagonal 2*sqrt(2), centre
  // to a corner sqrt(2), origin to (a, b) sqrt(a^2 + b^2).
  //   F0: 10r2 + sqrt(244) + sqrt(244) + 12r2 + 11r2   = 33 r2 + 4 r61
  //   F1: 10r2 + 2 + 2 + 2r2 + r2                      = 4 + 13 r2
  //   F2: sqrt(244) + 2 + 2r2 + 2 + r2                 = 4 + 3 r2 + 2 r61   (F3 alike)
  //   F4: 12r2 + 2r2 + 2 + 2 + r2                      = 4 + 15 r2
  //   F5: 11r2 + 4 r2                                  = 15 r2 (smallest: ~21.21 vs F1 ~22.38)
  const std::vector<double> expected = {33 * r2 + 4 * r61,    4 + 13 * r2, 4 + 3 * r2 + 2 * r61,
                                        4 + 3 * r2 + 2 * r61, 4 + 15 * r2, 15 * r2};
  const std::vector<double> g = pruning::geometric_median_distance(w, {0, 1, 2, 3, 4, 5});
  ASSERT_EQ(g.size(), expected.size());
  for (std::size_t k = 0; k < g.size(); ++k) {
    SCOPED_TRACE(k);
    EXPECT_NEAR(g[k], expected[k], 1e-12 * expected[k]);
  }
  // FPGM removes the centre; a norm criterion removes the outlier at the origin.
  EXPECT_EQ(pruning::smallest(g, 1), (Indices{5}));
  EXPECT_EQ(pruning::smallest(pruning::filter_l2(w), 1), (Indices{0}));
}

TEST(GeometricMedian, SubsetIgnoresTheOtherFilters) {
  Tensor w = planar_filters();
  const double r2 = std::sqrt(2.0);
  // Without F0: each corner has two sides, one diagonal and the centre: 4 + 3 r2; the centre 4 r2.
  const std::vector<double> g = pruning::geometric_median_distance(w, {1, 2, 3, 4, 5});
  ASSERT_EQ(g.size(), 5u);
  for (std::size_t k = 0; k < 4; ++k) EXPECT_NEAR(g[k], 4 + 3 * r2, 1e-12);
  EXPECT_NEAR(g[4], 4 * r2, 1e-12);

  // Moving the excluded filter changes nothing.
  Tensor moved =
      Tensor::from_vector<float>({1000, -5, 10, 10, 10, 12, 12, 10, 12, 12, 11, 11}, {6, 2, 1, 1});
  EXPECT_EQ(pruning::geometric_median_distance(moved, {1, 2, 3, 4, 5}), g);

  // Results follow the subset's order: F5 and F1 are sqrt(2) apart.
  const std::vector<double> pair = pruning::geometric_median_distance(w, {5, 1});
  ASSERT_EQ(pair.size(), 2u);
  EXPECT_NEAR(pair[0], r2, 1e-12);
  EXPECT_NEAR(pair[1], r2, 1e-12);
  EXPECT_EQ(pruning::geometric_median_distance(w, {3}), (std::vector<double>{0.0}));
  EXPECT_TRUE(pruning::geometric_median_distance(w, {}).empty());
}

TEST(GeometricMedian, IdenticalFiltersAreZeroApart) {
  // Two equal 3x3 filters of 2 channels among a third: g of the equal pair is exactly the
  // distance to the third (no cancellation error), here ||(1, ..., 1)|| over 18 values.
  std::vector<float> v(3 * 18);
  for (std::size_t i = 0; i < 18; ++i) {
    v[i] = 0.1f * static_cast<float>(i);
    v[18 + i] = v[i];
    v[36 + i] = v[i] + 1.0f;
  }
  const std::vector<double> g =
      pruning::geometric_median_distance(Tensor::from_vector<float>(v, {3, 2, 3, 3}), {0, 1, 2});
  double d = 0;
  for (std::size_t i = 0; i < 18; ++i) {
    const double t = static_cast<double>(v[36 + i]) - static_cast<double>(v[i]);
    d += t * t;
  }
  d = std::sqrt(d);
  EXPECT_DOUBLE_EQ(g[0], d);
  EXPECT_DOUBLE_EQ(g[1], d);
  EXPECT_DOUBLE_EQ(g[2], 2 * d);
}

TEST(GeometricMedian, BadSubsetThrows) {
  Tensor w = planar_filters();
  EXPECT_THROW_MSG(pruning::geometric_median_distance(w, {0, 6}), Error,
                   "filter index 6 is outside [0, 6)");
  EXPECT_THROW_MSG(pruning::geometric_median_distance(w, {-1}), Error, "filter index -1");
  EXPECT_THROW_MSG(pruning::geometric_median_distance(w, {2, 4, 2}), Error,
                   "filter index 2 appears twice");
  EXPECT_THROW_MSG(pruning::geometric_median_distance(Tensor::scalar(2.0), {}), ShapeError,
                   "filter dimension");
}

TEST(Smallest, PicksLowestScoresSortedByIndex) {
  // Scores 3, 1, 2, 1, 0: the three smallest are 0 (index 4), 1 (index 1) and 1 (index 3).
  EXPECT_EQ(pruning::smallest({3, 1, 2, 1, 0}, 3), (Indices{1, 3, 4}));
  EXPECT_EQ(pruning::smallest({3, 1, 2, 1, 0}, 0), Indices{});
  EXPECT_EQ(pruning::smallest({3, 1, 2, 1, 0}, 5), (Indices{0, 1, 2, 3, 4}));
}

TEST(Smallest, TiesGoToTheLowerIndex) {
  EXPECT_EQ(pruning::smallest({1, 1, 1, 1}, 2), (Indices{0, 1}));
  // Index 0 is larger; among the tied 2s the lower indices 1 and 2 win over 3.
  EXPECT_EQ(pruning::smallest({5, 2, 2, 2}, 2), (Indices{1, 2}));
  // A tie straddling the cut: 0 at index 3, then the first of the tied 1s (index 1).
  EXPECT_EQ(pruning::smallest({4, 1, 1, 0, 1}, 2), (Indices{1, 3}));
  // Infinite scores (blocked channels) are chosen last.
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(pruning::smallest({inf, 7, inf, 9}, 2), (Indices{1, 3}));
}

TEST(Smallest, BadInputThrows) {
  EXPECT_THROW_MSG(pruning::smallest({1, 2}, 3), Error, "cannot pick 3 of 2 scores");
  EXPECT_THROW_MSG(pruning::smallest({1, 2}, -1), Error, "cannot pick -1 of 2 scores");
  EXPECT_THROW_MSG(pruning::smallest({1, std::nan(""), 0}, 1), Error, "score 1 is NaN");
}

TEST(PrunedCount, FloorAsSfpAndFpgm) {
  // docs/methods.md, common conventions: 30 % of 16 filters prunes 4, and 40 % prunes 6.
  EXPECT_EQ(pruning::pruned_count_floor(16, 0.3), 4);   // floor(4.8)
  EXPECT_EQ(pruning::pruned_count_floor(16, 0.4), 6);   // floor(6.4)
  EXPECT_EQ(pruning::pruned_count_floor(32, 0.4), 12);  // floor(12.8)
  EXPECT_EQ(pruning::pruned_count_floor(64, 0.4), 25);  // floor(25.6)
  EXPECT_EQ(pruning::pruned_count_floor(64, 0.3), 19);  // floor(19.2)
  EXPECT_EQ(pruning::pruned_count_floor(10, 0.7), 7);   // 10 * 0.7 = 7.000000000000001
  EXPECT_EQ(pruning::pruned_count_floor(16, 0.0), 0);
  EXPECT_EQ(pruning::pruned_count_floor(16, 1.0), 16);
  EXPECT_EQ(pruning::pruned_count_floor(0, 0.5), 0);
}

TEST(PrunedCount, FloorGuardsAgainstRoundingBelowAnInteger) {
  // In double 100 * 0.29 = 28.999999999999996 and 50 * 0.58 = 28.999999999999996: the intended
  // count is 29, which a bare floor would miss.
  EXPECT_EQ(pruning::pruned_count_floor(100, 0.29), 29);
  EXPECT_EQ(pruning::pruned_count_floor(50, 0.58), 29);
  EXPECT_EQ(pruning::pruned_count_floor(90, 0.7), 63);  // 62.99999999999999
}

TEST(PrunedCount, KeepAsL1) {
  // keep int(N * (1 - p)), prune the rest.
  EXPECT_EQ(pruning::pruned_count_keep(16, 0.4), 7);  // keep int(9.6) = 9
  EXPECT_EQ(pruning::pruned_count_keep(16, 0.5), 8);  // keep 8
  EXPECT_EQ(pruning::pruned_count_keep(16, 0.1), 2);  // keep int(14.4) = 14; floor would give 1
  EXPECT_EQ(pruning::pruned_count_keep(64, 0.1), 7);  // keep int(57.6) = 57; floor would give 6
  // Li et al.'s ResNet-56-B stage ratios 0.6 / 0.3 / 0.1 on 16 / 32 / 64 channels:
  EXPECT_EQ(pruning::pruned_count_keep(16, 0.6), 10);  // keep int(6.4) = 6
  EXPECT_EQ(pruning::pruned_count_keep(32, 0.3), 10);  // keep int(22.4) = 22
  EXPECT_EQ(pruning::pruned_count_keep(16, 0.0), 0);
  EXPECT_EQ(pruning::pruned_count_keep(16, 1.0), 16);
  // 10 * (1 - 0.9) = 0.9999999999999998 in double: the intended keep count is 1, so 9 pruned.
  EXPECT_EQ(pruning::pruned_count_keep(10, 0.9), 9);
  // 100 * (1 - 0.43) = 57.00000000000001: keep 57.
  EXPECT_EQ(pruning::pruned_count_keep(100, 0.43), 43);
}

TEST(PrunedCount, BadInputThrows) {
  EXPECT_THROW_MSG(pruning::pruned_count_floor(16, 1.5), Error,
                   "prune ratio 1.5 is outside [0, 1]");
  EXPECT_THROW_MSG(pruning::pruned_count_floor(16, -0.1), Error, "outside [0, 1]");
  EXPECT_THROW_MSG(pruning::pruned_count_keep(-1, 0.5), Error, "channel count -1 is negative");
  EXPECT_THROW_MSG(pruning::pruned_count_keep(16, std::nan("")), Error, "outside [0, 1]");
}

TEST(RandomChoice, DeterministicBySeedDistinctSorted) {
  Generator a(42), b(42), c(43);
  const Indices first = pruning::random_choice(64, 25, a);
  EXPECT_EQ(first, pruning::random_choice(64, 25, b));
  EXPECT_NE(first, pruning::random_choice(64, 25, c));
  ASSERT_EQ(first.size(), 25u);
  EXPECT_TRUE(std::is_sorted(first.begin(), first.end()));
  EXPECT_EQ(std::set<std::int64_t>(first.begin(), first.end()).size(), 25u);
  EXPECT_GE(first.front(), 0);
  EXPECT_LT(first.back(), 64);
  // The generator advances: a second draw from the same stream differs.
  EXPECT_NE(pruning::random_choice(64, 25, a), first);
}

TEST(RandomChoice, EdgeCounts) {
  Generator gen(1);
  EXPECT_TRUE(pruning::random_choice(5, 0, gen).empty());
  EXPECT_EQ(pruning::random_choice(5, 5, gen), (Indices{0, 1, 2, 3, 4}));
  EXPECT_TRUE(pruning::random_choice(0, 0, gen).empty());
  EXPECT_THROW_MSG(pruning::random_choice(5, 6, gen), Error,
                   "cannot draw 6 distinct indices from [0, 5)");
  EXPECT_THROW_MSG(pruning::random_choice(5, -1, gen), Error, "cannot draw -1");
}

TEST(RandomChoice, EveryIndexEquallyLikely) {
  // 20000 draws of 3 of 10: each index is expected 6000 times, standard deviation
  // sqrt(20000 * 0.3 * 0.7) ~ 65; 400 is about six deviations.
  Generator gen(7);
  std::vector<int> hits(10, 0);
  for (int t = 0; t < 20000; ++t) {
    for (std::int64_t i : pruning::random_choice(10, 3, gen)) ++hits[static_cast<std::size_t>(i)];
  }
  for (std::size_t i = 0; i < hits.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_NEAR(hits[i], 6000, 400);
  }
}

TEST(CriterionName, ParseAndNameRoundTrip) {
  EXPECT_EQ(pruning::parse_criterion("l1"), Criterion::L1);
  EXPECT_EQ(pruning::parse_criterion("l2"), Criterion::L2);
  EXPECT_EQ(pruning::parse_criterion("fpgm"), Criterion::GeometricMedian);
  EXPECT_EQ(pruning::parse_criterion("random"), Criterion::Random);
  for (Criterion c :
       {Criterion::L1, Criterion::L2, Criterion::GeometricMedian, Criterion::Random}) {
    EXPECT_EQ(pruning::parse_criterion(pruning::criterion_name(c)), c);
  }
}

TEST(CriterionName, UnknownNameListsTheKnownOnes) {
  EXPECT_THROW_MSG(pruning::parse_criterion("l3"), ConfigError,
                   "unknown pruning criterion 'l3'; known: l1, l2, fpgm, random");
  EXPECT_THROW_MSG(pruning::parse_criterion("L1"), ConfigError, "known: l1, l2, fpgm, random");
}

}  // namespace
}  // namespace shears::testing
