#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "engine/tensor.h"

namespace shears::pruning {

/// How filters are ranked. Scores are "importance": the smallest are pruned first.
enum class Criterion { L1, L2, GeometricMedian, Random };

/// "l1" | "l2" | "fpgm" (geometric median) | "random"; throws ConfigError listing them.
Criterion parse_criterion(const std::string& name);
const char* criterion_name(Criterion c);

/// L1 norm of each filter of a weight (dim 0 = filters, any rank): sum |W[j, ...]|
/// (Li et al., ICLR 2017, section 3.1). Computed in double on the host.
std::vector<double> filter_l1(const Tensor& weight);
/// L2 (Euclidean) norm of each flattened filter (He et al., IJCAI 2018, SFP section 3.2).
std::vector<double> filter_l2(const Tensor& weight);
/// FPGM's distance sum (He et al., CVPR 2019, eq. 6 restricted to the layer's own filters):
/// g(F_k) = sum over j in `subset` of ||F_k - F_j||_2, for each k in `subset` (same order).
/// Filters nearest the geometric median have the smallest g and are the most replaceable.
std::vector<double> geometric_median_distance(const Tensor& weight,
                                              const std::vector<std::int64_t>& subset);

/// Indices of the `k` smallest scores (ties: lower index first), returned sorted by index.
std::vector<std::int64_t> smallest(const std::vector<double>& scores, std::int64_t k);
/// `k` distinct indices of [0, n) drawn uniformly, sorted.
std::vector<std::int64_t> random_choice(std::int64_t n, std::int64_t k, Generator& gen);

/// Number pruned as SFP/FPGM count it: floor(n * prune_ratio).
std::int64_t pruned_count_floor(std::int64_t n, double prune_ratio);
/// Number pruned as L1/FilterSketch/ABCPruner count it: n - int(n * (1 - prune_ratio)).
std::int64_t pruned_count_keep(std::int64_t n, double prune_ratio);

}  // namespace shears::pruning
