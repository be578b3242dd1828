#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/experiment.h"
#include "app/schema.h"
#include "engine/config/config.h"
#include "tests/support/temp_dir.h"

namespace shears::testing {
namespace {

const char* kTiny = R"(name: tiny
seed: 3
data:
  dataset: synthetic
  synthetic: {size: 256, classes: 4, channels: 3, height: 16, width: 16, seed: 5}
  synthetic_test_size: 128
  batch_size: 32
  workers: 1
  val_size: 64
model:
  arch: resnet20
train:
  epochs: 2
  lr: 0.05
  schedule: cosine
bench:
  iterations: 3
)";

std::string write(const TempDir& dir, const std::string& name, const std::string& text) {
  std::string path = dir.file(name);
  std::ofstream(path) << text;
  return path;
}

std::string error_of(const std::vector<std::string>& args) {
  try {
    app::run_cli(args);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Without val_size, 10 % of the training data (at most 5,000 images) is held out for validation;
// the test split is never used for it unless a config asks.
TEST(Experiment, ValidationIsHeldOutOfTrainingDataByDefault) {
  std::string text = kTiny;
  text.replace(text.find("  val_size: 64\n"), std::string("  val_size: 64\n").size(), "");
  app::ExperimentSpec spec = app::parse_experiment(Config::parse(text, "tiny.yaml"));
  EXPECT_FALSE(spec.data.validate_on_test);
  app::Experiment e(spec, Config::parse(text, "tiny.yaml"), app::RunOptions{});
  e.val_data();
  nlohmann::json splits = e.splits_json();
  EXPECT_EQ(splits["validation"]["images"], 25);  // 10 % of 256
  EXPECT_EQ(splits["train"]["images"], 256 - 25);
  EXPECT_EQ(splits["test"]["images"], 128);
}

TEST(Experiment, ValidationOnTheTestSplitOnlyWhenAsked) {
  std::string text = kTiny;
  text.replace(text.find("  val_size: 64\n"), std::string("  val_size: 64\n").size(),
               "  validation: test\n");
  app::ExperimentSpec spec = app::parse_experiment(Config::parse(text, "tiny.yaml"));
  EXPECT_TRUE(spec.data.validate_on_test);
  app::Experiment e(spec, Config::parse(text, "tiny.yaml"), app::RunOptions{});
  e.val_data();
  nlohmann::json splits = e.splits_json();
  EXPECT_EQ(splits["validation"]["images"], 128);
  EXPECT_EQ(splits["train"]["images"], 256);
  EXPECT_NE(splits["validation"]["source"].get<std::string>().find("test split"),
            std::string::npos);

  std::string both = kTiny;
  both.replace(both.find("  val_size: 64\n"), std::string("  val_size: 64\n").size(),
               "  validation: test\n  val_size: 10\n");
  try {
    app::parse_experiment(Config::parse(both, "both.yaml"));
    ADD_FAILURE() << "val_size with validation: test was accepted";
  } catch (const ConfigError& err) {
    EXPECT_NE(std::string(err.what()).find("val_size"), std::string::npos) << err.what();
  }
}

TEST(Experiment, RunWritesSummaryConfigAndCheckpoints) {
  TempDir dir;
  std::string cfg = write(dir, "tiny.yaml", kTiny);
  std::string out = dir.file("run");
  ASSERT_EQ(app::run_cli({"run", cfg, "--out", out, "--quiet"}), 0);
  std::ifstream in(out + "/summary.json");
  nlohmann::json s = nlohmann::json::parse(in);
  EXPECT_EQ(s["model"], "resnet20");
  EXPECT_EQ(s["dataset"], "synthetic");
  for (const char* key : {"test", "validation", "params", "flops", "latency_ms"}) {
    EXPECT_TRUE(s["dense"].contains(key)) << key;
  }
  EXPECT_GT(s["dense"]["params"].get<std::int64_t>(), 200000);
  EXPECT_GT(s["dense"]["test"]["top1"].get<double>(), 25.0);  // above chance after two epochs
  // Each accuracy names its split and how many images it was measured on.
  EXPECT_EQ(s["dense"]["test"]["images"], 128);
  EXPECT_EQ(s["dense"]["validation"]["images"], 64);
  EXPECT_EQ(s["splits"]["train"]["images"], 256 - 64);
  EXPECT_EQ(s["splits"]["validation"]["images"], 64);
  EXPECT_NE(s["splits"]["validation"]["source"].get<std::string>().find("held out"),
            std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(out + "/config.yaml"));
  EXPECT_TRUE(std::filesystem::exists(out + "/train/last.safetensors"));
  std::ifstream metrics(out + "/train/metrics.jsonl");
  int lines = 0;
  for (std::string l; std::getline(metrics, l);) ++lines;
  EXPECT_EQ(lines, 2);
}

TEST(Experiment, UnknownKeyIsNamedWithItsLine) {
  TempDir dir;
  std::string text = kTiny;
  text += "trian:\n  epochs: 3\n";
  std::string cfg = write(dir, "bad.yaml", text);
  std::string m = error_of({"run", cfg, "--out", dir.file("r")});
  EXPECT_NE(m.find("unknown key 'trian'"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.yaml:18"), std::string::npos) << m;
}

TEST(Experiment, WrongTypeAndBadEnumAreNamed) {
  TempDir dir;
  std::string cfg = write(dir, "tiny.yaml", kTiny);
  std::string m = error_of({"run", cfg, "--set", "train.lr=fast"});
  EXPECT_NE(m.find("train.lr"), std::string::npos) << m;
  m = error_of({"run", cfg, "--set", "train.schedule=triangle"});
  EXPECT_NE(m.find("train.schedule"), std::string::npos) << m;
  EXPECT_NE(m.find("cosine"), std::string::npos) << m;
  m = error_of({"run", cfg, "--set", "model.arch=resnet7"});
  EXPECT_NE(m.find("resnet56"), std::string::npos) << m;  // lists the known models
  m = error_of({"run", cfg, "--set", "data.batch_size=0"});
  EXPECT_NE(m.find("data.batch_size"), std::string::npos) << m;
}

TEST(Experiment, MissingDatasetFileIsNamed) {
  TempDir dir;
  std::string cfg =
      write(dir, "c.yaml",
            "data:\n  dataset: cifar10\n  root: " + dir.path() + "\nmodel:\n  arch: resnet20\n");
  std::string m = error_of({"run", cfg, "--out", dir.file("r")});
  EXPECT_NE(m.find("data_batch_1.bin"), std::string::npos) << m;
}

TEST(Cli, UnknownCommandAndOptionAreReported) {
  EXPECT_NE(error_of({"frobnicate"}).find("unknown command 'frobnicate'"), std::string::npos);
  EXPECT_NE(error_of({"flops", "--modle", "resnet56"}).find("unknown option '--modle'"),
            std::string::npos);
  EXPECT_EQ(app::run_cli({"run", "--help"}), 0);
}

TEST(Cli, FlopsJsonOfResNet56MatchesThePapers) {
  ::testing::internal::CaptureStdout();
  ASSERT_EQ(app::run_cli({"flops", "--model", "resnet56", "--json"}), 0);
  nlohmann::json j = nlohmann::json::parse(::testing::internal::GetCapturedStdout());
  EXPECT_NEAR(j["flops"].get<double>() / 1e6, 125.5, 0.5);
  EXPECT_NEAR(j["params"].get<double>() / 1e6, 0.85, 0.01);
}

}  // namespace
}  // namespace shears::testing

namespace shears::testing {
namespace {

// Every shipped config is valid: it parses, its pruning method accepts its keys, and no key is
// left unread.
TEST(Configs, EveryShippedConfigValidates) {
  int checked = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(std::string(SHEARS_SOURCE_DIR) + "/configs")) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    Config config = Config::load_file(entry.path().string());
    app::ExperimentSpec spec = app::parse_experiment(config);
    app::Experiment experiment(spec, config, app::RunOptions{});
    EXPECT_NO_THROW(config.check_all_read());
    ++checked;
  }
  EXPECT_GE(checked, 20);
}

}  // namespace
}  // namespace shears::testing

namespace shears::testing {
namespace {

// End to end on a real dataset: ResNet-20 learns Fashion-MNIST (Debian's dataset-fashion-mnist)
// from 1,000 training images well above chance (10 %) in three epochs.
TEST(RealData, ResNet20LearnsFashionMnist) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)";
  }
  TempDir dir;
  std::string cfg = write(dir, "fmnist.yaml", R"(name: fmnist
seed: 2
data:
  dataset: fashion_mnist
  batch_size: 64
  workers: 2
  subset: {mode: per_class, size: 100}
  val_size: 500
  test_size: 1000
model:
  arch: resnet20
train:
  epochs: 3
  lr: 0.1
  nesterov: true
  weight_decay: 5.0e-4
  schedule: cosine
bench:
  enabled: false
)");
  ASSERT_EQ(app::run_cli({"run", cfg, "--out", dir.file("run"), "--quiet"}), 0);
  std::ifstream in(dir.file("run") + "/summary.json");
  nlohmann::json s = nlohmann::json::parse(in);
  EXPECT_GT(s["dense"]["test"]["top1"].get<double>(), 65.0) << s.dump();
}

}  // namespace
}  // namespace shears::testing
