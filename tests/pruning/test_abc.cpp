// ABCPruner's search space and the method end to end: units per model family, the cost of a
// code without building its network, the budget, weight inheritance, search.jsonl, resume after
// an interruption, and parallel candidates.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/config/config.h"
#include "engine/io/safetensors.h"
#include "engine/optim/lr_schedule.h"
#include "models/model.h"
#include "models/registry.h"
#include "pruning/cost_model.h"
#include "pruning/criteria/criterion.h"
#include "pruning/methods/method.h"
#include "pruning/search/channel_space.h"
#include "pruning/search/driver.h"
#include "tests/pruning/tiny_search.h"
#include "tests/support/cuda_test.h"
#include "tests/support/memory_source.h"
#include "tests/support/temp_dir.h"

namespace shears::testing {
namespace {

namespace search = pruning::search;

struct Space {
  std::shared_ptr<nn::Module> model;
  pruning::DependencyGraph graph;
  std::vector<search::SearchUnit> units;
};

// `width_mult` < 1 keeps the tests fast; it changes widths, never which layers are units.
Space space_of(const std::string& name, std::int64_t classes, const Shape& input,
               double width_mult = 1.0) {
  manual_seed(9);
  Space s;
  s.model = models::build_model(models::default_arch(name, classes, input, width_mult));
  s.graph = pruning::DependencyGraph::build(*s.model, input);
  s.units = search::search_units(s.graph, *s.model, search::default_unit_sharing(name));
  return s;
}

std::vector<int> random_code(std::size_t dims, int max_preserve, Generator& gen) {
  std::vector<int> code(dims);
  for (int& c : code)
    c = 1 + static_cast<int>(gen.next_u64() % static_cast<std::uint64_t>(max_preserve));
  return code;
}

TEST(AbcSpace, UnitsPerFamilyAreThePapersDimensions) {
  // docs/methods.md §5: VGG-16 13, ResNet-56 27, ResNet-110 54, ResNet-18 8, ResNet-34 16,
  // ResNet-50 16 (a bottleneck's conv1 and conv2 share one code).
  EXPECT_EQ(space_of("vgg16", 10, {3, 32, 32}, 0.25).units.size(), 13u);
  EXPECT_EQ(space_of("resnet110", 10, {3, 8, 8}, 0.25).units.size(), 54u);
  EXPECT_EQ(space_of("resnet18", 10, {3, 32, 32}, 0.25).units.size(), 8u);
  EXPECT_EQ(space_of("resnet34", 10, {3, 32, 32}, 0.25).units.size(), 16u);
  Space r50 = space_of("resnet50", 10, {3, 32, 32}, 0.25);
  ASSERT_EQ(r50.units.size(), 16u);
  EXPECT_EQ(r50.units[0].name, "layer1.0.conv1");
  EXPECT_EQ(r50.units[0].groups.size(), 2u);
  Space r56 = space_of("resnet56", 10, {3, 8, 8}, 0.25);
  ASSERT_EQ(r56.units.size(), 27u);
  EXPECT_EQ(r56.units[0].name, "layer1.0.conv1");
  EXPECT_EQ(r56.units[26].name, "layer3.8.conv1");
  // GoogLeNet 9: per Inception module one code for the 3x3 branch's reduce and the 5x5 branch's
  // reduce and middle conv; branch outputs (the concat's widths) are not searched.
  Space g = space_of("googlenet", 10, {3, 32, 32}, 0.25);
  ASSERT_EQ(g.units.size(), 9u);
  for (const search::SearchUnit& u : g.units) {
    SCOPED_TRACE(u.name);
    EXPECT_EQ(u.groups.size(), 3u);
    std::vector<std::string> producers;
    for (int id : u.groups) producers.push_back(g.graph.groups()[id].producers.at(0));
    ASSERT_EQ(producers.size(), 3u);
    EXPECT_NE(producers[0].find(".branch3x3.0"), std::string::npos);
    EXPECT_NE(producers[1].find(".branch5x5.0"), std::string::npos);
    EXPECT_NE(producers[2].find(".branch5x5.3"), std::string::npos);
  }
}

TEST(AbcSpace, WidthsAreTheIntegerPartOfCTimesCodeOverTen) {
  Space s = space_of("resnet20", 10, {3, 32, 32});
  ASSERT_EQ(s.units.size(), 9u);
  std::vector<int> code = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  search::GroupWidths w = search::widths_of_code(s.units, s.graph, code);
  // Stage 1 has 16 channels, stage 2 32, stage 3 64.
  EXPECT_EQ(w.at(s.units[0].groups[0]), 1);   // int(1.6)
  EXPECT_EQ(w.at(s.units[1].groups[0]), 3);   // int(3.2)
  EXPECT_EQ(w.at(s.units[2].groups[0]), 4);   // int(4.8)
  EXPECT_EQ(w.at(s.units[3].groups[0]), 12);  // int(12.8)
  EXPECT_EQ(w.at(s.units[8].groups[0]), 57);  // int(57.6)
  EXPECT_THROW(search::widths_of_code(s.units, s.graph, {1, 2}), Error);
}

TEST(AbcSpace, CostOfACodeEqualsTheCostOfTheBuiltNetwork) {
  for (const char* name : {"resnet20", "vgg16", "resnet50"}) {
    SCOPED_TRACE(name);
    const Shape input{3, 32, 32};
    Space s = space_of(name, 10, input, 0.5);
    search::ArchCost costs(*s.model, s.graph, input);
    pruning::CostReport dense = pruning::count_cost(*s.model, input);
    EXPECT_EQ(costs.dense().macs, dense.macs);
    EXPECT_EQ(costs.dense().params, dense.params);
    Generator gen(3);
    for (int trial = 0; trial < 3; ++trial) {
      std::vector<int> code = random_code(s.units.size(), 9, gen);
      search::GroupWidths w = search::widths_of_code(s.units, s.graph, code);
      pruning::PrunePlan plan =
          search::plan_for_widths(*s.model, s.graph, w, search::Inherit::RandomPretrain, gen);
      pruning::SurgeryResult r =
          search::build_candidate(*s.model, s.graph, plan, search::Inherit::RandomPretrain, gen);
      pruning::CostReport built = pruning::count_cost(*r.model, input);
      search::ArchCost::Cost c = costs.cost(w);
      EXPECT_EQ(c.macs, built.macs);
      EXPECT_EQ(c.params, built.params);
      // From the architecture alone.
      search::ArchCost::Cost a = costs.cost(r.arch);
      EXPECT_EQ(a.macs, built.macs);
      EXPECT_EQ(a.params, built.params);
    }
  }
}

TEST(AbcSpace, BudgetIsNeverExceededOverManyRandomCodes) {
  Space s = space_of("resnet56", 10, {3, 32, 32});
  search::ArchCost costs(*s.model, s.graph, {3, 32, 32});
  for (bool repair : {true, false}) {
    search::Budget budget;
    budget.max_macs = costs.dense().macs / 2;  // at least 50 % fewer FLOPs
    budget.max_params = costs.dense().params * 6 / 10;
    budget.repair = repair;
    Generator gen(21);
    int admitted = 0;
    for (int trial = 0; trial < 400; ++trial) {
      std::vector<int> code = random_code(s.units.size(), 9, gen);
      if (!search::fit_budget(code, budget, costs, s.units, s.graph, gen)) continue;
      ++admitted;
      search::ArchCost::Cost c = costs.cost(search::widths_of_code(s.units, s.graph, code));
      EXPECT_LE(c.macs, budget.max_macs);
      EXPECT_LE(c.params, budget.max_params);
      for (int v : code) EXPECT_GE(v, 1);
    }
    // Repairing admits every code (all ones fits); rejecting admits only some.
    if (repair) {
      EXPECT_EQ(admitted, 400);
    } else {
      EXPECT_LT(admitted, 400);
    }
  }
}

TEST(AbcInherit, RandomPretrainKeepsSortedRandomSlicesAndNextInputsFollow) {
  Space s = space_of("resnet20", 10, {3, 16, 16});
  std::vector<int> code(s.units.size(), 5);
  search::GroupWidths w = search::widths_of_code(s.units, s.graph, code);
  Generator a(1), b(1), c(2);
  pruning::PrunePlan pa =
      search::plan_for_widths(*s.model, s.graph, w, search::Inherit::RandomPretrain, a);
  pruning::PrunePlan pb =
      search::plan_for_widths(*s.model, s.graph, w, search::Inherit::RandomPretrain, b);
  pruning::PrunePlan pc =
      search::plan_for_widths(*s.model, s.graph, w, search::Inherit::RandomPretrain, c);
  EXPECT_EQ(pa, pb);  // same generator, same pick
  EXPECT_NE(pa, pc);  // another candidate's generator, another pick
  Generator g(1);
  pruning::SurgeryResult r =
      search::build_candidate(*s.model, s.graph, pa, search::Inherit::RandomPretrain, g);
  const auto& kept = r.keep.at("layer1.0.conv1.weight").at(0);
  ASSERT_EQ(kept.size(), 8u);  // int(16 * 5 / 10)
  EXPECT_TRUE(std::is_sorted(kept.begin(), kept.end()));
  Tensor dense1 = s.model->tensor_at("layer1.0.conv1.weight");
  Tensor dense2 = s.model->tensor_at("layer1.0.conv2.weight");
  std::vector<float> d1 = dense1.to_vector<float>(), d2 = dense2.to_vector<float>();
  std::vector<float> c1 = r.model->tensor_at("layer1.0.conv1.weight").to_vector<float>();
  std::vector<float> c2 = r.model->tensor_at("layer1.0.conv2.weight").to_vector<float>();
  const std::int64_t per1 = dense1.numel() / 16;  // 16 * 3 * 3
  for (std::size_t k = 0; k < kept.size(); ++k)
    for (std::int64_t i = 0; i < per1; ++i) ASSERT_EQ(c1[k * per1 + i], d1[kept[k] * per1 + i]);
  // conv2 (16 out, 16 in): input channel k of the candidate is dense input kept[k].
  for (std::int64_t o = 0; o < 16; ++o)
    for (std::size_t k = 0; k < kept.size(); ++k)
      for (std::int64_t i = 0; i < 9; ++i)
        ASSERT_EQ(c2[(o * 8 + k) * 9 + i], d2[(o * 16 + kept[k]) * 9 + i]);
  std::vector<float> bn = r.model->tensor_at("layer1.0.bn1.weight").to_vector<float>();
  std::vector<float> dbn = s.model->tensor_at("layer1.0.bn1.weight").to_vector<float>();
  for (std::size_t k = 0; k < kept.size(); ++k) EXPECT_EQ(bn[k], dbn[kept[k]]);
}

TEST(AbcInherit, L1PretrainKeepsTheLargestFiltersAndRandomInitOnlyTheShape) {
  Space s = space_of("resnet20", 10, {3, 16, 16});
  std::vector<int> code(s.units.size(), 3);
  search::GroupWidths w = search::widths_of_code(s.units, s.graph, code);
  Generator g(4);
  pruning::PrunePlan plan =
      search::plan_for_widths(*s.model, s.graph, w, search::Inherit::L1Pretrain, g);
  pruning::SurgeryResult r =
      search::build_candidate(*s.model, s.graph, plan, search::Inherit::L1Pretrain, g);
  std::vector<double> l1 = pruning::filter_l1(s.model->tensor_at("layer1.0.conv1.weight"));
  std::vector<std::int64_t> order(l1.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  std::sort(order.begin(), order.end(), [&](auto x, auto y) { return l1[x] > l1[y]; });
  std::vector<std::int64_t> top(order.begin(), order.begin() + 4);  // int(16 * 0.3)
  std::sort(top.begin(), top.end());
  EXPECT_EQ(r.keep.at("layer1.0.conv1.weight").at(0), top);

  Generator g2(4);
  pruning::SurgeryResult fresh =
      search::build_candidate(*s.model, s.graph, plan, search::Inherit::RandomInit, g2);
  EXPECT_EQ(fresh.arch, r.arch);
  Tensor a = fresh.model->tensor_at("layer1.0.conv1.weight");
  Tensor b = r.model->tensor_at("layer1.0.conv1.weight");
  ASSERT_EQ(a.shape(), b.shape());
  EXPECT_NE(a.to_vector<float>(), b.to_vector<float>());
  // Drawn from the candidate's generator, not the process-wide one.
  Generator g3(4);
  manual_seed(123);
  pruning::SurgeryResult again =
      search::build_candidate(*s.model, s.graph, plan, search::Inherit::RandomInit, g3);
  EXPECT_EQ(again.model->tensor_at("layer1.0.conv1.weight").to_vector<float>(),
            a.to_vector<float>());
}

// ---- the method end to end on a tiny network -----------------------------------------------

using Tiny = TinySearch;

std::unique_ptr<Tiny> make_tiny(const std::string& run_dir, Device device = Device::cpu()) {
  return make_tiny_search(run_dir, device, /*epochs=*/1, /*momentum=*/0.9);
}

pruning::PruneResult run_abc(Tiny& t, const std::string& extra) {
  Config c = Config::parse(
      "method: abc\nfood_number: 3\nmax_cycle: 2\nfood_limit: 1\ncalfitness_epoch: 1\n"
      "flops_target: 0.3\n" +
          extra,
      "abc.yaml");
  std::unique_ptr<pruning::Method> m = pruning::make_method(c);
  c.check_all_read();
  return m->run(t.ctx);
}

std::vector<nlohmann::json> log_lines(const std::string& run_dir) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(run_dir + "/search.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    j.erase("seconds");
    lines.push_back(j);
  }
  return lines;
}

void expect_same_weights(nn::Module& a, nn::Module& b) {
  TensorList sa = a.state_dict(), sb = b.state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (std::size_t i = 0; i < sa.size(); ++i) {
    ASSERT_EQ(sa[i].first, sb[i].first);
    ASSERT_EQ(sa[i].second.shape(), sb[i].second.shape()) << sa[i].first;
    if (sa[i].second.dtype() == DType::F32) {
      EXPECT_EQ(sa[i].second.to_vector<float>(), sb[i].second.to_vector<float>()) << sa[i].first;
    }
  }
}

TEST(AbcMethod, SearchLogsEveryCandidateKeepsTheBudgetAndReturnsTheBestCode) {
  TempDir dir;
  auto t = make_tiny(dir.path());
  pruning::PruneResult r = run_abc(*t, "");
  nlohmann::json report = nlohmann::json::parse(r.report_json);
  EXPECT_EQ(report["mode"], "corrected");
  EXPECT_EQ(report["fitness_split"], "val");
  EXPECT_EQ(report["inherit"], "random_pretrain");
  std::vector<nlohmann::json> lines = log_lines(dir.path());
  const std::int64_t evaluated = report["search"]["candidates_evaluated"].get<std::int64_t>();
  EXPECT_EQ(static_cast<std::int64_t>(lines.size()), evaluated);
  EXPECT_GE(evaluated, 3 + 2 * 6);  // init + employed + onlookers (+ scouts)
  EXPECT_LE(evaluated, 3 + 2 * 7);
  double best = -1;
  for (const auto& l : lines) {
    EXPECT_LE(l["flops"].get<std::int64_t>(), report["budget"]["max_flops"].get<std::int64_t>());
    best = std::max(best, l["fitness"].get<double>());
  }
  EXPECT_TRUE(report["budget"]["kept"].get<bool>());
  EXPECT_EQ(report["best_fitness"].get<double>(), best);
  // The returned network has the best code's widths and its analytic cost.
  pruning::CostReport cost = pruning::count_cost(*r.model, {3, 8, 8});
  EXPECT_EQ(cost.macs, report["best_flops"].get<std::int64_t>());
  for (auto& [unit, width] : report["best_widths"].items())
    EXPECT_EQ(r.arch.width(unit), width.get<std::int64_t>()) << unit;
}

TEST(AbcMethod, ResumedSearchEqualsAnUninterruptedOne) {
  TempDir whole_dir, cut_dir;
  auto whole = make_tiny(whole_dir.path());
  pruning::PruneResult expected = run_abc(*whole, "");

  auto cut = make_tiny(cut_dir.path());
  EXPECT_THROW(run_abc(*cut, "stop_after: 5\n"), pruning::search::SearchStopped);
  ASSERT_TRUE(std::filesystem::exists(cut_dir.file("search/state.json")));
  EXPECT_EQ(log_lines(cut_dir.path()).size(), 6u);  // init (3) + employed (3): whole batches
  auto resumed_ctx = make_tiny(cut_dir.path());
  pruning::PruneResult got = run_abc(*resumed_ctx, "");
  nlohmann::json a = nlohmann::json::parse(expected.report_json);
  nlohmann::json b = nlohmann::json::parse(got.report_json);
  EXPECT_EQ(a["best_code"], b["best_code"]);
  EXPECT_EQ(a["best_fitness"], b["best_fitness"]);
  EXPECT_EQ(a["search"]["candidates_evaluated"], b["search"]["candidates_evaluated"]);
  EXPECT_EQ(log_lines(whole_dir.path()), log_lines(cut_dir.path()));
  expect_same_weights(*expected.model, *got.model);
}

TEST(AbcMethod, ParallelCandidatesGiveTheSameResultAsOneAtATime) {
  TempDir one_dir, two_dir;
  auto one = make_tiny(one_dir.path());
  pruning::PruneResult a = run_abc(*one, "parallel: 1\nthreads_per_candidate: 1\n");
  auto two = make_tiny(two_dir.path());
  pruning::PruneResult b = run_abc(*two, "parallel: 2\nthreads_per_candidate: 1\n");
  nlohmann::json ra = nlohmann::json::parse(a.report_json);
  nlohmann::json rb = nlohmann::json::parse(b.report_json);
  EXPECT_EQ(ra["best_code"], rb["best_code"]);
  EXPECT_EQ(ra["best_fitness"], rb["best_fitness"]);
  EXPECT_EQ(rb["search"]["parallel"], 2);
  EXPECT_EQ(log_lines(one_dir.path()), log_lines(two_dir.path()));
  expect_same_weights(*a.model, *b.model);
}

// On a GPU each worker thread trains its candidate on a CUDA stream of its own: the candidates'
// kernels overlap, their results do not change (deterministic cuDNN algorithms).
class AbcOnCuda : public CudaTest {
 protected:
  void TearDown() override { set_cuda_policy(CudaPolicy{}); }
};

TEST_F(AbcOnCuda, ParallelCandidatesOnTheirOwnStreamsGiveTheSameResultAsOneAtATime) {
  CudaPolicy policy;
  policy.deterministic = true;
  set_cuda_policy(policy);
  TempDir one_dir, two_dir;
  auto one = make_tiny(one_dir.path(), Device::cuda(0));
  pruning::PruneResult a = run_abc(*one, "parallel: 1\nthreads_per_candidate: 1\n");
  auto two = make_tiny(two_dir.path(), Device::cuda(0));
  pruning::PruneResult b = run_abc(*two, "parallel: 2\nthreads_per_candidate: 1\n");
  nlohmann::json ra = nlohmann::json::parse(a.report_json);
  nlohmann::json rb = nlohmann::json::parse(b.report_json);
  EXPECT_EQ(rb["search"]["parallel"], 2);
  EXPECT_EQ(ra["best_code"], rb["best_code"]);
  EXPECT_EQ(ra["best_fitness"], rb["best_fitness"]);
  EXPECT_EQ(log_lines(one_dir.path()), log_lines(two_dir.path()));
  expect_same_weights(*a.model, *b.model);
}

TEST(AbcMethod, BadKeysAreNamed) {
  for (const char* yaml : {"method: abc\nmode: exact\n", "method: abc\ninherit: l2\n",
                           "method: abc\nmax_preserve: 11\n", "method: abc\nparallel: 0\n",
                           "method: abc\nflops_target: 1.5\n"}) {
    SCOPED_TRACE(yaml);
    Config c = Config::parse(yaml, "abc.yaml");
    try {
      pruning::make_method(c);
      ADD_FAILURE() << "accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("abc.yaml:"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace shears::testing
