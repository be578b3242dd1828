#pragma once

#include <functional>
#include <vector>

#include <gtest/gtest.h>

#include "engine/tensor.h"

namespace shears::testing {

struct GradCheckOptions {
  double step = 1e-6;  // central-difference step
  double tol = 1e-6;   // tolerance, scaled by max(|analytic|, |numeric|, 1)
  /// Elements whose two one-sided differences disagree by more than this (relative) sit on a
  /// kink (ReLU at 0, max-pool ties) and are skipped.
  double kink = 1e-3;
};

/// Checks autograd against central finite differences for every element of every input that
/// requires grad. `f` maps the inputs (F64 CPU tensors) to any tensor; the scalar objective is
/// sum(f(inputs) * R) with R a fixed random projection, so errors cannot cancel. The failure
/// message names the input, the element's multi-index and both values.
::testing::AssertionResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                     const std::vector<Tensor>& inputs,
                                     const GradCheckOptions& options = {});

/// A random F64 CPU tensor, uniform in [lo, hi), requiring grad.
Tensor random_input(const Shape& shape, std::uint64_t seed, double lo = -1.0, double hi = 1.0,
                    bool requires_grad = true);

}  // namespace shears::testing
