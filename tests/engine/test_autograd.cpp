#include <gtest/gtest.h>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/node.h"
#include "engine/autograd/trace.h"
#include "engine/ops.h"
#include "kernels/common/registry.h"
#include "tests/support/allclose.h"
#include "tests/support/expect_error.h"
#include "tests/support/gradcheck.h"

namespace shears::testing {
namespace {

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = Tensor::from_vector<double>({1, 2, 3}, {3});
  x.set_requires_grad(true);
  sum(mul(x, x)).backward();
  sum(scale(x, 3.0)).backward();
  EXPECT_TRUE(allclose(x.grad(), Tensor::from_vector<double>({5, 7, 9}, {3})));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, SeveralLossesSumIntoOneScalar) {
  Tensor x = Tensor::from_vector<double>({1, -2}, {2});
  x.set_requires_grad(true);
  Tensor a = sum(mul(x, x));       // d/dx = 2x
  Tensor b = mean(scale(x, 4.0));  // d/dx = 2
  add(a, b).backward();
  EXPECT_TRUE(allclose(x.grad(), Tensor::from_vector<double>({4, -2}, {2})));
}

TEST(Autograd, ReusedTensorGetsSummedGradient) {
  Tensor x = Tensor::from_vector<double>({2}, {1});
  x.set_requires_grad(true);
  Tensor y = mul(x, x);
  Tensor z = add(y, mul(y, x));  // x^2 + x^3 -> 2x + 3x^2 = 16
  sum(z).backward();
  EXPECT_NEAR(x.grad().item(), 16.0, 1e-12);
}

TEST(Autograd, NoGradRecordsNothing) {
  Tensor x = Tensor::ones({2}, DType::F64);
  x.set_requires_grad(true);
  Tensor y;
  {
    NoGrad no_grad;
    y = mul(x, x);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
  EXPECT_TRUE(grad_enabled());
}

TEST(Autograd, DetachCutsTheGraph) {
  Tensor x = Tensor::from_vector<double>({3}, {1});
  x.set_requires_grad(true);
  Tensor y = mul(x, x);
  Tensor z = add(mul(y.detach(), x), y);  // treated as 9*x + x^2 -> 9 + 6 = 15
  sum(z).backward();
  EXPECT_NEAR(x.grad().item(), 15.0, 1e-12);
}

// A weight produced by other ops (as MetaPruning's PruningNet generates conv weights) receives
// the conv's weight gradient and passes it on to the generator's parameters.
TEST(Autograd, GeneratedWeightPassesGradientToGenerator) {
  Tensor code = random_input({1, 3}, 1);
  Tensor gen_w = random_input({3 * 2 * 3 * 3, 3}, 2);
  Tensor x = random_input({2, 3, 5, 5}, 3, -1, 1, false);
  auto f = [&](const std::vector<Tensor>& t) {
    Tensor w = reshape(linear(t[0], t[1]), {3, 2 * 3 * 3});
    w = reshape(w, {3, 2, 3, 3});
    Tensor w_full = concat({w, w}, 1);  // (3, 4, 3, 3): reuse adds gradients
    Tensor xin = narrow(x, 1, 0, 3);
    Tensor x4 = concat({xin, narrow(x, 1, 0, 1)}, 1);
    return relu(conv2d(x4, w_full, Tensor(), 1, 1));
  };
  EXPECT_TRUE(gradcheck(f, {code, gen_w}));
}

TEST(Autograd, RetainGradKeepsNonLeafGradient) {
  Tensor x = Tensor::from_vector<double>({1, 2}, {2});
  x.set_requires_grad(true);
  Tensor y = scale(x, 3.0);
  y.retain_grad();
  sum(mul(y, y)).backward();
  EXPECT_TRUE(allclose(y.grad(), Tensor::from_vector<double>({6, 12}, {2})));
  EXPECT_TRUE(allclose(x.grad(), Tensor::from_vector<double>({18, 36}, {2})));
}

TEST(Autograd, SecondBackwardWithoutRetainGraphFails) {
  Tensor x = Tensor::from_vector<double>({1, 2}, {2});
  x.set_requires_grad(true);
  Tensor y = sum(mul(x, x));
  y.backward();
  try {
    y.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("retain_graph"), std::string::npos) << e.what();
  }
}

TEST(Autograd, RetainGraphAllowsSecondBackward) {
  Tensor x = Tensor::from_vector<double>({1, 2}, {2});
  x.set_requires_grad(true);
  Tensor y = sum(mul(x, x));
  y.backward(Tensor(), true);
  y.backward();
  EXPECT_TRUE(allclose(x.grad(), Tensor::from_vector<double>({4, 8}, {2})));
}

TEST(Autograd, BackwardOnNonScalarNeedsGradient) {
  Tensor x = Tensor::ones({2}, DType::F64);
  x.set_requires_grad(true);
  Tensor y = scale(x, 2.0);
  EXPECT_THROW(y.backward(), ShapeError);
  y.backward(Tensor::from_vector<double>({1, 10}, {2}));
  EXPECT_TRUE(allclose(x.grad(), Tensor::from_vector<double>({2, 20}, {2})));
}

TEST(Autograd, DeepChainDoesNotOverflowTheStack) {
  Tensor x = Tensor::from_vector<double>({1}, {1});
  x.set_requires_grad(true);
  Tensor h = x;
  for (int i = 0; i < 20000; ++i) h = add_scalar(h, 1.0);
  sum(h).backward();
  EXPECT_NEAR(x.grad().item(), 1.0, 0);
}

TEST(Trace, RecordsOpsWithAttributesUnderNoGrad) {
  Tensor x = Tensor::ones({1, 2, 4, 4});
  Tensor w = Tensor::ones({3, 2, 3, 3});
  NoGrad no_grad;
  TraceScope trace;
  Tensor y = relu(conv2d(x, w, Tensor(), 2, 1));
  ASSERT_EQ(trace.records().size(), 2u);
  EXPECT_EQ(trace.records()[0].name, "conv2d");
  EXPECT_EQ(trace.records()[0].inputs[1].id(), w.id());
  EXPECT_EQ(trace.records()[1].inputs[0].id(), trace.records()[0].output.id());
  bool found = false;
  for (auto& [k, v] : trace.records()[0].attrs)
    if (k == "stride_h") found = v == 2;
  EXPECT_TRUE(found);
}

TEST(Tensor, PrintsShapeDtypeDeviceAndValues) {
  Tensor t = Tensor::from_vector<float>({1.5f, -2.f, 3.f}, {3});
  std::string s = t.to_string();
  EXPECT_NE(s.find("Tensor[3] F32 cpu"), std::string::npos) << s;
  EXPECT_NE(s.find("1.5, -2, 3"), std::string::npos) << s;
}

TEST(Tensor, CpuStorageIs64ByteAligned) {
  for (std::int64_t n : {1, 3, 17, 1000}) {
    Tensor t = Tensor::empty({n});
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.raw_data()) % 64, 0u);
  }
}

TEST(Tensor, StridesAreContiguousRowMajor) {
  Tensor t = Tensor::zeros({2, 3, 4, 5});
  EXPECT_EQ(t.strides(), (std::vector<std::int64_t>{60, 20, 5, 1}));
  EXPECT_EQ(t.numel(), 120);
}

TEST(Tensor, CopiesAreExplicitAndDeep) {
  Tensor a = Tensor::from_vector<float>({1, 2}, {2});
  Tensor alias = a;
  Tensor copy = a.clone();
  a.data<float>()[0] = 7;
  EXPECT_EQ(alias.data<float>()[0], 7);
  EXPECT_EQ(copy.data<float>()[0], 1);
  EXPECT_THROW(a.data<double>(), Error);
}

TEST(Tensor, DtypeConversionRoundTrips) {
  Tensor a = Tensor::from_vector<std::int64_t>({1, -2, 3}, {3});
  EXPECT_EQ(a.to(DType::F32).to(DType::I64).to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{1, -2, 3}));
}

TEST(ShapeOps, DimOutOfRangeNamesTheTensorLikeTheKernels) {
  // The engine's ops and the backends normalise a dim with one check (kernels/common/checks.h).
  const Tensor x = Tensor::zeros({2, 3}, DType::F32, Device::cpu());
  EXPECT_THROW_MSG(flatten(x, 2), ShapeError, "flatten: dim 2 is out of range for F32 [2, 3]");
  EXPECT_THROW_MSG(narrow(x, -3, 0, 1), ShapeError,
                   "narrow: dim -3 is out of range for F32 [2, 3]");
  EXPECT_THROW_MSG(concat({x, x}, 5), ShapeError, "concat: dim 5 is out of range for F32 [2, 3]");
  EXPECT_EQ(narrow(x, -1, 1, 2).shape(), (Shape{2, 2}));
}

TEST(Device, SuiteRunsOnCpuWithoutGpu) {
  // CI and developers' machines have no GPU: everything above ran on the CPU backend, and asking
  // for a CUDA device fails with a message rather than crashing.
  EXPECT_EQ(backend_for(Device::cpu()).name(), "cpu");
  if (cuda_device_count() == 0) {
    try {
      Tensor::zeros({2}, DType::F32, Device::cuda(0));
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cuda:0"), std::string::npos) << e.what();
    }
  }
}

TEST(Autograd, GradReadyScopeSeesEachLeafOnceWithItsFinalGradient) {
  // w1 feeds two branches, w2 only the last op: y = sum((w1*x) * w2 + w1*w1). When the callback
  // sees a leaf, its gradient already holds every branch's contribution; w2's (the later layer)
  // is final before w1's. Without a scope nothing is called.
  Tensor x = Tensor::from_vector<double>({1, 2}, {2});
  Tensor w1 = Tensor::from_vector<double>({3, -1}, {2});
  Tensor w2 = Tensor::from_vector<double>({0.5, 2}, {2});
  w1.set_requires_grad(true);
  w2.set_requires_grad(true);
  auto loss = [&] { return sum(add(mul(mul(w1, x), w2), mul(w1, w1))); };
  std::vector<std::string> order;
  std::vector<Tensor> seen;
  {
    GradReadyScope scope([&](const Tensor& leaf) {
      order.push_back(leaf.id() == w1.id() ? "w1" : leaf.id() == w2.id() ? "w2" : "?");
      seen.push_back(leaf.grad().clone());
    });
    EXPECT_TRUE(throws_with_message<Error>([&] { GradReadyScope again([](const Tensor&) {}); },
                                           "already open"));
    loss().backward();
  }
  ASSERT_EQ(order, (std::vector<std::string>{"w2", "w1"}));
  // d/dw1 = x*w2 + 2*w1 = {0.5+6, 4-2}; d/dw2 = w1*x = {3, -2}.
  EXPECT_TRUE(allclose(seen[0], Tensor::from_vector<double>({3, -2}, {2})));
  EXPECT_TRUE(allclose(seen[1], Tensor::from_vector<double>({6.5, 2}, {2})));
  w1.zero_grad();
  w2.zero_grad();
  loss().backward();
  EXPECT_EQ(order.size(), 2u);
}

}  // namespace
}  // namespace shears::testing
