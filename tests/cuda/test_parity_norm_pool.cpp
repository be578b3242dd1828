// CPU-vs-CUDA parity of the backend primitives alone: batch norm (training and eval, partial
// gradients) and pooling.
// Both sides get the same random inputs, CpuBackend being the reference, TF32 off; arithmetic
// is compared with atol + |ref| * eps * k, data movement must match exactly. Skipped without a
// GPU.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "tests/cuda/parity_support.h"

namespace shears::testing {
namespace {

// ---- batch norm
// ----------------------------------------------------------------------------------

struct BnCase {
  const char* name;
  Shape x;
  bool affine, running, training;
};

// Test names and ctest show the case by its name.
void PrintTo(const BnCase& c, std::ostream* os) { *os << c.name; }

class BatchNormParity : public CudaParity, public ::testing::WithParamInterface<BnCase> {};

TEST_P(BatchNormParity, ForwardAndBackward) {
  const BnCase& bc = GetParam();
  const std::int64_t c = bc.x[1];
  Twin x = random_twin(bc.x, 51, -2.0f, 3.0f);
  Twin w = random_twin({c}, 52, 0.5f, 1.5f), b = random_twin({c}, 53);
  Twin rm = random_twin({c}, 54), rv = random_twin({c}, 55, 0.5f, 2.0f);
  Twin y = output_twin(bc.x), mean = output_twin({c}), invstd = output_twin({c});
  BatchNormParams p;
  p.training = bc.training;
  p.momentum = 0.1;
  p.eps = 1e-5;
  const TensorView wc = w.c(), wg = w.g(), bcv = b.c(), bg = b.g();
  const TensorView rmc = rm.c(), rmg = rm.g(), rvc = rv.c(), rvg = rv.g();
  cpu_.batch_norm_forward(x.c(), bc.affine ? &wc : nullptr, bc.affine ? &bcv : nullptr,
                          bc.running ? &rmc : nullptr, bc.running ? &rvc : nullptr, y.c(), mean.c(),
                          invstd.c(), p);
  gpu_->batch_norm_forward(x.g(), bc.affine ? &wg : nullptr, bc.affine ? &bg : nullptr,
                           bc.running ? &rmg : nullptr, bc.running ? &rvg : nullptr, y.g(),
                           mean.g(), invstd.g(), p);
  EXPECT_TRUE(close_f32(y.gpu, y.cpu, 1e-5, 64)) << "y";
  EXPECT_TRUE(close_f32(mean.gpu, mean.cpu, 1e-6, 64)) << "save_mean";
  EXPECT_TRUE(close_f32(invstd.gpu, invstd.cpu, 1e-6, 256)) << "save_invstd";
  if (bc.running) {
    EXPECT_TRUE(close_f32(rm.gpu, rm.cpu, 1e-6, 64)) << "running_mean";
    EXPECT_TRUE(close_f32(rv.gpu, rv.cpu, 1e-6, 256)) << "running_var";
  }
  // Backward from the CPU's saved statistics on both sides.
  Twin sm = twin({c}, mean.cpu.get<float>()), si = twin({c}, invstd.cpu.get<float>());
  Twin gy = random_twin(bc.x, 56);
  Twin gx = output_twin(bc.x), gw = output_twin({c}), gb = output_twin({c});
  const TensorView gxc = gx.c(), gxg = gx.g(), gwc = gw.c(), gwg = gw.g(), gbc = gb.c(),
                   gbg = gb.g();
  cpu_.batch_norm_backward(x.c(), gy.c(), bc.affine ? &wc : nullptr, sm.c(), si.c(), &gxc, &gwc,
                           &gbc, bc.training, p.eps);
  gpu_->batch_norm_backward(x.g(), gy.g(), bc.affine ? &wg : nullptr, sm.g(), si.g(), &gxg, &gwg,
                            &gbg, bc.training, p.eps);
  const double m = static_cast<double>(shape_numel(bc.x) / c);
  EXPECT_TRUE(close_f32(gx.gpu, gx.cpu, 1e-5, 256)) << "grad_x";
  EXPECT_TRUE(close_f32(gw.gpu, gw.cpu, 1e-6 * m, 64)) << "grad_weight";
  EXPECT_TRUE(close_f32(gb.gpu, gb.cpu, 1e-6 * m, 64)) << "grad_bias";
  // Only some gradients asked for.
  Twin gx2 = output_twin(bc.x);
  const TensorView gx2c = gx2.c(), gx2g = gx2.g();
  cpu_.batch_norm_backward(x.c(), gy.c(), bc.affine ? &wc : nullptr, sm.c(), si.c(), &gx2c, nullptr,
                           nullptr, bc.training, p.eps);
  gpu_->batch_norm_backward(x.g(), gy.g(), bc.affine ? &wg : nullptr, sm.g(), si.g(), &gx2g,
                            nullptr, nullptr, bc.training, p.eps);
  EXPECT_TRUE(close_f32(gx2.gpu, gx2.cpu, 1e-5, 256)) << "grad_x alone";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, BatchNormParity,
    ::testing::Values(BnCase{"TrainAffineRunning", {4, 13, 5, 5}, true, true, true},
                      BnCase{"TrainPlain", {3, 27, 4, 6}, false, false, true},
                      BnCase{"TrainVectors", {16, 27}, true, true, true},
                      BnCase{"EvalAffine", {4, 13, 5, 5}, true, true, false},
                      BnCase{"EvalPlain", {2, 27, 3, 3}, false, true, false},
                      BnCase{"TrainLarge", {32, 64, 16, 16}, true, true, true},
                      BnCase{"EvalLarge", {32, 64, 16, 16}, true, true, false}),
    [](const ::testing::TestParamInfo<BnCase>& info) { return std::string(info.param.name); });

// ---- pooling
// -------------------------------------------------------------------------------------

struct PoolCase {
  const char* name;
  Shape x;
  int kernel, stride, pad;
  bool ceil_mode, count_include_pad;
};

// Test names and ctest show the case by its name.
void PrintTo(const PoolCase& c, std::ostream* os) { *os << c.name; }

class PoolParity : public CudaParity, public ::testing::WithParamInterface<PoolCase> {};

std::int64_t pool_out(std::int64_t in, int k, int s, int p, bool ceil_mode) {
  const std::int64_t span = in + 2 * p - k;
  std::int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

TEST_P(PoolParity, MaxAndAverage) {
  const PoolCase& pc = GetParam();
  Pool2dParams p;
  p.kernel_h = p.kernel_w = pc.kernel;
  p.stride_h = p.stride_w = pc.stride;
  p.pad_h = p.pad_w = pc.pad;
  p.ceil_mode = pc.ceil_mode;
  p.count_include_pad = pc.count_include_pad;
  const Shape y_shape{pc.x[0], pc.x[1],
                      pool_out(pc.x[2], pc.kernel, pc.stride, pc.pad, pc.ceil_mode),
                      pool_out(pc.x[3], pc.kernel, pc.stride, pc.pad, pc.ceil_mode)};
  Twin x = random_twin(pc.x, 61);
  Twin y = output_twin(y_shape), idx = output_twin(y_shape, DType::I64);
  cpu_.max_pool2d_forward(x.c(), y.c(), idx.c(), p);
  gpu_->max_pool2d_forward(x.g(), y.g(), idx.g(), p);
  EXPECT_TRUE(same_bytes(y.gpu, y.cpu)) << "max values";
  EXPECT_TRUE(same_bytes(idx.gpu, idx.cpu)) << "max indices";
  Twin gy = random_twin(y_shape, 62);
  Twin gx = output_twin(pc.x);
  cpu_.max_pool2d_backward(gy.c(), idx.c(), gx.c());
  gpu_->max_pool2d_backward(gy.g(), idx.g(), gx.g());
  EXPECT_TRUE(close_f32(gx.gpu, gx.cpu, 1e-6, 4)) << "max backward";

  Twin ya = output_twin(y_shape);
  cpu_.avg_pool2d_forward(x.c(), ya.c(), p);
  gpu_->avg_pool2d_forward(x.g(), ya.g(), p);
  EXPECT_TRUE(close_f32(ya.gpu, ya.cpu, 1e-7, 2)) << "avg forward";
  Twin gxa = output_twin(pc.x);
  cpu_.avg_pool2d_backward(gy.c(), gxa.c(), p);
  gpu_->avg_pool2d_backward(gy.g(), gxa.g(), p);
  EXPECT_TRUE(close_f32(gxa.gpu, gxa.cpu, 1e-6, 8)) << "avg backward";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, PoolParity,
    ::testing::Values(PoolCase{"K2S2", {1, 3, 8, 8}, 2, 2, 0, false, true},
                      PoolCase{"K3S2P1Ceil", {2, 13, 7, 7}, 3, 2, 1, true, true},
                      PoolCase{"K3S2P1CeilExcludePad", {2, 13, 7, 7}, 3, 2, 1, true, false},
                      PoolCase{"K3S1P1", {2, 5, 6, 9}, 3, 1, 1, false, false},
                      PoolCase{"K2S2CeilOdd", {2, 27, 9, 5}, 2, 2, 0, true, true},
                      PoolCase{"Global", {4, 27, 7, 7}, 7, 7, 0, false, true}),
    [](const ::testing::TestParamInfo<PoolCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace shears::testing
