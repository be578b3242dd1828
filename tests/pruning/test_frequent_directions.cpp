// Frequent Directions as FilterSketch runs it: the covariance bound on random and on trained
// weights, exactness when the sketch holds every row, a NumPy-computed hand-sized fixture, and the
// filter/channel sketches' shapes and orientation.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "data/mnist.h"
#include "engine/autograd/grad_mode.h"
#include "engine/io/safetensors.h"
#include "engine/linalg/svd.h"
#include "engine/ops.h"
#include "engine/optim/sgd.h"
#include "engine/rng.h"
#include "models/registry.h"
#include "pruning/criteria/frequent_directions.h"
#include "tests/support/allclose.h"
#include "tests/support/cuda_test.h"
#include "tests/support/expect_error.h"

namespace shears::testing {
namespace {

const std::string kFixture =
    std::string(SHEARS_SOURCE_DIR) + "/tests/pruning/fixtures/fd_fixture.safetensors";

// a^T a for a (N x d), in double.
std::vector<double> gram(const Tensor& a) {
  const std::int64_t n = a.size(0), d = a.size(1);
  const std::vector<double> v = a.to_vector<double>();
  std::vector<double> g(static_cast<std::size_t>(d * d), 0.0);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < d; ++j) g[i * d + j] += v[r * d + i] * v[r * d + j];
  return g;
}

// ||a^T a - b^T b||_2 (the largest singular value of the symmetric difference, through our SVD).
double covariance_error(const Tensor& a, const Tensor& b) {
  const std::int64_t d = a.size(1);
  std::vector<double> ga = gram(a), gb = gram(b);
  for (std::size_t i = 0; i < ga.size(); ++i) ga[i] -= gb[i];
  return linalg::svd(Tensor::from_vector(ga, {d, d})).s.to_vector<double>()[0];
}

double frobenius_sq(const Tensor& a) {
  double s = 0;
  for (double v : a.to_vector<double>()) s += v * v;
  return s;
}

struct BoundCase {
  std::int64_t n, d, l;
};

class FdBound : public ::testing::TestWithParam<BoundCase> {};

// ||W^T W - B^T B||_2 <= 2 ||W||_F^2 / l, for the reference's loop (early stop) and the complete
// algorithm; the complete one also never over-estimates (W^T W - B^T B is positive semidefinite,
// checked through x^T (W^T W - B^T B) x on random x).
TEST_P(FdBound, HoldsOnRandomMatrices) {
  const BoundCase c = GetParam();
  Generator gen(static_cast<std::uint64_t>(c.n * 1000 + c.d * 10 + c.l));
  Tensor w = randn({c.n, c.d}, gen, 0.0, 1.0, DType::F64);
  const double bound = 2.0 * frobenius_sq(w) / static_cast<double>(c.l);
  for (bool early_stop : {true, false}) {
    SCOPED_TRACE(early_stop ? "early stop" : "complete");
    Tensor b = pruning::frequent_directions(w, c.l, early_stop);
    ASSERT_EQ(b.shape(), Shape({c.l, c.d}));
    const double err = covariance_error(w, b);
    EXPECT_LE(err, bound);
    // FD never over-estimates: x^T (W^T W - B^T B) x >= 0 for every x (both variants: the rows
    // the early stop leaves out only add to W^T W), and the sketch is not the zero matrix.
    EXPECT_GT(frobenius_sq(b), 0.0);
    const std::vector<double> ga = gram(w), gb = gram(b);
    for (int trial = 0; trial < 20; ++trial) {
      const std::vector<double> x = randn({c.d}, gen, 0.0, 1.0, DType::F64).to_vector<double>();
      double q = 0, scale_q = 0;
      for (std::int64_t i = 0; i < c.d; ++i)
        for (std::int64_t j = 0; j < c.d; ++j) {
          q += x[i] * (ga[i * c.d + j] - gb[i * c.d + j]) * x[j];
          scale_q += std::abs(x[i] * ga[i * c.d + j] * x[j]);
        }
      EXPECT_GE(q, -1e-10 * scale_q);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, FdBound,
                         ::testing::Values(BoundCase{16, 144, 9}, BoundCase{32, 288, 19},
                                           BoundCase{64, 576, 25}, BoundCase{40, 30, 10},
                                           BoundCase{100, 20, 8}, BoundCase{7, 50, 3}),
                         [](const ::testing::TestParamInfo<BoundCase>& info) {
                           return "N" + std::to_string(info.param.n) + "d" +
                                  std::to_string(info.param.d) + "l" + std::to_string(info.param.l);
                         });

// With l = N every row fits in the buffer: no shrink, B = W, B^T B = W^T W exactly.
TEST(FrequentDirections, SketchOfEveryRowIsExact) {
  Generator gen(3);
  for (DType dtype : {DType::F32, DType::F64}) {
    Tensor w = randn({12, 45}, gen, 0.0, 1.0, dtype);
    Tensor b = pruning::frequent_directions(w, 12);
    EXPECT_TRUE(equal(b, w));
    const std::vector<double> ga = gram(w), gb = gram(b);
    EXPECT_EQ(ga, gb);
    // More rows than filters: W, then zero rows.
    Tensor b2 = pruning::frequent_directions(w, 15);
    EXPECT_TRUE(equal(narrow(b2, 0, 0, 12), w));
    EXPECT_EQ(frobenius_sq(narrow(b2, 0, 12, 3)), 0.0);
  }
}

// Hand-sized cases against NumPy (make_fd_fixture.py): the singular values of W, and the sketch
// with and without the reference's early stop.
TEST(FrequentDirections, MatchesNumpyFixture) {
  const SafetensorsContents fx = load_safetensors(kFixture);
  auto get = [&](const std::string& name) {
    for (const auto& [n, t] : fx.tensors)
      if (n == name) return t;
    throw Error("fixture lacks '" + name + "'");
  };
  for (const std::string c : {"small", "stop"}) {
    SCOPED_TRACE(c);
    const std::int64_t l = std::stoll(fx.metadata.at(c + "/l"));
    Tensor w = get(c + "/w");
    EXPECT_TRUE(allclose(linalg::svd(w).s, get(c + "/s"), 1e-12, 1e-12));
    EXPECT_TRUE(allclose(pruning::frequent_directions(w, l, true), get(c + "/b"), 1e-12, 1e-10));
    EXPECT_TRUE(
        allclose(pruning::frequent_directions(w, l, false), get(c + "/b_full"), 1e-12, 1e-10));
    // F32 follows the same path.
    EXPECT_TRUE(allclose(pruning::frequent_directions(w.to(DType::F32), l, true), get(c + "/b"),
                         1e-5, 1e-4));
  }
  // The early stop matters in the "stop" case: its last row is never absorbed.
  EXPECT_FALSE(allclose(get("stop/b"), get("stop/b_full"), 1e-6, 1e-6));
}

// Trained weights from a short real-data training (ResNet-20 at half width on 1024 Fashion-MNIST
// images): the bound holds on every conv, at FilterSketch's keep rates 0.6 and 0.4.
TEST(FrequentDirections, BoundHoldsOnTrainedConvWeights) {
  if (!std::filesystem::exists(std::string(data::kFashionMnistSystemDir) +
                               "/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST not installed at " << data::kFashionMnistSystemDir
                 << " (apt-get install dataset-fashion-mnist)";
  }
  data::MnistOptions o;
  o.root = data::kFashionMnistSystemDir;
  o.class_names = data::fashion_mnist_class_names();
  data::MnistDataset ds(o);
  const int n = 1024, batch = 32;
  std::vector<float> px(static_cast<std::size_t>(n) * 784);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    data::Sample s = ds.get(i);
    for (int p = 0; p < 784; ++p)
      px[static_cast<std::size_t>(i * 784 + p)] = (s.image.pixels[p] / 255.0f - 0.286f) / 0.353f;
    labels[static_cast<std::size_t>(i)] = s.label;
  }
  manual_seed(5);
  auto model = models::build_model(models::default_arch("resnet20", 10, {1, 28, 28}, 0.5));
  optim::SgdOptions so;
  so.lr = 0.05;
  so.momentum = 0.9;
  so.weight_decay = 5e-4;
  optim::Sgd sgd(model->named_parameters(), so);
  double first = 0, last = 0;
  for (int step = 0; step < n / batch; ++step) {
    std::vector<float> xb(px.begin() + step * batch * 784, px.begin() + (step + 1) * batch * 784);
    std::vector<std::int64_t> yb(labels.begin() + step * batch,
                                 labels.begin() + (step + 1) * batch);
    sgd.zero_grad();
    Tensor loss = cross_entropy(model->forward(Tensor::from_vector(xb, {batch, 1, 28, 28})),
                                Tensor::from_vector(yb, {batch}));
    loss.backward();
    sgd.step();
    if (step < 4) first += loss.item() / 4;
    if (step >= n / batch - 4) last += loss.item() / 4;
  }
  ASSERT_LT(last, first * 0.8) << "the network did not learn; its weights are not trained ones";

  int checked = 0;
  for (auto& [name, t] : model->named_parameters()) {
    if (t.dim() != 4 || t.size(0) < 8) continue;
    const std::int64_t filters = t.size(0), d = t.numel() / filters;
    Tensor w = reshape(t.detach(), {filters, d});
    for (double r : {0.6, 0.4}) {
      const auto l = static_cast<std::int64_t>(static_cast<double>(filters) * r);
      if (l >= d) continue;
      SCOPED_TRACE(name + " keep " + std::to_string(r));
      Tensor b = pruning::frequent_directions(w, l);
      EXPECT_LE(covariance_error(w, b), 2.0 * frobenius_sq(w) / static_cast<double>(l));
      ++checked;
    }
  }
  EXPECT_GE(checked, 30);
}

// The filter sketch is l new filters of unit total norm. The channel sketch keeps the consumer's
// filters and takes l input channels: corrected, FD runs over the input channels (row c is
// W[:, c, :, :]); faithful, over the rows of the weight's memory seen as (C_in, C_out*K*K).
TEST(FilterSketch, FilterAndChannelSketchOrientation) {
  Generator gen(8);
  const std::int64_t cout = 16, cin = 8, l = 5;
  Tensor w = randn({cout, cin, 3, 3}, gen, 0.0, 1.0, DType::F64);
  Tensor f = pruning::sketch_filters(w, 9);
  EXPECT_EQ(f.shape(), Shape({9, cin, 3, 3}));
  EXPECT_NEAR(frobenius_sq(f), 1.0, 1e-12);
  Tensor fd_filters = pruning::frequent_directions(reshape(w, {cout, cin * 9}), 9);
  EXPECT_TRUE(allclose(reshape(f, {9, cin * 9}),
                       scale(fd_filters, 1.0 / std::sqrt(frobenius_sq(fd_filters))), 1e-12, 1e-9));

  // Corrected: rows are input channels.
  const std::vector<double> wv = w.to_vector<double>();
  std::vector<double> rows;
  for (std::int64_t c = 0; c < cin; ++c)
    for (std::int64_t o = 0; o < cout; ++o)
      for (std::int64_t k = 0; k < 9; ++k) rows.push_back(wv[(o * cin + c) * 9 + k]);
  const std::vector<double> b =
      pruning::frequent_directions(Tensor::from_vector(rows, {cin, cout * 9}), l)
          .to_vector<double>();
  std::vector<double> expected(static_cast<std::size_t>(cout * l * 9));
  double norm = 0;
  for (double v : b) norm += v * v;
  for (std::int64_t o = 0; o < cout; ++o)
    for (std::int64_t c = 0; c < l; ++c)
      for (std::int64_t k = 0; k < 9; ++k)
        expected[(o * l + c) * 9 + k] = b[(c * cout + o) * 9 + k] / std::sqrt(norm);
  Tensor corrected = pruning::sketch_channels(w, l, false);
  EXPECT_EQ(corrected.shape(), Shape({cout, l, 3, 3}));
  EXPECT_TRUE(allclose(corrected, Tensor::from_vector(expected, {cout, l, 3, 3}), 1e-12, 1e-9));

  // Faithful: the reshape, sketched and viewed back.
  Tensor fd_memory = pruning::frequent_directions(reshape(w, {cin, cout * 9}), l);
  Tensor faithful = pruning::sketch_channels(w, l, true);
  EXPECT_TRUE(allclose(reshape(faithful, {l, cout * 9}),
                       scale(fd_memory, 1.0 / std::sqrt(frobenius_sq(fd_memory))), 1e-12, 1e-9));
  EXPECT_FALSE(allclose(faithful, corrected, 1e-3, 1e-3));
  // With every channel kept both are W itself (normalised): the orientations differ only once
  // rows are shrunk.
  EXPECT_TRUE(allclose(pruning::sketch_channels(w, cin, true),
                       pruning::sketch_channels(w, cin, false), 1e-12, 1e-12));
}

TEST(FrequentDirections, RejectsBadInput) {
  EXPECT_THROW_MSG(pruning::frequent_directions(Tensor::zeros({3, 4, 5}), 2), ShapeError,
                   "2-D matrix");
  EXPECT_THROW_MSG(pruning::frequent_directions(Tensor::zeros({3, 4}), 0), ShapeError,
                   "at least 1");
  EXPECT_THROW_MSG(pruning::sketch_filters(Tensor::zeros({3, 4}), 2), ShapeError, "conv weight");
}

// The sketch on CUDA (cuSOLVER SVDs) matches the CPU one (LAPACK). Skipped without a GPU.
class CudaFrequentDirections : public CudaTest {};

TEST_F(CudaFrequentDirections, MatchesCpu) {
  Generator gen(4);
  Tensor w = randn({64, 576}, gen);
  Tensor cpu = pruning::frequent_directions(w, 38);
  Tensor gpu = pruning::frequent_directions(w.to(Device::cuda(0)), 38);
  EXPECT_EQ(gpu.device(), Device::cuda(0));
  EXPECT_TRUE(allclose(gpu.cpu(), cpu, 1e-3, 1e-2));
  EXPECT_NEAR(covariance_error(w, gpu.cpu()), covariance_error(w, cpu), 1e-3 * frobenius_sq(w));
}

}  // namespace
}  // namespace shears::testing
