// The model registry: names, defaults and the errors for bad arguments and widths.

#include <gtest/gtest.h>

#include "tests/models/model_test_util.h"

namespace shears::models {
namespace {

using shears::testing::allclose;
using shears::testing::equal;
using namespace test_util;

TEST(Registry, NamesAndDefaults) {
  EXPECT_EQ(model_names(),
            (std::vector<std::string>{"resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
                                      "vgg16", "vgg19", "resnet18", "resnet34", "resnet50",
                                      "mobilenetv2", "googlenet", "densenet40"}));
  EXPECT_EQ(model_info("resnet50").num_classes, 1000);
  EXPECT_EQ(model_info("vgg16").input, (Shape{3, 32, 32}));
  EXPECT_EQ(default_arch("resnet56").shortcut, Shortcut::AvgPoolZeros);
  EXPECT_EQ(default_arch("resnet56").widths.size(), 1u + 2 * 27);
  EXPECT_EQ(default_arch("resnet20", 10, {3, 32, 32}, 2.0).width("layer3.0.conv1"), 128);
}

TEST(Registry, UnknownNameListsKnownOnes) {
  const std::string known =
      "unknown model 'resnet57'; known: resnet20, resnet32, resnet44, resnet56, resnet110, "
      "vgg16, vgg19, resnet18, resnet34, resnet50, mobilenetv2, googlenet";
  EXPECT_THROW_MSG(default_arch("resnet57"), ConfigError, known);
  Arch arch = default_arch("resnet56");
  arch.name = "resnet57";
  EXPECT_THROW_MSG(build_model(arch), ConfigError, known);
  EXPECT_THROW_MSG(model_info("resnet57"), ConfigError, known);
}

TEST(Registry, BadArgumentsAreNamed) {
  EXPECT_THROW_MSG(default_arch("resnet20", 0, {3, 32, 32}), ConfigError,
                   "num_classes must be >= 1, got 0");
  EXPECT_THROW_MSG(default_arch("resnet20", 10, {32, 32}), ConfigError,
                   "input must be 3 positive sizes");
  EXPECT_THROW_MSG(default_arch("mobilenetv2", 10, {3, 32, 32}, 0.0), ConfigError,
                   "width_mult must be > 0");
}

TEST(Registry, WidthsThatDoNotFitAreAllNamed) {
  Arch arch = default_arch("resnet20");
  arch.widths.erase(arch.widths.begin() + 1);  // layer1.0.conv1
  arch.widths.emplace_back("layer4.0.conv1", 8);
  EXPECT_THROW_MSG(build_model(arch), ConfigError, "missing 'layer1.0.conv1'");
  EXPECT_THROW_MSG(build_model(arch), ConfigError, "unexpected 'layer4.0.conv1'");

  Arch b = default_arch("resnet20");
  b.shortcut = Shortcut::Projection;
  b.set_width("layer1.1.conv2", 8);
  EXPECT_THROW_MSG(build_model(b), ConfigError,
                   "block layer1.1 has an identity shortcut, so its output width (8) must equal "
                   "its input width (16)");

  Arch r18 = default_arch("resnet18");
  r18.set_width("layer2.1.conv2", 100);
  EXPECT_THROW_MSG(build_model(r18), ConfigError, "block layer2.1 has an identity shortcut");

  Arch mb = default_arch("mobilenetv2");
  mb.set_width("features.3.conv.2", 20);
  EXPECT_THROW_MSG(build_model(mb), ConfigError, "block features.3 has an identity shortcut");

  Arch pads = default_arch("resnet20");
  pads.pad_front = {{"layer2.0", 8}};
  EXPECT_THROW_MSG(build_model(pads), ConfigError,
                   "pad_front entry 'layer2.0' names no block with a subsample-and-pad");

  EXPECT_THROW_MSG(arch_of(nn::Sequential()), Error, "a Sequential is not a registry model");
}

TEST(MobileNetV2Layers, Relu6ClampsToZeroAndSix) {
  const Tensor x = Tensor::from_vector<float>({-1.0f, 0.0f, 0.5f, 6.0f, 7.0f, 13.0f}, {6});
  EXPECT_EQ(relu6(x).to_vector<float>(), (std::vector<float>{0, 0, 0.5f, 6, 6, 6}));
}

}  // namespace
}  // namespace shears::models
