// GAL's pieces: soft masks placed on named layers without editing the network, masks folded and
// zeroed structures removed at export (the export computes what the masked network computes),
// the alternation of discriminator and student steps, and bit-identical resume.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd/grad_mode.h"
#include "engine/nn/batch_norm2d.h"
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
      *model, sites,
      [&](const MaskSite& s) {
        // About a third zeros, the rest scales in [0.2, 1.5].
        std::vector<float> v = rand_uniform({s.size}, -0.5, 1.5, mask_gen).to_vector<float>();
        for (float& e : v) e = e < 0.2f ? 0.0f : e;
        return Tensor::from_vector(v, {s.size});
      },
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

TEST(GalExport, BranchMasksFoldIntoGoogLeNetBranches) {
  auto model = make("googlenet", {3, 32, 32}, 0.125);
  Generator gen(8);
  Tensor x = randn({2, 3, 32, 32}, gen);
  auto sites = pruning::gal_mask_sites(*model);
  ASSERT_EQ(sites.size(), 36u);  // 4 branches x 9 Inceptions
  Generator mask_gen(9);
  SoftMasks masks(
      *model, sites,
      [&](const MaskSite&) {
        float v = static_cast<float>(rand_uniform({1}, 0.0, 1.5, mask_gen).item());
        return Tensor::from_vector(std::vector<float>{v < 0.3f ? 0.0f : v}, {1});
      },
      Device::cpu());
  Tensor masked = logits_of(*model, x);
  auto ex = pruning::fold_soft_masks(*model, sites, values_of(masks), {3, 32, 32});
  EXPECT_TRUE(allclose(logits_of(*ex.surgery.model, x), masked, 1e-5, 1e-5));
  // A zero branch leaves the concat but for one zero channel of its last conv (a branch keeps
  // a width of at least 1).
  ASSERT_GT(masks.zeros(), 0);
  EXPECT_EQ(static_cast<std::int64_t>(ex.kept_zero.size()), masks.zeros());
  EXPECT_GT(ex.removed_channels, 0);
  EXPECT_LT(pruning::count_cost(*ex.surgery.model, {3, 32, 32}).macs,
            pruning::count_cost(*model, {3, 32, 32}).macs);
}

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
      *model, sites,
      [&](const MaskSite& s) {
        std::vector<float> v = rand_uniform({s.size}, -0.5, 1.5, mask_gen).to_vector<float>();
        for (float& e : v) e = e < 0.2f ? 0.0f : e;
        return Tensor::from_vector(v, {s.size});
      },
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
  // GAL-joint: block scalars on bn3 (kept as scales; ImageNet blocks are not removed) and
  // channel masks on bn1 / bn2 (zeros removed by channel surgery).
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
  EXPECT_THROW_MSG(models::build_model(vgg), ConfigError, "CIFAR ResNets only");
}

// A tiny GAL set-up: a random teacher, its copy as the student with block masks, the hooks.
struct GalRig {
  std::shared_ptr<nn::Module> teacher, student;
  std::unique_ptr<SoftMasks> masks;
  std::unique_ptr<pruning::GalHooks> hooks;
  std::unique_ptr<optim::Sgd> sgd;
  std::unique_ptr<optim::StepLr> schedule;
  std::unique_ptr<MemorySource> data;

  explicit GalRig(pruning::GalMode mode, std::int64_t mask_step) {
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
