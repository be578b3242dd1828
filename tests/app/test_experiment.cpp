#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "app/experiment.h"
#include "app/schema.h"
#include "engine/config/config.h"
#include "kernels/common/registry.h"
#include "tests/support/real_data.h"
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

TEST(Experiment, DeviceOptionsAreParsedCheckedAndApplied) {
  std::string text =
      std::string(kTiny) + "device_options: {tf32_matmul: true, deterministic: true}\n";
  app::ExperimentSpec spec = app::parse_experiment(Config::parse(text, "opts.yaml"));
  EXPECT_TRUE(spec.device_options.tf32_matmul);
  EXPECT_TRUE(spec.device_options.tf32_conv);
  EXPECT_TRUE(spec.device_options.deterministic);
  EXPECT_EQ(spec.device_options.conv_algo, "heuristic");  // timing-based choice is not repeatable
  EXPECT_FALSE(spec.device_options.cuda_graphs);          // the default: eager steps
  const std::string recorded = std::string(kTiny) + "device_options: {cuda_graphs: true}\n";
  EXPECT_TRUE(
      app::parse_experiment(Config::parse(recorded, "graphs.yaml")).device_options.cuda_graphs);
  {
    app::Experiment e(spec, Config::parse(text, "opts.yaml"), app::RunOptions{});
    const CudaPolicy policy = cuda_policy();
    EXPECT_TRUE(policy.tf32_matmul);
    EXPECT_TRUE(policy.deterministic);
    EXPECT_FALSE(policy.conv_find);
  }
  set_cuda_policy(CudaPolicy{});

  const std::string bad =
      std::string(kTiny) + "device_options: {deterministic: true, conv_algo: find}\n";
  try {
    app::parse_experiment(Config::parse(bad, "bad.yaml"));
    ADD_FAILURE() << "conv_algo: find with deterministic: true was accepted";
  } catch (const ConfigError& err) {
    EXPECT_NE(std::string(err.what()).find("conv_algo"), std::string::npos) << err.what();
    EXPECT_NE(std::string(err.what()).find("bad.yaml"), std::string::npos) << err.what();
  }

  TempDir dir;
  const std::string cfg = write(dir, "tiny.yaml", kTiny);
  const std::string msg = error_of({"run", cfg, "--tf32", "sometimes", "--quiet"});
  EXPECT_NE(msg.find("--tf32 'sometimes': expected off, conv or all"), std::string::npos) << msg;
  const std::string graphs = error_of({"run", cfg, "--cuda-graphs", "maybe", "--quiet"});
  EXPECT_NE(graphs.find("--cuda-graphs 'maybe': expected on or off"), std::string::npos) << graphs;
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
  // The CUDA maths the run allowed, PyTorch's defaults unless the config says otherwise.
  EXPECT_EQ(s["device_options"]["tf32_matmul"], false);
  EXPECT_EQ(s["device_options"]["tf32_conv"], true);
  EXPECT_EQ(s["device_options"]["deterministic"], false);
  EXPECT_EQ(s["device_options"]["conv_algo"], "find");
  EXPECT_EQ(s["device_options"]["cuda_graphs"], false);
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

// SFP from scratch trains no dense network: the summary must not present the random initial
// network as a baseline. It reports the masked network SFP trained beside its export, and the
// two agree (the export folds the masked channels' BN constants); FLOPs are labelled.
TEST(Experiment, SoftPruningFromScratchHasNoUntrainedBaseline) {
  TempDir dir;
  std::string text = kTiny;
  text.replace(text.find("train:\n  epochs: 2"), 18, "train:\n  epochs: 0");
  text += "prune:\n  method: sfp\n  rate: 0.4\n  finetune: {epochs: 1, lr: 0.05}\n";
  std::string cfg = write(dir, "sfp.yaml", text);
  std::string out = dir.file("run");
  ASSERT_EQ(app::run_cli({"run", cfg, "--out", out, "--quiet"}), 0);
  std::ifstream in(out + "/summary.json");
  nlohmann::json s = nlohmann::json::parse(in);
  EXPECT_TRUE(s["dense"]["test"].is_null()) << s["dense"].dump();
  EXPECT_TRUE(s["dense"]["validation"].is_null());
  EXPECT_TRUE(s["ratios"]["test_top1_drop"].is_null());
  EXPECT_TRUE(s["ratios"]["validation_top1_drop"].is_null());
  EXPECT_NE(s["dense"]["accuracy_from"].get<std::string>().find("not trained"), std::string::npos);
  ASSERT_TRUE(s.contains("trained_masked"));
  EXPECT_NEAR(s["pruned"]["test"]["top1"].get<double>(),
              s["trained_masked"]["test"]["top1"].get<double>(), 1.0);
  EXPECT_NEAR(s["pruned"]["validation"]["top1"].get<double>(),
              s["trained_masked"]["validation"]["top1"].get<double>(), 2.0);
  EXPECT_LT(s["pruned"]["flops"].get<std::int64_t>(), s["dense"]["flops"].get<std::int64_t>());
  ASSERT_TRUE(s.contains("flops_reductions")) << s.dump();
  // ResNet-20 at keep ratio 0.6 by the papers' analytic count, above the traced count of the
  // export (whose residual convs stay full width) and of the reference export.
  double analytic = s["flops_reductions"]["analytic_paper"].get<double>();
  double reference = s["flops_reductions"]["reference_export"].get<double>();
  double traced = s["flops_reductions"]["traced_exported"].get<double>();
  EXPECT_GT(analytic, reference);
  EXPECT_GT(reference, traced);
  EXPECT_GT(traced, 30.0);
  // With a baseline the dense accuracy is that checkpoint's.
  std::string dense_cfg = write(dir, "dense.yaml", kTiny);
  ASSERT_EQ(app::run_cli({"run", dense_cfg, "--out", dir.file("dense"), "--quiet"}), 0);
  text += "baseline: " + dir.file("dense") + "\n";
  cfg = write(dir, "sfp2.yaml", text);
  ASSERT_EQ(app::run_cli({"run", cfg, "--out", dir.file("run2"), "--quiet"}), 0);
  std::ifstream in2(dir.file("run2") + "/summary.json");
  nlohmann::json s2 = nlohmann::json::parse(in2);
  std::ifstream in3(dir.file("dense") + "/summary.json");
  nlohmann::json d = nlohmann::json::parse(in3);
  EXPECT_DOUBLE_EQ(s2["dense"]["test"]["top1"].get<double>(),
                   d["dense"]["test"]["top1"].get<double>());
  EXPECT_DOUBLE_EQ(s2["dense"]["validation"]["top1"].get<double>(),
                   d["dense"]["validation"]["top1"].get<double>());
  EXPECT_FALSE(s2["ratios"]["test_top1_drop"].is_null());
}

// Scratch-B's longer schedule keeps the milestones at the same fractions, floored (main_B.py).
TEST(Experiment, StretchedScheduleFloorsMilestones) {
  app::TrainSpec t;
  t.epochs = 160;
  t.lr = 0.1;
  t.schedule = "multistep";
  t.milestones = {80, 120};
  t.gamma = 0.1;
  pruning::TrainRecipe r = app::Experiment::recipe_of(t);
  auto same = r.schedule(0.1, 160);
  EXPECT_DOUBLE_EQ(same->lr_at(79.9), 0.1);
  EXPECT_NEAR(same->lr_at(80.0), 0.01, 1e-12);
  auto longer = r.schedule(0.1, 321);  // milestones floor(80 * 321 / 160) = 160, 240
  EXPECT_DOUBLE_EQ(longer->lr_at(159.9), 0.1);
  EXPECT_NEAR(longer->lr_at(160.0), 0.01, 1e-12);
  EXPECT_NEAR(longer->lr_at(239.9), 0.01, 1e-12);
  EXPECT_NEAR(longer->lr_at(240.0), 0.001, 1e-12);
  // SFP's warm-up: a tenth of the LR for epoch 0, then the schedule.
  t.warmup_epochs = 1;
  t.warmup_mode = "constant";
  t.warmup_factor = 0.1;
  auto warm = app::Experiment::recipe_of(t).schedule(0.1, 160);
  EXPECT_NEAR(warm->lr_at(0.5), 0.01, 1e-12);
  EXPECT_DOUBLE_EQ(warm->lr_at(1.0), 0.1);
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
  SKIP_WITHOUT_FASHION_MNIST();
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
  // Chance is 10 %; three epochs on 1,000 images reach 60-70 % depending on the thread count.
  EXPECT_GT(s["dense"]["test"]["top1"].get<double>(), 50.0) << s.dump();
}

}  // namespace
}  // namespace shears::testing
