// Parameter names and accepted inputs of the CIFAR models.

#include <gtest/gtest.h>

#include "tests/models/model_test_util.h"

namespace shears::models {
namespace {

using shears::testing::allclose;
using shears::testing::equal;
using namespace test_util;

TEST(ModelShapes, CifarModelsTakeOneChannelImages) {
  for (const char* name : {"resnet20", "vgg16"}) {
    SCOPED_TRACE(name);
    auto model = build_model(default_arch(name, 10, {1, 28, 28}, 0.5));
    model->eval();
    NoGrad no_grad;
    EXPECT_EQ(model->forward(randn({3, 1, 28, 28}, default_generator())).shape(), (Shape{3, 10}));
  }
}

TEST(ModelShapes, CifarResNetParameterNames) {
  auto model = build_model(default_arch("resnet20"));
  std::vector<std::string> names;
  for (const auto& [name, t] : model->named_parameters()) names.push_back(name);
  const std::vector<std::string> head = {
      "conv1.weight",          "bn1.weight",          "bn1.bias",
      "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias",
      "layer1.0.conv2.weight", "layer1.0.bn2.weight", "layer1.0.bn2.bias"};
  ASSERT_GE(names.size(), head.size());
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 9), head);
  EXPECT_EQ(names[names.size() - 2], "fc.weight");
  EXPECT_EQ(names.back(), "fc.bias");
  EXPECT_EQ(names.size(), 3u + 9 * 6 + 2);

  Arch b = default_arch("resnet20");
  b.shortcut = Shortcut::Projection;
  auto mb = build_model(b);
  std::set<std::string> ds;
  for (const auto& [name, t] : mb->state_dict()) {
    if (name.find("downsample") != std::string::npos) ds.insert(name);
  }
  EXPECT_EQ(ds,
            (std::set<std::string>{
                "layer2.0.downsample.0.weight", "layer2.0.downsample.1.weight",
                "layer2.0.downsample.1.bias", "layer2.0.downsample.1.running_mean",
                "layer2.0.downsample.1.running_var", "layer2.0.downsample.1.num_batches_tracked",
                "layer3.0.downsample.0.weight", "layer3.0.downsample.1.weight",
                "layer3.0.downsample.1.bias", "layer3.0.downsample.1.running_mean",
                "layer3.0.downsample.1.running_var", "layer3.0.downsample.1.num_batches_tracked"}));
}

TEST(ModelShapes, VggParameterNames) {
  auto model = build_model(default_arch("vgg16", 10, {3, 32, 32}, 0.25));
  const TensorList params = model->named_parameters();
  ASSERT_EQ(params.size(), 13u * 3 + 6);
  EXPECT_EQ(params[0].first, "features.0.weight");
  EXPECT_EQ(params[1].first, "features.1.weight");
  EXPECT_EQ(params[3].first, "features.3.weight");
  EXPECT_EQ(params[6].first, "features.7.weight");  // after the first max-pool
  EXPECT_EQ(params[39].first, "classifier.0.weight");
  EXPECT_EQ(params[41].first, "classifier.1.weight");  // BatchNorm1d
  EXPECT_EQ(params[43].first, "classifier.3.weight");
  EXPECT_EQ(params[43].second.shape(), (Shape{10, 128}));
}

}  // namespace
}  // namespace shears::models
