#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "pruning/criteria/criterion.h"

namespace shears::pruning {

namespace {

struct CriterionName {
  Criterion criterion;
  const char* name;
};

constexpr CriterionName kCriterionNames[] = {
    {Criterion::L1, "l1"},
    {Criterion::L2, "l2"},
    {Criterion::GeometricMedian, "fpgm"},
    {Criterion::Random, "random"},
};

// Counts are products of a channel count and a ratio read from a config, so n * p lands a few
// ulps below an integer as often as above it (10 * (1 - 0.9) = 0.9999999999999998). The guard
// is far below any ratio step a config can express and far above double rounding at n <= 2^20.
constexpr double kCountGuard = 1e-9;

void check_count_args(std::int64_t n, double prune_ratio, const char* what) {
  SHEARS_CHECK(n >= 0, what, ": channel count ", n, " is negative");
  SHEARS_CHECK(prune_ratio >= 0.0 && prune_ratio <= 1.0, what, ": prune ratio ", prune_ratio,
               " is outside [0, 1]");
}

/// The weight as host doubles, with the number of filters and the length of one filter.
std::vector<double> host_filters(const Tensor& weight, const char* what, std::int64_t& n,
                                 std::int64_t& d) {
  SHEARS_CHECK_AS(
      ShapeError, weight.defined() && weight.dim() >= 1, what,
      ": the weight needs a filter dimension, got ",
      weight.defined() ? shape_str(weight.shape()) : std::string("an undefined tensor"));
  n = weight.size(0);
  d = n > 0 ? weight.numel() / n : 0;
  // Convert on the host: the CUDA backend has no f64 tensors.
  return weight.cpu().to_vector<double>();
}

}  // namespace

Criterion parse_criterion(const std::string& name) {
  std::string known;
  for (const CriterionName& entry : kCriterionNames) {
    if (name == entry.name) return entry.criterion;
    known += known.empty() ? "" : ", ";
    known += entry.name;
  }
  throw ConfigError("unknown pruning criterion '" + name + "'; known: " + known);
}

const char* criterion_name(Criterion c) {
  for (const CriterionName& entry : kCriterionNames) {
    if (entry.criterion == c) return entry.name;
  }
  throw Error("criterion_name: invalid Criterion value " + std::to_string(static_cast<int>(c)));
}

std::vector<double> filter_l1(const Tensor& weight) {
  std::int64_t n = 0, d = 0;
  const std::vector<double> w = host_filters(weight, "filter_l1", n, d);
  std::vector<double> out(static_cast<std::size_t>(n), 0.0);
  for (std::int64_t j = 0; j < n; ++j) {
    const double* f = w.data() + j * d;
    double s = 0.0;
    for (std::int64_t i = 0; i < d; ++i) s += std::abs(f[i]);
    out[static_cast<std::size_t>(j)] = s;
  }
  return out;
}

std::vector<double> filter_l2(const Tensor& weight) {
  std::int64_t n = 0, d = 0;
  const std::vector<double> w = host_filters(weight, "filter_l2", n, d);
  std::vector<double> out(static_cast<std::size_t>(n), 0.0);
  for (std::int64_t j = 0; j < n; ++j) {
    const double* f = w.data() + j * d;
    double s = 0.0;
    for (std::int64_t i = 0; i < d; ++i) s += f[i] * f[i];
    out[static_cast<std::size_t>(j)] = std::sqrt(s);
  }
  return out;
}

std::vector<std::int64_t> smallest(const std::vector<double>& scores, std::int64_t k) {
  const auto n = static_cast<std::int64_t>(scores.size());
  SHEARS_CHECK(k >= 0 && k <= n, "smallest: cannot pick ", k, " of ", n, " scores");
  for (std::int64_t i = 0; i < n; ++i) {
    SHEARS_CHECK(!std::isnan(scores[static_cast<std::size_t>(i)]), "smallest: score ", i,
                 " is NaN");
  }
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  // (score, index) is a strict total order, so ties resolve to the lower index deterministically.
  auto before = [&](std::int64_t a, std::int64_t b) {
    const double sa = scores[static_cast<std::size_t>(a)];
    const double sb = scores[static_cast<std::size_t>(b)];
    return sa < sb || (sa == sb && a < b);
  };
  std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
  order.resize(static_cast<std::size_t>(k));
  std::sort(order.begin(), order.end());
  return order;
}

std::int64_t pruned_count_floor(std::int64_t n, double prune_ratio) {
  check_count_args(n, prune_ratio, "pruned_count_floor");
  const auto pruned =
      static_cast<std::int64_t>(std::floor(static_cast<double>(n) * prune_ratio + kCountGuard));
  return std::min(pruned, n);
}

std::int64_t pruned_count_keep(std::int64_t n, double prune_ratio) {
  check_count_args(n, prune_ratio, "pruned_count_keep");
  // int() of a non-negative value truncates, i.e. floors.
  const auto kept = static_cast<std::int64_t>(
      std::floor(static_cast<double>(n) * (1.0 - prune_ratio) + kCountGuard));
  return n - std::min(kept, n);
}

}  // namespace shears::pruning
