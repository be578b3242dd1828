// Finite-difference gradient checks (f64, CPU) for every op of the engine, driven by the op
// table in tests/support/op_cases.cpp.
#include <gtest/gtest.h>

#include "tests/support/gradcheck.h"
#include "tests/support/op_cases.h"

namespace shears::testing {
namespace {

class OpGradCheck : public ::testing::TestWithParam<std::size_t> {};

TEST_P(OpGradCheck, MatchesFiniteDifferences) {
  const OpCase& c = op_cases()[GetParam()];
  std::vector<Tensor> inputs = make_case_inputs(c, DType::F64, Device::cpu(), 17);
  GradCheckOptions options;
  options.tol = c.tol;
  EXPECT_TRUE(gradcheck(c.fn, inputs, options)) << c.name;
}

INSTANTIATE_TEST_SUITE_P(AllOps, OpGradCheck, ::testing::Range<std::size_t>(0, op_cases().size()),
                         [](const ::testing::TestParamInfo<std::size_t>& info) {
                           return op_cases()[info.param].name;
                         });

}  // namespace
}  // namespace shears::testing
