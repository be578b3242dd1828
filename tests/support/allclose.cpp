#include "tests/support/allclose.h"

#include <cmath>
#include <sstream>

namespace shears::testing {

std::string index_str(const Shape& shape, std::int64_t i) {
  std::vector<std::int64_t> idx(shape.size());
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    auto sz = shape[static_cast<std::size_t>(d)];
    idx[static_cast<std::size_t>(d)] = sz ? i % sz : 0;
    i = sz ? i / sz : 0;
  }
  return shape_str(idx);
}

::testing::AssertionResult allclose(const Tensor& actual, const Tensor& expected, double atol,
                                    double rtol) {
  if (actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure() << "shape " << shape_str(actual.shape()) << " != expected "
                                         << shape_str(expected.shape());
  }
  auto a = actual.to_vector<double>();
  auto e = expected.to_vector<double>();
  std::int64_t bad = 0, worst = -1;
  double worst_excess = 0, max_abs = 0, max_rel = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    double diff = std::fabs(a[i] - e[i]);
    bool nan_mismatch = std::isnan(a[i]) != std::isnan(e[i]);
    if (std::isnan(a[i]) && std::isnan(e[i])) continue;
    max_abs = std::max(max_abs, diff);
    if (e[i] != 0) max_rel = std::max(max_rel, diff / std::fabs(e[i]));
    double excess = diff - (atol + rtol * std::fabs(e[i]));
    if (excess > 0 || nan_mismatch) {
      ++bad;
      if (worst < 0 || excess > worst_excess || nan_mismatch) {
        worst = static_cast<std::int64_t>(i);
        worst_excess = excess;
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  auto w = static_cast<std::size_t>(worst);
  return ::testing::AssertionFailure()
         << bad << " of " << a.size() << " elements differ (atol " << atol << ", rtol " << rtol
         << "); worst at " << index_str(actual.shape(), worst) << ": actual " << a[w]
         << " expected " << e[w] << "; max abs err " << max_abs << ", max rel err " << max_rel;
}

::testing::AssertionResult equal(const Tensor& actual, const Tensor& expected) {
  return allclose(actual, expected, 0.0, 0.0);
}

}  // namespace shears::testing
