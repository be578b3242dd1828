#pragma once

// Helpers for the CPU-backend known-answer tests: views over std::vector memory, tolerances per
// scalar type, element-wise comparison that names the worst index, a deterministic filler, and a
// check that an error is thrown with a given text in its message.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/common/dtype.h"
#include "kernels/common/view.h"
#include "kernels/cpu/cpu_backend.h"

namespace shears::testing {

/// A CPU view over `data` (which must outlive it) with the given shape.
template <typename T>
TensorView view_of(std::vector<T>& data, Shape shape) {
  return TensorView{data.data(), std::move(shape), DTypeOf<T>::value, Device::cpu()};
}

/// Absolute-plus-relative tolerance for comparing a T result with a double reference.
template <typename T>
double tolerance() {
  return std::is_same_v<T, float> ? 2e-5 : 1e-12;
}

/// Passes when every |actual[i] - expected[i]| <= tol * max(1, |expected[i]|); otherwise reports
/// the mismatch count and the worst index with both values.
template <typename T>
::testing::AssertionResult all_near(const std::vector<T>& actual,
                                    const std::vector<double>& expected, double tol) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure()
           << "size " << actual.size() << " != expected size " << expected.size();
  }
  std::size_t bad = 0, worst = 0;
  double worst_err = -1.0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double a = static_cast<double>(actual[i]), e = expected[i];
    const double err = std::fabs(a - e) / std::max(1.0, std::fabs(e));
    const bool same_nan = std::isnan(a) && std::isnan(e);
    const bool ok = same_nan || (a == e) || err <= tol;
    if (!ok) ++bad;
    if (!ok && !(err <= worst_err)) {
      worst_err = err;
      worst = i;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << actual.size() << " elements differ; worst at [" << worst << "]: got "
         << static_cast<double>(actual[worst]) << ", expected " << expected[worst]
         << " (scaled error " << worst_err << ", tolerance " << tol << ")";
}

/// Deterministic pseudo-random values in [lo, hi) (a fixed linear congruential sequence).
template <typename T>
std::vector<T> ramp_values(std::size_t n, double lo, double hi, std::uint64_t seed = 1) {
  std::vector<T> v(n);
  std::uint64_t s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (auto& x : v) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    const double u = static_cast<double>(s >> 11) / 9007199254740992.0;
    x = static_cast<T>(lo + (hi - lo) * u);
  }
  return v;
}

/// A double copy of `v`.
template <typename T>
std::vector<double> to_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

/// Runs `f` and passes only when it throws E (or a subclass) whose message contains `needle`.
template <typename E, typename F>
::testing::AssertionResult throws_with(F&& f, const std::string& needle) {
  try {
    f();
  } catch (const E& e) {
    const std::string message = e.what();
    if (message.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "message \"" << message << "\" does not contain \"" << needle << "\"";
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a different type: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

/// Names typed-test instantiations F32 and F64 instead of 0 and 1.
struct FloatTypeNames {
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, float> ? "F32" : "F64";
  }
};

using FloatTypes = ::testing::Types<float, double>;

}  // namespace shears::testing

/// Expects `statement` to throw ErrorType with `needle` in its message.
#define SHEARS_EXPECT_THROW_MSG(statement, ErrorType, needle) \
  EXPECT_TRUE(::shears::testing::throws_with<ErrorType>([&] { statement; }, needle))
