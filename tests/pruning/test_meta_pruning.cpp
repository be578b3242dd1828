// MetaPruning: encodings and their FLOPs through the cost model, the PruningNet's export, the
// evolutionary search (FLOPs window, only new candidates, improvement, resume) and Spearman.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "engine/autograd/grad_mode.h"
#include "engine/config/config.h"
#include "engine/ops.h"
#include "engine/optim/lr_schedule.h"
#include "models/model.h"
#include "models/registry.h"
#include "pruning/cost_model.h"
#include "pruning/methods/meta_pruning.h"
#include "pruning/methods/pruning_net.h"
#include "pruning/search/driver.h"
#include "pruning/search/evolution.h"
#include "pruning/search/width_encoding.h"
#include "tests/pruning/tiny_search.h"
#include "tests/support/memory_source.h"
#include "tests/support/run_files.h"
#include "tests/support/temp_dir.h"

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
  auto full = models::build_model(e.base);  // MobileNetV2: the supernet, not `base`
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
  expect_cost_exact("mobilenetv2", {3, 32, 32}, 2);
}

// MobileNetV2's encoding is the reference supernet's: stem 44, stage outputs 22 ... 448, a
// first block that expands (1x), the others 6x their largest input, the last 1x1 at 1280.
TEST(WidthEncoding, MobileNetV2SupernetGenes) {
  auto e = search::width_encoding(models::default_arch("mobilenetv2", 1000, {3, 224, 224}));
  ASSERT_EQ(e.genes.size(), 25u);
  EXPECT_EQ(e.genes[0].name, "stem");
  EXPECT_EQ(e.genes[0].max, 44);
  const std::int64_t stage_max[7] = {22, 33, 44, 88, 132, 224, 448};
  for (int s = 0; s < 7; ++s) EXPECT_EQ(e.genes[1 + s].max, stage_max[s]) << s;
  EXPECT_EQ(e.genes[4].layers.size(), 4u);  // stage 4: features.7 ... features.10
  EXPECT_EQ(e.genes[8].name, "features.1.mid");
  EXPECT_EQ(e.genes[8].max, 44);     // the first block expands 1x
  EXPECT_EQ(e.genes[9].max, 132);    // 6 x 22
  EXPECT_EQ(e.genes[24].max, 1344);  // 6 x 224
  EXPECT_EQ(e.base.width("features.18.0"), 1280);
  // The supernet is a registry MobileNetV2 whose first block has the expansion conv, and its
  // Arch survives building.
  manual_seed(1);
  auto built = models::build_model(e.base);
  EXPECT_EQ(models::arch_of(*built), e.base);
  EXPECT_NO_THROW(built->tensor_at("features.1.conv.0.0.weight"));
  EXPECT_EQ(built->tensor_at("features.1.conv.2.weight").shape(), (Shape{22, 44, 1, 1}));
  // The standard network keeps its layout (no expansion in the first block).
  auto standard = models::build_model(models::default_arch("mobilenetv2", 10, {3, 32, 32}));
  EXPECT_EQ(standard->tensor_at("features.1.conv.1.weight").shape(), (Shape{16, 32, 1, 1}));
}

// The layer shapes the latency table is asked for are those of the built network of the code.
void expect_shapes_exact(const models::Arch& base, const Shape& input) {
  manual_seed(1);
  auto e = search::width_encoding(base);
  auto full = models::build_model(e.base);
  search::EncodingCost costs(*full, input, e);
  Generator gen(8);
  std::vector<int> code(e.genes.size());
  for (int& g : code) g = static_cast<int>(gen.next_u64() % 31);
  auto built = models::build_model(e.arch(code));
  CostReport r = count_cost(*built, input);
  std::vector<LayerShape> shapes = costs.layer_shapes(code, 3);
  ASSERT_EQ(shapes.size(), r.layers.size());
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const LayerCost& l = r.layers[i];
    const LayerGeometry& g = r.geometry[i];
    const LayerShape& s = shapes[i];
    EXPECT_EQ(s.op, l.op);
    EXPECT_EQ(s.out_channels, l.weight_shape[0]) << l.name;
    EXPECT_EQ(s.batch, 3);
    if (l.op == "linear") {
      EXPECT_EQ(s.in_channels, l.weight_shape[1]) << l.name;
      continue;
    }
    EXPECT_EQ(s.in_channels, g.input_shape[0]) << l.name;
    EXPECT_EQ(s.groups, g.groups) << l.name;
    EXPECT_EQ(s.kernel, l.weight_shape[2]) << l.name;
    EXPECT_EQ(s.stride, g.stride) << l.name;
    EXPECT_EQ(s.padding, g.padding) << l.name;
    EXPECT_EQ(s.height, g.input_shape[1]) << l.name;
    EXPECT_EQ(s.width, g.input_shape[2]) << l.name;
  }
}

TEST(WidthEncoding, LayerShapesAreThoseOfTheBuiltNetwork) {
  expect_shapes_exact(models::default_arch("resnet20", 10, {3, 32, 32}), {3, 32, 32});
  expect_shapes_exact(models::default_arch("mobilenetv2", 10, {3, 32, 32}), {3, 32, 32});
}

// The reference's MobileNetV2 MACs written out independently (its adapt_channel: 18 per-layer
// stage ids, 17 mid ids; strides 2 at the first layer of the 33, 44, 88 and 224 stages; the first
// block's mid from 44, the others 6x their input), conv and linear MACs at 224x224.
std::int64_t reference_mobilenetv2_macs(const std::vector<int>& ov, const std::vector<int>& mid) {
  const std::int64_t soc[18] = {44, 22, 33,  33,  44,  44,  44,  88,  88,
                                88, 88, 132, 132, 132, 224, 224, 224, 448};
  auto w = [](std::int64_t max, int id) { return max * (10 + 3 * id) / 100; };
  std::int64_t o[18], m[17];
  for (int i = 0; i < 18; ++i) o[i] = w(soc[i], ov[static_cast<std::size_t>(i)]);
  for (int i = 0; i < 17; ++i)
    m[i] = w(i == 0 ? soc[0] : 6 * soc[i], mid[static_cast<std::size_t>(i)]);
  std::int64_t hw = 112, total = 3 * 9 * o[0] * hw * hw;
  for (int i = 1; i < 18; ++i) {
    const bool s2 = i > 1 && soc[i - 1] != soc[i] && soc[i] != 132 && soc[i] != 448;
    total += o[i - 1] * m[i - 1] * hw * hw;
    if (s2) hw /= 2;
    total += m[i - 1] * 9 * hw * hw + m[i - 1] * o[i] * hw * hw;
  }
  return total + o[17] * 1280 * hw * hw + 1280 * 1000;
}

// The supernet and docs/methods.md's "140 M" MobileNetV2 encoding (18 per-layer stage ids, shared
// within a stage, and 17 mid ids) priced at 224x224 by the cost model, against the reference's
// network written out above. The supernet is the paper's 1.4x network (published 585 M counting
// BN and pooling as the reference does; conv and linear alone about 570 M). The listed ids give
// about 98 M, not 140 M (the reference's own count, BN included, about 102 M): printed, and
// reported as a discrepancy of those ids, not of the cost model.
TEST(WidthEncoding, MobileNetV2ReferenceEncodingFlops) {
  manual_seed(2);
  auto e = search::width_encoding(models::default_arch("mobilenetv2", 1000, {3, 224, 224}));
  auto full = models::build_model(e.base);
  search::EncodingCost costs(*full, {3, 224, 224}, e);
  const std::vector<int> stage_ids = {2, 3, 4, 4, 7, 7, 7, 10, 10, 10, 10, 5, 5, 5, 12, 12, 12, 7};
  const std::vector<int> mid_ids = {11, 11, 6,  15, 8,  13, 16, 14, 3,
                                    14, 10, 17, 13, 17, 17, 17, 16};
  // Per-layer ids -> genes: stem, then the first layer of each stage.
  const int first_of_stage[8] = {0, 1, 2, 4, 7, 11, 14, 17};
  std::vector<int> code;
  for (int f : first_of_stage) code.push_back(stage_ids[static_cast<std::size_t>(f)]);
  code.insert(code.end(), mid_ids.begin(), mid_ids.end());
  ASSERT_EQ(code.size(), 25u);
  const std::int64_t full_macs = costs.full().macs;
  const std::int64_t macs = costs.cost(code).macs;
  std::printf("MobileNetV2 supernet %lld MACs, the listed 140 M encoding %lld MACs\n",
              static_cast<long long>(full_macs), static_cast<long long>(macs));
  EXPECT_EQ(full_macs,
            reference_mobilenetv2_macs(std::vector<int>(18, 30), std::vector<int>(17, 30)));
  EXPECT_EQ(macs, reference_mobilenetv2_macs(stage_ids, mid_ids));
  EXPECT_NEAR(static_cast<double>(full_macs), 585e6, 0.03 * 585e6);
  // The built network agrees (the cost model is exact, tested above at 32x32).
  auto built = models::build_model(e.arch(code));
  EXPECT_EQ(count_cost(*built, {3, 224, 224}).macs, macs);
}

// The registry network that export_weights fills computes what the PruningNet computes at that
// code (eval mode, with the bank's statistics).
void expect_export_equal(const models::Arch& base, const std::vector<int>& code, const Shape& input,
                         std::int64_t hidden = 8) {
  manual_seed(3);
  auto e = search::width_encoding(base);
  auto net = make_pruning_net(e, hidden);
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

TEST(PruningNet, MobileNetV2ExportEqualsThePruningNet) {
  // The 140 M reference code on the full supernet at 32x32; generators with 2 hidden units keep
  // the test small (their output layers still span every weight of the supernet).
  expect_export_equal(
      models::default_arch("mobilenetv2", 10, {3, 32, 32}),
      {2, 3, 4, 7, 10, 5, 12, 7, 11, 11, 6, 15, 8, 13, 16, 14, 3, 14, 10, 17, 13, 17, 17, 17, 16},
      {3, 32, 32}, 2);
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

// ---- the method end to end on a tiny network -----------------------------------------------

using testing::MemorySource;
using testing::TempDir;

using Tiny = testing::TinySearch;

std::unique_ptr<Tiny> make_tiny(const std::string& run_dir) {
  return testing::make_tiny_search(run_dir, Device::cpu(), /*epochs=*/0, /*momentum=*/0.0);
}

PruneResult run_meta(Tiny& t, const std::string& extra) {
  Config c = Config::parse(
      "method: metapruning\npruningnet: {epochs: 1, lr: 0.05, hidden: 4}\n"
      "search: {population: 6, memory: 6, parents: 3, iterations: 3, mutations: 2, "
      "crossovers: 2}\nrecalibrate_batches: 2\n" +
          extra,
      "metapruning.yaml");
  std::unique_ptr<Method> m = make_method(c);
  c.check_all_read();
  return m->run(t.ctx);
}

/// A fake latency table: milliseconds a known function of the shape (MACs plus a per-layer
/// overhead), each shape's calls counted.
struct FakeTable {
  std::map<std::string, int> calls;
  static double ms(const LayerShape& s) {
    const double macs = s.op == "linear" ? static_cast<double>(s.in_channels * s.out_channels)
                                         : static_cast<double>(s.out_channels * s.height * s.width /
                                                               s.stride / s.stride * s.in_channels /
                                                               s.groups * s.kernel * s.kernel);
    return 0.01 + 1e-5 * macs;
  }
  double operator()(const LayerShape& s) {
    ++calls[s.key()];
    return ms(s);
  }
};

// The latency-target search keeps only candidates whose table latency is under the target: every
// logged candidate's latency, recomputed here from the traced layers of its built network, is at
// most the target; each layer shape is asked of the table once.
TEST(MetaPruningMethod, LatencyTargetNeverKeepsACandidateOverTheTarget) {
  TempDir dir;
  auto t = make_tiny(dir.path());
  auto table = std::make_shared<FakeTable>();
  t->ctx.layer_latency = [table](const LayerShape& s) { return (*table)(s); };
  // The full network's latency, from its traced layers.
  auto latency_of_model = [](nn::Module& m) {
    double total = 0;
    CostReport r = count_cost(m, {3, 8, 8});
    for (std::size_t i = 0; i < r.layers.size(); ++i) {
      const LayerCost& l = r.layers[i];
      const LayerGeometry& g = r.geometry[i];
      LayerShape s;
      s.op = l.op;
      s.out_channels = l.weight_shape[0];
      s.in_channels = l.op == "linear" ? l.weight_shape[1] : g.input_shape[0];
      if (l.op != "linear") {
        s.height = g.input_shape[1];
        s.width = g.input_shape[2];
        s.kernel = static_cast<int>(l.weight_shape[2]);
        s.stride = g.stride;
        s.groups = g.groups;
      }
      total += FakeTable::ms(s);
    }
    return total;
  };
  const double full_ms = latency_of_model(*t->model);
  const double target = 0.6 * full_ms;
  char extra[128];
  std::snprintf(extra, sizeof extra, "latency_target_ms: %.6f\n", target);
  PruneResult r = run_meta(*t, extra);
  nlohmann::json report = nlohmann::json::parse(r.report_json);
  const auto lines = testing::search_log(dir.file("search.jsonl"));
  ASSERT_GE(lines.size(), 10u);
  auto enc = search::width_encoding(models::arch_of(*t->model));
  for (const auto& l : lines) {
    const std::vector<int> code = l.at("code").get<std::vector<int>>();
    manual_seed(1);
    auto built = models::build_model(enc.arch(code));
    const double ms = latency_of_model(*built);
    EXPECT_NEAR(l.at("latency_ms").get<double>(), ms, 1e-9 * ms);
    EXPECT_LE(ms, target) << "a candidate over the latency target";
  }
  for (const auto& [key, n] : table->calls) EXPECT_EQ(n, 1) << key << " measured more than once";
  EXPECT_EQ(report["latency"]["layer_shapes"].get<std::size_t>(), table->calls.size());
  EXPECT_LE(report["latency"]["encoding_ms"].get<double>(), target);
  EXPECT_NEAR(report["latency"]["full_ms"].get<double>(), full_ms, 1e-9 * full_ms);
  EXPECT_NEAR(latency_of_model(*r.model), report["latency"]["encoding_ms"].get<double>(),
              1e-9 * full_ms);
  // The target is real: the full network and most of the initial range lie above it.
  EXPECT_GT(full_ms, target);

  // Without a table a latency target is refused.
  TempDir other;
  auto u = make_tiny(other.path());
  EXPECT_THROW(run_meta(*u, extra), Error);
}

// Candidates scored two at a time on two PruningNet copies give the one-at-a-time search exactly.
TEST(MetaPruningMethod, ParallelCandidatesGiveTheSameSearch) {
  const std::string kWindow = "flops_target: 0.6\nflops_window: 0.1\n";
  TempDir one_dir, two_dir;
  auto one = make_tiny(one_dir.path());
  PruneResult a = run_meta(*one, kWindow + "parallel: 1\nthreads_per_candidate: 1\n");
  auto two = make_tiny(two_dir.path());
  PruneResult b = run_meta(*two, kWindow + "parallel: 2\nthreads_per_candidate: 1\n");
  nlohmann::json ra = nlohmann::json::parse(a.report_json);
  nlohmann::json rb = nlohmann::json::parse(b.report_json);
  EXPECT_EQ(rb["search"]["parallel"], 2);
  EXPECT_EQ(ra["encoding"], rb["encoding"]);
  EXPECT_EQ(ra["pruningnet_sub_val_top1"], rb["pruningnet_sub_val_top1"]);
  const auto la = testing::search_log(one_dir.file("search.jsonl"));
  EXPECT_EQ(la, testing::search_log(two_dir.file("search.jsonl")));
  std::set<double> distinct;
  for (const auto& l : la) distinct.insert(l.at("fitness").get<double>());
  EXPECT_GE(distinct.size(), 2u) << "every candidate scored the same: the test would prove nothing";
}

TEST(MetaPruningMethod, BadKeysAreNamed) {
  for (const char* text :
       {"method: metapruning\nflops_target: 0.5\nparallel: 0\n",
        "method: metapruning\nlatency_target_ms: -1\n",
        "method: metapruning\nlatency_target_ms: 2\nlatency_batch: 0\n", "method: metapruning\n"}) {
    Config c = Config::parse(text, "m.yaml");
    EXPECT_THROW(make_method(c), ConfigError) << text;
  }
  Config ok = Config::parse("method: metapruning\nlatency_target_ms: 2.5\n", "m.yaml");
  EXPECT_NO_THROW(make_method(ok));
}

}  // namespace
}  // namespace shears::pruning
