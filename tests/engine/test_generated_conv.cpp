// Generated-weight convolution (MetaPruning's PruningNet layers), the BN bank, the linear-decay
// schedule and the before-forward trainer hook.
#include <gtest/gtest.h>

#include "engine/autograd/grad_mode.h"
#include "engine/nn/batch_norm_bank.h"
#include "engine/nn/generated_conv2d.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "engine/optim/lr_schedule.h"
#include "engine/optim/sgd.h"
#include "engine/train/trainer.h"
#include "tests/support/gradcheck.h"
#include "tests/support/memory_source.h"

namespace shears::testing {
namespace {

// Finite differences through generate -> reshape -> crop -> conv -> loss into every generator
// weight (and the code), in double precision, for a crop on both dimensions and for no crop.
TEST(GeneratedConv, GradientThroughCropMatchesFiniteDifferences) {
  const Shape max_shape{4, 3, 3, 3};  // Cout_max, Cin_max, K, K
  const std::int64_t elements = 4 * 3 * 3 * 3;
  for (auto [out, in] : {std::pair<std::int64_t, std::int64_t>{3, 2}, {4, 3}, {1, 3}}) {
    Tensor code = random_input({3}, 11, 0.1, 1.0);
    Tensor w1 = random_input({4, 3}, 12);
    Tensor b1 = random_input({4}, 13);
    Tensor w2 = random_input({elements, 4}, 14);
    Tensor b2 = random_input({elements}, 15);
    Tensor x = random_input({2, in, 5, 5}, 16, -1, 1, false);
    Tensor labels = Tensor::from_vector(std::vector<std::int64_t>{0, out - 1}, {2});
    auto f = [&](const std::vector<Tensor>& v) {
      Tensor w = nn::generated_conv_weight(v[0], v[1], v[2], v[3], v[4], max_shape, out, in);
      Tensor y = conv2d(x, w, Tensor(), 1, 1);
      // A loss of the conv output (cross-entropy over its channels at one pixel mean).
      Tensor logits = flatten(global_avg_pool2d(y), 1);
      return reshape(cross_entropy(logits, labels), {1});
    };
    EXPECT_TRUE(gradcheck(f, {code, w1, b1, w2, b2})) << out << "x" << in;
  }
}

TEST(GeneratedConv, CroppedWeightIsTheSliceOfTheFullWeight) {
  manual_seed(3);
  nn::GeneratedConv2d conv(nn::GeneratedConv2dOptions{6, 8, 3, 1, 1, false, 3, 32});
  Tensor code = Tensor::from_vector(std::vector<float>{0.5f, 0.7f, 0.9f}, {3});
  NoGrad no_grad;
  Tensor full = conv.weight_for(code, 8, 6);
  ASSERT_EQ(full.shape(), (Shape{8, 6, 3, 3}));
  Tensor crop = conv.weight_for(code, 5, 2);
  ASSERT_EQ(crop.shape(), (Shape{5, 2, 3, 3}));
  const float* f = full.data<float>();
  const float* c = crop.data<float>();
  for (int o = 0; o < 5; ++o)
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 9; ++k) EXPECT_EQ(c[(o * 2 + i) * 9 + k], f[(o * 6 + i) * 9 + k]);
  // Another code gives another weight (the generator reads its input).
  Tensor other =
      conv.weight_for(Tensor::from_vector(std::vector<float>{0.1f, 0.2f, 0.3f}, {3}), 8, 6);
  EXPECT_NE(other.data<float>()[0], f[0]);
  // The layer convolves with exactly the cropped weight.
  Tensor x = Tensor::from_vector(std::vector<float>(2 * 2 * 4 * 4, 0.25f), {2, 2, 4, 4});
  Tensor y = conv.forward(x, code, 5);
  Tensor expect = conv2d(x, crop, Tensor(), 1, 1);
  ASSERT_EQ(y.shape(), (Shape{2, 5, 4, 4}));
  for (std::int64_t i = 0; i < y.numel(); ++i)
    EXPECT_FLOAT_EQ(y.data<float>()[i], expect.data<float>()[i]);
  EXPECT_THROW(conv.weight_for(code, 9, 6), ShapeError);
}

TEST(GeneratedConv, DepthwiseCropsToTheInputWidth) {
  manual_seed(4);
  nn::GeneratedConv2d conv(nn::GeneratedConv2dOptions{6, 6, 3, 1, 1, true, 3, 64});
  Tensor code = Tensor::from_vector(std::vector<float>{0.5f, 0.5f, 0.5f}, {3});
  NoGrad no_grad;
  Tensor full = conv.weight_for(code, 6, 6);
  ASSERT_EQ(full.shape(), (Shape{6, 1, 3, 3}));
  Tensor x = Tensor::from_vector(std::vector<float>(1 * 4 * 5 * 5, 1.0f), {1, 4, 5, 5});
  Tensor y = conv.forward(x, code, 0);
  ASSERT_EQ(y.shape(), (Shape{1, 4, 5, 5}));
  // Centre pixel of channel c: the sum of the 9 taps of filter c of the full weight.
  for (int c = 0; c < 4; ++c) {
    double sum = 0;
    for (int k = 0; k < 9; ++k) sum += full.data<float>()[c * 9 + k];
    EXPECT_NEAR(y.data<float>()[c * 25 + 12], sum, 1e-5);
  }
}

TEST(BatchNormBank, UsesTheBnOfTheSelectedWidth) {
  nn::BatchNormBank bank({2, 3, 3});
  EXPECT_EQ(bank.named_parameters().size(), 0u);  // affine-free
  Tensor x =
      Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 3, 2, 1});
  bank.train();
  bank.select(2);
  Tensor y = bank.forward(x);
  // Only BN 2 saw the batch: its running mean moved, BN 1 (same width) did not.
  EXPECT_NE(bank.at(2).running_mean.data<float>()[0], 0.0f);
  EXPECT_EQ(bank.at(1).running_mean.data<float>()[0], 0.0f);
  EXPECT_EQ(bank.at(0).running_mean.data<float>()[0], 0.0f);
  // Channel 0 holds 1, 2, 7, 8: normalised by its own batch statistics.
  const double mean = 4.5, var = (12.25 + 6.25 + 6.25 + 12.25) / 4;
  EXPECT_NEAR(y.data<float>()[0], (1 - mean) / std::sqrt(var + 1e-5), 1e-5);
  bank.select(0);
  EXPECT_THROW(bank.forward(x), ShapeError);
  EXPECT_THROW(bank.select(3), Error);
}

// A toy PruningNet layer: generated conv + BN bank + pooled linear classifier; two encodings
// (widths 2 and 4) used alternately in one step sequence both train the one shared generator.
class ToyGenerated : public nn::Module {
 public:
  ToyGenerated() {
    conv = register_module("conv", std::make_shared<nn::GeneratedConv2d>(
                                       nn::GeneratedConv2dOptions{1, 4, 3, 1, 1, false, 1, 8}));
    bank = register_module("bank",
                           std::make_shared<nn::BatchNormBank>(std::vector<std::int64_t>{2, 4}));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(2, 2));
    fc4 = register_module("fc4", std::make_shared<nn::Linear>(4, 2));
  }
  void choose(int index) {
    width = index == 0 ? 2 : 4;
    bank->select(index);
    conv->set_code(Tensor::from_vector(std::vector<float>{index == 0 ? 0.5f : 1.0f}, {1}), width);
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = relu(bank->forward(conv->forward(x)));
    Tensor p = flatten(global_avg_pool2d(h), 1);
    return width == 2 ? fc2->forward(p) : fc4->forward(p);
  }
  std::string type_name() const override { return "ToyGenerated"; }
  std::shared_ptr<nn::GeneratedConv2d> conv;
  std::shared_ptr<nn::BatchNormBank> bank;
  std::shared_ptr<nn::Linear> fc2, fc4;
  std::int64_t width = 2;
};

// Class 0: bright left half; class 1: bright right half.
void half_images(int n, Tensor& images, Tensor& labels) {
  std::vector<float> px(static_cast<std::size_t>(n) * 36);
  std::vector<std::int64_t> lab(static_cast<std::size_t>(n));
  Generator gen(9);
  for (int i = 0; i < n; ++i) {
    lab[static_cast<std::size_t>(i)] = i % 2;
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 6; ++x)
        px[static_cast<std::size_t>(i * 36 + y * 6 + x)] =
            static_cast<float>(((x < 3) == (i % 2 == 0) ? 1.0 : 0.0) + gen.normal(0, 0.2));
  }
  images = Tensor::from_vector(px, {n, 1, 6, 6});
  labels = Tensor::from_vector(lab, {n});
}

class AlternateEncoding : public TrainerHooks {
 public:
  explicit AlternateEncoding(ToyGenerated& m) : model(m) {}
  void before_forward(Trainer& t, const Batch& b) override {
    EXPECT_EQ(b.images.size(0), 16);
    const int index = static_cast<int>(t.global_step() % 2);
    model.choose(index);
    ++calls[index];
  }
  ToyGenerated& model;
  int calls[2] = {0, 0};
};

TEST(GeneratedConv, TwoEncodingsTrainTheSharedGenerator) {
  manual_seed(5);
  ToyGenerated model;
  Tensor images, labels;
  half_images(64, images, labels);
  MemorySource source(images, labels, 16, 2, true, 3);
  const std::vector<float> before = model.conv->fc2->weight.to_vector<float>();
  auto accuracy = [&](int index) {
    model.choose(index);
    optim::Sgd none(TensorList{}, optim::SgdOptions{});
    optim::ConstantLr zero(0.0);
    TrainerOptions o;
    o.progress = false;
    Trainer t(model, none, zero, o);
    // Eval-mode BN statistics of this width come from the steps that used it.
    return t.evaluate(source).val_top1;
  };
  optim::SgdOptions so;
  so.lr = 0.1;
  so.momentum = 0.9;
  optim::Sgd sgd(model.named_parameters(), so);
  optim::ConstantLr lr(0.1);
  TrainerOptions o;
  o.epochs = 15;
  o.progress = false;
  Trainer trainer(model, sgd, lr, o);
  AlternateEncoding hook(model);
  trainer.add_hooks(&hook);
  trainer.fit(source, nullptr);
  EXPECT_EQ(hook.calls[0], 30);
  EXPECT_EQ(hook.calls[1], 30);
  // Both widths learned the task through the one generator.
  EXPECT_GE(accuracy(0), 90.0);
  EXPECT_GE(accuracy(1), 90.0);
  // Rows 2..3 of the generated weight are used only by width 4: their generator outputs moved.
  const std::int64_t per_filter = 9;  // Cin_max 1 x 3 x 3
  double moved_shared = 0, moved_wide = 0;
  const float* a = before.data();
  const float* b = model.conv->fc2->weight.data<float>();
  const std::int64_t hidden = 8;
  for (std::int64_t r = 0; r < 4 * per_filter; ++r)
    for (std::int64_t h = 0; h < hidden; ++h) {
      double d = std::abs(a[r * hidden + h] - b[r * hidden + h]);
      (r < 2 * per_filter ? moved_shared : moved_wide) += d;
    }
  EXPECT_GT(moved_shared, 0.0);
  EXPECT_GT(moved_wide, 0.0);
}

TEST(LinearDecayLr, FallsLinearlyToZero) {
  optim::LinearDecayLr s(0.5, 10);
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.5);
  EXPECT_DOUBLE_EQ(s.lr_at(2.5), 0.375);
  EXPECT_DOUBLE_EQ(s.lr_at(9.9), 0.5 * (1 - 9.9 / 10));
  EXPECT_DOUBLE_EQ(s.lr_at(10), 0.0);
  EXPECT_DOUBLE_EQ(s.lr_at(12), 0.0);
  EXPECT_THROW(optim::LinearDecayLr(0.1, 0), Error);
}

// The hook runs before the forward pass of every step: a module that records whether the hook
// has set it up for this step sees it set every time.
class Flagged : public nn::Module {
 public:
  Flagged() { fc = register_module("fc", std::make_shared<nn::Linear>(36, 2)); }
  Tensor forward(const Tensor& x) override {
    if (is_training()) {
      EXPECT_TRUE(armed) << "forward before the hook";
      armed = false;
      ++forwards;
    }
    return fc->forward(flatten(x, 1));
  }
  std::string type_name() const override { return "Flagged"; }
  std::shared_ptr<nn::Linear> fc;
  bool armed = false;
  int forwards = 0;
};

class Arm : public TrainerHooks {
 public:
  explicit Arm(Flagged& m) : model(m) {}
  void before_forward(Trainer&, const Batch&) override { model.armed = true; }
  Flagged& model;
};

TEST(TrainerHooks, BeforeForwardRunsBeforeEveryForward) {
  Flagged model;
  Tensor images, labels;
  half_images(40, images, labels);
  MemorySource source(images, labels, 8, 2);
  optim::Sgd sgd(model.named_parameters(), optim::SgdOptions{});
  optim::ConstantLr lr(0.01);
  TrainerOptions o;
  o.epochs = 2;
  o.progress = false;
  Trainer trainer(model, sgd, lr, o);
  Arm arm(model);
  trainer.add_hooks(&arm);
  trainer.fit(source, nullptr);
  EXPECT_EQ(model.forwards, 10);
}

}  // namespace
}  // namespace shears::testing
