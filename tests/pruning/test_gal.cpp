// GAL's pieces: soft masks placed on named layers without editing the network, masks folded and
// zeroed structures removed at export (the export computes what the masked network computes),
// the alternation of discriminator and student steps, and bit-identical resume.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "engine/autograd/grad_mode.h"
#include "engine/config/config.h"
#include "engine/io/safetensors.h"
#include "engine/nn/batch_norm2d.h"
#include "engine/nn/conv2d.h"
#include "engine/nn/linear.h"
#include "engine/ops.h"
#include "engine/optim/lr_schedule.h"
#include "engine/rng.h"
#include "engine/train/trainer.h"
#include "models/model.h"
#include "models/registry.h"
#include "models/resnet_cifar.h"
#include "pruning/cost_model.h"
#include "pruning/dependency.h"
#include "pruning/methods/gal.h"
#include "pruning/soft_masks.h"
#include "pruning/surgery.h"
#include "tests/support/allclose.h"
#include "tests/support/expect_error.h"
#include "tests/support/memory_source.h"
#include "tests/support/temp_dir.h"

namespace shears::testing {
namespace {

using pruning::MaskSite;
using pruning::SoftMasks;

void randomise_bn(nn::Module& model, Generator& gen) {
  NoGrad no_grad;
  for (auto& [name, t] : model.state_dict()) {
    if (name.find("running_var") != std::string::npos) {
      t.copy_(rand_uniform(t.shape(), 0.5, 1.5, gen));
    } else if (name.find("running_mean") != std::string::npos) {
      t.copy_(rand_uniform(t.shape(), -0.2, 0.2, gen));
    } else if (t.dim() == 1 && t.dtype() == DType::F32) {
      t.copy_(rand_uniform(t.shape(), -0.5, 1.0, gen));
    }
  }
}

std::shared_ptr<nn::Module> make(const std::string& name, const Shape& input, double width,
                                 const std::string& shortcut = "") {
  manual_seed(7);
  models::Arch arch = models::default_arch(name, 10, input, width);
  if (!shortcut.empty()) arch.shortcut = models::parse_shortcut(shortcut);
  auto model = models::build_model(arch);
  Generator gen(11);
  randomise_bn(*model, gen);
  model->eval();
  return model;
}

// Mask values of a site of `size`: about a third zeros, the rest scales in [0.2, 1.5].
Tensor sparse_scales(std::int64_t size, Generator& gen) {
  std::vector<float> v = rand_uniform({size}, -0.5, 1.5, gen).to_vector<float>();
  for (float& e : v) e = e < 0.2f ? 0.0f : e;
  return Tensor::from_vector(v, {size});
}

Tensor logits_of(nn::Module& model, const Tensor& x) {
  NoGrad no_grad;
  return model.forward(x);
}

// Sets mask i of `masks` to `values`.
void set_mask(SoftMasks& masks, std::size_t i, const std::vector<float>& values) {
  NoGrad no_grad;
  const Tensor& m = masks.mask(i);
  m.detach().copy_(Tensor::from_vector(values, m.shape()));
}

std::vector<Tensor> values_of(const SoftMasks& masks) {
  std::vector<Tensor> out;
  for (std::size_t i = 0; i < masks.sites().size(); ++i) out.push_back(masks.mask(i).detach());
  return out;
}

TensorList snapshot_state(const nn::Module& model) {
  TensorList out;
  for (const auto& [name, t] : model.state_dict()) out.emplace_back(name, t.detach().clone());
  return out;
}

std::vector<Tensor> snapshot(const TensorList& list) {
  std::vector<Tensor> out;
  for (const auto& [name, t] : list) out.push_back(t.detach().clone());
  return out;
}

bool same(const std::vector<Tensor>& a, const TensorList& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!equal(a[i], b[i].second.detach())) return false;
  }
  return true;
}

TEST(SoftMasks, PlaceOnNamedLayersAndScaleTheirOutput) {
  auto model = make("resnet20", {3, 16, 16}, 0.5);
  Generator gen(3);
  Tensor x = randn({2, 3, 16, 16}, gen);
  Tensor dense = logits_of(*model, x);
  auto sites = pruning::gal_mask_sites(*model);
  ASSERT_EQ(sites.size(), 9u);  // one scalar per block
  EXPECT_EQ(sites[0].module, "layer1.0.bn2");
  EXPECT_EQ(sites[0].size, 1);
  {
    SoftMasks masks(
        *model, sites, [](const MaskSite& s) { return Tensor::ones({s.size}); }, Device::cpu());
    EXPECT_EQ(masks.total(), 9);
    EXPECT_TRUE(allclose(logits_of(*model, x), dense, 0, 0));  // masks of 1 change nothing
    set_mask(masks, 4, {0.5f});
    EXPECT_FALSE(allclose(logits_of(*model, x), dense, 1e-4, 1e-4));
    // The masks are not parameters of the network, and they get gradients.
    EXPECT_EQ(model->named_parameters().size(),
              models::build_model(models::arch_of(*model))->named_parameters().size());
    TensorList state = snapshot_state(*model);
    model->train();
    Tensor loss = sum(model->forward(x));
    loss.backward();
    EXPECT_TRUE(masks.mask(4).grad().defined());
    model->eval();
    model->load_state_dict(state);  // the training-mode pass moved the BN statistics
  }
  // Removing the masks (destructor) restores the network.
  EXPECT_TRUE(allclose(logits_of(*model, x), dense, 0, 0));
  EXPECT_THROW_MSG(SoftMasks(
                       *model, {{"layer9.0.bn2", 1}},
                       [](const MaskSite& s) { return Tensor::ones({s.size}); }, Device::cpu()),
                   Error, "layer9.0.bn2");
}

// Zero block masks remove whole blocks (a first block of a stage becomes its shortcut), the
// surviving scalars are folded into bn2, and the export computes the masked network's logits.
void check_blocks(const std::string& shortcut) {
  SCOPED_TRACE(shortcut);
  auto model = make("resnet20", {3, 16, 16}, 0.5, shortcut);
  Generator gen(4);
  Tensor x = randn({3, 3, 16, 16}, gen);
  auto sites = pruning::gal_mask_sites(*model);
  SoftMasks masks(
      *model, sites, [](const MaskSite& s) { return Tensor::ones({s.size}); }, Device::cpu());
  // layer1.1 (inside a stage), layer2.0 (first of stage 2: stride 2, width doubling) and
  // layer3.2 (last) are removed; the others keep scales.
  const float values[9] = {0.7f, 0.0f, 1.3f, 0.0f, 0.4f, 0.9f, 1.1f, 0.6f, 0.0f};
  for (std::size_t i = 0; i < 9; ++i) set_mask(masks, i, {values[i]});
  Tensor masked = logits_of(*model, x);
  auto ex = pruning::fold_soft_masks(*model, sites, values_of(masks), {3, 16, 16});
  EXPECT_EQ(ex.removed_structures, (std::vector<std::string>{"layer1.1", "layer2.0", "layer3.2"}));
  EXPECT_EQ(ex.surgery.arch.removed, ex.removed_structures);
  EXPECT_TRUE(ex.kept_zero.empty());
  EXPECT_TRUE(allclose(logits_of(*ex.surgery.model, x), masked, 1e-5, 1e-5));
  const auto dense_cost = pruning::count_cost(*model, {3, 16, 16});
  const auto pruned_cost = pruning::count_cost(*ex.surgery.model, {3, 16, 16});
  EXPECT_LT(pruned_cost.params, dense_cost.params);
  EXPECT_LT(pruned_cost.macs, dense_cost.macs);
  // The exported architecture rebuilds the network, and survives JSON.
  auto rebuilt = models::build_model(models::arch_from_json(models::arch_to_json(ex.surgery.arch)));
  rebuilt->load_state_dict(ex.surgery.model->state_dict());
  rebuilt->eval();
  EXPECT_TRUE(allclose(logits_of(*rebuilt, x), masked, 1e-5, 1e-5));
}

TEST(GalExport, ZeroBlockMasksRemoveBlocksAvgPoolShortcut) { check_blocks("a-avgpool"); }
TEST(GalExport, ZeroBlockMasksRemoveBlocksSubsampleShortcut) { check_blocks("a-subsample"); }
TEST(GalExport, ZeroBlockMasksRemoveBlocksProjectionShortcut) { check_blocks("b-conv"); }

TEST(GalExport, ZeroChannelMasksRemoveVggChannels) {
  auto model = make("vgg16", {3, 32, 32}, 0.125);
  Generator gen(5);
  Tensor x = randn({2, 3, 32, 32}, gen);
  auto sites = pruning::gal_mask_sites(*model);
  ASSERT_EQ(sites.size(), 14u);  // 13 convs and the hidden FC layer
  EXPECT_EQ(sites[0].module, "features.2");
  EXPECT_EQ(sites.back().module, "classifier.2");
  Generator mask_gen(6);
  SoftMasks masks(
      *model, sites, [&](const MaskSite& s) { return sparse_scales(s.size, mask_gen); },
      Device::cpu());
  const std::int64_t zeros = masks.zeros();
  ASSERT_GT(zeros, 10);
  Tensor masked = logits_of(*model, x);
  auto ex = pruning::fold_soft_masks(*model, sites, values_of(masks), {3, 32, 32});
  EXPECT_GE(ex.removed_channels, zeros - 14);  // each layer keeps at least one channel
  EXPECT_TRUE(ex.kept_zero.empty());
  EXPECT_TRUE(allclose(logits_of(*ex.surgery.model, x), masked, 1e-5, 1e-5));
  EXPECT_LT(pruning::count_cost(*ex.surgery.model, {3, 32, 32}).params,
            pruning::count_cost(*model, {3, 32, 32}).params);
}

TEST(GalExport, ZeroBranchMasksRemoveGoogLeNetBranches) {
  auto model = make("googlenet", {3, 32, 32}, 0.125);
  Generator gen(8);
  Tensor x = randn({2, 3, 32, 32}, gen);
  auto sites = pruning::gal_mask_sites(*model);
  ASSERT_EQ(sites.size(), 36u);  // 4 branches x 9 Inceptions
  EXPECT_EQ(sites[0].module, "inception_a3.branch1x1");
  // Zero branches: inside an Inception (a3's 3x3), two of one Inception (b3, before the first
  // stride-2 pool), e4's 5x5 (before the second pool), b5's pool branch (the linear layer is its
  // consumer), and all four of c4 (the first of them stays, with one zero channel).
  const std::set<std::string> zero = {
      "inception_a3.branch3x3",   "inception_b3.branch1x1", "inception_b3.branch_pool",
      "inception_c4.branch1x1",   "inception_c4.branch3x3", "inception_c4.branch5x5",
      "inception_c4.branch_pool", "inception_e4.branch5x5", "inception_b5.branch_pool"};
  Generator mask_gen(9);
  SoftMasks masks(
      *model, sites,
      [&](const MaskSite& s) {
        const float v = static_cast<float>(rand_uniform({1}, 0.3, 1.5, mask_gen).item());
        return Tensor::from_vector(std::vector<float>{zero.count(s.module) ? 0.0f : v}, {1});
      },
      Device::cpu());
  Tensor masked = logits_of(*model, x);
  auto ex = pruning::fold_soft_masks(*model, sites, values_of(masks), {3, 32, 32});
  const std::vector<std::string> removed = {"inception_a3.branch3x3",   "inception_b3.branch1x1",
                                            "inception_b3.branch_pool", "inception_c4.branch3x3",
                                            "inception_c4.branch5x5",   "inception_c4.branch_pool",
                                            "inception_e4.branch5x5",   "inception_b5.branch_pool"};
  EXPECT_EQ(ex.removed_structures, removed);
  EXPECT_EQ(ex.surgery.arch.removed, removed);
  // The removed branches' modules are gone; c4's first branch stays with one zero channel.
  EXPECT_THROW(ex.surgery.model->module_at("inception_a3.branch3x3"), Error);
  ASSERT_EQ(ex.kept_zero.size(), 1u);
  EXPECT_NE(ex.kept_zero[0].find("inception_c4.branch1x1.0"), std::string::npos) << ex.kept_zero[0];
  EXPECT_EQ(ex.surgery.arch.width("inception_c4.branch1x1.0"), 1);
  // The consumers' inputs follow: a4's branches see b3's output without its two removed
  // branches, the linear layer sees b5's output without its pool branch.
  const auto& lin = static_cast<const nn::Linear&>(ex.surgery.model->module_at("linear"));
  const models::Arch dense_arch = models::arch_of(*model);
  EXPECT_EQ(lin.in_features(), dense_arch.width("inception_b5.branch1x1.0") +
                                   dense_arch.width("inception_b5.branch3x3.3") +
                                   dense_arch.width("inception_b5.branch5x5.6"));
  const auto& a4_in =
      static_cast<const nn::Conv2d&>(ex.surgery.model->module_at("inception_a4.branch1x1.0"));
  EXPECT_EQ(a4_in.in_channels(), dense_arch.width("inception_b3.branch3x3.3") +
                                     dense_arch.width("inception_b3.branch5x5.6"));
  EXPECT_TRUE(allclose(logits_of(*ex.surgery.model, x), masked, 1e-5, 1e-5));
  EXPECT_LT(pruning::count_cost(*ex.surgery.model, {3, 32, 32}).macs,
            pruning::count_cost(*model, {3, 32, 32}).macs);
  // The exported architecture rebuilds the network, and survives JSON.
  auto rebuilt = models::build_model(models::arch_from_json(models::arch_to_json(ex.surgery.arch)));
  rebuilt->load_state_dict(ex.surgery.model->state_dict());
  rebuilt->eval();
  EXPECT_TRUE(allclose(logits_of(*rebuilt, x), masked, 1e-5, 1e-5));
}

// Zero block masks remove ImageNet ResNet blocks: an identity block becomes the identity, a block
// with a projection relu(downsample(x)); with the joint variant's channel masks too, those of a
// removed block go with it and the others remove channels.
void check_imagenet_blocks(const std::string& name, bool joint) {
  SCOPED_TRACE(name + (joint ? " joint" : ""));
  auto model = make(name, {3, 64, 64}, 0.25);
  Generator gen(14);
  Tensor x = randn({2, 3, 64, 64}, gen);
  auto sites = pruning::gal_mask_sites(*model, joint);
  const std::string last = name == "resnet50" ? ".bn3" : ".bn2";
  const std::string final_block = name == "resnet50" ? "layer4.2" : "layer4.1";
  const std::set<std::string> zero = {"layer1.1" + last, "layer2.0" + last, final_block + last};
  Generator mask_gen(15);
  SoftMasks masks(
      *model, sites,
      [&](const MaskSite& s) {
        if (zero.count(s.module)) return Tensor::zeros({s.size});
        std::vector<float> v = rand_uniform({s.size}, -0.5, 1.5, mask_gen).to_vector<float>();
        for (float& e : v) e = s.size == 1 ? std::fabs(e) + 0.2f : (e < 0.2f ? 0.0f : e);
        return Tensor::from_vector(v, {s.size});
      },
      Device::cpu());
  Tensor masked = logits_of(*model, x);
  auto ex = pruning::fold_soft_masks(*model, sites, values_of(masks), {3, 64, 64});
  const std::vector<std::string> removed = {"layer1.1", "layer2.0", final_block};
  EXPECT_EQ(ex.removed_structures, removed);
  EXPECT_EQ(ex.surgery.arch.removed, removed);
  EXPECT_TRUE(ex.kept_zero.empty());
  if (joint) {
    EXPECT_GT(ex.removed_channels, 0);
  }
  // The removed first block of stage 2 keeps its projection; the others are parameter-free.
  EXPECT_EQ(ex.surgery.model->module_at("layer2.0").type_name(), "ShortcutBlock");
  EXPECT_NO_THROW(ex.surgery.model->module_at("layer2.0.downsample.0"));
  EXPECT_TRUE(ex.surgery.model->module_at("layer1.1").named_parameters().empty());
  EXPECT_TRUE(allclose(logits_of(*ex.surgery.model, x), masked, 1e-5, 1e-4));
  const auto dense_cost = pruning::count_cost(*model, {3, 64, 64});
  const auto pruned_cost = pruning::count_cost(*ex.surgery.model, {3, 64, 64});
  EXPECT_LT(pruned_cost.params, dense_cost.params);
  EXPECT_LT(pruned_cost.macs, dense_cost.macs);
  auto rebuilt = models::build_model(models::arch_from_json(models::arch_to_json(ex.surgery.arch)));
  rebuilt->load_state_dict(ex.surgery.model->state_dict());
  rebuilt->eval();
  EXPECT_TRUE(allclose(logits_of(*rebuilt, x), masked, 1e-5, 1e-4));
}

TEST(GalExport, ZeroBlockMasksRemoveResNet50Blocks) { check_imagenet_blocks("resnet50", false); }
TEST(GalExport, ZeroBlockMasksRemoveResNet50BlocksJoint) {
  check_imagenet_blocks("resnet50", true);
}
TEST(GalExport, ZeroBlockMasksRemoveResNet18Blocks) { check_imagenet_blocks("resnet18", false); }

TEST(GalExport, ZeroChannelMasksRemoveDenseNetChannelsThroughTheConcats) {
  auto model = make("densenet40", {3, 16, 16}, 0.5);
  Generator gen(12);
  Tensor x = randn({2, 3, 16, 16}, gen);
  auto sites = pruning::gal_mask_sites(*model);
  ASSERT_EQ(sites.size(), 36u);  // 3 blocks x 12 layers, 6 new channels each at half width
  EXPECT_EQ(sites[0].module, "dense1.0.conv");
  EXPECT_EQ(sites[0].size, 6);
  Generator mask_gen(13);
  SoftMasks masks(
      *model, sites, [&](const MaskSite& s) { return sparse_scales(s.size, mask_gen); },
      Device::cpu());
  ASSERT_GT(masks.zeros(), 10);
  Tensor masked = logits_of(*model, x);
  auto ex = pruning::fold_soft_masks(*model, sites, values_of(masks), {3, 16, 16});
  EXPECT_GT(ex.removed_channels, 10);
  // A zero channel reaches later layers through their BNs as a constant: folded, exact.
  EXPECT_TRUE(allclose(logits_of(*ex.surgery.model, x), masked, 1e-5, 1e-5));
  EXPECT_LT(pruning::count_cost(*ex.surgery.model, {3, 16, 16}).params,
            pruning::count_cost(*model, {3, 16, 16}).params);
}

TEST(GalExport, JointResNet50MasksFoldAndRemoveChannels) {
  // GAL-joint: block scalars on bn3 (all non-zero here: folded as scales) and channel masks on
  // bn1 / bn2 (zeros removed by channel surgery).
  auto model = make("resnet50", {3, 64, 64}, 0.25);
  Generator gen(14);
  Tensor x = randn({2, 3, 64, 64}, gen);
  auto sites = pruning::gal_mask_sites(*model, true);
  ASSERT_EQ(sites.size(), 48u);  // 16 blocks x (bn1, bn2, bn3)
  Generator mask_gen(15);
  SoftMasks masks(
      *model, sites,
      [&](const MaskSite& s) {
        std::vector<float> v = rand_uniform({s.size}, -0.5, 1.5, mask_gen).to_vector<float>();
        for (float& e : v) e = e < 0.2f && s.size > 1 ? 0.0f : e;
        return Tensor::from_vector(v, {s.size});
      },
      Device::cpu());
  Tensor masked = logits_of(*model, x);
  auto ex = pruning::fold_soft_masks(*model, sites, values_of(masks), {3, 64, 64});
  EXPECT_GT(ex.removed_channels, 0);
  EXPECT_TRUE(allclose(logits_of(*ex.surgery.model, x), masked, 1e-5, 1e-4));
}

TEST(GalExport, ChannelSurgeryAfterBlockRemoval) {
  // A CIFAR ResNet with removed blocks is an ordinary network for the dependency graph and
  // surgery: pruning the block-internal channels of the remaining blocks is exact.
  models::Arch arch = models::default_arch("resnet20", 10, {3, 16, 16}, 0.5);
  arch.removed = {"layer1.1", "layer2.0"};
  manual_seed(3);
  auto model = models::build_model(arch);
  Generator gen(16);
  randomise_bn(*model, gen);
  model->eval();
  pruning::DependencyGraph graph = pruning::DependencyGraph::build(*model, {3, 16, 16});
  EXPECT_EQ(graph.group_of("layer1.1.conv1.weight"), nullptr);
  const pruning::Group* g = graph.group_of("layer2.1.conv1.weight");
  ASSERT_NE(g, nullptr);
  ASSERT_FALSE(g->residual);
  // Zero channels 0 and 3 of layer2.1's inner conv-BN (BN gamma and beta), then remove them.
  {
    NoGrad no_grad;
    for (const char* t : {"layer2.1.bn1.weight", "layer2.1.bn1.bias"}) {
      Tensor& v = model->tensor_at(t);
      std::vector<float> h = v.to_vector<float>();
      h[0] = h[3] = 0.0f;
      v.copy_(Tensor::from_vector(h, v.shape()));
    }
  }
  Tensor x = randn({2, 3, 16, 16}, gen);
  Tensor masked = logits_of(*model, x);
  pruning::SurgeryResult r = pruning::apply_surgery(*model, graph, {{g->id, {0, 3}}});
  EXPECT_EQ(r.arch.removed, arch.removed);
  EXPECT_EQ(r.arch.width("layer2.1.conv1"), 14);
  EXPECT_TRUE(allclose(logits_of(*r.model, x), masked, 1e-5, 1e-5));
}

TEST(GalExport, NegativeMaskAfterReluIsAnError) {
  auto model = make("vgg16", {3, 32, 32}, 0.125);
  auto sites = pruning::gal_mask_sites(*model);
  std::vector<Tensor> values;
  for (const MaskSite& s : sites) values.push_back(Tensor::ones({s.size}));
  values[3] = Tensor::full({sites[3].size}, -0.5);
  EXPECT_THROW_MSG(pruning::fold_soft_masks(*model, sites, values, {3, 32, 32}), Error,
                   sites[3].module);
}

TEST(ArchRemoved, BadEntriesAreNamed) {
  models::Arch arch = models::default_arch("resnet20", 10, {3, 32, 32});
  arch.removed = {"layer4.0"};
  EXPECT_THROW_MSG(models::build_model(arch), ConfigError, "layer4.0");
  models::Arch vgg = models::default_arch("vgg16", 10, {3, 32, 32});
  vgg.removed = {"features.0"};
  EXPECT_THROW_MSG(models::build_model(vgg), ConfigError, "ResNets and GoogLeNet only");
  models::Arch r50 = models::default_arch("resnet50", 10, {3, 64, 64}, 0.25);
  r50.removed = {"layer5.0"};
  EXPECT_THROW_MSG(models::build_model(r50), ConfigError, "layer5.0");
  models::Arch g = models::default_arch("googlenet", 10, {3, 32, 32}, 0.125);
  g.removed = {"inception_a3.branch7x7"};
  EXPECT_THROW_MSG(models::build_model(g), ConfigError, "inception_a3.branch7x7");
  g.removed = {"inception_a4.branch1x1", "inception_a4.branch3x3", "inception_a4.branch5x5",
               "inception_a4.branch_pool"};
  EXPECT_THROW_MSG(models::build_model(g), ConfigError, "all four branches of inception_a4");
}

// GAL's fine-tuning: the export without folded scales plus the frozen masks computes what the
// masked network computed; training moves the weights but not the masks (not parameters, no
// gradient), the checkpoints hold them, and folding them afterwards is exact.
TEST(GalFinetune, FrozenMasksDoNotChangeAndFoldExactly) {
  auto model = make("vgg16", {3, 32, 32}, 0.125);
  Generator gen(31);
  Tensor x = randn({2, 3, 32, 32}, gen);
  auto sites = pruning::gal_mask_sites(*model);
  Generator mask_gen(32);
  SoftMasks masks(
      *model, sites, [&](const MaskSite& s) { return sparse_scales(s.size, mask_gen); },
      Device::cpu());
  ASSERT_GT(masks.zeros(), 10);
  Tensor masked = logits_of(*model, x);
  std::vector<Tensor> values = values_of(masks);
  masks.remove();
  auto ex = pruning::fold_soft_masks(*model, sites, values, {3, 32, 32}, false);
  ASSERT_EQ(ex.scale_sites.size(), sites.size());
  EXPECT_GT(ex.removed_channels, 10);
  std::shared_ptr<nn::Module> pruned = ex.surgery.model;
  // The scales that stay are the non-zero mask values, on the kept channels.
  for (std::size_t i = 0; i < sites.size(); ++i) {
    std::vector<float> nonzero;
    for (float v : values[i].to_vector<float>())
      if (v != 0.0f) nonzero.push_back(v);
    EXPECT_EQ(ex.scales[i].to_vector<float>(), nonzero) << sites[i].module;
  }
  std::size_t next = 0;
  SoftMasks frozen(
      *pruned, ex.scale_sites, [&](const MaskSite&) { return ex.scales[next++]; }, Device::cpu(),
      false);
  EXPECT_TRUE(allclose(logits_of(*pruned, x), masked, 1e-5, 1e-5));
  const std::vector<Tensor> before = snapshot(frozen.named_masks());
  const std::vector<Tensor> weights = snapshot(pruned->named_parameters());
  // Two epochs of SGD with the frozen masks, checkpointed.
  TempDir dir;
  pruning::FrozenMaskHooks hooks(frozen);
  optim::SgdOptions so;
  so.lr = 0.05;
  so.momentum = 0.9;
  so.weight_decay = 5e-4;
  optim::Sgd sgd(pruned->named_parameters(), so);
  optim::ConstantLr lr(0.05);
  TrainerOptions to;
  to.progress = false;
  to.epochs = 2;
  to.checkpoint_dir = dir.path();
  Generator dg(33);
  MemorySource data(
      randn({16, 3, 32, 32}, dg),
      Tensor::from_vector(std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5},
                          {16}),
      8, 10, true, 3);
  pruned->train();
  {
    Trainer trainer(*pruned, sgd, lr, to);
    trainer.add_hooks(&hooks);
    trainer.fit(data, nullptr);
  }
  EXPECT_FALSE(same(weights, pruned->named_parameters()));
  EXPECT_TRUE(same(before, frozen.named_masks()));
  for (const auto& [site, m] : frozen.named_masks()) {
    EXPECT_FALSE(m.requires_grad()) << site;
    EXPECT_FALSE(m.grad().defined()) << site;
  }
  // The checkpoint holds the frozen masks; other values are refused on load.
  bool saved = false;
  for (const auto& [name, t] : load_safetensors(dir.path() + "/last.safetensors").tensors) {
    if (name == "hook.0.mask." + sites[0].module) {
      saved = true;
      EXPECT_TRUE(equal(t, ex.scales[0]));
    }
  }
  EXPECT_TRUE(saved);
  TensorList other = hooks.state_dict();
  other[1].second = add_scalar(other[1].second, 1.0);
  EXPECT_THROW_MSG(hooks.load_state_dict(other), Error, other[1].first);
  // Folding the frozen masks after the fine-tuning: exact, and nothing left to remove.
  pruned->eval();
  Tensor tuned = logits_of(*pruned, x);
  frozen.remove();
  auto fin = pruning::fold_soft_masks(*pruned, ex.scale_sites, ex.scales, {3, 32, 32});
  EXPECT_EQ(fin.removed_channels, 0);
  EXPECT_TRUE(fin.surgery.arch == ex.surgery.arch);
  EXPECT_TRUE(allclose(logits_of(*fin.surgery.model, x), tuned, 1e-5, 1e-5));
}

// A tiny GAL set-up: a random teacher, its copy as the student with block masks, the hooks.
struct GalRig {
  std::shared_ptr<nn::Module> teacher, student;
  std::unique_ptr<SoftMasks> masks;
  std::unique_ptr<pruning::GalHooks> hooks;
  std::unique_ptr<optim::Sgd> sgd;
  std::unique_ptr<optim::StepLr> schedule;
  std::unique_ptr<MemorySource> data;

  GalRig(pruning::GalMode mode, std::int64_t mask_step, bool batch_stats = false) {
    teacher = make("resnet20", {3, 8, 8}, 0.25);
    manual_seed(21);
    student = models::build_model(models::arch_of(*teacher));
    student->load_state_dict(teacher->state_dict());
    student->train();
    auto sites = pruning::gal_mask_sites(*student);
    Generator init(5);
    masks = std::make_unique<SoftMasks>(
        *student, sites,
        [&](const MaskSite& s) {
          return mode == pruning::GalMode::Faithful ? randn({s.size}, init)
                                                    : Tensor::ones({s.size});
        },
        Device::cpu());
    pruning::GalOptions o;
    o.mode = mode;
    o.lambda = 0.5;
    o.mu = 1.0;
    o.mask_step = mask_step;
    o.batch_stats = batch_stats;
    hooks = std::make_unique<pruning::GalHooks>(*teacher, *masks, o, 10, 2e-4, Device::cpu());
    optim::SgdOptions so;
    so.lr = 0.05;
    so.momentum = 0.9;
    so.weight_decay = 2e-4;
    sgd = std::make_unique<optim::Sgd>(student->named_parameters(), so);
    schedule = std::make_unique<optim::StepLr>(0.05, 2, 0.1);
    Generator dg(9);
    Tensor images = randn({24, 3, 8, 8}, dg);
    std::vector<std::int64_t> labels;
    for (int i = 0; i < 24; ++i) labels.push_back(i % 10);
    data =
        std::make_unique<MemorySource>(images, Tensor::from_vector(labels, {24}), 8, 10, true, 3);
  }
};

TEST(GalHooks, DiscriminatorAndStudentUpdateInTheirOwnSteps) {
  for (auto mode : {pruning::GalMode::Corrected, pruning::GalMode::Faithful}) {
    GalRig rig(mode, 2);
    TrainerOptions to;
    to.progress = false;
    Trainer trainer(*rig.student, *rig.sgd, *rig.schedule, to);
    rig.data->start_epoch(0);
    Batch batch;
    for (int it = 0; it < 2; ++it) {
      ASSERT_TRUE(rig.data->next(batch));
      auto d0 = snapshot(rig.hooks->discriminator().named_parameters());
      auto s0 = snapshot(rig.student->named_parameters());
      auto m0 = snapshot(rig.masks->named_masks());
      Tensor logits = rig.student->forward(batch.images);
      Tensor loss = rig.hooks->compute_loss(trainer, batch, logits);
      // The discriminator step changed D only.
      EXPECT_FALSE(same(d0, rig.hooks->discriminator().named_parameters()));
      EXPECT_TRUE(same(s0, rig.student->named_parameters()));
      auto d1 = snapshot(rig.hooks->discriminator().named_parameters());
      rig.sgd->zero_grad();
      loss.backward();
      rig.sgd->step();
      // The student step changed the student's weights, not D.
      EXPECT_FALSE(same(s0, rig.student->named_parameters()));
      EXPECT_TRUE(same(d1, rig.hooks->discriminator().named_parameters()));
      for (const auto& [name, m] : rig.masks->named_masks()) EXPECT_TRUE(m.grad().defined());
      rig.hooks->after_step(trainer);
      // FISTA moves the masks on every second iteration only (global step 0 is iteration 1).
      EXPECT_EQ(same(m0, rig.masks->named_masks()), it == 0) << it;
      for (const auto& [name, m] : rig.masks->named_masks()) EXPECT_FALSE(m.grad().defined());
    }
  }
}

// Why corrected mode keeps the teacher's running statistics: a batch norm with batch statistics
// after a masked layer undoes any common scale of that layer's channel masks (the loss cannot
// resist L1 shrinking them all alike), running statistics pass it on.
TEST(GalHooks, BatchStatisticsHideACommonScaleOfALayersMasks) {
  manual_seed(7);
  auto model = models::build_model(models::default_arch("vgg16", 10, {3, 32, 32}, 0.125));
  Generator gen(5);
  Tensor x = randn({8, 3, 32, 32}, gen);
  auto sites = pruning::gal_mask_sites(*model);
  SoftMasks masks(
      *model, sites, [](const MaskSite& s) { return Tensor::ones({s.size}); }, Device::cpu());
  for (bool training : {true, false}) {
    model->train(training);
    TensorList stats = snapshot_state(*model);
    set_mask(masks, 3, std::vector<float>(static_cast<std::size_t>(sites[3].size), 1.0f));
    Tensor base = logits_of(*model, x);
    model->load_state_dict(stats);
    set_mask(masks, 3, std::vector<float>(static_cast<std::size_t>(sites[3].size), 0.5f));
    Tensor halved = logits_of(*model, x);
    model->load_state_dict(stats);
    if (training) {
      EXPECT_TRUE(allclose(halved, base, 1e-4, 1e-4));
    } else {
      EXPECT_FALSE(allclose(halved, base, 1e-4, 1e-4));
    }
  }
}

TEST(GalMethod, BadKeysAreNamed) {
  auto parse = [](const std::string& extra) {
    Config c = Config::parse("method: gal\nlambda: 0.1\n" + extra, "gal.yaml");
    return pruning::GalMethod(c);
  };
  EXPECT_NO_THROW(parse("bn_stats: batch\nmask_lr: 0.5\n"));
  EXPECT_NO_THROW(parse("bn_stats: auto\n"));
  EXPECT_NO_THROW(parse("bn_stats: running\n"));
  EXPECT_THROW_MSG(parse("bn_stats: moving\n"), ConfigError, "key '.bn_stats': 'moving'");
  EXPECT_THROW_MSG(parse("mask_lr: 0\n"), ConfigError, "mask_lr' must be > 0");
  EXPECT_NO_THROW(parse("mask_max: none\n"));
  EXPECT_NO_THROW(parse("mask_max: 2.5\n"));
  EXPECT_THROW_MSG(parse("mask_max: 0\n"), ConfigError, "mask_max' must be > 0 or none");
  EXPECT_THROW_MSG(parse("mask_max: big\n"), ConfigError, "mask_max");
  EXPECT_THROW_MSG(pruning::GalMethod(Config::parse("method: gal\n", "gal.yaml")), ConfigError,
                   "lambda' is required");
}

TEST(GalHooks, RunningStatisticsStayFixedBatchStatisticsMove) {
  for (bool batch_stats : {false, true}) {
    GalRig rig(pruning::GalMode::Corrected, 1, batch_stats);
    TrainerOptions to;
    to.progress = false;
    to.epochs = 1;
    Trainer trainer(*rig.student, *rig.sgd, *rig.schedule, to);
    trainer.add_hooks(rig.hooks.get());
    trainer.fit(*rig.data, nullptr);
    std::int64_t stats = 0, moved = 0;
    const TensorList teacher = rig.teacher->state_dict();
    for (const auto& [name, t] : rig.student->state_dict()) {
      if (name.find("running_") == std::string::npos) continue;
      ++stats;
      for (const auto& [tname, tt] : teacher) {
        if (tname == name) moved += !equal(t, tt);
      }
    }
    ASSERT_GT(stats, 0);
    EXPECT_EQ(moved, batch_stats ? stats : 0) << "batch_stats " << batch_stats;
    // Weights and masks learned either way.
    EXPECT_FALSE(same(snapshot(teacher), rig.student->state_dict()));
  }
}

struct RunResult {
  std::vector<Tensor> student, masks, disc;
  std::vector<pruning::GalEpochLog> log;
};

RunResult run_gal(const std::string& dir, std::int64_t epochs, bool fresh) {
  GalRig rig(pruning::GalMode::Corrected, 3);
  TrainerOptions to;
  to.progress = false;
  to.epochs = epochs;
  to.checkpoint_dir = dir;
  to.resume = !fresh;
  Trainer trainer(*rig.student, *rig.sgd, *rig.schedule, to);
  trainer.add_hooks(rig.hooks.get());
  trainer.fit(*rig.data, nullptr);
  RunResult r;
  r.student = snapshot(rig.student->state_dict());
  r.masks = snapshot(rig.masks->named_masks());
  r.disc = snapshot(rig.hooks->discriminator().state_dict());
  r.log = rig.hooks->log();
  return r;
}

TEST(GalHooks, ResumedRunIsBitIdenticalToAnUninterruptedOne) {
  TempDir a, b;
  RunResult whole = run_gal(a.path(), 4, true);
  run_gal(b.path(), 2, true);
  RunResult resumed = run_gal(b.path(), 4, false);
  ASSERT_EQ(whole.student.size(), resumed.student.size());
  for (std::size_t i = 0; i < whole.student.size(); ++i)
    EXPECT_TRUE(equal(resumed.student[i], whole.student[i])) << i;
  for (std::size_t i = 0; i < whole.masks.size(); ++i)
    EXPECT_TRUE(equal(resumed.masks[i], whole.masks[i])) << i;
  for (std::size_t i = 0; i < whole.disc.size(); ++i)
    EXPECT_TRUE(equal(resumed.disc[i], whole.disc[i])) << i;
  ASSERT_EQ(resumed.log.size(), 4u);
  for (std::size_t e = 0; e < 4; ++e) {
    EXPECT_EQ(resumed.log[e].discriminator, whole.log[e].discriminator);
    EXPECT_EQ(resumed.log[e].mse, whole.log[e].mse);
    EXPECT_EQ(resumed.log[e].zero_masks, whole.log[e].zero_masks);
  }
  // The masks moved during the run (FISTA stepped every 3 iterations).
  bool moved = false;
  for (const Tensor& m : whole.masks) moved = moved || m.item() != 1.0;
  EXPECT_TRUE(moved);
}

}  // namespace
}  // namespace shears::testing
