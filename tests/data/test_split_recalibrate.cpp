// The stratified held-out split (MetaPruning's sub-val) and BN recalibration on real CIFAR-10
// images.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <set>

#include "data/cifar.h"
#include "data/file_io.h"
#include "data/loader.h"
#include "data/split.h"
#include "data/synthetic.h"
#include "engine/autograd/grad_mode.h"
#include "engine/nn/batch_norm2d.h"
#include "engine/nn/conv2d.h"
#include "engine/nn/layers.h"
#include "engine/nn/linear.h"
#include "engine/ops.h"
#include "engine/train/recalibrate.h"
#include "tests/data/data_test_util.h"

namespace shears::data {
namespace {

using testing::shared_data_dir;

std::shared_ptr<CifarDataset> real_cifar_train() {
  const std::string shared = shared_data_dir();
  if (shared.empty() || !is_directory(join_path(shared, "cifar10/cifar-10-batches-bin")))
    return nullptr;
  CifarOptions o;
  o.root = join_path(shared, "cifar10");
  o.files = {"data_batch_1.bin"};
  return std::make_shared<CifarDataset>(o);
}

TEST(StratifiedSplit, FixedNumberPerClassDisjointAndSeeded) {
  SyntheticOptions so;
  so.size = 300;
  so.num_classes = 5;
  SyntheticDataset ds(so);
  std::vector<std::int64_t> kept, held, kept2, held2, kept3, held3;
  stratified_split(ds, 7, 42, kept, held);
  ASSERT_EQ(held.size(), 35u);
  EXPECT_EQ(kept.size() + held.size(), 300u);
  std::array<int, 5> per{};
  for (std::int64_t i : held) ++per[static_cast<std::size_t>(ds.label(i))];
  for (int c = 0; c < 5; ++c) EXPECT_EQ(per[static_cast<std::size_t>(c)], 7) << "class " << c;
  std::set<std::int64_t> all(kept.begin(), kept.end());
  for (std::int64_t i : held) EXPECT_TRUE(all.insert(i).second) << "index in both parts: " << i;
  EXPECT_EQ(all.size(), 300u);
  EXPECT_TRUE(std::is_sorted(held.begin(), held.end()));
  stratified_split(ds, 7, 42, kept2, held2);
  EXPECT_EQ(held, held2);
  stratified_split(ds, 7, 43, kept3, held3);
  EXPECT_NE(held, held3);
}

TEST(StratifiedSplit, TooSmallAClassIsAnError) {
  SyntheticOptions so;
  so.size = 20;
  so.num_classes = 4;
  SyntheticDataset ds(so);
  std::vector<std::int64_t> kept, held;
  try {
    stratified_split(ds, 5, 1, kept, held);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("leaves none of it to train on"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(stratified_split(ds, 0, 1, kept, held), ConfigError);
}

TEST(StratifiedSplit, RealCifarFiftyPerClass) {
  auto ds = real_cifar_train();
  if (!ds) GTEST_SKIP() << "real CIFAR-10 not found (set SHEARS_SHARED_DATA)";
  std::vector<std::int64_t> kept, held;
  stratified_split(*ds, 50, 1, kept, held);
  ASSERT_EQ(held.size(), 500u);
  EXPECT_EQ(kept.size(), 9500u);
  std::array<int, 10> per{};
  for (std::int64_t i : held) ++per[static_cast<std::size_t>(ds->label(i))];
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per[static_cast<std::size_t>(c)], 50);
}

// conv-BN-ReLU-conv-BN-ReLU-pool-fc with random weights.
struct SmallNet {
  SmallNet() {
    manual_seed(21);
    c1 = std::make_shared<nn::Conv2d>(nn::Conv2dOptions{3, 6, 3, 1, 1, 1, 1, false});
    b1 = std::make_shared<nn::BatchNorm2d>(6);
    c2 = std::make_shared<nn::Conv2d>(nn::Conv2dOptions{6, 5, 3, 2, 1, 1, 1, false});
    b2 = std::make_shared<nn::BatchNorm2d>(5);
    net.push_back(c1);
    net.push_back(b1);
    net.push_back(std::make_shared<nn::ReLU>());
    net.push_back(c2);
    net.push_back(b2);
    net.push_back(std::make_shared<nn::ReLU>());
    net.push_back(std::make_shared<nn::GlobalAvgPool2d>());
    net.push_back(std::make_shared<nn::Flatten>());
    net.push_back(std::make_shared<nn::Linear>(5, 10));
  }
  nn::Sequential net;
  std::shared_ptr<nn::Conv2d> c1, c2;
  std::shared_ptr<nn::BatchNorm2d> b1, b2;
};

// Per-channel mean and unbiased variance of (N,C,H,W) in double.
void channel_stats(const Tensor& h, std::vector<double>& mean, std::vector<double>& var) {
  const std::int64_t n = h.size(0), c = h.size(1), hw = h.size(2) * h.size(3);
  const double* p = h.data<double>();
  mean.assign(static_cast<std::size_t>(c), 0.0);
  var.assign(static_cast<std::size_t>(c), 0.0);
  for (std::int64_t ch = 0; ch < c; ++ch) {
    double s = 0, s2 = 0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t k = 0; k < hw; ++k) s += p[(i * c + ch) * hw + k];
    const double m = s / static_cast<double>(n * hw);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t k = 0; k < hw; ++k) {
        const double d = p[(i * c + ch) * hw + k] - m;
        s2 += d * d;
      }
    mean[static_cast<std::size_t>(ch)] = m;
    var[static_cast<std::size_t>(ch)] = s2 / static_cast<double>(n * hw - 1);
  }
}

// recalibrate_bn on a network whose statistics were reset gives exactly the statistics its BNs
// see in train mode: for every BN, the mean over the batches of each batch's channel mean and
// unbiased variance. The reference is computed independently in double precision (the same
// weights, train-mode BN normalisation by batch statistics, no running statistics). The only
// difference is float32 rounding in the network's convolutions and sums over 250·32·32 values,
// so a relative tolerance of 1e-3 of the channel's standard deviation (mean) and 2e-3 (variance)
// is ample while any wrong count, momentum or stale statistic is off by far more (a momentum of
// 0.1 instead of cumulative averaging leaves 0.9^8 = 43 % of the reset value in the result).
TEST(RecalibrateBn, RecoversTheStatisticsOfRealImagesAfterAReset) {
  auto ds = real_cifar_train();
  if (!ds) GTEST_SKIP() << "real CIFAR-10 not found (set SHEARS_SHARED_DATA)";
  std::vector<std::int64_t> first(2000);
  for (std::size_t i = 0; i < first.size(); ++i) first[i] = static_cast<std::int64_t>(i);
  LoaderOptions lo;
  lo.batch_size = 250;
  lo.shuffle = false;
  lo.num_workers = 0;
  lo.subset = SubsetMode::First;
  lo.subset_size = 2000;
  lo.transform.mean = {0.4914, 0.4822, 0.4465};
  lo.transform.std = {0.2470, 0.2435, 0.2616};
  Loader loader(ds, lo);

  SmallNet m;
  // Give the BNs statistics of their own (train passes), then reset them, as a search does.
  m.net.train();
  loader.start_epoch(0);
  {
    NoGrad ng;
    Batch b;
    for (int i = 0; i < 3 && loader.next(b); ++i) m.net.forward(b.images);
  }
  const auto weights_before = m.c1->weight.to_vector<float>();
  m.net.eval();
  m.b1->reset_running_stats();
  m.b2->reset_running_stats();
  EXPECT_EQ(m.b1->running_mean.to_vector<float>(), std::vector<float>(6, 0.0f));

  // Independent reference in double.
  std::vector<double> e_m1(6, 0), e_v1(6, 0), e_m2(5, 0), e_v2(5, 0);
  {
    NoGrad ng;
    Tensor w1 = m.c1->weight.to(DType::F64), w2 = m.c2->weight.to(DType::F64);
    loader.start_epoch(0);
    Batch b;
    int batches = 0;
    while (loader.next(b)) {
      Tensor x = b.images.to(DType::F64);
      Tensor h1 = conv2d(x, w1, Tensor(), 1, 1);
      std::vector<double> mm, vv;
      channel_stats(h1, mm, vv);
      for (int c = 0; c < 6; ++c) {
        e_m1[static_cast<std::size_t>(c)] += mm[static_cast<std::size_t>(c)];
        e_v1[static_cast<std::size_t>(c)] += vv[static_cast<std::size_t>(c)];
      }
      Tensor a1 = relu(batch_norm(h1, Tensor(), Tensor(), Tensor(), Tensor(), true));
      Tensor h2 = conv2d(a1, w2, Tensor(), 2, 1);
      channel_stats(h2, mm, vv);
      for (int c = 0; c < 5; ++c) {
        e_m2[static_cast<std::size_t>(c)] += mm[static_cast<std::size_t>(c)];
        e_v2[static_cast<std::size_t>(c)] += vv[static_cast<std::size_t>(c)];
      }
      ++batches;
    }
    ASSERT_EQ(batches, 8);
    for (auto* v : {&e_m1, &e_v1, &e_m2, &e_v2})
      for (double& x : *v) x /= 8.0;
  }

  EXPECT_EQ(recalibrate_bn(m.net, loader, 0), 8);
  EXPECT_FALSE(m.net.is_training());                           // mode restored
  EXPECT_EQ(m.c1->weight.to_vector<float>(), weights_before);  // no weight changed
  auto check = [](nn::BatchNorm2d& bn, const std::vector<double>& em, const std::vector<double>& ev,
                  const char* name) {
    auto rm = bn.running_mean.to_vector<float>();
    auto rv = bn.running_var.to_vector<float>();
    for (std::size_t c = 0; c < em.size(); ++c) {
      const double sd = std::sqrt(ev[c]);
      EXPECT_NEAR(rm[c], em[c], 1e-3 * sd) << name << " channel " << c;
      EXPECT_NEAR(rv[c], ev[c], 2e-3 * ev[c]) << name << " channel " << c;
    }
  };
  check(*m.b1, e_m1, e_v1, "bn1");
  check(*m.b2, e_m2, e_v2, "bn2");

  // Fewer batches: the first `batches` only (4 of 8 here), and afterwards the BN's own momentum
  // is back (a train forward moves the statistics by 0.1 of the gap, not by 1/k).
  EXPECT_EQ(recalibrate_bn(m.net, loader, 4), 4);
  EXPECT_NE(m.b1->running_mean.to_vector<float>()[0], static_cast<float>(e_m1[0]));
  EXPECT_DOUBLE_EQ(m.b1->momentum(), 0.1);
}

}  // namespace
}  // namespace shears::data
