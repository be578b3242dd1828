// MetaPruning through `shears run`: a stopped and resumed run ends exactly where an
// uninterrupted one does; the summary carries the encoding, its FLOPs and the PruningNet's
// sub-val score; bad keys are errors naming the key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "engine/io/safetensors.h"
#include "pruning/search/driver.h"
#include "tests/support/experiments.h"
#include "tests/support/run_files.h"
#include "tests/support/temp_dir.h"

namespace shears::testing {
namespace {

const char* const kYaml = kTinyMetaPruningYaml;

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

TEST(MetaPruningRun, StoppedAndResumedRunEqualsAnUninterruptedOne) {
  TempDir dir;
  std::string cfg = dir.file("mp.yaml");
  std::ofstream(cfg) << kYaml;
  ASSERT_EQ(app::run_cli({"run", cfg, "--out", dir.file("whole"), "--quiet"}), 0);
  EXPECT_THROW(app::run_cli({"run", cfg, "--out", dir.file("cut"), "--quiet", "--set",
                             "prune.stop_after=6"}),
               pruning::search::SearchStopped);
  ASSERT_EQ(app::run_cli({"run", cfg, "--out", dir.file("cut"), "--quiet"}), 0);
  nlohmann::json sa = read_json(dir.file("whole") + "/summary.json");
  nlohmann::json sb = read_json(dir.file("cut") + "/summary.json");
  const nlohmann::json& a = sa["method_report"];
  const nlohmann::json& b = sb["method_report"];
  SCOPED_TRACE(a.dump());
  EXPECT_EQ(a["encoding"], b["encoding"]);
  EXPECT_EQ(a["pruningnet_sub_val_top1"], b["pruningnet_sub_val_top1"]);
  EXPECT_EQ(a["search"]["best_per_generation"], b["search"]["best_per_generation"]);
  EXPECT_EQ(a["uniform"], b["uniform"]);
  EXPECT_EQ(search_log(dir.file("whole") + "/search.jsonl"),
            search_log(dir.file("cut") + "/search.jsonl"));
  expect_same_f32_tensors(dir.file("whole") + "/pruned.safetensors",
                          dir.file("cut") + "/pruned.safetensors");
  // The summary: the chosen encoding inside the window, its FLOPs equal to the traced FLOPs
  // of the exported network, every candidate logged once.
  const auto window = a["flops_window"];
  const std::int64_t flops = a["encoding_flops"].get<std::int64_t>();
  EXPECT_GE(flops, window[0].get<std::int64_t>());
  EXPECT_LE(flops, window[1].get<std::int64_t>());
  EXPECT_EQ(flops, sa["pruned"]["flops"].get<std::int64_t>());
  EXPECT_EQ(a["encoding"]["code"].size(), 12u);
  const auto log = search_log(dir.file("whole") + "/search.jsonl");
  EXPECT_EQ(static_cast<std::int64_t>(log.size()), a["search"]["candidates_evaluated"]);
  std::set<std::vector<int>> codes;
  for (const auto& l : log) {
    EXPECT_TRUE(codes.insert(l["code"].get<std::vector<int>>()).second) << l.dump();
    EXPECT_GE(l["flops"].get<std::int64_t>(), window[0].get<std::int64_t>());
    EXPECT_LE(l["flops"].get<std::int64_t>(), window[1].get<std::int64_t>());
  }
  EXPECT_EQ(sa["splits"]["validation"]["images"], 48);
  EXPECT_TRUE(a["uniform"].contains("test_top1"));
}

TEST(MetaPruningRun, BadKeysAreNamed) {
  TempDir dir;
  std::string cfg = dir.file("mp.yaml");
  std::ofstream(cfg) << kYaml;
  auto fails = [&](const std::string& set) {
    try {
      app::run_cli({"run", cfg, "--out", dir.file("bad"), "--quiet", "--set", set});
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    ADD_FAILURE() << set << " was accepted";
    return std::string();
  };
  EXPECT_NE(fails("prune.fitness_split=test").find("prune.fitness_split"), std::string::npos);
  EXPECT_NE(fails("prune.final_init=pretrained").find("prune.final_init"), std::string::npos);
  EXPECT_NE(fails("prune.search.mutate_prob=2").find("prune.search.mutate_prob"),
            std::string::npos);
}

}  // namespace
}  // namespace shears::testing
