#include <gtest/gtest.h>

#include <cmath>

#include "engine/nn/batch_norm2d.h"
#include "engine/nn/conv2d.h"
#include "engine/nn/init.h"
#include "engine/nn/layers.h"
#include "engine/nn/linear.h"
#include "engine/ops.h"
#include "tests/support/allclose.h"

namespace shears::testing {
namespace {

using namespace shears::nn;

/// A two-level network with the naming pattern of torchvision ResNets.
class Block : public Module {
 public:
  Block() {
    conv1 = register_module("conv1",
                            std::make_shared<Conv2d>(Conv2dOptions{4, 4, 3, 1, 1, 1, 1, false}));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(4));
  }
  Tensor forward(const Tensor& x) override { return relu(add(bn1->forward(conv1->forward(x)), x)); }
  std::string type_name() const override { return "Block"; }
  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
};

std::shared_ptr<Sequential> small_net() {
  auto layer1 = std::make_shared<Sequential>(
      std::vector<ModulePtr>{std::make_shared<Block>(), std::make_shared<Block>()});
  auto net = std::make_shared<Sequential>();
  net->push_back(std::make_shared<Conv2d>(Conv2dOptions{3, 4, 3, 1, 1, 1, 1, true}), "conv1");
  net->push_back(layer1, "layer1");
  net->push_back(std::make_shared<GlobalAvgPool2d>(), "pool");
  net->push_back(std::make_shared<Flatten>(), "flatten");
  net->push_back(std::make_shared<Linear>(4, 10), "fc");
  return net;
}

TEST(Module, NamesParametersAndBuffersLikePyTorch) {
  auto net = small_net();
  std::vector<std::string> names;
  for (auto& [n, t] : net->named_parameters()) names.push_back(n);
  std::vector<std::string> expected = {"conv1.weight",
                                       "conv1.bias",
                                       "layer1.0.conv1.weight",
                                       "layer1.0.bn1.weight",
                                       "layer1.0.bn1.bias",
                                       "layer1.1.conv1.weight",
                                       "layer1.1.bn1.weight",
                                       "layer1.1.bn1.bias",
                                       "fc.weight",
                                       "fc.bias"};
  EXPECT_EQ(names, expected);
  std::vector<std::string> buffers;
  for (auto& [n, t] : net->named_buffers()) buffers.push_back(n);
  EXPECT_EQ(buffers.front(), "layer1.0.bn1.running_mean");
  EXPECT_EQ(buffers.size(), 6u);
  EXPECT_EQ(
      &net->module_at("layer1.1.bn1"),
      static_cast<Module*>(
          std::static_pointer_cast<Block>(
              std::static_pointer_cast<Sequential>(net->children()[1].second)->children()[1].second)
              ->bn1.get()));
}

TEST(Module, TrainEvalIsRecursiveAndChangesBatchNorm) {
  auto net = small_net();
  net->eval();
  for (auto& [n, m] : net->named_modules()) EXPECT_FALSE(m->is_training()) << n;
  Tensor x = Tensor::ones({2, 3, 4, 4});
  Tensor before = net->tensor_at("layer1.0.bn1.running_mean").clone();
  net->forward(x);
  EXPECT_TRUE(equal(net->tensor_at("layer1.0.bn1.running_mean"), before));
  net->train();
  net->forward(x);
  EXPECT_FALSE(equal(net->tensor_at("layer1.0.bn1.running_mean"), before));
  EXPECT_EQ(net->tensor_at("layer1.0.bn1.num_batches_tracked").to_vector<std::int64_t>()[0], 1);
}

TEST(Module, StateDictRoundTripAndErrorsNameEveryProblem) {
  auto a = small_net(), b = small_net();
  b->load_state_dict(a->state_dict());
  Tensor x = Tensor::ones({1, 3, 4, 4});
  a->eval();
  b->eval();
  EXPECT_TRUE(equal(a->forward(x), b->forward(x)));

  TensorList bad = a->state_dict();
  bad.erase(bad.begin());                               // missing conv1.weight
  bad.emplace_back("extra.weight", Tensor::ones({1}));  // unexpected
  for (auto& [n, t] : bad)
    if (n == "fc.bias") t = Tensor::ones({11});  // mis-shaped
  try {
    b->load_state_dict(bad);
    FAIL() << "expected an error";
  } catch (const CheckpointError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("missing 'conv1.weight'"), std::string::npos) << m;
    EXPECT_NE(m.find("unexpected 'extra.weight'"), std::string::npos) << m;
    EXPECT_NE(m.find("'fc.bias' has shape [11], expected [10]"), std::string::npos) << m;
  }
}

TEST(Module, LoadWithResizeReplacesShapes) {
  Linear a(4, 3), b(4, 5);
  b.load_state_dict(a.state_dict(), true, true);
  EXPECT_EQ(b.out_features(), 3);
  EXPECT_TRUE(b.weight.requires_grad());
  EXPECT_TRUE(equal(b.weight, a.weight));
}

TEST(Module, ParameterGradientsFlowAndZero) {
  auto net = small_net();
  Tensor x = Tensor::ones({2, 3, 4, 4});
  sum(net->forward(x)).backward();
  for (auto& [n, t] : net->named_parameters()) EXPECT_TRUE(t.grad().defined()) << n;
  net->zero_grad();
  for (auto& [n, t] : net->named_parameters()) EXPECT_FALSE(t.grad().defined()) << n;
}

TEST(Init, PyTorchDefaultBoundsAndKaimingStd) {
  Conv2d conv({16, 32, 3, 1, 1, 1, 1, true});
  double bound = 1.0 / std::sqrt(16.0 * 9.0);
  for (float v : conv.weight.to_vector<float>()) EXPECT_LE(std::fabs(v), bound + 1e-7);
  for (float v : conv.bias.to_vector<float>()) EXPECT_LE(std::fabs(v), bound + 1e-7);
  Tensor w = Tensor::empty({64, 64, 3, 3});
  init::kaiming_normal_(w, true);
  double s = 0, s2 = 0;
  auto v = w.to_vector<double>();
  for (double e : v) {
    s += e;
    s2 += e * e;
  }
  double sd = std::sqrt(s2 / v.size() - (s / v.size()) * (s / v.size()));
  EXPECT_NEAR(sd, std::sqrt(2.0 / (64 * 9)), 0.003);
}

TEST(Module, DepthwiseConvStaysDepthwiseWhenWeightShrinks) {
  Conv2d dw({8, 8, 3, 1, 1, 1, 8, false});
  EXPECT_TRUE(dw.depthwise());
  dw.weight = Tensor::ones({5, 1, 3, 3});
  EXPECT_EQ(dw.groups(), 5);
  EXPECT_EQ(dw.in_channels(), 5);
  Tensor y = dw.forward(Tensor::ones({1, 5, 4, 4}));
  EXPECT_EQ(y.shape(), (Shape{1, 5, 4, 4}));
}

TEST(Module, PrintsTree) {
  std::string s = small_net()->to_string();
  EXPECT_NE(s.find("(conv1): Conv2d(3, 4, kernel=3, stride=1, padding=1)"), std::string::npos) << s;
  EXPECT_NE(s.find("(fc): Linear(4, 10)"), std::string::npos) << s;
}

}  // namespace
}  // namespace shears::testing
