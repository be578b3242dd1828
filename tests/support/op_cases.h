#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace shears::testing {

/// One input of an op case: its shape, the uniform range it is drawn from, and whether the
/// gradient check differentiates it (labels, indices and running statistics are not).
struct OpInput {
  Shape shape;
  double lo = -1.0, hi = 1.0;
  bool differentiable = true;
};

/// One row of the op table that drives the gradient checks and the CPU/CUDA parity tests.
/// `make_inputs` may be set to build inputs that are not plain uniform floats (labels, indices).
struct OpCase {
  std::string name;  // PascalCase, used as the test name
  std::vector<OpInput> inputs;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  /// Builds the inputs in `dtype` on `device` from a seed; defaults to uniform draws.
  std::function<std::vector<Tensor>(DType dtype, Device device, std::uint64_t seed)> make_inputs;
  double tol = 1e-6;  // gradcheck tolerance
};

/// Every op case of the engine.
const std::vector<OpCase>& op_cases();

/// The inputs of `c`, in `dtype` on `device`, differentiable ones requiring grad.
std::vector<Tensor> make_case_inputs(const OpCase& c, DType dtype, Device device,
                                     std::uint64_t seed);

}  // namespace shears::testing
