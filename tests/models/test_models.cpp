#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/trace.h"
#include "engine/io/safetensors.h"
#include "engine/ops/channel.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/rng.h"
#include "models/arch.h"
#include "models/mobilenet_v2.h"
#include "models/model.h"
#include "models/registry.h"
#include "models/resnet_cifar.h"
#include "models/torch_import.h"
#include "tests/support/allclose.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"

namespace shears::models {

// gtest prints an Arch as its JSON.
void PrintTo(const Arch& arch, std::ostream* out) { *out << arch_to_json(arch); }

namespace {

using shears::testing::allclose;
using shears::testing::equal;

const std::string kFixtures = std::string(SHEARS_SOURCE_DIR) + "/tests/models/fixtures/";

std::int64_t count_params(const nn::Module& model) {
  std::int64_t n = 0;
  for (const auto& [name, t] : model.named_parameters()) n += t.numel();
  return n;
}

// Multiply-adds of the conv2d (N·Ho·Wo·Cout·Cin/groups·Kh·Kw) and linear (N·in·out) ops of a
// trace.
std::int64_t macs_of(const TraceScope& trace) {
  std::int64_t macs = 0;
  for (const OpRecord& r : trace.records()) {
    if (r.name == "conv2d") {
      const Tensor& w = r.inputs.at(1);
      macs += r.output.numel() * w.size(1) * w.size(2) * w.size(3);
    } else if (r.name == "linear") {
      macs += r.output.numel() * r.inputs.at(1).size(1);
    }
  }
  return macs;
}

// Multiply-adds per image, from a traced batch-1 forward in eval mode.
std::int64_t count_macs(nn::Module& model, const Shape& input) {
  model.eval();
  NoGrad no_grad;
  Shape shape = input;
  shape.insert(shape.begin(), 1);
  TraceScope trace;
  model.forward(Tensor::zeros(shape));
  return macs_of(trace);
}

std::vector<std::string> op_names(nn::Module& model, const Shape& input) {
  NoGrad no_grad;
  Shape shape = input;
  shape.insert(shape.begin(), 1);
  TraceScope trace;
  model.forward(Tensor::zeros(shape));
  std::vector<std::string> names;
  for (const OpRecord& r : trace.records()) names.push_back(r.name);
  return names;
}

std::int64_t count_of(const std::vector<std::string>& names, const std::string& name) {
  std::int64_t n = 0;
  for (const auto& s : names) n += s == name;
  return n;
}

// torchvision's state dicts (tests/models/fixtures/make_torchvision_names.py).
std::map<std::string, std::vector<std::pair<std::string, Shape>>> torchvision_state_dicts() {
  std::ifstream in(kFixtures + "torchvision_state_dicts.txt");
  EXPECT_TRUE(in.good()) << "cannot read " << kFixtures << "torchvision_state_dicts.txt";
  std::map<std::string, std::vector<std::pair<std::string, Shape>>> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string model, name;
    words >> model >> name;
    Shape shape;
    for (std::int64_t d; words >> d;) shape.push_back(d);
    out[model].emplace_back(name, shape);
  }
  return out;
}

// ---- every registry model at its standard widths ------------------------------------------------

struct ModelCase {
  std::string name;
  std::int64_t params;      // exact count
  std::int64_t macs;        // exact multiply-adds per image at the default input
  double params_published;  // the rounded figures the literature gives (millions)
  double macs_published;
};

// Exact ImageNet figures are torchvision's (parameters, and conv + linear multiply-adds counted
// with forward hooks). CIFAR parameters follow He et al. 2016 Table 6 (0.27 M, 0.46 M, 0.66 M,
// 0.85 M, 1.7 M); the rounded multiply-add figures are the and methods.md's, and the
// exact CIFAR counts (those of ResNet-32/44 and VGG-19 too) are sums over the layer shapes.
const std::vector<ModelCase>& model_cases() {
  static const std::vector<ModelCase> cases = {
      {"resnet20", 269722, 40551040, 0.27, 40.6},
      {"resnet32", 464154, 68862592, 0.46, 68.9},
      {"resnet44", 658586, 97174144, 0.66, 97.2},
      {"resnet56", 853018, 125485696, 0.85, 125.5},
      {"resnet110", 1727962, 252887680, 1.73, 252.9},
      {"vgg16", 14987722, 313463808, 15.0, 313.5},
      {"vgg19", 20298698, 398398464, 20.30, 398.4},
      {"resnet18", 11689512, 1814073344, 11.69, 1820.0},
      {"resnet34", 21797672, 3663761408, 21.80, 3670.0},
      {"resnet50", 25557032, 4089184256, 25.56, 4110.0},
      {"mobilenetv2", 3504872, 300774272, 3.50, 300.0},
      // The CIFAR GoogLeNet of FilterSketch/ABCPruner/GAL: 6.15 M parameters (6.17 M with BN,
      // which the papers' 6.15 M leaves partly out) and 1.52 G multiply-adds.
      {"googlenet", 6166250, 1521756160, 6.15, 1520.0},
      // DenseNet-40 (growth 12) of GAL/ABCPruner: the papers' 1.04 M parameters leave out the
      // BN parameters (18,720 here); 282 M multiply-adds.
      {"densenet40", 1059298, 282917328, 1.06, 282.0},
  };
  return cases;
}

void PrintTo(const ModelCase& c, std::ostream* out) { *out << c.name; }

const ModelCase& model_case(const std::string& name) {
  for (const ModelCase& c : model_cases()) {
    if (c.name == name) return c;
  }
  throw Error("no test case for " + name);
}

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

// ---- pruned architectures are other counts
// -------------------------------------------------------

TEST(PrunedArch, L1Vgg16ConfigurationMatchesPublishedReductions) {
  // Li et al. 2017 VGG-16 (methods.md §1): widths 32 64 M 128 128 M 256 256 256 M 256 256 256 M
  // 256 256 256; published reductions 34.2 % FLOPs and 64.0 % parameters.
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

// ---- names and inputs ---------------------------------------------------------------------------

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

// ---- the option-A shortcut ----------------------------------------------------------------------

// x (1, 2, 4, 4) holding 0..31.
Tensor iota_input() {
  std::vector<float> v(32);
  for (int i = 0; i < 32; ++i) v[static_cast<std::size_t>(i)] = static_cast<float>(i);
  return Tensor::from_vector(v, {1, 2, 4, 4});
}

// Channel c of (1, C, 2, 2) as four values; pixels (0,0) (0,2) (2,0) (2,2) of the input.
std::vector<float> channel(const Tensor& y, std::int64_t c) {
  const auto v = y.to_vector<float>();
  return {v.begin() + 4 * c, v.begin() + 4 * (c + 1)};
}

TEST(OptionAShortcut, AvgPoolVariantAppendsZeroChannels) {
  const Tensor y = zero_pad_shortcut(iota_input(), 4, 2, Shortcut::AvgPoolZeros);
  ASSERT_EQ(y.shape(), (Shape{1, 4, 2, 2}));
  EXPECT_EQ(channel(y, 0), (std::vector<float>{0, 2, 8, 10}));
  EXPECT_EQ(channel(y, 1), (std::vector<float>{16, 18, 24, 26}));
  EXPECT_EQ(channel(y, 2), (std::vector<float>{0, 0, 0, 0}));
  EXPECT_EQ(channel(y, 3), (std::vector<float>{0, 0, 0, 0}));
}

// Rethinking's variant: the mean of each 2x2 patch, then zero channels appended.
TEST(OptionAShortcut, AvgPool2VariantAveragesPatches) {
  const Tensor y = zero_pad_shortcut(iota_input(), 4, 2, Shortcut::AvgPool2Zeros);
  ASSERT_EQ(y.shape(), (Shape{1, 4, 2, 2}));
  EXPECT_EQ(channel(y, 0), (std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f}));
  EXPECT_EQ(channel(y, 1), (std::vector<float>{18.5f, 20.5f, 26.5f, 28.5f}));
  EXPECT_EQ(channel(y, 3), (std::vector<float>{0, 0, 0, 0}));
  EXPECT_EQ(parse_shortcut("a-avgpool2"), Shortcut::AvgPool2Zeros);
  EXPECT_EQ(shortcut_name(Shortcut::AvgPool2Zeros), "a-avgpool2");
}

TEST(OptionAShortcut, SubsampleVariantPadsBothSides) {
  const Tensor y = zero_pad_shortcut(iota_input(), 4, 2, Shortcut::SubsamplePad);
  ASSERT_EQ(y.shape(), (Shape{1, 4, 2, 2}));
  EXPECT_EQ(channel(y, 0), (std::vector<float>{0, 0, 0, 0}));
  EXPECT_EQ(channel(y, 1), (std::vector<float>{0, 2, 8, 10}));
  EXPECT_EQ(channel(y, 2), (std::vector<float>{16, 18, 24, 26}));
  EXPECT_EQ(channel(y, 3), (std::vector<float>{0, 0, 0, 0}));
  // Odd padding puts the extra channel after the input; pad_front overrides the split.
  const Tensor odd = zero_pad_shortcut(iota_input(), 5, 2, Shortcut::SubsamplePad);
  EXPECT_EQ(channel(odd, 1), (std::vector<float>{0, 2, 8, 10}));
  EXPECT_EQ(channel(odd, 4), (std::vector<float>{0, 0, 0, 0}));
  const Tensor front0 = zero_pad_shortcut(iota_input(), 5, 2, Shortcut::SubsamplePad, 0);
  EXPECT_EQ(channel(front0, 0), (std::vector<float>{0, 2, 8, 10}));
  EXPECT_THROW_MSG(zero_pad_shortcut(iota_input(), 5, 2, Shortcut::SubsamplePad, 4), ShapeError,
                   "pad_front 4 is outside [0, 3]");
}

TEST(OptionAShortcut, NarrowerOutputKeepsLeadingChannels) {
  const Tensor y = zero_pad_shortcut(iota_input(), 1, 1, Shortcut::AvgPoolZeros);
  ASSERT_EQ(y.shape(), (Shape{1, 1, 4, 4}));
  const auto v = y.to_vector<float>();
  EXPECT_EQ(v.front(), 0.0f);
  EXPECT_EQ(v.back(), 15.0f);
  EXPECT_THROW_MSG(zero_pad_shortcut(iota_input(), 4, 2, Shortcut::Projection), ShapeError,
                   "no zero-pad shortcut");
}

TEST(OptionAShortcut, TraceShowsEachVariantsOps) {
  Arch arch = default_arch("resnet20");
  auto a = build_model(arch);
  arch.shortcut = Shortcut::SubsamplePad;
  auto b = build_model(arch);
  arch.shortcut = Shortcut::Projection;
  auto proj = build_model(arch);
  const auto ops_a = op_names(*a, {3, 32, 32});
  const auto ops_b = op_names(*b, {3, 32, 32});
  const auto ops_p = op_names(*proj, {3, 32, 32});
  // Nine residual adds in each; two padded shortcuts in option A, two projections in option B.
  for (const auto* ops : {&ops_a, &ops_b, &ops_p}) EXPECT_EQ(count_of(*ops, "add"), 9);
  EXPECT_EQ(count_of(ops_a, "avg_pool2d"), 2);
  EXPECT_EQ(count_of(ops_a, "concat"), 2);
  EXPECT_EQ(count_of(ops_b, "index_select"), 4);
  EXPECT_EQ(count_of(ops_b, "concat"), 2);
  EXPECT_EQ(count_of(ops_p, "concat"), 0);
  EXPECT_EQ(count_of(ops_p, "conv2d"), 19 + 2);
}

TEST(OptionAShortcut, PaddedChannelsOfABlockCarryOnlyTheResidualBranch) {
  // With zero residual-branch output (BN weight and bias 0), a width-doubling block returns
  // relu(shortcut): the subsampled input in the first half (variant a), zeros in the rest.
  CifarBasicBlock block(2, 3, 4, 2, Shortcut::AvgPoolZeros, false);
  block.bn2->weight.fill_(0.0);
  block.bn2->bias.fill_(0.0);
  block.eval();
  NoGrad no_grad;
  const Tensor y = block.forward(iota_input());
  EXPECT_TRUE(equal(y, zero_pad_shortcut(iota_input(), 4, 2, Shortcut::AvgPoolZeros)));
}

// ---- Arch ---------------------------------------------------------------------------------------

TEST(ArchJson, RoundTripsEveryDefaultAndAPrunedVariant) {
  for (const std::string& name : model_names()) {
    SCOPED_TRACE(name);
    const Arch arch = default_arch(name);
    EXPECT_EQ(arch_from_json(arch_to_json(arch)), arch);
  }
  Arch pruned = default_arch("resnet56", 100, {3, 32, 32}, 0.5);
  pruned.shortcut = Shortcut::SubsamplePad;
  pruned.set_width("layer2.0.conv1", 3);
  pruned.set_width("layer3.0.conv2", 40);
  pruned.pad_front = {{"layer3.0", 5}};
  const std::string json = arch_to_json(pruned);
  EXPECT_NE(json.find("\"shortcut\":\"a-subsample\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"pad_front\":{\"layer3.0\":5}"), std::string::npos) << json;
  EXPECT_EQ(arch_from_json(json), pruned);
  EXPECT_EQ(arch_of(*build_model(pruned)), pruned);
}

TEST(ArchJson, WidthsKeepNetworkOrder) {
  const std::string json = arch_to_json(default_arch("resnet20"));
  EXPECT_LT(json.find("\"layer1.2.conv2\""), json.find("\"layer2.0.conv1\"")) << json;
  EXPECT_LT(json.find("\"layer3.2.conv2\""), json.find("\"layer10")) << json;
}

TEST(ArchJson, BadTextNamesTheField) {
  const std::string good = arch_to_json(default_arch("resnet20"));
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  EXPECT_THROW_MSG(arch_from_json("{not json"), CheckpointError, "does not parse");
  EXPECT_THROW_MSG(arch_from_json("[1, 2]"), CheckpointError, "must be an object");
  EXPECT_THROW_MSG(arch_from_json(with("\"name\":", "\"nom\":")), CheckpointError,
                   "field 'nom' is not an architecture field");
  EXPECT_THROW_MSG(arch_from_json(with("\"num_classes\":10,", "")), CheckpointError,
                   "field 'num_classes' is missing");
  EXPECT_THROW_MSG(arch_from_json(with("\"conv1\":16", "\"conv1\":0")), CheckpointError,
                   "field 'widths.conv1' must be >= 1");
  EXPECT_THROW_MSG(arch_from_json(with("\"conv1\":16", "\"conv1\":\"16\"")), CheckpointError,
                   "field 'widths.conv1' must be an integer");
  EXPECT_THROW_MSG(arch_from_json(with("a-avgpool", "c")), CheckpointError,
                   "unknown shortcut 'c'; known: a-avgpool, a-subsample, b-conv");
  EXPECT_THROW_MSG(arch_from_json(with("[3,32,32]", "[3,32]")), CheckpointError,
                   "field 'input' must be [C, H, W]");
}

TEST(ArchWidths, AccessorsNameTheLayer) {
  Arch arch = default_arch("resnet20");
  EXPECT_EQ(arch.width("layer3.2.conv2"), 64);
  EXPECT_TRUE(arch.has_width("conv1"));
  EXPECT_FALSE(arch.has_width("fc"));
  EXPECT_THROW_MSG(arch.width("fc"), ConfigError,
                   "architecture 'resnet20' has no width entry 'fc'");
  EXPECT_THROW_MSG(arch.set_width("conv1", 0), ConfigError, "must be >= 1, got 0");
  EXPECT_EQ(parse_shortcut("b-conv"), Shortcut::Projection);
  EXPECT_EQ(shortcut_name(Shortcut::SubsamplePad), "a-subsample");
}

// ---- registry -----------------------------------------------------------------------------------

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

// ---- weights from PyTorch -----------------------------------------------------------------------

TensorList with_prefix_removed(const TensorList& all, const std::string& prefix) {
  TensorList out;
  for (const auto& [name, t] : all) {
    if (name.rfind(prefix, 0) == 0) out.emplace_back(name.substr(prefix.size()), t);
  }
  return out;
}

const Tensor& find(const TensorList& list, const std::string& name) {
  for (const auto& [key, t] : list) {
    if (key == name) return t;
  }
  throw Error("fixture lacks '" + name + "'");
}

TEST(PyTorchFixture, ResNet20LogitsMatchPyTorch) {
  // tests/models/fixtures/make_resnet20_fixture.py: three ResNet-20s written in PyTorch with
  // random weights and statistics; option A (a) with pruned-like uneven widths, option A (b),
  // option B.
  const SafetensorsContents fx = load_safetensors(kFixtures + "resnet20_fixture.safetensors");
  const Tensor& x = find(fx.tensors, "input");
  for (const char* tag : {"a", "b", "B"}) {
    SCOPED_TRACE(tag);
    const std::string prefix = std::string(tag) + "/";
    const Arch arch = arch_from_json(fx.metadata.at(prefix + "arch"));
    auto model = build_model(arch);
    TensorList state = with_prefix_removed(fx.tensors, prefix);
    const Tensor expected = find(state, "logits");
    TensorList weights;
    for (const auto& entry : state) {
      if (entry.first.rfind("logits", 0) != 0) weights.push_back(entry);
    }
    model->load_state_dict(weights);
    model->eval();
    {
      NoGrad no_grad;
      EXPECT_TRUE(allclose(model->forward(x), expected, 1e-4, 1e-4));
    }
    if (std::string(tag) == "a") {
      model->train();
      EXPECT_TRUE(allclose(model->forward(x), find(state, "logits_train"), 1e-4, 1e-4));
    }
  }
}

TEST(TorchImport, LoadsATorchvisionStateDictFile) {
  shears::testing::TempDir dir;
  const Arch arch = default_arch("resnet18", 1000, {3, 224, 224}, 0.25);
  manual_seed(11);
  auto source = build_model(arch);
  // DataParallel's "module." prefix is stripped; names are otherwise torchvision's.
  TensorList state;
  for (const auto& [name, t] : source->state_dict()) state.emplace_back("module." + name, t);
  save_safetensors(dir.file("r18.safetensors"), state);

  manual_seed(12);
  auto target = build_model(arch);
  load_torchvision(*target, dir.file("r18.safetensors"));
  for (const auto& [name, t] : source->state_dict()) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(equal(target->tensor_at(name), t));
  }
}

TEST(TorchImport, EveryMismatchIsNamedInOneError) {
  const Arch arch = default_arch("mobilenetv2", 1000, {3, 224, 224}, 0.35);
  auto model = build_model(arch);
  TensorList state;
  for (const auto& [name, t] : model->state_dict()) {
    if (name == "features.3.conv.1.0.weight" || name == "features.7.conv.3.running_var") continue;
    if (name == "classifier.1.weight") {
      state.emplace_back(name, Tensor::zeros({10, t.size(1)}));
      continue;
    }
    state.emplace_back(name, t);
  }
  state.emplace_back("classifier.2.weight", Tensor::zeros({3}));
  const Tensor before = model->tensor_at("features.0.0.weight").clone();
  const std::string source = "weights.safetensors";
  auto load = [&] { load_torchvision_state(*model, state, source); };
  EXPECT_THROW_MSG(load(), CheckpointError, "weights.safetensors: torchvision state dict");
  EXPECT_THROW_MSG(load(), CheckpointError, "(4 problems)");
  EXPECT_THROW_MSG(load(), CheckpointError, "missing 'features.3.conv.1.0.weight' [");
  EXPECT_THROW_MSG(load(), CheckpointError, "missing 'features.7.conv.3.running_var'");
  EXPECT_THROW_MSG(load(), CheckpointError,
                   "'classifier.1.weight' has shape [10, 1280], the model's "
                   "'classifier.1.weight' has [1000, 1280]");
  EXPECT_THROW_MSG(load(), CheckpointError, "unexpected 'classifier.2.weight' [3]");
  EXPECT_TRUE(equal(model->tensor_at("features.0.0.weight"), before));
}

TEST(TorchImport, OldCheckpointsWithoutBatchCountersLoad) {
  const Arch arch = default_arch("resnet18", 1000, {3, 224, 224}, 0.25);
  auto model = build_model(arch);
  TensorList state;
  for (const auto& [name, t] : model->state_dict()) {
    if (name.find("num_batches_tracked") == std::string::npos) state.emplace_back(name, t);
  }
  model->tensor_at("bn1.num_batches_tracked").fill_(5);
  load_torchvision_state(*model, state, "old.pth");
  EXPECT_EQ(model->tensor_at("bn1.num_batches_tracked").item(), 0.0);
}

TEST(TorchImport, UnreadableFileIsNamed) {
  auto model = build_model(default_arch("resnet18", 1000, {3, 224, 224}, 0.25));
  EXPECT_THROW_MSG(load_torchvision(*model, "/nonexistent/r18.safetensors"), Error,
                   "/nonexistent/r18.safetensors");
}

}  // namespace
}  // namespace shears::models
