// CPU-vs-CUDA parity of the backend primitives alone: GEMM (transposes, empty inner dimension,
// dtypes) and convolution (geometries, empty problems, TF32 tolerance).
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

}  // namespace
}  // namespace shears::testing
