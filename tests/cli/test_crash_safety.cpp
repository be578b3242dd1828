// kill -9 of a training run at several points, then a resume with the same --out: the final
// checkpoints, metrics and summary must equal those of a run that was never interrupted, byte for
// byte (metrics.jsonl: every epoch once, apart from its wall-clock fields).

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_runner.h"
#include "tests/support/experiments.h"
#include "tests/support/run_files.h"
#include "tests/support/temp_dir.h"

namespace shears::testing {
namespace {

namespace fs = std::filesystem;

constexpr int kEpochs = 5;

const std::string kConfig = R"(name: crash
seed: 11
data:
  dataset: synthetic
  synthetic: {size: 64, classes: 4, channels: 3, height: 8, width: 8, seed: 2}
  synthetic_test_size: 16
  val_size: 16
  batch_size: 16
  workers: 1
model:
  arch: resnet20
train:
  epochs: 5
  lr: 0.2
  schedule: cosine
bench:
  enabled: false
)";

/// metrics.jsonl without its wall-clock fields, one record per line; also checks that the
/// epochs are 1..kEpochs, each once, in order.
std::vector<std::string> deterministic_metrics(const std::string& path) {
  std::vector<std::string> out;
  std::string text = read_bytes(path);
  std::size_t start = 0;
  int expected = 1;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    EXPECT_NE(nl, std::string::npos) << "torn last line in " << path;
    if (nl == std::string::npos) break;
    nlohmann::json j = nlohmann::json::parse(text.substr(start, nl - start));
    EXPECT_EQ(j["epoch"].get<int>(), expected++) << path;
    j.erase("seconds");
    j.erase("images_per_second");
    out.push_back(j.dump());
    start = nl + 1;
  }
  EXPECT_EQ(expected, kEpochs + 1) << path;
  return out;
}

class CrashSafety : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = dir_.file("crash.yaml");
    write_text(config_, kConfig);
    reference_ = dir_.file("reference");
    CliResult r = run_shears({"run", config_, "--out", reference_, "--quiet"}, dir_.path());
    ASSERT_EQ(r.status, 0) << r.err;
  }

  std::vector<std::string> args(const std::string& out) const {
    return {"run", config_, "--out", out, "--quiet"};
  }

  /// Resumes `out` to the end and compares it with the uninterrupted reference.
  void resume_and_compare(const std::string& out) {
    CliResult r = run_shears(args(out), dir_.path());
    ASSERT_EQ(r.status, 0) << r.err;
    for (const char* file : {"train/last.safetensors", "train/best.safetensors", "summary.json"}) {
      const std::string got = read_bytes(out + "/" + file);
      EXPECT_FALSE(got.empty()) << file;
      EXPECT_TRUE(got == read_bytes(reference_ + "/" + file)) << file << " differs after resume";
    }
    EXPECT_EQ(deterministic_metrics(out + "/train/metrics.jsonl"),
              deterministic_metrics(reference_ + "/train/metrics.jsonl"));
    for (const std::string& d : {out, out + "/train"}) {
      for (const auto& e : fs::directory_iterator(d)) {
        EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
      }
    }
  }

  TempDir dir_;
  std::string config_, reference_;
};

TEST_F(CrashSafety, KilledBetweenTheWritesOfAnEpochResumesToTheSameResult) {
  // Every point between the writes that end an epoch, at an early and a late epoch.
  const std::vector<std::string> points = {"before_best:1", "before_metrics:1", "before_last:2",
                                           "after_last:2",  "before_best:4",    "before_metrics:4",
                                           "before_last:5"};
  for (const std::string& point : points) {
    SCOPED_TRACE(point);
    const std::string out = dir_.file("killed_" + point.substr(0, point.find(':')) + "_" +
                                      point.substr(point.find(':') + 1));
    CliOptions crash;
    crash.env["SHEARS_CRASH_AT"] = point;
    CliResult r = run_shears(args(out), dir_.path(), crash);
    ASSERT_EQ(r.signal, SIGKILL) << "status " << r.status << "\n" << r.err;
    resume_and_compare(out);
  }
}

TEST_F(CrashSafety, KilledMidEpochFromOutsideResumesToTheSameResult) {
  // A real kill -9 from another process at moments the run does not choose: as soon as the
  // metrics of epoch k appear, the run is somewhere in the commit of epoch k or in epoch k+1.
  for (int k : {1, 3}) {
    SCOPED_TRACE(k);
    const std::string out = dir_.file("external_" + std::to_string(k));
    const std::string metrics = out + "/train/metrics.jsonl";
    pid_t pid = start_shears(args(out), dir_.path());
    bool killed = false;
    for (int i = 0; i < 60000 && !killed; ++i) {
      std::string m = read_bytes(metrics);
      if (std::count(m.begin(), m.end(), '\n') >= k) {
        ::kill(pid, SIGKILL);
        killed = true;
      }
      if (!killed) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    CliResult r = wait_shears(pid, dir_.path());
    ASSERT_TRUE(killed);
    // The kill normally lands before the run ends; if the run won the race it simply finished.
    EXPECT_TRUE(r.signal == SIGKILL || r.status == 0) << r.err;
    resume_and_compare(out);
  }
}

// A search killed from outside (kill -9) while it trains or evaluates, then resumed with the
// same --out, ends where an uninterrupted search ends: the same search log (apart from timing),
// the same method report, and byte-identical pruned and fine-tuned networks.
struct KillPoint {
  std::string file;   // a file of the run that grows as it works
  std::size_t lines;  // kill once it holds this many lines
};

void expect_search_resumes_after_kill(const std::string& yaml,
                                      const std::vector<std::string>& report_keys,
                                      const std::vector<KillPoint>& points) {
  TempDir dir;
  const std::string config = dir.file("search.yaml");
  write_text(config, yaml);
  auto args = [&](const std::string& out) {
    return std::vector<std::string>{"run", config, "--out", out, "--quiet"};
  };
  const std::string reference = dir.file("reference");
  CliResult whole = run_shears(args(reference), dir.path());
  ASSERT_EQ(whole.status, 0) << whole.err;

  ASSERT_GE(search_log(reference + "/search.jsonl").size(), 10u);
  auto report = [](const std::string& run) {
    return nlohmann::json::parse(read_bytes(run + "/summary.json"))["method_report"];
  };

  for (const KillPoint& point : points) {
    SCOPED_TRACE(point.file + " " + std::to_string(point.lines));
    const std::string out = dir.file("killed_" + std::to_string(&point - points.data()));
    pid_t pid = start_shears(args(out), dir.path());
    bool killed = false;
    for (int i = 0; i < 120000 && !killed; ++i) {
      std::string log = read_bytes(out + "/" + point.file);
      if (static_cast<std::size_t>(std::count(log.begin(), log.end(), '\n')) >= point.lines) {
        ::kill(pid, SIGKILL);
        killed = true;
      }
      if (!killed) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    CliResult r = wait_shears(pid, dir.path());
    ASSERT_TRUE(killed);
    EXPECT_TRUE(r.signal == SIGKILL || r.status == 0) << r.err;
    CliResult resumed = run_shears(args(out), dir.path());
    ASSERT_EQ(resumed.status, 0) << resumed.err;

    EXPECT_EQ(search_log(out + "/search.jsonl"), search_log(reference + "/search.jsonl"));
    for (const std::string& key : report_keys) {
      EXPECT_EQ(report(out)[key], report(reference)[key]) << key;
    }
    for (const char* file : {"pruned.safetensors", "finetune/last.safetensors"}) {
      const std::string got = read_bytes(out + "/" + file);
      EXPECT_FALSE(got.empty()) << file;
      EXPECT_TRUE(got == read_bytes(reference + "/" + file)) << file << " differs after resume";
    }
  }
}

// ABCPruner killed after its 2nd and after its 6th evaluated candidate (inside the initial colony
// and inside the first cycle's employed/onlooker phases).
TEST(CrashSafetySearch, AbcSearchKilledFromOutsideResumesToTheSameResult) {
  expect_search_resumes_after_kill(kTinyAbcSearchYaml, {"best_code", "best_fitness"},
                                   {{"search.jsonl", 2}, {"search.jsonl", 6}});
}

// MetaPruning killed while its PruningNet trains (after the first of two epochs), and inside the
// evolutionary search (after its 3rd and its 9th candidate).
TEST(CrashSafetySearch, MetaPruningKilledFromOutsideResumesToTheSameResult) {
  expect_search_resumes_after_kill(
      kTinyMetaPruningYaml, {"encoding", "pruningnet_sub_val_top1", "uniform"},
      {{"pruningnet/metrics.jsonl", 1}, {"search.jsonl", 3}, {"search.jsonl", 9}});
}

}  // namespace
}  // namespace shears::testing
