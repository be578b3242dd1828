// CPU-vs-CUDA parity at the shapes of real layers: ResNet-56 at batch 128 (CIFAR) and ResNet-50
// at batch 32 (ImageNet) for convolution (forward, backward data, backward weight), batch norm,
// pooling and the classifier GEMM; batch norm with the GPU's own forward statistics feeding the
// GPU's backward; and 64-bit indexing (a tensor of more than 2^31 elements) against an analytic
// result. TF32 off; the CPU backend is the reference. Skipped without a GPU.

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "tests/cuda/parity_support.h"

namespace shears::testing {
namespace {

Conv2dParams conv(int stride, int pad) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  return p;
}

std::int64_t out_size(std::int64_t in, std::int64_t k, int stride, int pad) {
  return (in + 2 * pad - (k - 1) - 1) / stride + 1;
}

struct LayerConv {
  const char* name;
  Shape x, w;
  Conv2dParams p;
};

void PrintTo(const LayerConv& c, std::ostream* os) { *os << c.name; }

class RealConv : public CudaParity, public ::testing::WithParamInterface<LayerConv> {};

// Tolerances as the op-table parity's: 2e-6 per term of the reduction (inputs in [-1, 1]).
TEST_P(RealConv, ForwardAndBothBackwards) {
  const LayerConv& lc = GetParam();
  const Conv2dParams& p = lc.p;
  const Shape y_shape{lc.x[0], lc.w[0], out_size(lc.x[2], lc.w[2], p.stride_h, p.pad_h),
                      out_size(lc.x[3], lc.w[3], p.stride_w, p.pad_w)};
  Twin x = random_twin(lc.x, 61), w = random_twin(lc.w, 62);
  Twin y = output_twin(y_shape);
  cpu_.conv2d_forward(x.c(), w.c(), nullptr, y.c(), p);
  gpu_->conv2d_forward(x.g(), w.g(), nullptr, y.g(), p);
  const double terms = static_cast<double>(lc.w[1] * lc.w[2] * lc.w[3]);
  EXPECT_TRUE(close_f32(y.gpu, y.cpu, 2e-6 * terms + 1e-6, 64)) << "forward";

  Twin gy = random_twin(y_shape, 63);
  Twin gx = output_twin(lc.x);
  cpu_.conv2d_backward_data(gy.c(), w.c(), gx.c(), p);
  gpu_->conv2d_backward_data(gy.g(), w.g(), gx.g(), p);
  const double data_terms = static_cast<double>(lc.w[0] * lc.w[2] * lc.w[3]);
  EXPECT_TRUE(close_f32(gx.gpu, gx.cpu, 2e-6 * data_terms + 1e-6, 64)) << "backward data";

  Twin gw = output_twin(lc.w);
  cpu_.conv2d_backward_weight(x.c(), gy.c(), gw.c(), p);
  gpu_->conv2d_backward_weight(x.g(), gy.g(), gw.g(), p);
  const double weight_terms = static_cast<double>(y_shape[0] * y_shape[2] * y_shape[3]);
  EXPECT_TRUE(close_f32(gw.gpu, gw.cpu, 2e-6 * weight_terms + 1e-6, 64)) << "backward weight";
}

INSTANTIATE_TEST_SUITE_P(
    Layers, RealConv,
    ::testing::Values(
        // ResNet-56, batch 128: the stem, a block of each stage, the stride-2 entries.
        LayerConv{"Resnet56Stem", {128, 3, 32, 32}, {16, 3, 3, 3}, conv(1, 1)},
        LayerConv{"Resnet56Stage1", {128, 16, 32, 32}, {16, 16, 3, 3}, conv(1, 1)},
        LayerConv{"Resnet56Stage2Entry", {128, 16, 32, 32}, {32, 16, 3, 3}, conv(2, 1)},
        LayerConv{"Resnet56Stage3", {128, 64, 8, 8}, {64, 64, 3, 3}, conv(1, 1)},
        // ResNet-50, batch 32: the 7x7 stem, bottleneck 1x1 and 3x3, a stride-2 projection.
        LayerConv{"Resnet50Stem", {32, 3, 224, 224}, {64, 3, 7, 7}, conv(2, 3)},
        LayerConv{"Resnet50Expand1x1", {32, 64, 56, 56}, {256, 64, 1, 1}, conv(1, 0)},
        LayerConv{"Resnet50Stride2x3", {32, 128, 56, 56}, {128, 128, 3, 3}, conv(2, 1)},
        LayerConv{"Resnet50Projection", {32, 1024, 14, 14}, {2048, 1024, 1, 1}, conv(2, 0)}),
    [](const ::testing::TestParamInfo<LayerConv>& info) { return std::string(info.param.name); });

struct LayerBn {
  const char* name;
  Shape x;
};

void PrintTo(const LayerBn& c, std::ostream* os) { *os << c.name; }

class RealBatchNorm : public CudaParity, public ::testing::WithParamInterface<LayerBn> {};

// Training-mode BN: the GPU's forward statistics feed the GPU's backward (as in a training step),
// the CPU's feed the CPU's; outputs, statistics, running buffers and all three gradients agree.
TEST_P(RealBatchNorm, GpuForwardFeedsGpuBackward) {
  const Shape& xs = GetParam().x;
  const std::int64_t c = xs[1];
  Twin x = random_twin(xs, 71, -2.0f, 3.0f);
  Twin w = random_twin({c}, 72, 0.5f, 1.5f), b = random_twin({c}, 73);
  Twin rm = random_twin({c}, 74), rv = random_twin({c}, 75, 0.5f, 2.0f);
  Twin y = output_twin(xs), mean = output_twin({c}), invstd = output_twin({c});
  BatchNormParams p;
  p.training = true;
  p.momentum = 0.1;
  p.eps = 1e-5;
  const TensorView wc = w.c(), wg = w.g(), bc = b.c(), bg = b.g();
  const TensorView rmc = rm.c(), rmg = rm.g(), rvc = rv.c(), rvg = rv.g();
  cpu_.batch_norm_forward(x.c(), &wc, &bc, &rmc, &rvc, y.c(), mean.c(), invstd.c(), p);
  gpu_->batch_norm_forward(x.g(), &wg, &bg, &rmg, &rvg, y.g(), mean.g(), invstd.g(), p);
  EXPECT_TRUE(close_f32(y.gpu, y.cpu, 1e-5, 256)) << "y";
  EXPECT_TRUE(close_f32(mean.gpu, mean.cpu, 1e-6, 256)) << "save_mean";
  EXPECT_TRUE(close_f32(invstd.gpu, invstd.cpu, 1e-6, 1024)) << "save_invstd";
  EXPECT_TRUE(close_f32(rm.gpu, rm.cpu, 1e-6, 256)) << "running_mean";
  EXPECT_TRUE(close_f32(rv.gpu, rv.cpu, 1e-6, 1024)) << "running_var";

  Twin gy = random_twin(xs, 76);
  Twin gx = output_twin(xs), gw = output_twin({c}), gb = output_twin({c});
  const TensorView gxc = gx.c(), gxg = gx.g(), gwc = gw.c(), gwg = gw.g(), gbc = gb.c(),
                   gbg = gb.g();
  cpu_.batch_norm_backward(x.c(), gy.c(), &wc, mean.c(), invstd.c(), &gxc, &gwc, &gbc, true, p.eps);
  gpu_->batch_norm_backward(x.g(), gy.g(), &wg, mean.g(), invstd.g(), &gxg, &gwg, &gbg, true,
                            p.eps);
  const double m = static_cast<double>(shape_numel(xs) / c);
  EXPECT_TRUE(close_f32(gx.gpu, gx.cpu, 2e-5, 1024)) << "grad_x";
  EXPECT_TRUE(close_f32(gw.gpu, gw.cpu, 1e-6 * m, 256)) << "grad_weight";
  EXPECT_TRUE(close_f32(gb.gpu, gb.cpu, 1e-6 * m, 256)) << "grad_bias";
}

INSTANTIATE_TEST_SUITE_P(Layers, RealBatchNorm,
                         ::testing::Values(LayerBn{"Resnet56Stage1", {128, 16, 32, 32}},
                                           LayerBn{"Resnet56Stage3", {128, 64, 8, 8}},
                                           LayerBn{"Resnet50Stem", {32, 64, 112, 112}},
                                           LayerBn{"Resnet50Last", {32, 2048, 7, 7}}),
                         [](const ::testing::TestParamInfo<LayerBn>& info) {
                           return std::string(info.param.name);
                         });

TEST_F(CudaParity, RealLayerPoolingAndClassifier) {
  // ResNet-50's 3x3/2 max pool at batch 32, and its global average pool.
  Pool2dParams mp;
  mp.kernel_h = mp.kernel_w = 3;
  mp.stride_h = mp.stride_w = 2;
  mp.pad_h = mp.pad_w = 1;
  Twin x = random_twin({32, 64, 112, 112}, 81);
  Twin y = output_twin({32, 64, 56, 56});
  Twin idx = output_twin({32, 64, 56, 56}, DType::I64);
  cpu_.max_pool2d_forward(x.c(), y.c(), idx.c(), mp);
  gpu_->max_pool2d_forward(x.g(), y.g(), idx.g(), mp);
  EXPECT_TRUE(same_bytes(y.gpu, y.cpu)) << "max pool";
  EXPECT_TRUE(same_bytes(idx.gpu, idx.cpu)) << "max pool indices";
  Pool2dParams ap;
  ap.kernel_h = ap.kernel_w = 7;
  ap.stride_h = ap.stride_w = 7;
  Twin f = random_twin({32, 2048, 7, 7}, 82);
  Twin g = output_twin({32, 2048, 1, 1});
  cpu_.avg_pool2d_forward(f.c(), g.c(), ap);
  gpu_->avg_pool2d_forward(f.g(), g.g(), ap);
  EXPECT_TRUE(close_f32(g.gpu, g.cpu, 1e-6, 64)) << "average pool";
  // The classifiers: ResNet-56's 64 -> 10 at batch 128, ResNet-50's 2048 -> 1000 at batch 32.
  for (const auto& [n, k, m] :
       std::vector<std::array<std::int64_t, 3>>{{128, 64, 10}, {32, 2048, 1000}}) {
    Twin a = random_twin({n, k}, 83), w = random_twin({m, k}, 84);
    Twin c = output_twin({n, m});
    cpu_.gemm(false, true, 1.0, a.c(), w.c(), 0.0, c.c());
    gpu_->gemm(false, true, 1.0, a.g(), w.g(), 0.0, c.g());
    EXPECT_TRUE(close_f32(c.gpu, c.cpu, 2e-6 * static_cast<double>(k) + 1e-6, 64))
        << "classifier " << n << "x" << k << " -> " << m;
  }
}

// ---- 64-bit indexing
// ------------------------------------------------------------------------------

class CudaLargeTensor : public CudaParity {
 protected:
  // A U8 tensor (3, kRow) with rows of an odd length, so the channel kernels move single bytes
  // and count 3 * kRow > 2^31 units: only the 64-bit index path reaches its end.
  static constexpr std::int64_t kRow = (std::int64_t{1} << 30) + 1;

  void SetUp() override {
    CudaParity::SetUp();
    if (IsSkipped()) return;
    const MemoryInfo info = gpu_->memory_info();
    if (info.free_bytes < (std::size_t{6} << 30)) {
      GTEST_SKIP() << "needs 6 GiB of free device memory, " << (info.free_bytes >> 20)
                   << " MiB free";
    }
  }
  // 16 bytes of `b` from byte `offset`.
  std::vector<std::uint8_t> bytes_at(const Buffer& b, std::int64_t offset) {
    std::vector<std::uint8_t> out(16);
    gpu_->copy_to_host(out.data(), static_cast<const std::uint8_t*>(b.view().data) + offset, 16);
    return out;
  }
};

TEST_F(CudaLargeTensor, GatherAndScatterBeyondTwoToThe31) {
  Buffer x = gpu_buffer({3, kRow}, DType::U8);
  ASSERT_GT(shape_numel(x.shape()), std::int64_t{1} << 31);
  // Row r holds r + 1 everywhere (fill over a row's view: 2^30 + 1 elements each).
  for (std::int64_t r = 0; r < 3; ++r) {
    TensorView row{
        static_cast<std::uint8_t*>(x.view().data) + r * kRow, {kRow}, DType::U8, Device::cuda(0)};
    gpu_->fill(row, static_cast<double>(r + 1));
  }
  Buffer keep = gpu_buffer({2}, DType::I64);
  keep.set(std::vector<std::int64_t>{0, 2});
  Buffer out = gpu_buffer({2, kRow}, DType::U8);
  gpu_->channel_gather(x.view(), 0, keep.view(), out.view());
  // Analytic: out row 0 is all 1, row 1 all 3; probe both ends of each row and the 2^31
  // boundary of the flat index (inside row 1).
  const std::vector<std::uint8_t> ones(16, 1), threes(16, 3), zeros(16, 0);
  EXPECT_EQ(bytes_at(out, 0), ones);
  EXPECT_EQ(bytes_at(out, kRow - 16), ones);
  EXPECT_EQ(bytes_at(out, kRow), threes);
  EXPECT_EQ(bytes_at(out, (std::int64_t{1} << 31) - 8), threes);
  EXPECT_EQ(bytes_at(out, 2 * kRow - 16), threes);
  // Scatter back into zeros: rows 0 and 2 come back, row 1 stays 0; the last bytes of the
  // tensor sit at flat index 3 * 2^30 + 2 > 2^31.
  gpu_->fill(x.view(), 0.0);
  gpu_->channel_scatter(out.view(), 0, keep.view(), x.view());
  EXPECT_EQ(bytes_at(x, 0), ones);
  EXPECT_EQ(bytes_at(x, kRow + 7), zeros);
  EXPECT_EQ(bytes_at(x, 2 * kRow - 16), zeros);
  EXPECT_EQ(bytes_at(x, 2 * kRow), threes);
  EXPECT_EQ(bytes_at(x, 3 * kRow - 16), threes);
  gpu_->synchronize();
}

}  // namespace
}  // namespace shears::testing
