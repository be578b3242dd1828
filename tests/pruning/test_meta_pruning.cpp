// MetaPruning: encodings and their FLOPs through the cost model, the PruningNet's export, the
// evolutionary search (FLOPs window, only new candidates, improvement, resume) and Spearman.
#include <gtest/gtest.h>

#include <set>

#include <cstdio>
#include "engine/autograd/grad_mode.h"
#include "engine/ops.h"
#include "models/registry.h"
#include "pruning/cost_model.h"
#include "pruning/methods/meta_pruning.h"
#include "pruning/methods/pruning_net.h"
#include "pruning/search/evolution.h"
#include "pruning/search/width_encoding.h"

namespace shears::pruning {
namespace {

using search::meta_width;

TEST(WidthEncoding, ScalesAndWidths) {
  EXPECT_DOUBLE_EQ(search::meta_scale(0), 0.10);
  EXPECT_DOUBLE_EQ(search::meta_scale(30), 1.00);
  EXPECT_EQ(meta_width(16, 0), 1);
  EXPECT_EQ(meta_width(64, 30), 64);
  EXPECT_EQ(meta_width(100, 6), 28);    // 0.28 exactly (floating point gives 27.999...)
  EXPECT_EQ(meta_width(256, 12), 117);  // int(256 * 0.46)
  EXPECT_THROW(meta_width(16, 31), Error);
}

TEST(WidthEncoding, CifarResNetGenes) {
  auto e20 = search::width_encoding(models::default_arch("resnet20", 10, {3, 32, 32}));
  ASSERT_EQ(e20.genes.size(), 12u);
  EXPECT_EQ(e20.genes[0].name, "stage1");
  EXPECT_EQ(e20.genes[3].name, "layer1.0.mid");
  auto e56 = search::width_encoding(models::default_arch("resnet56", 10, {3, 32, 32}));
  EXPECT_EQ(e56.genes.size(), 30u);
  std::vector<int> code(12, 30);
  code[0] = 15;  // stage 1 at 0.55: int(16 * 0.55) = 8
  code[2] = 0;   // stage 3 at 0.10: 6
  code[4] = 9;   // layer1.1 mid at 0.37: 5
  models::Arch a = e20.arch(code);
  EXPECT_EQ(a.width("conv1"), 8);
  EXPECT_EQ(a.width("layer1.2.conv2"), 8);
  EXPECT_EQ(a.width("layer3.0.conv2"), 6);
  EXPECT_EQ(a.width("layer1.1.conv1"), 5);
  EXPECT_EQ(a.width("layer2.0.conv1"), 32);
  EXPECT_THROW(e20.arch(std::vector<int>(11, 3)), Error);
  EXPECT_THROW(search::width_encoding(models::default_arch("vgg16", 10, {3, 32, 32})), ConfigError);
}

// The encoding's cost model prices encoded architectures (residual streams pruned through
// zero-padded or projection shortcuts) exactly as the built network's traced MACs and
// parameters.
void expect_cost_exact(const std::string& name, const Shape& input, int codes) {
  manual_seed(1);
  models::Arch base = models::default_arch(name, 10, input);
  auto e = search::width_encoding(base);
  auto full = models::build_model(base);
  search::EncodingCost costs(*full, input, e);
  CostReport dense = count_cost(*full, input);
  EXPECT_EQ(costs.full().macs, dense.macs);
  EXPECT_EQ(costs.full().params, dense.params);
  Generator gen(5);
  for (int t = 0; t < codes; ++t) {
    std::vector<int> code(e.genes.size());
    for (int& g : code) g = static_cast<int>(gen.next_u64() % 31);
    auto built = models::build_model(e.arch(code));
    CostReport r = count_cost(*built, input);
    search::EncodingCost::Cost c = costs.cost(code);
    EXPECT_EQ(c.macs, r.macs) << name << " code " << t;
    EXPECT_EQ(c.params, r.params) << name << " code " << t;
  }
}

TEST(WidthEncoding, CostModelEqualsTheBuiltNetwork) {
  expect_cost_exact("resnet20", {3, 32, 32}, 4);
  expect_cost_exact("resnet56", {3, 32, 32}, 1);
  expect_cost_exact("resnet50", {3, 32, 32}, 1);
}

// docs/methods.md's reference ResNet-50 encodings, priced by the cost model at 224x224.
TEST(WidthEncoding, ResNet50ReferenceEncodingsGiveThePublishedFlops) {
  manual_seed(2);
  models::Arch base = models::default_arch("resnet50", 1000, {3, 224, 224});
  auto e = search::width_encoding(base);
  ASSERT_EQ(e.genes.size(), 20u);
  auto full = models::build_model(base);
  search::EncodingCost costs(*full, {3, 224, 224}, e);
  EXPECT_NEAR(static_cast<double>(costs.full().macs), 4.1e9, 0.05e9);
  const std::vector<int> g2 = {23, 17, 16, 17, 16, 16, 18, 20, 18, 25,
                               11, 29, 22, 18, 13, 27, 17, 23, 23, 20};
  const std::vector<int> g1 = {19, 9,  15, 13, 10, 9,  10, 6,  9,  13,
                               11, 12, 7,  18, 7,  13, 12, 10, 19, 18};
  const double f2 = static_cast<double>(costs.cost(g2).macs);
  const double f1 = static_cast<double>(costs.cost(g1).macs);
  std::printf("ResNet-50 reference encodings: %.0f and %.0f MACs\n", f2, f1);
  // The paper's 2 G search window is 1950-2050 M MACs; 1 G within the same relative width.
  EXPECT_GE(f2, 1.95e9);
  EXPECT_LE(f2, 2.05e9);
  EXPECT_GE(f1, 0.95e9);
  EXPECT_LE(f1, 1.05e9);
}

// The registry network that export_weights fills computes what the PruningNet computes at that
// code (eval mode, with the bank's statistics).
void expect_export_equal(const models::Arch& base, const std::vector<int>& code,
                         const Shape& input) {
  manual_seed(3);
  auto e = search::width_encoding(base);
  auto net = make_pruning_net(e, 8);
  net->set_code(code);
  Generator gen(4);
  Shape batch = {4, input[0], input[1], input[2]};
  Tensor x = rand_uniform(batch, -1, 1, gen);
  {
    NoGrad ng;
    net->train();
    net->forward(x);  // give the selected BNs statistics of their own
    net->forward(rand_uniform(batch, -1, 1, gen));
  }
  net->eval();
  auto model = models::build_model(e.arch(code));
  net->export_weights(*model);
  model->eval();
  NoGrad ng;
  std::vector<float> a = net->forward(x).to_vector<float>();
  std::vector<float> b = model->forward(x).to_vector<float>();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4) << base.name << " " << i;
  EXPECT_THROW(net->set_code(std::vector<int>(code.size(), 31)), Error);
}

TEST(PruningNet, ExportedNetworkEqualsThePruningNet) {
  expect_export_equal(models::default_arch("resnet20", 10, {3, 32, 32}),
                      {12, 20, 5, 3, 30, 17, 0, 9, 22, 14, 8, 26}, {3, 32, 32});
}

TEST(PruningNet, ResNet50ExportEqualsThePruningNet) {
  // A narrow ResNet-50 (width 1/8: stem 8, stage outputs 32 ... 256) keeps the test small; the
  // structure (projections, stage 4 fixed, shared mid widths) is the full network's.
  expect_export_equal(
      models::default_arch("resnet50", 10, {3, 32, 32}, 0.125),
      {23, 17, 16, 17, 16, 16, 18, 20, 18, 25, 11, 29, 22, 18, 13, 27, 17, 23, 23, 20},
      {3, 32, 32});
}

// A toy problem: fitness is minus the distance to a target code, and only codes whose gene sum
// lies in a window are admitted.
struct Toy {
  std::vector<int> target = {3, 25, 7, 18, 30, 0, 12, 21};
  int lo = 100, hi = 130;
  bool admit(const std::vector<int>& c) const {
    int s = 0;
    for (int g : c) s += g;
    return s >= lo && s <= hi;
  }
  double fitness(const std::vector<int>& c) const {
    double d = 0;
    for (std::size_t i = 0; i < c.size(); ++i) d += std::abs(c[i] - target[i]);
    return -d;
  }
};

search::EvolutionOptions toy_options() {
  search::EvolutionOptions o;
  o.population = 20;
  o.memory = 20;
  o.parents = 5;
  o.iterations = 12;
  o.mutations = 10;
  o.crossovers = 10;
  o.init_lo = 10;
  o.init_hi = 20;
  o.seed = 9;
  return o;
}

TEST(Evolution, WindowNewCandidatesAndImprovement) {
  Toy toy;
  search::Evolution evo(toy_options(), 8, [&](const std::vector<int>& c) { return toy.admit(c); });
  std::set<std::vector<int>> seen;
  std::set<std::string> origins;
  double first_best = 0;
  while (!evo.done()) {
    const auto batch = evo.next_batch();
    ASSERT_FALSE(batch.empty());
    std::vector<double> f;
    for (const auto& c : batch) {
      EXPECT_TRUE(toy.admit(c.code)) << "outside the window";
      EXPECT_TRUE(seen.insert(c.code).second) << "a candidate evaluated twice";
      origins.insert(c.origin);
      f.push_back(toy.fitness(c.code));
    }
    evo.accept(f);
    if (evo.iteration() == 1) first_best = evo.best_fitness();
  }
  EXPECT_EQ(evo.evaluations(), static_cast<std::int64_t>(seen.size()));
  EXPECT_EQ(origins, (std::set<std::string>{"crossover", "mutation", "random"}));
  // The search improves on its random first generation by a wide margin.
  EXPECT_GT(evo.best_fitness(), first_best + 10);
  ASSERT_EQ(evo.history().size(), 12u);
  for (std::size_t i = 1; i < evo.history().size(); ++i)
    EXPECT_GE(evo.history()[i], evo.history()[i - 1]);
}

TEST(Evolution, ResumeReproducesAnUninterruptedSearch) {
  Toy toy;
  auto admit = [&](const std::vector<int>& c) { return toy.admit(c); };
  auto run = [&](search::Evolution& evo, int stop_at, std::vector<std::vector<int>>& codes) {
    while (!evo.done() && evo.iteration() < stop_at) {
      std::vector<double> f;
      for (const auto& c : evo.next_batch()) {
        codes.push_back(c.code);
        f.push_back(toy.fitness(c.code));
      }
      evo.accept(f);
    }
  };
  std::vector<std::vector<int>> whole, parts;
  search::Evolution a(toy_options(), 8, admit);
  run(a, 100, whole);
  search::Evolution b(toy_options(), 8, admit);
  run(b, 5, parts);
  const std::string saved = b.to_json().dump();
  search::Evolution c(toy_options(), 8, admit);
  c.restore(nlohmann::json::parse(saved));
  run(c, 100, parts);
  EXPECT_EQ(whole, parts);
  EXPECT_EQ(a.best_code(), c.best_code());
  EXPECT_EQ(a.best_fitness(), c.best_fitness());
  search::EvolutionOptions other = toy_options();
  other.population = 21;
  search::Evolution d(other, 8, admit);
  EXPECT_THROW(d.restore(nlohmann::json::parse(saved)), Error);
}

TEST(MetaPruning, SpearmanKnownValues) {
  EXPECT_DOUBLE_EQ(MetaPruningMethod::spearman({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(MetaPruningMethod::spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  // d = (0, 1, -1, 0): 1 - 6 * 2 / (4 * 15) = 0.8.
  EXPECT_NEAR(MetaPruningMethod::spearman({1, 2, 3, 4}, {1, 3, 2, 4}), 0.8, 1e-12);
  EXPECT_THROW(MetaPruningMethod::spearman({1}, {1}), Error);
}

}  // namespace
}  // namespace shears::pruning
