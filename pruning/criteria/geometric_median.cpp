#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "pruning/criteria/criterion.h"

namespace shears::pruning {

namespace {

/// ||a - b||_2 over `d` doubles. Four independent partial sums let the compiler keep several
/// multiply-adds in flight without reassociating one serial chain (no -ffast-math here).
double euclidean(const double* a, const double* b, std::int64_t d) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  std::int64_t i = 0;
  for (; i + 4 <= d; i += 4) {
    const double t0 = a[i] - b[i], t1 = a[i + 1] - b[i + 1];
    const double t2 = a[i + 2] - b[i + 2], t3 = a[i + 3] - b[i + 3];
    s0 += t0 * t0;
    s1 += t1 * t1;
    s2 += t2 * t2;
    s3 += t3 * t3;
  }
  for (; i < d; ++i) {
    const double t = a[i] - b[i];
    s0 += t * t;
  }
  return std::sqrt((s0 + s1) + (s2 + s3));
}

}  // namespace

std::vector<double> geometric_median_distance(const Tensor& weight,
                                              const std::vector<std::int64_t>& subset) {
  SHEARS_CHECK_AS(
      ShapeError, weight.defined() && weight.dim() >= 1,
      "geometric_median_distance: the weight needs a filter dimension, got ",
      weight.defined() ? shape_str(weight.shape()) : std::string("an undefined tensor"));
  const std::int64_t n = weight.size(0);
  const std::int64_t d = n > 0 ? weight.numel() / n : 0;
  std::vector<bool> seen(static_cast<std::size_t>(n), false);
  for (std::int64_t j : subset) {
    SHEARS_CHECK(j >= 0 && j < n, "geometric_median_distance: filter index ", j, " is outside [0, ",
                 n, ") for weight ", shape_str(weight.shape()));
    SHEARS_CHECK(!seen[static_cast<std::size_t>(j)], "geometric_median_distance: filter index ", j,
                 " appears twice in the subset");
    seen[static_cast<std::size_t>(j)] = true;
  }
  // The subset's rows are gathered in subset order so the pair loop reads contiguous rows. The
  // CUDA backend has no f64 tensors: copy to the host first, then widen.
  const std::vector<double> all = weight.cpu().to_vector<double>();
  const std::size_t k = subset.size();
  std::vector<double> rows(k * static_cast<std::size_t>(d));
  for (std::size_t a = 0; a < k; ++a) {
    const double* src = all.data() + subset[a] * d;
    for (std::int64_t i = 0; i < d; ++i) rows[a * static_cast<std::size_t>(d) + i] = src[i];
  }
  // Direct differences rather than the Gram identity |a|^2 + |b|^2 - 2 a.b: the identity cancels
  // catastrophically for near-equal filters, which are exactly the ones FPGM must rank. Each
  // unordered pair is computed once and added to both sums (distance is symmetric).
  std::vector<double> g(k, 0.0);
  for (std::size_t a = 0; a < k; ++a) {
    const double* fa = rows.data() + a * static_cast<std::size_t>(d);
    for (std::size_t b = a + 1; b < k; ++b) {
      const double dist = euclidean(fa, rows.data() + b * static_cast<std::size_t>(d), d);
      g[a] += dist;
      g[b] += dist;
    }
  }
  return g;
}

}  // namespace shears::pruning
