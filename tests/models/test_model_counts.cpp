// Every registry model at its standard widths: parameter and multiply-add counts, shapes, arch
// and names against torchvision and the papers.

#include <gtest/gtest.h>

#include "tests/models/model_test_util.h"

namespace shears::models {
namespace {

using shears::testing::allclose;
using shears::testing::equal;
using namespace test_util;

class RegistryModel : public ::testing::TestWithParam<ModelCase> {};

TEST_P(RegistryModel, CountsShapeArchAndNames) {
  const ModelCase& c = GetParam();
  const ModelInfo& info = model_info(c.name);
  manual_seed(1);
  const Arch arch = default_arch(c.name);
  auto model = build_model(arch);
  EXPECT_EQ(arch_of(*model), arch);

  const std::int64_t params = count_params(*model);
  EXPECT_EQ(params, c.params);
  EXPECT_NEAR(static_cast<double>(params) / 1e6, c.params_published, 0.01 * c.params_published);

  // One traced batch-1 forward gives the multiply-adds and the output shape.
  model->eval();
  NoGrad no_grad;
  TraceScope trace;
  const Tensor y = model->forward(Tensor::zeros({1, info.input[0], info.input[1], info.input[2]}));
  EXPECT_EQ(y.shape(), (Shape{1, info.num_classes}));
  const std::int64_t macs = macs_of(trace);
  EXPECT_EQ(macs, c.macs);
  EXPECT_NEAR(static_cast<double>(macs) / 1e6, c.macs_published, 0.01 * c.macs_published);

  if (info.family == "resnet_imagenet" || info.family == "mobilenet_v2") {
    const auto reference = torchvision_state_dicts();
    ASSERT_TRUE(reference.count(c.name));
    const auto& entries = reference.at(c.name);
    std::set<std::pair<std::string, Shape>> ours, theirs(entries.begin(), entries.end());
    for (const auto& [key, t] : model->state_dict()) ours.emplace(key, t.shape());
    for (const auto& e : theirs) EXPECT_TRUE(ours.count(e)) << "missing " << e.first;
    for (const auto& e : ours) EXPECT_TRUE(theirs.count(e)) << "unexpected " << e.first;
    // Parameters come in torchvision's order (what optimiser state and exports follow).
    std::vector<std::string> our_params, their_params;
    for (const auto& [key, t] : model->named_parameters()) our_params.push_back(key);
    for (const auto& [key, shape] : entries) {
      const bool buffer = key.find("running_") != std::string::npos ||
                          key.find("num_batches_tracked") != std::string::npos;
      if (!buffer) their_params.push_back(key);
    }
    EXPECT_EQ(our_params, their_params);
  }
}

INSTANTIATE_TEST_SUITE_P(Standard, RegistryModel, ::testing::ValuesIn(model_cases()),
                         [](const ::testing::TestParamInfo<ModelCase>& info) {
                           return info.param.name;
                         });

TEST(ModelCounts, MobileNetV2WidthMultipliersMatchTorchvision) {
  // torchvision.models.mobilenet_v2(width_mult=m): 1,677,128 parameters and 59,285,808
  // multiply-adds at 224x224 for m = 0.35; 6,108,776 parameters for m = 1.4 (where the last
  // width grows to 1792).
  auto narrow = build_model(default_arch("mobilenetv2", 1000, {3, 224, 224}, 0.35));
  EXPECT_EQ(count_params(*narrow), 1677128);
  EXPECT_EQ(count_macs(*narrow, {3, 224, 224}), 59285808);
  const Arch wide = default_arch("mobilenetv2", 1000, {3, 224, 224}, 1.4);
  EXPECT_EQ(wide.width("features.18.0"), 1792);
  EXPECT_EQ(count_params(*build_model(wide)), 6108776);
}

TEST(ModelCounts, OptionBAddsTwoProjections) {
  Arch a = default_arch("resnet56");
  Arch b = a;
  b.shortcut = Shortcut::Projection;
  Arch c = a;
  c.shortcut = Shortcut::SubsamplePad;
  // conv1x1 16→32 and 32→64 plus their BN weight and bias.
  EXPECT_EQ(count_params(*build_model(b)),
            model_case("resnet56").params + 16 * 32 + 32 * 64 + 2 * (32 + 64));
  EXPECT_EQ(count_params(*build_model(c)), model_case("resnet56").params);
}

}  // namespace
}  // namespace shears::models
