#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/io/safetensors.h"
#include "engine/nn/batch_norm2d.h"
#include "engine/nn/conv2d.h"
#include "engine/nn/layers.h"
#include "engine/nn/linear.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "engine/train/metrics.h"
#include "engine/train/trainer.h"
#include "kernels/common/registry.h"
#include "tests/support/allclose.h"
#include "tests/support/expect_error.h"
#include "tests/support/memory_source.h"
#include "tests/support/temp_dir.h"

namespace shears::testing {
namespace {

std::shared_ptr<nn::Sequential> tiny_net() {
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions{1, 4, 3, 1, 1, 1, 1, false}));
  net->push_back(std::make_shared<nn::BatchNorm2d>(4));
  net->push_back(std::make_shared<nn::ReLU>());
  net->push_back(std::make_shared<nn::Dropout>(0.2));
  net->push_back(std::make_shared<nn::GlobalAvgPool2d>());
  net->push_back(std::make_shared<nn::Flatten>());
  net->push_back(std::make_shared<nn::Linear>(4, 3));
  return net;
}

MemorySource make_source(std::uint64_t seed, std::int64_t n, bool shuffle) {
  Generator gen(seed);
  Tensor x = rand_uniform({n, 1, 6, 6}, -1, 1, gen);
  std::vector<std::int64_t> y(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) y[static_cast<std::size_t>(i)] = i % 3;
  return MemorySource(x, Tensor::from_vector(y, {n}), 8, 3, shuffle, seed);
}

struct TrainRun {
  std::shared_ptr<nn::Sequential> net;
  std::unique_ptr<optim::Sgd> sgd;
  optim::MultiStepLr schedule{0.1, {2}, 0.1};
};

TrainRun make_run(std::uint64_t seed) {
  manual_seed(seed);
  TrainRun r;
  r.net = tiny_net();
  optim::SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.nesterov = true;
  o.weight_decay = 1e-4;
  r.sgd = std::make_unique<optim::Sgd>(r.net->named_parameters(), o);
  return r;
}

TEST(Trainer, ResumeIsBitExact) {
  TempDir dir;
  auto train = make_source(3, 40, true);
  auto val = make_source(4, 16, false);

  // Uninterrupted: 4 epochs.
  TrainRun a = make_run(9);
  TrainerOptions oa;
  oa.epochs = 4;
  oa.progress = false;
  Trainer ta(*a.net, *a.sgd, a.schedule, oa);
  auto full = ta.fit(train, &val);

  // Interrupted after 2 epochs, then resumed in a fresh process state up to 4.
  TrainRun b = make_run(9);
  TrainerOptions ob = oa;
  ob.epochs = 2;
  ob.checkpoint_dir = dir.path() + "/run";
  Trainer tb(*b.net, *b.sgd, b.schedule, ob);
  tb.fit(train, &val);
  manual_seed(12345);  // disturb the generator: resume must restore it

  TrainRun c = make_run(777);  // different init: resume must overwrite it
  TrainerOptions oc = ob;
  oc.epochs = 4;
  Trainer tc(*c.net, *c.sgd, c.schedule, oc);
  auto resumed = tc.fit(train, &val);
  ASSERT_EQ(resumed.size(), 2u);
  EXPECT_EQ(resumed[0].epoch, 3);
  EXPECT_EQ(resumed[0].train_loss, full[2].train_loss);
  EXPECT_EQ(resumed[1].train_loss, full[3].train_loss);
  EXPECT_EQ(resumed[1].val_top1, full[3].val_top1);
  for (auto& [name, t] : a.net->state_dict()) {
    EXPECT_TRUE(equal(c.net->tensor_at(name), t)) << name;
  }
  EXPECT_TRUE(std::filesystem::exists(oc.checkpoint_dir + "/best.safetensors"));
  std::ifstream metrics(oc.checkpoint_dir + "/metrics.jsonl");
  int lines = 0;
  for (std::string l; std::getline(metrics, l);) ++lines;
  EXPECT_EQ(lines, 4);
}

std::string checkpoint_field(const std::string& path, const std::string& key) {
  return load_safetensors(path).metadata.at(key);
}

TEST(Trainer, LastCheckpointRecordsTheBestOfItsOwnEpoch) {
  // last.safetensors is the resume state: its best_top1 must already count the epoch it holds,
  // or a resume after a crash replaces best.safetensors with a worse model.
  TempDir dir;
  auto train = make_source(3, 40, true);
  auto val = make_source(4, 16, false);
  TrainRun a = make_run(9);
  TrainerOptions o;
  o.epochs = 3;
  o.progress = false;
  o.checkpoint_dir = dir.path() + "/run";
  Trainer t(*a.net, *a.sgd, a.schedule, o);
  auto history = t.fit(train, &val);
  double best = -1;
  for (const auto& m : history) best = std::max(best, m.val_top1);
  EXPECT_EQ(checkpoint_field(o.checkpoint_dir + "/last.safetensors", "best_top1"),
            std::to_string(best));
  EXPECT_EQ(checkpoint_field(o.checkpoint_dir + "/best.safetensors", "best_top1"),
            std::to_string(best));
}

TEST(Trainer, ResumeDropsMetricsOfEpochsTheCheckpointHasNotCommitted) {
  TempDir dir;
  auto train = make_source(3, 40, true);
  auto val = make_source(4, 16, false);
  TrainRun a = make_run(9);
  TrainerOptions o;
  o.epochs = 2;
  o.progress = false;
  o.checkpoint_dir = dir.path() + "/run";
  Trainer ta(*a.net, *a.sgd, a.schedule, o);
  ta.fit(train, &val);
  const std::string metrics = o.checkpoint_dir + "/metrics.jsonl";
  std::string committed;
  {
    std::ifstream in(metrics);
    for (std::string l; std::getline(in, l);) committed += l + "\n";
  }
  // What a crash after the metrics append of epoch 3, and one during a later append, leave.
  std::ofstream(metrics, std::ios::app) << "{\"epoch\": 3, \"val_top1\": 1}\n{\"epoch\": 4, \"lr";
  TrainRun b = make_run(9);
  TrainerOptions ob = o;
  ob.epochs = 3;
  Trainer tb(*b.net, *b.sgd, b.schedule, ob);
  tb.fit(train, &val);
  std::ifstream in(metrics);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0] + "\n" + lines[1] + "\n", committed);
  EXPECT_EQ(lines[2].find("\"val_top1\": 1}"), std::string::npos) << "the stale record is gone";
  EXPECT_NE(lines[2].find("\"epoch\":3"), std::string::npos) << lines[2];
}

TEST(Trainer, FailedMetricsWriteIsAnErrorNamingTheFile) {
  TempDir dir;
  auto train = make_source(3, 40, true);
  auto val = make_source(4, 16, false);
  TrainRun a = make_run(9);
  TrainerOptions o;
  o.epochs = 1;
  o.progress = false;
  o.checkpoint_dir = dir.path() + "/run";
  std::filesystem::create_directories(o.checkpoint_dir + "/metrics.jsonl");
  Trainer t(*a.net, *a.sgd, a.schedule, o);
  EXPECT_THROW_MSG(t.fit(train, &val), Error, o.checkpoint_dir + "/metrics.jsonl");
  EXPECT_FALSE(std::filesystem::exists(o.checkpoint_dir + "/last.safetensors"));
}

class NanLoss : public TrainerHooks {
 public:
  Tensor compute_loss(Trainer& t, const Batch& b, const Tensor& logits) override {
    Tensor loss = cross_entropy(logits, b.labels);
    if (t.epoch() == 1 && ++calls_ == 3) return mul(loss, Tensor::scalar(NAN));
    return loss;
  }
  int calls_ = 0;
};

TEST(Trainer, NanLossStopsWithStepAndLastCheckpoint) {
  TempDir dir;
  auto train = make_source(3, 40, true);
  TrainRun r = make_run(1);
  TrainerOptions o;
  o.epochs = 3;
  o.progress = false;
  o.checkpoint_dir = dir.path();
  Trainer t(*r.net, *r.sgd, r.schedule, o);
  NanLoss hook;
  t.add_hooks(&hook);
  try {
    t.fit(train, nullptr);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("epoch 2 step 2"), std::string::npos) << m;
    EXPECT_NE(m.find("last.safetensors (epoch 1)"), std::string::npos) << m;
  }
  // The last good checkpoint is intact and loads.
  TrainRun r2 = make_run(2);
  Trainer t2(*r2.net, *r2.sgd, r2.schedule, o);
  t2.load_checkpoint(dir.path() + "/last.safetensors");
  EXPECT_EQ(t2.epoch(), 1);
}

class CountingHooks : public TrainerHooks {
 public:
  void on_train_begin(Trainer&) override { ++begin; }
  void on_epoch_begin(Trainer&, std::int64_t) override { ++epochs; }
  void after_backward(Trainer& t) override {
    // Gradients exist here and are consumed by the step that follows.
    for (auto& [n, p] : t.model().named_parameters()) grads_seen += p.grad().defined();
  }
  void after_step(Trainer&) override { ++steps; }
  void on_epoch_end(Trainer&, const EpochMetrics& m) override { last_epoch = m.epoch; }
  int begin = 0, epochs = 0, steps = 0, grads_seen = 0;
  std::int64_t last_epoch = 0;
};

TEST(Trainer, HooksRunAtEachStage) {
  auto train = make_source(3, 40, false);
  TrainRun r = make_run(1);
  TrainerOptions o;
  o.epochs = 2;
  o.progress = false;
  Trainer t(*r.net, *r.sgd, r.schedule, o);
  CountingHooks hooks;
  t.add_hooks(&hooks);
  t.fit(train, nullptr);
  EXPECT_EQ(hooks.begin, 1);
  EXPECT_EQ(hooks.epochs, 2);
  EXPECT_EQ(hooks.steps, 10);  // 2 epochs x 5 batches
  EXPECT_EQ(hooks.grads_seen, 10 * 5);
  EXPECT_EQ(hooks.last_epoch, 2);
}

TEST(Trainer, CheckpointFromAnotherModelIsRejectedWithItsName) {
  TempDir dir;
  TrainRun r = make_run(1);
  TrainerOptions o;
  o.progress = false;
  Trainer t(*r.net, *r.sgd, r.schedule, o);
  std::string path = dir.path() + "/other.safetensors";
  save_safetensors(path, {{"model.fc.weight", Tensor::ones({2, 2})}}, {{"epoch", "1"}});
  try {
    t.load_checkpoint(path);
    FAIL() << "expected an error";
  } catch (const CheckpointError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(path), std::string::npos) << m;
  }
}

// The device-side count primitive (here the CPU backend's) against the host count, with ties,
// an out-of-range label and fewer classes than k; and the meter's tensor path equals its host
// path on the CPU.
TEST(Metrics, AccuracyCountPrimitiveMatchesTheHostCount) {
  Generator gen(21);
  std::vector<float> v = rand_uniform({40, 7}, -2.0, 2.0, gen).to_vector<float>();
  for (float& f : v) f = std::round(f * 2.0f) / 2.0f;  // many ties
  const Tensor logits = Tensor::from_vector(v, {40, 7});
  std::vector<std::int64_t> y(40);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<std::int64_t>((i * 5) % 7);
  y[3] = 9;  // out of range: counts as wrong
  const Tensor labels = Tensor::from_vector(y, {40});
  Tensor counts = Tensor::zeros({2}, DType::I64);
  backend_for(Device::cpu()).accuracy_count(logits.view(), labels.view(), 5, counts.view());
  backend_for(Device::cpu()).accuracy_count(logits.view(), labels.view(), 5, counts.view());
  const std::vector<std::int64_t> c = counts.to_vector<std::int64_t>();
  EXPECT_EQ(c[0], 2 * count_topk_correct(logits, labels, 1));
  EXPECT_EQ(c[1], 2 * count_topk_correct(logits, labels, 5));
  EXPECT_GT(c[0], 0);
  EXPECT_LT(c[1], 2 * 40);

  Tensor few = Tensor::zeros({2}, DType::I64);
  const Tensor three = Tensor::from_vector<float>({0.3f, 0.1f, 0.2f, 0.0f, 0.5f, 0.5f}, {2, 3});
  const Tensor two_labels = Tensor::from_vector<std::int64_t>({1, 2}, {2});
  backend_for(Device::cpu()).accuracy_count(three.view(), two_labels.view(), 5, few.view());
  EXPECT_EQ(few.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 2}));

  AccuracyMeter by_value, by_tensor;
  const Tensor loss = cross_entropy(
      logits, Tensor::from_vector<std::int64_t>(std::vector<std::int64_t>(40, 2), {40}));
  by_value.add(logits, labels, loss.item());
  by_tensor.add(logits, labels, loss);
  EXPECT_EQ(by_tensor.top1(), by_value.top1());
  EXPECT_EQ(by_tensor.top5(), by_value.top5());
  EXPECT_EQ(by_tensor.loss(), by_value.loss());
}

TEST(Metrics, TopKCountsWithTies) {
  Tensor logits = Tensor::from_vector<float>({0.1f, 0.9f, 0.0f, 0.5f, 0.5f, 0.1f}, {2, 3});
  Tensor labels = Tensor::from_vector<std::int64_t>({0, 1}, {2});
  EXPECT_EQ(count_topk_correct(logits, labels, 1), 0);  // tie resolved towards class 0
  EXPECT_EQ(count_topk_correct(logits, labels, 2), 2);
}

}  // namespace
}  // namespace shears::testing
