// Functional equivalence of surgery: zeroing a plan's channels (filters, biases and BN affine
// parameters, so they output exactly zero) and physically removing them give the same logits.
#include <gtest/gtest.h>

#include <random>

#include "engine/autograd/grad_mode.h"
#include "engine/rng.h"
#include "models/model.h"
#include "models/registry.h"
#include "pruning/dependency.h"
#include "pruning/mask.h"
#include "pruning/surgery.h"
#include "tests/support/allclose.h"

namespace shears::testing {
namespace {

/// A plan removing about `fraction` of the removable channels of every prunable group.
pruning::PrunePlan random_plan(const pruning::DependencyGraph& graph, double fraction,
                               std::uint64_t seed, bool residual_too) {
  std::mt19937_64 gen(seed);
  pruning::PrunePlan plan;
  for (const pruning::Group& g : graph.groups()) {
    if (!g.prunable() || (g.residual && !residual_too)) continue;
    std::vector<std::int64_t> free;
    for (std::int64_t k = 0; k < g.size; ++k)
      if (!g.blocked[static_cast<std::size_t>(k)]) free.push_back(k);
    std::shuffle(free.begin(), free.end(), gen);
    auto n = static_cast<std::size_t>(static_cast<double>(free.size()) * fraction);
    n = std::min(n, free.size() - (free.size() == static_cast<std::size_t>(g.size) ? 1 : 0));
    std::vector<std::int64_t> removed(free.begin(), free.begin() + static_cast<long>(n));
    std::sort(removed.begin(), removed.end());
    if (!removed.empty()) plan[g.id] = removed;
  }
  return plan;
}

/// Randomises BN statistics and affine parameters so masked channels are not trivially zero.
void randomise_bn(nn::Module& model, Generator& gen) {
  NoGrad no_grad;
  for (auto& [name, t] : model.state_dict()) {
    if (name.find("running_var") != std::string::npos) {
      t.copy_(rand_uniform(t.shape(), 0.5, 1.5, gen));
    } else if (name.find("running_mean") != std::string::npos) {
      t.copy_(rand_uniform(t.shape(), -0.2, 0.2, gen));
    } else if (t.dim() == 1 && t.dtype() == DType::F32) {
      t.copy_(rand_uniform(t.shape(), 0.5, 1.0, gen));
    }
  }
}

void check_equivalence(const std::string& name, const Shape& input, double fraction,
                       bool residual_too, const std::string& shortcut = "") {
  manual_seed(3);
  models::Arch arch = models::default_arch(name, 10, input);
  if (!shortcut.empty()) arch.shortcut = models::parse_shortcut(shortcut);
  std::shared_ptr<nn::Module> model = models::build_model(arch);
  Generator gen(5);
  randomise_bn(*model, gen);
  model->eval();
  pruning::DependencyGraph graph = pruning::DependencyGraph::build(*model, input);
  pruning::PrunePlan plan = random_plan(graph, fraction, 9, residual_too);
  ASSERT_FALSE(plan.empty()) << name;

  Tensor x = rand_uniform({2, input[0], input[1], input[2]}, -1, 1, gen);
  for (const auto& [gid, removed] : plan) {
    pruning::mask_channels(*model, graph.groups()[static_cast<std::size_t>(gid)], removed, true);
  }
  NoGrad no_grad;
  Tensor masked = model->forward(x);
  pruning::SurgeryResult r = pruning::apply_surgery(*model, graph, plan);
  Tensor pruned = r.model->forward(x);
  EXPECT_TRUE(allclose(pruned, masked, 1e-5, 1e-4)) << name;
  // The pruned network rebuilds from its Arch alone.
  EXPECT_EQ(models::arch_of(*r.model), r.arch);
  std::int64_t before = 0, after = 0;
  for (auto& [n, t] : model->named_parameters()) before += t.numel();
  for (auto& [n, t] : r.model->named_parameters()) after += t.numel();
  EXPECT_LT(after, before) << name;
}

TEST(SurgeryEquivalence, ResNet20Blocks) { check_equivalence("resnet20", {3, 32, 32}, 0.4, false); }
TEST(SurgeryEquivalence, ResNet20ResidualGroups) {
  check_equivalence("resnet20", {3, 32, 32}, 0.3, true);
}
TEST(SurgeryEquivalence, ResNet20SubsampleBlocks) {
  check_equivalence("resnet20", {3, 32, 32}, 0.4, false, "a-subsample");
}
TEST(SurgeryEquivalence, ResNet20SubsampleResidualGroups) {
  // Zero padding on both sides: the surviving leading zero channels are recorded per block.
  check_equivalence("resnet20", {3, 32, 32}, 0.3, true, "a-subsample");
}
TEST(SurgeryEquivalence, ResNet20ProjectionResidualGroups) {
  check_equivalence("resnet20", {3, 32, 32}, 0.3, true, "b-conv");
}
TEST(SurgeryEquivalence, Vgg16) { check_equivalence("vgg16", {3, 32, 32}, 0.5, true); }
TEST(SurgeryEquivalence, ResNet18) { check_equivalence("resnet18", {3, 64, 64}, 0.3, true); }
TEST(SurgeryEquivalence, ResNet50) { check_equivalence("resnet50", {3, 64, 64}, 0.3, true); }
// GoogLeNet: the four branch outputs of every Inception meet in a concat, so a consumer's input
// channels are pruned at each branch's offset.
TEST(SurgeryEquivalence, GoogLeNetThroughConcat) {
  // The concat of inception_a3 is one group of 256 channels made by its four branch outputs,
  // each owning its slot: the 3x3 branch's filter j is channel 64 + j, and every branch of
  // inception_b3 reads channel k at input position k. The plan prunes this group.
  manual_seed(3);
  auto model = models::build_model(models::default_arch("googlenet", 10, {3, 16, 16}));
  pruning::DependencyGraph graph = pruning::DependencyGraph::build(*model, {3, 16, 16});
  const pruning::Group* g = graph.group_of("inception_a3.branch3x3.3.weight");
  ASSERT_NE(g, nullptr);
  EXPECT_TRUE(g->prunable());
  EXPECT_EQ(g->size, 256);
  EXPECT_EQ(g->producers.size(), 4u);
  const pruning::Member* p = g->member("inception_a3.branch3x3.3.weight", 0);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->positions[63].empty());
  EXPECT_EQ(p->positions[64], std::vector<std::int64_t>{0});
  EXPECT_EQ(p->positions[191], std::vector<std::int64_t>{127});
  EXPECT_TRUE(p->positions[192].empty());
  for (const std::string consumer :
       {"inception_b3.branch1x1.0.weight", "inception_b3.branch3x3.0.weight",
        "inception_b3.branch5x5.0.weight", "inception_b3.branch_pool.1.weight"}) {
    const pruning::Member* m = g->member(consumer, 1);
    ASSERT_NE(m, nullptr) << consumer;
    EXPECT_EQ(m->positions[100], std::vector<std::int64_t>{100}) << consumer;
  }
  check_equivalence("googlenet", {3, 16, 16}, 0.3, true);
}
// DenseNet-40: every dense layer's new channels run through the concats into all later layers of
// the block (their BNs and convs) and the next transition; pruned at each consumer's offset.
TEST(SurgeryEquivalence, DenseNet40ThroughConcats) {
  check_equivalence("densenet40", {3, 16, 16}, 0.3, true);
}
TEST(SurgeryEquivalence, MobileNetV2) { check_equivalence("mobilenetv2", {3, 64, 64}, 0.3, true); }

}  // namespace
}  // namespace shears::testing
