// SFP/FPGM export: the physically smaller network computes what the masked network the method
// trained computes. Each method masks with its own rules (only conv filters zeroed, BN left as
// trained), so every removed channel still carried a BN constant into its consumers; the export
// must fold it. Checked per method and model family on real CIFAR-10 images.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "data/cifar.h"
#include "engine/autograd/grad_mode.h"
#include "engine/config/config.h"
#include "engine/nn/conv2d.h"
#include "engine/rng.h"
#include "models/model.h"
#include "models/registry.h"
#include "pruning/dependency.h"
#include "pruning/mask.h"
#include "pruning/methods/method.h"
#include "pruning/surgery.h"
#include "tests/support/allclose.h"
#include "tests/support/real_data.h"

namespace shears::testing {
namespace {

/// The first `n` CIFAR-10 test images as (n, 3, 32, 32), scaled to about [-2, 2]; undefined when
/// the shared data is absent.
Tensor real_images(std::int64_t n) {
  data::CifarOptions o;
  o.root = testing::cifar10_batch_dir();
  o.files = {"test_batch.bin"};
  o.split = data::Split::Test;
  if (!std::filesystem::exists(o.root + "/test_batch.bin")) return {};
  data::CifarDataset ds(o);
  std::vector<float> v(static_cast<std::size_t>(n * 3 * 32 * 32));
  for (std::int64_t i = 0; i < n; ++i) {
    data::Sample s = ds.get(i);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x)
          v[static_cast<std::size_t>(((i * 3 + c) * 32 + y) * 32 + x)] =
              (static_cast<float>(s.image.at(y, x, c)) / 255.0f - 0.5f) / 0.25f;
  }
  return Tensor::from_vector(v, {n, 3, 32, 32});
}

/// Trained-looking BN: running statistics and affine parameters away from their initial values,
/// so a masked channel's constant relu(beta - gamma * mu / sqrt(var + eps)) is mostly non-zero.
void randomise_bn(nn::Module& model, Generator& gen) {
  NoGrad no_grad;
  for (auto& [name, t] : model.state_dict()) {
    if (name.find("running_var") != std::string::npos) {
      t.copy_(rand_uniform(t.shape(), 0.5, 1.5, gen));
    } else if (name.find("running_mean") != std::string::npos) {
      t.copy_(rand_uniform(t.shape(), -0.3, 0.3, gen));
    } else if (t.dim() == 1 && t.dtype() == DType::F32 && name.find("fc") == std::string::npos &&
               name.find("classifier.3") == std::string::npos) {
      t.copy_(rand_uniform(t.shape(), 0.2, 1.0, gen));
    }
  }
}

struct Exported {
  Tensor masked, exported, naive;
  nlohmann::json report;
  models::Arch arch;
};

/// Runs `method_yaml` (no training: the method's own initial masks) on `arch` and returns the
/// logits of the masked network, of its export and of a plain removal without folding.
Exported run_export(models::Arch arch, const std::string& method_yaml, const Tensor& x) {
  manual_seed(11);
  std::shared_ptr<nn::Module> model = models::build_model(arch);
  Generator gen(12);
  randomise_bn(*model, gen);
  model->eval();
  pruning::PruneContext ctx;
  ctx.model = model;
  ctx.input = arch.input;
  ctx.recipe.epochs = 0;
  Config c = Config::parse(method_yaml, "test.yaml");
  std::unique_ptr<pruning::Method> method = pruning::make_method(c);
  c.check_all_read();
  pruning::PruneResult r = method->run(ctx);
  Exported out;
  out.report = nlohmann::json::parse(r.report_json);
  out.arch = r.arch;
  NoGrad no_grad;
  r.model->eval();
  EXPECT_EQ(r.trained, model);
  out.masked = model->forward(x);
  out.exported = r.model->forward(x);
  // The same export without its folded constants: what a plain channel removal computes.
  models::Arch plain = r.arch;
  plain.constant_inputs.clear();
  std::shared_ptr<nn::Module> naive = models::build_model(plain);
  TensorList state;
  for (auto& [name, t] : r.model->state_dict())
    if (name.find("constant_kernel") == std::string::npos) state.emplace_back(name, t);
  naive->load_state_dict(state);
  naive->eval();
  out.naive = naive->forward(x);
  return out;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> va = a.to_vector<float>(), vb = b.to_vector<float>();
  double m = 0;
  for (std::size_t i = 0; i < va.size(); ++i)
    m = std::max(m, std::fabs(static_cast<double>(va[i]) - vb[i]));
  return m;
}

struct Case {
  std::string name;
  std::string model;
  std::string shortcut;  // CIFAR ResNets only
  std::string method;
};

class SoftExport : public ::testing::TestWithParam<Case> {};

TEST_P(SoftExport, ExportComputesTheMaskedNetwork) {
  Tensor x = real_images(4);
  if (!x.defined()) GTEST_SKIP() << "real CIFAR-10 not found in ../shared/data";
  const Case& c = GetParam();
  models::Arch arch = models::default_arch(c.model, 10, {3, 32, 32});
  if (!c.shortcut.empty()) arch.shortcut = models::parse_shortcut(c.shortcut);
  Exported e = run_export(arch, c.method, x);
  // Channels were removed and constants folded, none left behind.
  EXPECT_GT(e.report["groups_pruned"].get<int>(), 0) << e.report.dump();
  EXPECT_FALSE(e.report["constants_folded_into"].empty()) << e.report.dump();
  EXPECT_EQ(e.report["channels_kept_not_constant"].get<int>(), 0) << e.report.dump();
  EXPECT_FALSE(e.arch.constant_inputs.empty() && c.model.rfind("vgg", 0) != 0);
  EXPECT_TRUE(allclose(e.exported, e.masked, 1e-5, 1e-5)) << c.name;
  // Without the folded constants the logits are far off: the constants matter.
  EXPECT_GT(max_abs_diff(e.naive, e.masked), 1e-2) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Families, SoftExport,
    ::testing::Values(
        Case{"SfpResNet20AvgPool", "resnet20", "a-avgpool", "method: sfp\nrate: 0.4\n"},
        Case{"FpgmResNet20AvgPool", "resnet20", "a-avgpool",
             "method: fpgm\ndist_rate: 0.3\nnorm_rate: 0.1\n"},
        Case{"SfpResNet20Subsample", "resnet20", "a-subsample", "method: sfp\nrate: 0.3\n"},
        Case{"FpgmResNet20Projection", "resnet20", "b-conv", "method: fpgm\ndist_rate: 0.4\n"},
        Case{"FpgmResNet20Groups", "resnet20", "a-avgpool",
             "method: fpgm\ndist_rate: 0.3\nresidual: group\n"},
        Case{"SfpResNet20SubsampleGroups", "resnet20", "a-subsample",
             "method: sfp\nrate: 0.3\nresidual: group\n"},
        Case{"SfpVgg16", "vgg16", "", "method: sfp\nrate: 0.3\n"},
        Case{"FpgmVgg16", "vgg16", "", "method: fpgm\ndist_rate: 0.2\ngrad_mask: false\n"},
        Case{"FpgmResNet50", "resnet50", "", "method: fpgm\ndist_rate: 0.3\n"},
        Case{"SfpMobileNetV2", "mobilenetv2", "", "method: sfp\nrate: 0.3\n"}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// The folded kernel is the exact border-aware term: a constant channel feeding a padded 3x3 conv
// contributes less at the border than inside, which a bias alone cannot express.
TEST(ConstantKernel, MatchesAConstantInputChannel) {
  manual_seed(5);
  nn::Conv2dOptions o;
  o.in_channels = 3;
  o.out_channels = 4;
  o.kernel = 3;
  o.padding = 1;
  o.stride = 2;
  o.bias = false;
  nn::Conv2d full(o);
  o.in_channels = 2;
  nn::Conv2d reduced(o);
  NoGrad no_grad;
  Generator gen(6);
  Tensor x = rand_uniform({2, 3, 9, 9}, -1, 1, gen);
  std::vector<float> xv = x.to_vector<float>();
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t i = 0; i < 81; ++i) xv[static_cast<std::size_t>((n * 3 + 1) * 81 + i)] = 0.7f;
  x = Tensor::from_vector(xv, x.shape());
  // reduced: channels 0 and 2 of full; constant channel 1 folded.
  std::vector<float> w = full.weight.to_vector<float>(), wr, k;
  for (std::int64_t oc = 0; oc < 4; ++oc) {
    for (std::int64_t ic : {0, 2})
      for (std::int64_t j = 0; j < 9; ++j)
        wr.push_back(w[static_cast<std::size_t>((oc * 3 + ic) * 9 + j)]);
    for (std::int64_t j = 0; j < 9; ++j)
      k.push_back(0.7f * w[static_cast<std::size_t>((oc * 3 + 1) * 9 + j)]);
  }
  reduced.weight.copy_(Tensor::from_vector(wr, reduced.weight.shape()));
  reduced.set_constant_kernel(Tensor::from_vector(k, {4, 1, 3, 3}));
  std::vector<float> xr;
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t ic : {0, 2})
      for (std::int64_t i = 0; i < 81; ++i)
        xr.push_back(xv[static_cast<std::size_t>((n * 3 + ic) * 81 + i)]);
  Tensor expected = full.forward(x);
  Tensor got = reduced.forward(Tensor::from_vector(xr, {2, 2, 9, 9}));
  EXPECT_TRUE(allclose(got, expected, 1e-6, 1e-5));
  EXPECT_THROW(reduced.set_constant_kernel(Tensor::zeros({4, 2, 3, 3})), ShapeError);
}

// A pruned network with folded constants reloads from its Arch alone (checkpoint metadata).
TEST(ConstantKernel, ArchRecordsAndRebuildsIt) {
  models::Arch arch = models::default_arch("resnet20", 10, {3, 32, 32});
  arch.constant_inputs = {"layer1.0.conv2", "layer2.1.conv2"};
  std::shared_ptr<nn::Module> m = models::build_model(arch);
  EXPECT_EQ(models::arch_to_json(models::arch_of(*m)), models::arch_to_json(arch));
  EXPECT_EQ(models::arch_from_json(models::arch_to_json(arch)), arch);
  arch.constant_inputs = {"layer1.0.bn1"};
  EXPECT_THROW(models::build_model(arch), ConfigError);
}

}  // namespace
}  // namespace shears::testing
