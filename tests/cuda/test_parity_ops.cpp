// CPU-vs-CUDA parity of every engine op, driven by the op table of the gradient checks
// (tests/support/op_cases.cpp): each row runs forward and backward (every input gradient) on
// both devices, in F32 with TF32 off, and the results must agree within a tolerance that grows
// with the reduction length behind each value.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/rng.h"
#include "kernels/common/registry.h"
#include "tests/support/cuda_test.h"
#include "tests/support/op_cases.h"

namespace shears::testing {
namespace {

// |got - want| <= tol(k) * (1 + max|want|) elementwise, tol(k) = 4e-6 * sqrt(k): float rounding
// of a k-term sum grows like sqrt(k) for random signs.
::testing::AssertionResult agree(const Tensor& got_device, const Tensor& want, double k,
                                 const std::string& what) {
  const Tensor got = got_device.to(Device::cpu());
  if (got.shape() != want.shape()) {
    return ::testing::AssertionFailure() << what << ": CUDA shape " << shape_str(got.shape())
                                         << ", CPU shape " << shape_str(want.shape());
  }
  const std::vector<float> g = got.to_vector<float>(), w = want.to_vector<float>();
  double scale = 0.0;
  for (float v : w) scale = std::max(scale, std::fabs(static_cast<double>(v)));
  const double tol = 4e-6 * std::sqrt(std::max(k, 1.0)) * (1.0 + scale);
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double d = std::fabs(static_cast<double>(g[i]) - static_cast<double>(w[i]));
    if (!(d <= tol)) {
      return ::testing::AssertionFailure() << what << "[" << i << "]: CUDA " << g[i] << ", CPU "
                                           << w[i] << " (tolerance " << tol << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

class OpParity : public CudaTest, public ::testing::WithParamInterface<std::size_t> {
 protected:
  void SetUp() override {
    CudaTest::SetUp();
    if (IsSkipped()) return;
    set_allow_tf32(false);
  }
  void TearDown() override { set_cuda_policy(CudaPolicy{}); }
};

TEST_P(OpParity, ForwardAndInputGradientsMatchTheCpu) {
  const OpCase& c = op_cases()[GetParam()];
  const Device gpu = Device::cuda(0);
  std::vector<Tensor> cpu_in = make_case_inputs(c, DType::F32, Device::cpu(), 23);
  std::vector<Tensor> gpu_in = make_case_inputs(c, DType::F32, gpu, 23);
  ASSERT_EQ(cpu_in.size(), gpu_in.size());
  const Tensor y_cpu = c.fn(cpu_in), y_gpu = c.fn(gpu_in);
  ASSERT_TRUE(y_gpu.device() == gpu) << c.name << " ran on " << y_gpu.device().str();
  std::int64_t in_elements = 0;
  for (const Tensor& t : cpu_in) in_elements += t.numel();
  const double out_elements = static_cast<double>(std::max<std::int64_t>(y_cpu.numel(), 1));
  // A forward value sums over about in/out inputs; an input gradient over about out/in outputs
  // times that (every output that the input feeds).
  const double k_forward = static_cast<double>(in_elements) / out_elements;
  EXPECT_TRUE(agree(y_gpu, y_cpu, k_forward, c.name + " forward"));

  // Backward from the same random output weights on both devices.
  Generator gen(29);
  const Tensor weights = rand_uniform(y_cpu.shape(), -1.0, 1.0, gen);
  sum(mul(y_cpu, weights)).backward();
  sum(mul(y_gpu, weights.to(gpu))).backward();
  for (std::size_t i = 0; i < cpu_in.size(); ++i) {
    if (!cpu_in[i].requires_grad()) continue;
    const Tensor gc = cpu_in[i].grad(), gg = gpu_in[i].grad();
    ASSERT_EQ(gc.defined(), gg.defined()) << c.name << " input " << i;
    if (!gc.defined()) continue;
    const double k_backward =
        k_forward * std::max(1.0, out_elements / static_cast<double>(cpu_in[i].numel()));
    EXPECT_TRUE(agree(gg, gc, k_backward, c.name + " grad of input " + std::to_string(i)));
  }
}

INSTANTIATE_TEST_SUITE_P(AllOps, OpParity, ::testing::Range<std::size_t>(0, op_cases().size()),
                         [](const ::testing::TestParamInfo<std::size_t>& info) {
                           return op_cases()[info.param].name;
                         });

}  // namespace
}  // namespace shears::testing
