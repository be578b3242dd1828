// End-to-end: a small CNN trained with SGD on a separable synthetic image task learns it.
#include <gtest/gtest.h>

#include "engine/nn/batch_norm2d.h"
#include "engine/nn/conv2d.h"
#include "engine/nn/layers.h"
#include "engine/nn/linear.h"
#include "engine/ops.h"
#include "engine/optim/lr_schedule.h"
#include "engine/optim/sgd.h"

namespace shears::testing {
namespace {

/// Four classes: a bright bar in one of the four quadrants of a 12x12 image, plus noise and a
/// random global brightness, so that no single pixel decides the class.
void make_batch(Generator& gen, int n, Tensor& images, Tensor& labels) {
  std::vector<float> px(static_cast<std::size_t>(n) * 144);
  std::vector<std::int64_t> lab(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    int c = static_cast<int>(gen.next_u64() % 4);
    lab[static_cast<std::size_t>(i)] = c;
    double base = gen.uniform(-0.5, 0.5);
    int r0 = (c / 2) * 6, c0 = (c % 2) * 6;
    for (int y = 0; y < 12; ++y) {
      for (int x = 0; x < 12; ++x) {
        bool bar = y >= r0 + 1 && y < r0 + 5 && x >= c0 + 2 && x < c0 + 4;
        px[static_cast<std::size_t>(i * 144 + y * 12 + x)] =
            static_cast<float>(base + (bar ? 1.0 : 0.0) + gen.normal(0, 0.3));
      }
    }
  }
  images = Tensor::from_vector(px, {n, 1, 12, 12});
  labels = Tensor::from_vector(lab, {n});
}

TEST(Training, SmallCnnLearnsSeparableTask) {
  manual_seed(7);
  nn::Sequential net;
  net.push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions{1, 8, 3, 1, 1, 1, 1, false}));
  net.push_back(std::make_shared<nn::BatchNorm2d>(8));
  net.push_back(std::make_shared<nn::ReLU>());
  net.push_back(std::make_shared<nn::MaxPool2d>(2));
  net.push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions{8, 16, 3, 1, 1, 1, 1, false}));
  net.push_back(std::make_shared<nn::BatchNorm2d>(16));
  net.push_back(std::make_shared<nn::ReLU>());
  net.push_back(std::make_shared<nn::GlobalAvgPool2d>());
  net.push_back(std::make_shared<nn::Flatten>());
  net.push_back(std::make_shared<nn::Linear>(16, 4));

  optim::SgdOptions o;
  o.lr = 0.05;
  o.momentum = 0.9;
  o.weight_decay = 5e-4;
  o.nesterov = true;
  optim::Sgd sgd(net.named_parameters(), o);
  optim::CosineLr schedule(0.05, 300);
  Generator gen(11);
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step < 300; ++step) {
    Tensor x, y;
    make_batch(gen, 32, x, y);
    sgd.set_lr(schedule.lr_at(step));
    sgd.zero_grad();
    Tensor loss = cross_entropy(net.forward(x), y);
    loss.backward();
    sgd.step();
    if (step == 0) first_loss = loss.item();
    last_loss = loss.item();
  }
  EXPECT_LT(last_loss, first_loss);

  net.eval();
  NoGrad no_grad;
  Tensor x, y;
  make_batch(gen, 512, x, y);
  auto logits = net.forward(x).to_vector<float>();
  auto labels = y.to_vector<std::int64_t>();
  int correct = 0;
  for (int i = 0; i < 512; ++i) {
    int best = 0;
    for (int c = 1; c < 4; ++c)
      if (logits[static_cast<std::size_t>(i * 4 + c)] >
          logits[static_cast<std::size_t>(i * 4 + best)])
        best = c;
    correct += best == labels[static_cast<std::size_t>(i)];
  }
  EXPECT_GE(correct / 512.0, 0.95) << "accuracy " << correct / 512.0;
}

}  // namespace
}  // namespace shears::testing
