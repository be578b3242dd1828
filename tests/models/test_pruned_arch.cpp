// Pruned architectures: other widths give other counts, build, run, describe and reload
// themselves.

#include <gtest/gtest.h>

#include "tests/models/model_test_util.h"

namespace shears::models {
namespace {

using shears::testing::allclose;
using shears::testing::equal;
using namespace test_util;

TEST(PrunedArch, L1Vgg16ConfigurationMatchesPublishedReductions) {
  // Li et al. 2017 VGG-16 (docs/methods.md §1): widths 32 64 M 128 128 M 256 256 256 M 256 256 256
  // M 256 256 256; published reductions 34.2 % FLOPs and 64.0 % parameters.
  const std::vector<std::int64_t> l1 = {32,  64,  128, 128, 256, 256, 256,
                                        256, 256, 256, 256, 256, 256};
  Arch pruned = default_arch("vgg16");
  std::size_t i = 0;
  for (auto& [key, n] : pruned.widths) {
    if (key.rfind("features.", 0) == 0) n = l1.at(i++);
  }
  ASSERT_EQ(i, l1.size());
  auto model = build_model(pruned);
  const ModelCase& dense = model_case("vgg16");
  const double flops_drop =
      1.0 - static_cast<double>(count_macs(*model, {3, 32, 32})) / static_cast<double>(dense.macs);
  const double params_drop =
      1.0 - static_cast<double>(count_params(*model)) / static_cast<double>(dense.params);
  EXPECT_NEAR(flops_drop, 0.342, 0.005);
  EXPECT_NEAR(params_drop, 0.640, 0.005);
}

TEST(PrunedArch, L1ResNet56BMatchesPublishedReductions) {
  // Li et al. 2017 ResNet-56-B: first convs of blocks pruned by 0.6 / 0.3 / 0.1 per stage (kept
  // int(C·(1-p))), skipping conv indices 16, 18, 20, 34, 38, 54 (stem = 1); published
  // 9.09e7 FLOPs (27.6 % less) and 7.3e5 parameters (13.7 % less).
  Arch arch = default_arch("resnet56");
  const std::set<int> skip = {16, 18, 20, 34, 38, 54};
  const double ratio[] = {0.6, 0.3, 0.1};
  const std::int64_t width[] = {16, 32, 64};
  for (int s = 0; s < 3; ++s) {
    for (int b = 0; b < 9; ++b) {
      const int conv_index = 2 + 18 * s + 2 * b;
      if (skip.count(conv_index)) continue;
      arch.set_width("layer" + std::to_string(s + 1) + "." + std::to_string(b) + ".conv1",
                     static_cast<std::int64_t>(static_cast<double>(width[s]) * (1.0 - ratio[s])));
    }
  }
  auto pruned = build_model(arch);
  const double macs = static_cast<double>(count_macs(*pruned, {3, 32, 32}));
  EXPECT_NEAR(macs / 1e7, 9.09, 0.1);
  EXPECT_NEAR(1.0 - macs / static_cast<double>(model_case("resnet56").macs), 0.276, 0.01);
  EXPECT_NEAR(static_cast<double>(count_params(*pruned)) / 1e5, 7.3, 0.1);
}

TEST(PrunedArch, SmallerWidthsBuildASmallerNetworkThatRuns) {
  for (const std::string& name : model_names()) {
    SCOPED_TRACE(name);
    const ModelInfo& info = model_info(name);
    // ImageNet families at a quarter width and 64x64 keep this quick; every network pools
    // globally.
    const bool imagenet = info.input[1] == 224;
    const Shape input = imagenet ? Shape{3, 64, 64} : info.input;
    const Arch dense = default_arch(name, info.num_classes, input, imagenet ? 0.25 : 1.0);
    Arch small = dense;
    // Halve every width the network lets vary freely: block mids, VGG convs, expansions.
    for (auto& [key, n] : small.widths) {
      bool free = false;
      if (info.family == "vgg_cifar") {
        free = key.rfind("features.", 0) == 0;
      } else if (info.family == "mobilenet_v2") {
        free = key.find(".conv.0.0") != std::string::npos;
      } else if (info.family == "googlenet") {
        free = key.find("branch") != std::string::npos;
      } else if (info.family == "densenet_cifar") {
        free = key.rfind("dense", 0) == 0;
      } else {
        free = key.find(".conv1") != std::string::npos;
      }
      if (free) n = (n + 1) / 2;
    }
    ASSERT_NE(small, dense);
    auto ms = build_model(small);
    const std::int64_t dense_params =
        imagenet ? count_params(*build_model(dense)) : model_case(name).params;
    EXPECT_LT(count_params(*ms), dense_params);
    EXPECT_EQ(arch_of(*ms), small);
    ms->train();
    const Tensor y = ms->forward(randn({2, input[0], input[1], input[2]}, default_generator()));
    EXPECT_EQ(y.shape(), (Shape{2, info.num_classes}));
  }
}

TEST(PrunedArch, ResidualStreamWidthsAreFreeInOptionA) {
  // Extended mode prunes residual groups: a stage's blocks may end narrower or wider than they
  // start, and the option-A shortcut pads or drops channels to match.
  for (Shortcut sc : {Shortcut::AvgPoolZeros, Shortcut::SubsamplePad}) {
    SCOPED_TRACE(shortcut_name(sc));
    Arch arch = default_arch("resnet20");
    arch.shortcut = sc;
    arch.set_width("conv1", 12);
    arch.set_width("layer1.0.conv2", 10);  // 12 → 10: truncated identity
    arch.set_width("layer1.1.conv2", 14);  // 10 → 14: padded identity
    arch.set_width("layer2.0.conv2", 20);  // 16 → 20 with stride 2
    auto model = build_model(arch);
    model->eval();
    NoGrad no_grad;
    EXPECT_EQ(model->forward(randn({2, 3, 32, 32}, default_generator())).shape(), (Shape{2, 10}));
    EXPECT_EQ(arch_of(*model), arch);
  }
}

TEST(PrunedArch, SurgeryResultDescribesAndReloadsItself) {
  manual_seed(3);
  auto model = build_model(default_arch("resnet20"));
  model->eval();
  // Keep 10 of layer1.0.conv1's 16 filters, as surgery would: conv out, BN, next conv in.
  const std::vector<std::int64_t> keep = {0, 2, 3, 5, 7, 8, 9, 11, 12, 15};
  {
    NoGrad no_grad;
    for (const char* name : {"layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias",
                             "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var"}) {
      Tensor& t = model->tensor_at(name);
      t = channel_gather(t, 0, keep);
    }
    Tensor& w2 = model->tensor_at("layer1.0.conv2.weight");
    w2 = channel_gather(w2, 1, keep);
  }
  const Arch arch = arch_of(*model);
  EXPECT_EQ(arch.width("layer1.0.conv1"), 10);
  EXPECT_EQ(arch.width("layer1.0.conv2"), 16);

  const Arch reloaded_arch = arch_from_json(arch_to_json(arch));
  auto reloaded = build_model(reloaded_arch);
  reloaded->load_state_dict(model->state_dict());
  reloaded->eval();
  NoGrad no_grad;
  const Tensor x = randn({2, 3, 32, 32}, default_generator());
  EXPECT_TRUE(equal(reloaded->forward(x), model->forward(x)));
}

TEST(PrunedArch, GradientsReachEveryParameter) {
  // One training step's backward through each shortcut kind, the VGG classifier and
  // MobileNetV2's composite ReLU6: every parameter receives a finite gradient.
  std::vector<Arch> archs;
  for (Shortcut sc : {Shortcut::AvgPoolZeros, Shortcut::SubsamplePad, Shortcut::Projection}) {
    Arch a = default_arch("resnet20", 10, {3, 16, 16}, 0.5);
    a.shortcut = sc;
    archs.push_back(a);
  }
  archs.push_back(default_arch("vgg16", 10, {3, 32, 32}, 0.125));
  archs.push_back(default_arch("mobilenetv2", 10, {3, 32, 32}, 0.35));
  for (const Arch& arch : archs) {
    SCOPED_TRACE(arch.name + " " + shortcut_name(arch.shortcut));
    manual_seed(5);
    auto model = build_model(arch);
    model->train();
    const Tensor y =
        model->forward(randn({2, 3, arch.input[1], arch.input[2]}, default_generator()));
    sum(mul(y, y)).backward();
    for (const auto& [name, p] : model->named_parameters()) {
      SCOPED_TRACE(name);
      ASSERT_TRUE(p.grad().defined());
      for (float g : p.grad().to_vector<float>()) ASSERT_TRUE(std::isfinite(g));
    }
  }
}

}  // namespace
}  // namespace shears::models
