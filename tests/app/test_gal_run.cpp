// GAL end to end through `shears run` on real data: a tiny run on Fashion-MNIST (ResNet-20, block
// masks) and on the CIFAR-10 batch of ../shared/data (VGG-16 at a quarter width, channel masks)
// drives some masks to zero and exports a smaller network that computes what the masked student
// computed. Faithful mode: its N(0, 1) mask start sends the negative masks to zero at the first
// proximal step and leaves the large ones, so a run this short prunes some structures but not
// all. Corrected mode starts every mask at 1: its VGG run takes a large mask LR (and the masks
// bounded by 1) to reach zeros this soon; its block masks need configs/quick/gal.yaml's longer
// run.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "tests/support/real_data.h"
#include "tests/support/temp_dir.h"

namespace shears::testing {
namespace {

nlohmann::json run_gal(const TempDir& dir, const std::string& data_yaml,
                       const std::string& model_yaml, const std::string& prune_yaml) {
  std::string cfg = dir.file("gal.yaml");
  std::ofstream(cfg) << "name: gal-e2e\nseed: 1\n"
                     << data_yaml << model_yaml << R"(train:
  epochs: 1
  lr: 0.1
  nesterov: true
  weight_decay: 5.0e-4
  schedule: cosine
)" << prune_yaml << "bench:\n  enabled: false\n";
  EXPECT_EQ(app::run_cli({"run", cfg, "--out", dir.file("run"), "--quiet"}), 0);
  std::ifstream in(dir.file("run") + "/summary.json");
  return nlohmann::json::parse(in);
}

// 600 training images of the CIFAR-10 batch in `root`, 500 held out, 500 test.
std::string cifar10_batch_data(const std::string& root) {
  return "data:\n  dataset: cifar10\n  root: " + root + R"(
  train_files: [data_batch_1.bin]
  batch_size: 64
  eval_batch_size: 250
  workers: 1
  subset: {mode: per_class, size: 60}
  val_size: 500
  test_size: 500
)";
}

void expect_pruned(const nlohmann::json& s) {
  const nlohmann::json& r = s["method_report"];
  SCOPED_TRACE(r.dump());
  EXPECT_GT(r["zero_masks"].get<std::int64_t>(), 0);
  EXPECT_LT(r["zero_masks"].get<std::int64_t>(), r["masks"].get<std::int64_t>());
  EXPECT_LT(s["pruned"]["params"].get<std::int64_t>(), s["dense"]["params"].get<std::int64_t>());
  EXPECT_LT(s["pruned"]["flops"].get<std::int64_t>(), s["dense"]["flops"].get<std::int64_t>());
  // The export computes what the masked student computed (same validation predictions).
  EXPECT_NEAR(r["export_val_top1_before_finetune"].get<double>(),
              r["masked_student_val_top1"].get<double>(), 0.21);
  // Every epoch logged its loss parts.
  ASSERT_EQ(r["log"].size(), r["epochs"].get<std::size_t>());
  for (const auto& e : r["log"]) {
    EXPECT_GT(e["discriminator"].get<double>(), 0.0);
    EXPECT_GT(e["adversarial"].get<double>(), 0.0);
    EXPECT_GE(e["mse"].get<double>(), 0.0);
  }
}

TEST(RealData, GalRemovesBlocksOnFashionMnist) {
  SKIP_WITHOUT_FASHION_MNIST();
  TempDir dir;
  nlohmann::json s = run_gal(dir, R"(data:
  dataset: fashion_mnist
  batch_size: 64
  eval_batch_size: 250
  workers: 1
  subset: {mode: per_class, size: 80}
  val_size: 500
  test_size: 500
)",
                             "model:\n  arch: resnet20\n  width: 0.5\n  shortcut: a-subsample\n",
                             R"(prune:
  method: gal
  mode: faithful
  lambda: 0.5
  mask_step: 2
  epochs: 2
  lr: 0.02
  finetune: {epochs: 1, lr: 0.01}
)");
  expect_pruned(s);
  EXPECT_FALSE(s["pruned_arch"]["removed"].empty());
}

TEST(RealData, GalRemovesVggChannelsOnTheCifar10Batch) {
  const std::string root = testing::cifar10_batch_dir();
  SKIP_WITHOUT_CIFAR10_BATCH(root);
  TempDir dir;
  nlohmann::json s =
      run_gal(dir, cifar10_batch_data(root), "model:\n  arch: vgg16\n  width: 0.25\n",
              R"(prune:
  method: gal
  mode: faithful
  lambda: 0.5
  mu: 0.1
  mask_step: 2
  epochs: 2
  lr: 0.02
  finetune: {epochs: 1, lr: 0.01}
)");
  expect_pruned(s);
  EXPECT_GT(s["method_report"]["removed_channels"].get<std::int64_t>(), 0);
}

// Corrected mode with channel masks: the student keeps the teacher's running BN statistics
// (bn_stats auto) and, with the masks bounded by 1, a short run at a large mask LR drives some
// but not all VGG channel masks to zero.
TEST(RealData, GalCorrectedRemovesVggChannelsWithRunningStatistics) {
  const std::string root = testing::cifar10_batch_dir();
  SKIP_WITHOUT_CIFAR10_BATCH(root);
  TempDir dir;
  nlohmann::json s =
      run_gal(dir, cifar10_batch_data(root), "model:\n  arch: vgg16\n  width: 0.25\n",
              R"(prune:
  method: gal
  lambda: 0.003
  mu: 0.1
  mask_step: 1
  mask_lr: 2.0
  mask_max: 1.0
  epochs: 3
  lr: 0.02
  finetune: {epochs: 1, lr: 0.01}
)");
  expect_pruned(s);
  EXPECT_EQ(s["method_report"]["mode"], "corrected");
  EXPECT_EQ(s["method_report"]["bn_stats"], "running");
  EXPECT_GT(s["method_report"]["removed_channels"].get<std::int64_t>(), 0);
}

}  // namespace
}  // namespace shears::testing
