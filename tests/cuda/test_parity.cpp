// CPU vs CUDA parity of every backend primitive: the same random inputs through CpuBackend (the
// reference) and the cuda:0 backend, TF32 off. Arithmetic is compared with atol + |ref| * eps * k;
// data movement (fill, convert, gather, scatter, masks, index_select, slice_copy, dropout masks,
// pooling indices) must match exactly. Shapes use odd channel counts (13, 27), and the channel
// kernels also run with empty and keep-all index lists. Skipped without a GPU.

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

// ---- elementwise
// ---------------------------------------------------------------------------------

TEST_F(CudaParity, FillEveryDtype) {
  for (DType dtype : {DType::F32, DType::F64, DType::I32, DType::I64, DType::U8}) {
    SCOPED_TRACE(dtype_name(dtype));
    for (double value : {0.0, 3.0, -2.5}) {
      if (dtype == DType::U8 && value < 0) continue;
      Twin t = output_twin({3, 13, 5}, dtype);
      cpu_.fill(t.c(), value);
      gpu_->fill(t.g(), value);
      EXPECT_TRUE(same_bytes(t.gpu, t.cpu));
    }
  }
}

TEST_F(CudaParity, ConvertEveryDtypePair) {
  // Values exact in every dtype, plus out-of-range and NaN values that integer targets saturate.
  const std::vector<double> values = {0, 1, 2, 7, 100, 255, -3, 1e10, -1e10, 3.75, NAN};
  const DType all[] = {DType::F32, DType::F64, DType::I32, DType::I64, DType::U8};
  for (DType from : all) {
    for (DType to : all) {
      SCOPED_TRACE(std::string(dtype_name(from)) + " -> " + dtype_name(to));
      const Shape shape{static_cast<std::int64_t>(values.size())};
      // The source values in `from`, built by the CPU backend's own conversion from F64.
      Buffer src64 = cpu_buffer(shape, DType::F64);
      src64.set(values);
      Buffer src_c = cpu_buffer(shape, from);
      cpu_.convert(src64.view(), src_c.view());
      Buffer src_g = gpu_buffer(shape, from);
      src_g.set_bytes(src_c.get_bytes().data());
      Twin out = output_twin(shape, to);
      cpu_.convert(src_c.view(), out.c());
      gpu_->convert(src_g.view(), out.g());
      EXPECT_TRUE(same_bytes(out.gpu, out.cpu));
    }
  }
}

struct BroadcastCase {
  Shape a, b, out;
};

TEST_F(CudaParity, BinaryWithBroadcasting) {
  const std::vector<BroadcastCase> cases = {
      {{2, 13, 4, 5}, {2, 13, 4, 5}, {2, 13, 4, 5}},
      {{2, 13, 4, 5}, {13, 1, 1}, {2, 13, 4, 5}},
      {{27}, {4, 27}, {4, 27}},
      {{1}, {3, 7}, {3, 7}},
      {{4, 1, 6}, {5, 1}, {4, 5, 6}},
      {{}, {}, {}},
      {{2, 1, 3, 1, 5, 1}, {1, 4, 1, 6, 1, 8}, {2, 4, 3, 6, 5, 8}},
  };
  const BinaryOp ops[] = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div};
  std::uint32_t seed = 1;
  for (const BroadcastCase& bc : cases) {
    for (BinaryOp op : ops) {
      SCOPED_TRACE(shape_str(bc.a) + " op " + shape_str(bc.b) + " #" +
                   std::to_string(static_cast<int>(op)));
      Twin a = random_twin(bc.a, seed++);
      Twin b = random_twin(bc.b, seed++, 0.5f, 2.0f);
      Twin out = output_twin(bc.out);
      cpu_.binary(op, a.c(), b.c(), out.c());
      gpu_->binary(op, a.g(), b.g(), out.g());
      EXPECT_TRUE(close_f32(out.gpu, out.cpu, 0.0, 2));
    }
  }
}

TEST_F(CudaParity, BinaryInPlaceBiasAdd) {
  Twin y = random_twin({8, 27}, 3);
  Twin bias = random_twin({27}, 4);
  cpu_.binary(BinaryOp::Add, y.c(), bias.c(), y.c());
  gpu_->binary(BinaryOp::Add, y.g(), bias.g(), y.g());
  EXPECT_TRUE(close_f32(y.gpu, y.cpu, 0.0, 2));
}

TEST_F(CudaParity, BinaryRejectsShapesThatDoNotBroadcast) {
  Twin a = random_twin({3, 4}, 1), b = random_twin({5}, 2);
  Twin out = output_twin({3, 4});
  try {
    gpu_->binary(BinaryOp::Add, a.g(), b.g(), out.g());
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("[5]"), std::string::npos) << e.what();
  }
}

TEST_F(CudaParity, Axpby) {
  for (double beta : {0.0, 1.0, -0.5}) {
    SCOPED_TRACE(beta);
    Twin x = random_twin({13, 27}, 5);
    Twin y = random_twin({13, 27}, 6);
    if (beta == 0.0) {
      // beta == 0 ignores y entirely, NaN included.
      const std::vector<float> nans(13 * 27, std::numeric_limits<float>::quiet_NaN());
      y.cpu.set(nans);
      y.gpu.set(nans);
    }
    cpu_.axpby(1.5, x.c(), beta, y.c());
    gpu_->axpby(1.5, x.g(), beta, y.g());
    EXPECT_TRUE(close_f32(y.gpu, y.cpu, 1e-7, 4));
  }
}

TEST_F(CudaParity, ActivationsForwardAndBackward) {
  const ActivationKind kinds[] = {ActivationKind::Relu, ActivationKind::LeakyRelu,
                                  ActivationKind::Sigmoid, ActivationKind::Tanh,
                                  ActivationKind::Exp};
  for (ActivationKind kind : kinds) {
    SCOPED_TRACE(static_cast<int>(kind));
    Twin x = random_twin({2, 13, 7, 3}, 7, -3.0f, 3.0f);
    Twin y = output_twin(x.cpu.shape());
    cpu_.activation_forward(kind, 0.1, x.c(), y.c());
    gpu_->activation_forward(kind, 0.1, x.g(), y.g());
    EXPECT_TRUE(close_f32(y.gpu, y.cpu, 1e-7, 8));
    // Backward from the CPU's forward output on both sides.
    Twin y_ref = twin(y.cpu.shape(), y.cpu.get<float>());
    Twin gy = random_twin(x.cpu.shape(), 8);
    Twin gx = output_twin(x.cpu.shape());
    cpu_.activation_backward(kind, 0.1, y_ref.c(), gy.c(), gx.c());
    gpu_->activation_backward(kind, 0.1, y_ref.g(), gy.g(), gx.g());
    EXPECT_TRUE(close_f32(gx.gpu, gx.cpu, 1e-7, 8));
  }
}

// ---- reductions
// ----------------------------------------------------------------------------------

struct SumCase {
  Shape x, out;
};

TEST_F(CudaParity, SumTo) {
  const std::vector<SumCase> cases = {
      {{2, 13, 5, 7}, {13, 1, 1}},
      {{2, 13, 5, 7}, {}},
      {{2, 13, 5, 7}, {1}},
      {{64, 27}, {27}},
      {{3, 4, 5}, {3, 1, 5}},
      {{5, 1, 7}, {1, 1, 7}},
      {{300000, 3}, {3}},
      {{3, 200000}, {3, 1}},
      {{4, 27}, {4, 27}},
      {{1000, 2}, {1000, 1}},
      {{0, 13}, {13}},
      {{2, 3, 4, 5, 6}, {3, 1, 5, 1}},
  };
  std::uint32_t seed = 11;
  for (const SumCase& sc : cases) {
    SCOPED_TRACE(shape_str(sc.x) + " -> " + shape_str(sc.out));
    Twin x = random_twin(sc.x, seed++);
    Twin out = output_twin(sc.out);
    cpu_.sum_to(x.c(), out.c());
    gpu_->sum_to(x.g(), out.g());
    // Both sides accumulate in double; the f32 results differ by rounding only.
    EXPECT_TRUE(close_f32(out.gpu, out.cpu, 1e-6, 4));
  }
}

// ---- GEMM
// ----------------------------------------------------------------------------------------

TEST_F(CudaParity, GemmAllTransposes) {
  struct Dims {
    std::int64_t m, n, k;
  };
  for (Dims d : {Dims{7, 5, 11}, Dims{64, 27, 13}, Dims{1, 1, 1}, Dims{33, 65, 129}}) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      for (double beta : {0.0, 0.5}) {
        SCOPED_TRACE(std::to_string(d.m) + "x" + std::to_string(d.n) + "x" + std::to_string(d.k) +
                     " ta " + std::to_string(ta) + " tb " + std::to_string(tb) + " beta " +
                     std::to_string(beta));
        Twin a = random_twin(ta ? Shape{d.k, d.m} : Shape{d.m, d.k}, 21);
        Twin b = random_twin(tb ? Shape{d.n, d.k} : Shape{d.k, d.n}, 22);
        Twin c = random_twin({d.m, d.n}, 23);
        cpu_.gemm(ta, tb, 1.25, a.c(), b.c(), beta, c.c());
        gpu_->gemm(ta, tb, 1.25, a.g(), b.g(), beta, c.g());
        EXPECT_TRUE(close_f32(c.gpu, c.cpu, 1e-6 * static_cast<double>(d.k), 16));
      }
    }
  }
}

TEST_F(CudaParity, GemmEmptyInnerDimension) {
  Twin a = random_twin({4, 0}, 1), b = random_twin({0, 3}, 2);
  for (double beta : {0.0, 2.0}) {
    Twin c = random_twin({4, 3}, 3);
    cpu_.gemm(false, false, 1.0, a.c(), b.c(), beta, c.c());
    gpu_->gemm(false, false, 1.0, a.g(), b.g(), beta, c.g());
    EXPECT_TRUE(close_f32(c.gpu, c.cpu, 0.0, 1));
  }
}

TEST_F(CudaParity, GemmRejectsF64) {
  Buffer a = gpu_buffer({2, 2}, DType::F64), b = gpu_buffer({2, 2}, DType::F64);
  Buffer c = gpu_buffer({2, 2}, DType::F64);
  try {
    gpu_->gemm(false, false, 1.0, a.view(), b.view(), 0.0, c.view());
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("F32 only"), std::string::npos) << e.what();
  }
}

// ---- convolution
// ---------------------------------------------------------------------------------

struct ConvCase {
  const char* name;
  Shape x, w;
  Conv2dParams p;
  bool bias;
};

Conv2dParams conv_params(int stride, int pad, int dilation = 1, int groups = 1) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  p.dilation_h = p.dilation_w = dilation;
  p.groups = groups;
  return p;
}

std::int64_t conv_out(std::int64_t in, std::int64_t k, int stride, int pad, int dilation) {
  return (in + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}

// Test names and ctest show the case by its name.
void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }

class ConvParity : public CudaParity, public ::testing::WithParamInterface<ConvCase> {};

TEST_P(ConvParity, ForwardAndBothBackwards) {
  const ConvCase& cc = GetParam();
  const Conv2dParams& p = cc.p;
  const Shape y_shape{cc.x[0], cc.w[0],
                      conv_out(cc.x[2], cc.w[2], p.stride_h, p.pad_h, p.dilation_h),
                      conv_out(cc.x[3], cc.w[3], p.stride_w, p.pad_w, p.dilation_w)};
  Twin x = random_twin(cc.x, 31), w = random_twin(cc.w, 32), bias = random_twin({cc.w[0]}, 33);
  const TensorView bc = bias.c(), bg = bias.g();
  // A sum of K = Cin/groups * kh * kw products of values in [-1, 1].
  const double terms = static_cast<double>(cc.w[1] * cc.w[2] * cc.w[3]);
  const double atol = 2e-6 * terms + 1e-6;

  Twin y = output_twin(y_shape);
  cpu_.conv2d_forward(x.c(), w.c(), cc.bias ? &bc : nullptr, y.c(), p);
  gpu_->conv2d_forward(x.g(), w.g(), cc.bias ? &bg : nullptr, y.g(), p);
  EXPECT_TRUE(close_f32(y.gpu, y.cpu, atol, 64)) << "forward";

  Twin gy = random_twin(y_shape, 34);
  Twin gx = output_twin(cc.x);
  cpu_.conv2d_backward_data(gy.c(), w.c(), gx.c(), p);
  gpu_->conv2d_backward_data(gy.g(), w.g(), gx.g(), p);
  const double data_terms = static_cast<double>(cc.w[0] * cc.w[2] * cc.w[3]);
  EXPECT_TRUE(close_f32(gx.gpu, gx.cpu, 2e-6 * data_terms + 1e-6, 64)) << "backward data";

  Twin gw = output_twin(cc.w);
  cpu_.conv2d_backward_weight(x.c(), gy.c(), gw.c(), p);
  gpu_->conv2d_backward_weight(x.g(), gy.g(), gw.g(), p);
  const double weight_terms = static_cast<double>(y_shape[0] * y_shape[2] * y_shape[3]);
  EXPECT_TRUE(close_f32(gw.gpu, gw.cpu, 2e-6 * weight_terms + 1e-6, 64)) << "backward weight";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvParity,
    ::testing::Values(
        ConvCase{"Plain3x3", {2, 3, 8, 8}, {13, 3, 3, 3}, conv_params(1, 1), false},
        ConvCase{"Stride2Bias", {2, 13, 9, 9}, {27, 13, 3, 3}, conv_params(2, 1), true},
        ConvCase{"Depthwise", {2, 27, 7, 7}, {27, 1, 3, 3}, conv_params(1, 1, 1, 27), true},
        ConvCase{"Grouped1x1", {1, 12, 5, 5}, {6, 4, 1, 1}, conv_params(1, 0, 1, 3), false},
        ConvCase{"Dilated", {2, 5, 11, 11}, {7, 5, 3, 3}, conv_params(1, 2, 2), true},
        ConvCase{"Wide", {4, 64, 16, 16}, {27, 64, 3, 3}, conv_params(1, 1), true}),
    [](const ::testing::TestParamInfo<ConvCase>& info) { return std::string(info.param.name); });

// A convolution over zero input channels (every channel pruned) is its bias; cuDNN never sees it.
TEST_F(CudaParity, ConvWithoutInputChannelsIsTheBias) {
  Twin x = random_twin({2, 0, 5, 5}, 43), w = random_twin({4, 0, 3, 3}, 44);
  const std::vector<float> bias_values = {0.5f, -1.0f, 2.0f, 0.0f};
  Twin bias = twin({4}, bias_values);
  Twin y = output_twin({2, 4, 5, 5});
  const TensorView bg = bias.g();
  gpu_->conv2d_forward(x.g(), w.g(), &bg, y.g(), conv_params(1, 1));
  const std::vector<float> got = y.gpu.get<float>();
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], bias_values[(i / 25) % 4]) << "at " << multi_index({2, 4, 5, 5}, i);
  }
}

TEST_F(CudaParity, ConvWithTf32AllowedStaysClose) {
  set_allow_tf32(true);
  Twin x = random_twin({2, 27, 8, 8}, 41), w = random_twin({13, 27, 3, 3}, 42);
  Twin y = output_twin({2, 13, 8, 8});
  const Conv2dParams p = conv_params(1, 1);
  cpu_.conv2d_forward(x.c(), w.c(), nullptr, y.c(), p);
  gpu_->conv2d_forward(x.g(), w.g(), nullptr, y.g(), p);
  // TF32 keeps 10 mantissa bits: about 1e-3 relative per product.
  EXPECT_TRUE(close_f32(y.gpu, y.cpu, 2e-3 * 27 * 9, 0));
}

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

// ---- softmax and losses
// --------------------------------------------------------------------------

TEST_F(CudaParity, SoftmaxAndLogSoftmax) {
  for (const Shape& shape : {Shape{8, 13}, Shape{3, 1000}, Shape{1, 1}}) {
    for (bool log : {false, true}) {
      SCOPED_TRACE(shape_str(shape) + (log ? " log" : ""));
      Twin x = random_twin(shape, 71, -5.0f, 5.0f);
      Twin y = output_twin(shape);
      cpu_.softmax_forward(x.c(), y.c(), log);
      gpu_->softmax_forward(x.g(), y.g(), log);
      EXPECT_TRUE(close_f32(y.gpu, y.cpu, 1e-6, 32));
      Twin y_ref = twin(shape, y.cpu.get<float>());
      Twin gy = random_twin(shape, 72);
      Twin gx = output_twin(shape);
      cpu_.softmax_backward(y_ref.c(), gy.c(), gx.c(), log);
      gpu_->softmax_backward(y_ref.g(), gy.g(), gx.g(), log);
      EXPECT_TRUE(close_f32(gx.gpu, gx.cpu, 1e-5, 64));
    }
  }
}

TEST_F(CudaParity, NllLossWithSmoothing) {
  const std::int64_t n = 37, c = 13;
  std::vector<std::int64_t> labels(n);
  for (std::int64_t i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = (i * 7) % c;
  for (double s : {0.0, 0.1}) {
    SCOPED_TRACE(s);
    Twin logp = random_twin({n, c}, 81, -6.0f, 0.0f);
    Twin lab = twin({n}, labels);
    Twin loss = output_twin({});
    cpu_.nll_loss_forward(logp.c(), lab.c(), s, loss.c());
    gpu_->nll_loss_forward(logp.g(), lab.g(), s, loss.g());
    EXPECT_TRUE(close_f32(loss.gpu, loss.cpu, 1e-7, 4));
    Twin g = twin({}, std::vector<float>{0.75f});
    Twin grad = output_twin({n, c});
    cpu_.nll_loss_backward(lab.c(), s, g.c(), grad.c());
    gpu_->nll_loss_backward(lab.g(), s, g.g(), grad.g());
    EXPECT_TRUE(close_f32(grad.gpu, grad.cpu, 0.0, 2));
  }
}

TEST_F(CudaParity, NllLossNamesAnOutOfRangeLabel) {
  Twin logp = random_twin({4, 13}, 82);
  Twin lab = twin({4}, std::vector<std::int64_t>{0, 12, 13, 5});
  Twin loss = output_twin({});
  try {
    gpu_->nll_loss_forward(logp.g(), lab.g(), 0.0, loss.g());
    // The label check is deferred: the device records it, the next synchronisation throws it.
    gpu_->synchronize();
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("label 13 at row 2 is out of range for 13 classes"),
              std::string::npos)
        << e.what();
  }
  // The backend stays usable afterwards.
  Twin ok = twin({4}, std::vector<std::int64_t>{0, 12, 3, 5});
  EXPECT_NO_THROW(gpu_->nll_loss_forward(logp.g(), ok.g(), 0.0, loss.g()));
  EXPECT_NO_THROW(gpu_->synchronize());
}

TEST_F(CudaParity, BceWithLogits) {
  for (const Shape& shape : {Shape{64, 27}, Shape{100003}}) {
    SCOPED_TRACE(shape_str(shape));
    Twin x = random_twin(shape, 91, -8.0f, 8.0f), t = random_twin(shape, 92, 0.0f, 1.0f);
    Twin loss = output_twin({});
    cpu_.bce_with_logits_forward(x.c(), t.c(), loss.c());
    gpu_->bce_with_logits_forward(x.g(), t.g(), loss.g());
    EXPECT_TRUE(close_f32(loss.gpu, loss.cpu, 1e-7, 4));
    Twin g = twin({}, std::vector<float>{1.5f});
    Twin gx = output_twin(shape);
    cpu_.bce_with_logits_backward(x.c(), t.c(), g.c(), gx.c());
    gpu_->bce_with_logits_backward(x.g(), t.g(), g.g(), gx.g());
    EXPECT_TRUE(close_f32(gx.gpu, gx.cpu, 1e-12, 4));
  }
}

// ---- random
// --------------------------------------------------------------------------------------

TEST_F(CudaParity, DropoutMaskIsBitIdentical) {
  for (double p : {0.0, 0.3, 0.5, 0.9}) {
    for (std::int64_t n : {1, 1000, 123457}) {
      SCOPED_TRACE(std::to_string(p) + " " + std::to_string(n));
      Twin mask = output_twin({n});
      cpu_.dropout_mask(mask.c(), p, 0x5eed + static_cast<std::uint64_t>(n));
      gpu_->dropout_mask(mask.g(), p, 0x5eed + static_cast<std::uint64_t>(n));
      EXPECT_TRUE(same_bytes(mask.gpu, mask.cpu));
    }
  }
}

// ---- indexing
// ------------------------------------------------------------------------------------

TEST_F(CudaParity, IndexSelectIsExact) {
  const std::vector<std::int64_t> index = {4, 0, 4, 12, 7};
  for (int dim : {0, 1, -1}) {
    SCOPED_TRACE(dim);
    const Shape shape{13, 13, 3};
    Twin x = random_twin(shape, 101);
    Shape out_shape = shape;
    out_shape[static_cast<std::size_t>(dim < 0 ? dim + 3 : dim)] = 5;
    const std::vector<std::int64_t> idx =
        dim == -1 ? std::vector<std::int64_t>{2, 0, 1, 1, 0} : index;
    Twin ix = index_twin(idx);
    Twin out = output_twin(out_shape);
    cpu_.index_select(x.c(), dim, ix.c(), out.c());
    gpu_->index_select(x.g(), dim, ix.g(), out.g());
    EXPECT_TRUE(same_bytes(out.gpu, out.cpu));
  }
}

TEST_F(CudaParity, IndexAddAccumulatesDuplicates) {
  Twin src = random_twin({3, 6, 5}, 111);
  Twin ix = index_twin({2, 0, 2, 26, 2, 13});
  Twin out = random_twin({3, 27, 5}, 112);
  cpu_.index_add(src.c(), 1, ix.c(), out.c());
  gpu_->index_add(src.g(), 1, ix.g(), out.g());
  EXPECT_TRUE(close_f32(out.gpu, out.cpu, 1e-6, 4));
}

TEST_F(CudaParity, IndexOutOfRangeIsNamed) {
  Twin x = random_twin({13, 4}, 113);
  Twin ix = index_twin({1, 13});
  Twin out = output_twin({2, 4});
  try {
    gpu_->index_select(x.g(), 0, ix.g(), out.g());
    gpu_->synchronize();
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("index[1] = 13 is out of range"), std::string::npos)
        << e.what();
  }
}

TEST_F(CudaParity, SliceCopyIsExact) {
  struct SliceCase {
    Shape src, dst;
    int dim;
    std::int64_t src_start, dst_start, length;
  };
  const std::vector<SliceCase> cases = {
      {{2, 13, 4, 4}, {2, 27, 4, 4}, 1, 3, 10, 7},
      {{13, 5}, {4, 5}, 0, 9, 0, 4},
      {{3, 27}, {3, 13}, 1, 1, 0, 13},
      {{3, 7}, {3, 7}, 1, 0, 0, 7},
      {{3, 7}, {3, 9}, 1, 0, 9, 0},
  };
  for (const SliceCase& sc : cases) {
    SCOPED_TRACE(shape_str(sc.src) + " -> " + shape_str(sc.dst));
    Twin src = random_twin(sc.src, 121);
    Twin dst = output_twin(sc.dst);
    cpu_.slice_copy(src.c(), sc.dim, sc.src_start, dst.c(), sc.dst_start, sc.length);
    gpu_->slice_copy(src.g(), sc.dim, sc.src_start, dst.g(), sc.dst_start, sc.length);
    EXPECT_TRUE(same_bytes(dst.gpu, dst.cpu));
  }
}

// ---- optimiser
// -----------------------------------------------------------------------------------

TEST_F(CudaParity, SgdUpdate) {
  struct SgdCase {
    double momentum, dampening, weight_decay;
    bool nesterov, first_step;
  };
  for (SgdCase sc : {SgdCase{0.0, 0.0, 0.0, false, false}, SgdCase{0.0, 0.0, 5e-4, false, false},
                     SgdCase{0.9, 0.0, 5e-4, false, true}, SgdCase{0.9, 0.0, 5e-4, false, false},
                     SgdCase{0.9, 0.1, 0.0, false, false}, SgdCase{0.9, 0.0, 1e-4, true, false}}) {
    SCOPED_TRACE(std::to_string(sc.momentum) + " " + std::to_string(sc.nesterov));
    SgdParams p;
    p.lr = 0.05;
    p.momentum = sc.momentum;
    p.dampening = sc.dampening;
    p.weight_decay = sc.weight_decay;
    p.nesterov = sc.nesterov;
    p.first_step = sc.first_step;
    Twin param = random_twin({27, 13, 3, 3}, 131), grad = random_twin({27, 13, 3, 3}, 132);
    Twin buf = random_twin({27, 13, 3, 3}, 133);
    const TensorView bc = buf.c(), bg = buf.g();
    cpu_.sgd_update(param.c(), grad.c(), sc.momentum != 0.0 ? &bc : nullptr, p);
    gpu_->sgd_update(param.g(), grad.g(), sc.momentum != 0.0 ? &bg : nullptr, p);
    EXPECT_TRUE(close_f32(param.gpu, param.cpu, 1e-7, 4));
    if (sc.momentum != 0.0) {
      EXPECT_TRUE(close_f32(buf.gpu, buf.cpu, 1e-7, 4));
    }
  }
}

}  // namespace
}  // namespace shears::testing
