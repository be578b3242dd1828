// ABCPruner end to end through `shears run` on real data: a tiny colony on Fashion-MNIST and on
// the CIFAR-10 batch of ../shared/data finds a better candidate than its initial colony's best,
// logs every candidate, and the summary carries the search's cost.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "engine/io/safetensors.h"
#include "pruning/search/driver.h"
#include "tests/support/experiments.h"
#include "tests/support/real_data.h"
#include "tests/support/run_files.h"
#include "tests/support/temp_dir.h"

namespace shears::testing {
namespace {

const char* kSearch = R"(
model:
  arch: resnet20
  width: 0.5
train:
  epochs: 2
  lr: 0.1
  nesterov: true
  weight_decay: 5.0e-4
  schedule: cosine
prune:
  method: abc
  food_number: 3
  food_limit: 2
  max_cycle: 2
  calfitness_epoch: 1
  train_batches: 4
  eval_batches: 2
  candidate_lr: 0.05
  flops_target: 0.3
  finetune: {epochs: 0}
bench:
  enabled: false
)";

nlohmann::json run_search(const TempDir& dir, const std::string& data_yaml) {
  std::string cfg = dir.file("abc.yaml");
  std::ofstream(cfg) << "name: abc-e2e\nseed: 1\n" << data_yaml << kSearch;
  EXPECT_EQ(app::run_cli({"run", cfg, "--out", dir.file("run"), "--quiet"}), 0);
  std::ifstream in(dir.file("run") + "/summary.json");
  return nlohmann::json::parse(in);
}

void expect_search_improved(const TempDir& dir, const nlohmann::json& s) {
  const nlohmann::json& r = s["method_report"];
  SCOPED_TRACE(r.dump());
  EXPECT_EQ(r["fitness_split"], "val");
  EXPECT_GT(r["best_fitness"].get<double>(), r["initial_colony"]["best_fitness"].get<double>());
  EXPECT_TRUE(r["budget"]["kept"].get<bool>());
  EXPECT_GE(s["ratios"]["flops_reduction"].get<double>(), 30.0);
  std::ifstream log(dir.file("run") + "/search.jsonl");
  std::int64_t lines = 0;
  for (std::string l; std::getline(log, l);) ++lines;
  EXPECT_EQ(lines, r["search"]["candidates_evaluated"].get<std::int64_t>());
  EXPECT_GT(r["search"]["wall_seconds"].get<double>(), 0.0);
}

TEST(RealData, AbcSearchImprovesOnFashionMnist) {
  SKIP_WITHOUT_FASHION_MNIST();
  TempDir dir;
  nlohmann::json s = run_search(dir, R"(data:
  dataset: fashion_mnist
  batch_size: 64
  eval_batch_size: 150
  workers: 1
  subset: {mode: per_class, size: 60}
  val_size: 300
  test_size: 500
)");
  expect_search_improved(dir, s);
}

TEST(RealData, AbcSearchImprovesOnTheCifar10Batch) {
  const std::string root = testing::cifar10_batch_dir();
  SKIP_WITHOUT_CIFAR10_BATCH(root);
  TempDir dir;
  nlohmann::json s = run_search(dir, "data:\n  dataset: cifar10\n  root: " + root + R"(
  train_files: [data_batch_1.bin]
  batch_size: 64
  eval_batch_size: 150
  workers: 1
  subset: {mode: per_class, size: 60}
  val_size: 300
  test_size: 500
)");
  expect_search_improved(dir, s);
}

// `shears run` stopped after some evaluations and run again with the same --out ends exactly
// where an uninterrupted run does: same best code and fitness, same search log, same pruned and
// fine-tuned weights.
TEST(AbcRun, StoppedAndResumedRunEqualsAnUninterruptedOne) {
  const std::string yaml = kTinyAbcSearchYaml;
  TempDir dir;
  std::string cfg = dir.file("abc.yaml");
  std::ofstream(cfg) << yaml;
  ASSERT_EQ(app::run_cli({"run", cfg, "--out", dir.file("whole"), "--quiet"}), 0);
  EXPECT_THROW(app::run_cli({"run", cfg, "--out", dir.file("cut"), "--quiet", "--set",
                             "prune.stop_after=4"}),
               pruning::search::SearchStopped);
  ASSERT_EQ(app::run_cli({"run", cfg, "--out", dir.file("cut"), "--quiet"}), 0);
  auto summary = [&](const std::string& run) {
    std::ifstream in(dir.file(run) + "/summary.json");
    return nlohmann::json::parse(in);
  };
  nlohmann::json a = summary("whole")["method_report"], b = summary("cut")["method_report"];
  EXPECT_EQ(a["best_code"], b["best_code"]);
  EXPECT_EQ(a["best_fitness"], b["best_fitness"]);
  EXPECT_EQ(a["search"]["candidates_evaluated"], b["search"]["candidates_evaluated"]);
  EXPECT_EQ(search_log(dir.file("whole") + "/search.jsonl"),
            search_log(dir.file("cut") + "/search.jsonl"));
  expect_same_f32_tensors(dir.file("whole") + "/pruned.safetensors",
                          dir.file("cut") + "/pruned.safetensors");
}

}  // namespace
}  // namespace shears::testing
