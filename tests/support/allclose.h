#pragma once

#include <gtest/gtest.h>

#include "engine/tensor.h"

namespace shears::testing {

/// Passes when shapes match and |a - e| <= atol + rtol*|e| everywhere (compared in double, on
/// the host). A failure reports the mismatch count, the worst multi-index, both values and the
/// largest absolute and relative errors.
::testing::AssertionResult allclose(const Tensor& actual, const Tensor& expected,
                                    double atol = 1e-6, double rtol = 1e-5);
/// Exact equality (data movement).
::testing::AssertionResult equal(const Tensor& actual, const Tensor& expected);

/// "[n, c, h, w]" multi-index of flat offset `i` in `shape`.
std::string index_str(const Shape& shape, std::int64_t i);

}  // namespace shears::testing
