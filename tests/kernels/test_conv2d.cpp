// Known-answer tests of CpuBackend's convolution against naive nested loops in double, for the
// oneDNN and BLAS f32 paths and the f64 path, over a sweep of strides, paddings, dilations,
// groups (including depthwise), kernel sizes and odd channel counts.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/conv_library.h"
#include "kernels/cpu/cpu_backend.h"

namespace shears {
namespace {

using kernels::cpu::ConvLibrary;
using kernels::cpu::CpuBackend;

struct ConvCase {
  std::string name;
  std::int64_t n, c, h, w;
  std::int64_t k, kh, kw;
  Conv2dParams p;
  bool bias;

  std::int64_t ho() const {
    return (h + 2 * p.pad_h - p.dilation_h * (kh - 1) - 1) / p.stride_h + 1;
  }
  std::int64_t wo() const {
    return (w + 2 * p.pad_w - p.dilation_w * (kw - 1) - 1) / p.stride_w + 1;
  }
  Shape x_shape() const { return {n, c, h, w}; }
  Shape w_shape() const { return {k, c / p.groups, kh, kw}; }
  Shape y_shape() const { return {n, k, ho(), wo()}; }
};

Conv2dParams params(int stride_h, int stride_w, int pad_h, int pad_w, int dilation_h,
                    int dilation_w, int groups) {
  Conv2dParams p;
  p.stride_h = stride_h, p.stride_w = stride_w;
  p.pad_h = pad_h, p.pad_w = pad_w;
  p.dilation_h = dilation_h, p.dilation_w = dilation_w;
  p.groups = groups;
  return p;
}

Conv2dParams params(int stride, int pad, int dilation = 1, int groups = 1) {
  return params(stride, stride, pad, pad, dilation, dilation, groups);
}

// The sweep. Batch sizes of 1 and of 2 or more take the two schedules of the BLAS path (images
// in turn, or images spread over threads).
const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      {"Basic3x3Bias", 2, 3, 7, 6, 5, 3, 3, params(1, 1), true},
      {"Stride2Pad1OddChannels", 2, 11, 9, 8, 13, 3, 3, params(2, 1), true},
      {"NoPadding", 3, 4, 6, 7, 6, 3, 3, params(1, 0), false},
      {"Kernel5Pad2", 2, 3, 8, 8, 4, 5, 5, params(1, 2), true},
      {"Kernel5Stride2Pad2", 2, 3, 11, 11, 8, 5, 5, params(2, 2), false},
      {"Dilation2Pad2", 2, 5, 9, 9, 7, 3, 3, params(1, 2, 2), false},
      {"Dilation2Stride2", 2, 6, 10, 9, 4, 3, 3, params(2, 1, 2), true},
      {"Groups2", 2, 6, 7, 7, 10, 3, 3, params(1, 1, 1, 2), true},
      {"Groups2Stride2", 3, 8, 9, 9, 6, 3, 3, params(2, 1, 1, 2), false},
      {"Groups2Dilation2Pad0", 2, 10, 9, 9, 22, 3, 3, params(1, 0, 2, 2), true},
      {"DepthwiseOdd13", 2, 13, 7, 7, 13, 3, 3, params(1, 1, 1, 13), true},
      {"DepthwiseStride2Odd27", 2, 27, 8, 8, 27, 3, 3, params(2, 1, 1, 27), false},
      {"DepthwiseKernel5Dilation2", 2, 11, 11, 10, 11, 5, 5, params(1, 2, 2, 11), false},
      {"DepthwiseMultiplier2", 2, 5, 6, 6, 10, 3, 3, params(1, 1, 1, 5), true},
      {"Pointwise11To45", 2, 11, 5, 6, 45, 1, 1, params(1, 0), true},
      {"PointwiseStride2EvenSize", 2, 13, 8, 8, 27, 1, 1, params(2, 0), false},
      {"PointwisePad1", 2, 4, 5, 5, 3, 1, 1, params(1, 1), true},
      {"Channels45To11", 2, 45, 5, 5, 11, 3, 3, params(1, 1), true},
      {"NonSquareKernel3x1", 2, 3, 7, 6, 5, 3, 1, params(1, 1, 1, 0, 1, 1, 1), true},
      {"NonSquareKernel1x5Mixed", 2, 4, 6, 13, 6, 1, 5, params(1, 2, 0, 2, 1, 2, 1), false},
      {"NonSquareKernel2x3Stride21", 2, 5, 9, 8, 3, 2, 3, params(2, 1, 1, 0, 1, 1, 1), true},
      {"NonSquareInputGroups3", 3, 9, 5, 12, 6, 3, 3, params(1, 2, 1, 1, 1, 1, 3), false},
      {"Stem7x7Stride2Pad3", 2, 3, 15, 15, 8, 7, 7, params(2, 3), false},
      {"BatchOne", 1, 11, 8, 8, 13, 3, 3, params(1, 1), true},
      {"BatchOneDepthwise", 1, 13, 9, 9, 13, 3, 3, params(2, 1, 1, 13), true},
      {"BatchFive", 5, 3, 6, 6, 4, 3, 3, params(2, 2, 1, 1), false},
      {"KernelCoversInput", 2, 3, 3, 3, 5, 3, 3, params(1, 0), true},
  };
  return cases;
}

// How f32/f64 convolution runs: which library for f32, or the f64 path.
enum class ConvPath { OneDnnF32, OneDnnPlainF32, BlasF32, BlasF64 };

std::string path_name(ConvPath path) {
  switch (path) {
    case ConvPath::OneDnnF32:
      return "OneDnnF32";
    case ConvPath::OneDnnPlainF32:
      return "OneDnnPlainF32";
    case ConvPath::BlasF32:
      return "BlasF32";
    case ConvPath::BlasF64:
      return "BlasF64";
  }
  return "Unknown";
}

// Values in [-1, 1] that are exact in f32, so the double reference sees exactly what f32 sees.
std::vector<double> random_values(std::int64_t count, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<double> v(static_cast<std::size_t>(count));
  for (auto& x : v) x = static_cast<double>(dist(rng));
  return v;
}

// ---- naive references in double -----------------------------------------------------------------

// Calls f(ni, o, oh, ow, ci, ki, kj, ih, iw) for every product term of the convolution that reads
// a real (non-padding) input position; ci is the absolute input channel.
template <typename F>
void for_each_term(const ConvCase& cc, F&& f) {
  const std::int64_t cg = cc.c / cc.p.groups, kg = cc.k / cc.p.groups;
  for (std::int64_t ni = 0; ni < cc.n; ++ni)
    for (std::int64_t o = 0; o < cc.k; ++o)
      for (std::int64_t oh = 0; oh < cc.ho(); ++oh)
        for (std::int64_t ow = 0; ow < cc.wo(); ++ow)
          for (std::int64_t cl = 0; cl < cg; ++cl)
            for (std::int64_t ki = 0; ki < cc.kh; ++ki)
              for (std::int64_t kj = 0; kj < cc.kw; ++kj) {
                const std::int64_t ih = oh * cc.p.stride_h - cc.p.pad_h + ki * cc.p.dilation_h;
                const std::int64_t iw = ow * cc.p.stride_w - cc.p.pad_w + kj * cc.p.dilation_w;
                if (ih < 0 || ih >= cc.h || iw < 0 || iw >= cc.w) continue;
                f(ni, o, oh, ow, (o / kg) * cg + cl, cl, ki, kj, ih, iw);
              }
}

struct Reference {
  std::vector<double> y, grad_x, grad_w;
};

Reference reference(const ConvCase& cc, const std::vector<double>& x, const std::vector<double>& w,
                    const std::vector<double>& bias, const std::vector<double>& grad_y) {
  Reference r;
  r.y.assign(static_cast<std::size_t>(shape_numel(cc.y_shape())), 0.0);
  r.grad_x.assign(x.size(), 0.0);
  r.grad_w.assign(w.size(), 0.0);
  const std::int64_t ho = cc.ho(), wo = cc.wo(), cg = cc.c / cc.p.groups;
  auto y_at = [&](std::int64_t ni, std::int64_t o, std::int64_t oh, std::int64_t ow) {
    return static_cast<std::size_t>(((ni * cc.k + o) * ho + oh) * wo + ow);
  };
  for_each_term(
      cc, [&](std::int64_t ni, std::int64_t o, std::int64_t oh, std::int64_t ow, std::int64_t ci,
              std::int64_t cl, std::int64_t ki, std::int64_t kj, std::int64_t ih, std::int64_t iw) {
        const auto xi = static_cast<std::size_t>(((ni * cc.c + ci) * cc.h + ih) * cc.w + iw);
        const auto wi = static_cast<std::size_t>(((o * cg + cl) * cc.kh + ki) * cc.kw + kj);
        const auto yi = y_at(ni, o, oh, ow);
        r.y[yi] += x[xi] * w[wi];
        r.grad_x[xi] += grad_y[yi] * w[wi];
        r.grad_w[wi] += grad_y[yi] * x[xi];
      });
  if (cc.bias) {
    for (std::int64_t ni = 0; ni < cc.n; ++ni)
      for (std::int64_t o = 0; o < cc.k; ++o)
        for (std::int64_t q = 0; q < ho * wo; ++q)
          r.y[y_at(ni, o, 0, 0) + static_cast<std::size_t>(q)] += bias[static_cast<std::size_t>(o)];
  }
  return r;
}

// ---- comparison ---------------------------------------------------------------------------------

std::string index_str(const Shape& shape, std::size_t flat) {
  std::vector<std::int64_t> idx(shape.size());
  auto rest = static_cast<std::int64_t>(flat);
  for (std::size_t d = shape.size(); d-- > 0;) {
    idx[d] = rest % shape[d];
    rest /= shape[d];
  }
  return shape_str(idx);
}

// Passes when |actual - expected| <= tol * max(1, |expected|) everywhere; otherwise reports the
// mismatch count, the worst index, both values there and the largest absolute/relative errors.
template <typename T>
::testing::AssertionResult all_close(const std::vector<T>& actual,
                                     const std::vector<double>& expected, const Shape& shape,
                                     double tol) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure() << "size " << actual.size() << " vs " << expected.size();
  }
  std::size_t mismatches = 0, worst = 0;
  double worst_ratio = -1.0, max_abs = 0.0, max_rel = 0.0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double a = static_cast<double>(actual[i]), e = expected[i];
    const double err = std::abs(a - e);
    const double ratio = std::isnan(a) ? std::numeric_limits<double>::infinity()
                                       : err / (tol * std::max(1.0, std::abs(e)));
    if (ratio > 1.0) ++mismatches;
    if (ratio > worst_ratio) worst_ratio = ratio, worst = i;
    max_abs = std::max(max_abs, err);
    max_rel = std::max(max_rel, err / std::max(std::abs(e), 1e-300));
  }
  if (mismatches == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << mismatches << " of " << actual.size() << " elements of " << shape_str(shape)
         << " differ; worst at " << index_str(shape, worst) << ": got " << actual[worst]
         << ", expected " << expected[worst] << "; max abs err " << max_abs << ", max rel err "
         << max_rel << " (tolerance " << tol << ")";
}

// ---- the parameterised sweep --------------------------------------------------------------------

template <typename T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

template <typename T>
TensorView view(std::vector<T>& data, const Shape& shape) {
  return TensorView{data.data(), shape, DTypeOf<T>::value, Device::cpu()};
}

class Conv2dKnownAnswer : public ::testing::TestWithParam<std::tuple<ConvCase, ConvPath>> {
 protected:
  void SetUp() override {
    const auto& [cc, path] = GetParam();
    if (path != ConvPath::BlasF64) {
      kernels::cpu::set_conv_library(path == ConvPath::OneDnnF32        ? ConvLibrary::OneDnn
                                     : path == ConvPath::OneDnnPlainF32 ? ConvLibrary::OneDnnPlain
                                                                        : ConvLibrary::Blas);
    }
    x_ = random_values(shape_numel(cc.x_shape()), 11);
    w_ = random_values(shape_numel(cc.w_shape()), 12);
    bias_ = random_values(cc.k, 13);
    grad_y_ = random_values(shape_numel(cc.y_shape()), 14);
    ref_ = reference(cc, x_, w_, bias_, grad_y_);
  }

  template <typename T>
  void check(double tol) {
    const ConvCase& cc = std::get<0>(GetParam());
    const T nan = std::numeric_limits<T>::quiet_NaN();
    auto x = cast<T>(x_), w = cast<T>(w_), bias = cast<T>(bias_), grad_y = cast<T>(grad_y_);
    // Outputs start as NaN: every kernel must write (not accumulate into) all of its output.
    std::vector<T> y(ref_.y.size(), nan), grad_x(x.size(), nan), grad_w(w.size(), nan);
    TensorView bias_view = view(bias, {cc.k});
    backend_.conv2d_forward(view(x, cc.x_shape()), view(w, cc.w_shape()),
                            cc.bias ? &bias_view : nullptr, view(y, cc.y_shape()), cc.p);
    EXPECT_TRUE(all_close(y, ref_.y, cc.y_shape(), tol)) << "forward";
    backend_.conv2d_backward_data(view(grad_y, cc.y_shape()), view(w, cc.w_shape()),
                                  view(grad_x, cc.x_shape()), cc.p);
    EXPECT_TRUE(all_close(grad_x, ref_.grad_x, cc.x_shape(), tol)) << "backward data";
    backend_.conv2d_backward_weight(view(x, cc.x_shape()), view(grad_y, cc.y_shape()),
                                    view(grad_w, cc.w_shape()), cc.p);
    EXPECT_TRUE(all_close(grad_w, ref_.grad_w, cc.w_shape(), tol)) << "backward weight";
  }

  CpuBackend backend_;
  std::vector<double> x_, w_, bias_, grad_y_;
  Reference ref_;
};

TEST_P(Conv2dKnownAnswer, AllDirectionsMatchNaiveLoops) {
  if (std::get<1>(GetParam()) == ConvPath::BlasF64) {
    check<double>(1e-10);
  } else {
    check<float>(1e-4);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Sweep, Conv2dKnownAnswer,
    ::testing::Combine(::testing::ValuesIn(conv_cases()),
                       ::testing::Values(ConvPath::OneDnnF32, ConvPath::OneDnnPlainF32,
                                         ConvPath::BlasF32, ConvPath::BlasF64)),
    [](const ::testing::TestParamInfo<Conv2dKnownAnswer::ParamType>& info) {
      return std::get<0>(info.param).name + path_name(std::get<1>(info.param));
    });

// ---- single cases -------------------------------------------------------------------------------

// The library choice only changes how f32 runs, not what it computes: both agree closely.
TEST(Conv2dLibraries, OneDnnAndBlasAgree) {
  CpuBackend backend;
  const ConvCase cc{"", 4, 16, 12, 12, 32, 3, 3, params(1, 1), true};
  auto x = cast<float>(random_values(shape_numel(cc.x_shape()), 1));
  auto w = cast<float>(random_values(shape_numel(cc.w_shape()), 2));
  auto bias = cast<float>(random_values(cc.k, 3));
  std::vector<float> y_dnnl(static_cast<std::size_t>(shape_numel(cc.y_shape())));
  std::vector<float> y_blas(y_dnnl.size());
  TensorView b = view(bias, {cc.k});
  kernels::cpu::set_conv_library(ConvLibrary::OneDnn);
  backend.conv2d_forward(view(x, cc.x_shape()), view(w, cc.w_shape()), &b,
                         view(y_dnnl, cc.y_shape()), cc.p);
  kernels::cpu::set_conv_library(ConvLibrary::Blas);
  backend.conv2d_forward(view(x, cc.x_shape()), view(w, cc.w_shape()), &b,
                         view(y_blas, cc.y_shape()), cc.p);
  EXPECT_TRUE(
      all_close(y_blas, std::vector<double>(y_dnnl.begin(), y_dnnl.end()), cc.y_shape(), 1e-4));
  std::vector<float> y_plain(y_dnnl.size());
  kernels::cpu::set_conv_library(ConvLibrary::OneDnnPlain);
  backend.conv2d_forward(view(x, cc.x_shape()), view(w, cc.w_shape()), &b,
                         view(y_plain, cc.y_shape()), cc.p);
  EXPECT_TRUE(
      all_close(y_blas, std::vector<double>(y_plain.begin(), y_plain.end()), cc.y_shape(), 1e-4));
  EXPECT_STREQ(kernels::cpu::conv_library_name(ConvLibrary::OneDnn), "onednn");
  EXPECT_STREQ(kernels::cpu::conv_library_name(ConvLibrary::OneDnnPlain), "onednn-plain");
  EXPECT_STREQ(kernels::cpu::conv_library_name(ConvLibrary::Blas), "blas");
}

// A cached primitive is reused for new data of the same shape.
TEST(Conv2dOneDnnCache, RepeatedShapeGivesFreshResults) {
  kernels::cpu::set_conv_library(ConvLibrary::OneDnn);
  CpuBackend backend;
  const ConvCase cc{"", 2, 5, 6, 6, 7, 3, 3, params(1, 1), false};
  for (std::uint32_t seed = 0; seed < 3; ++seed) {
    SCOPED_TRACE(seed);
    const auto xd = random_values(shape_numel(cc.x_shape()), 100 + seed);
    const auto wd = random_values(shape_numel(cc.w_shape()), 200 + seed);
    const auto gd = random_values(shape_numel(cc.y_shape()), 300 + seed);
    const Reference ref = reference(cc, xd, wd, {}, gd);
    auto x = cast<float>(xd), w = cast<float>(wd);
    std::vector<float> y(ref.y.size());
    backend.conv2d_forward(view(x, cc.x_shape()), view(w, cc.w_shape()), nullptr,
                           view(y, cc.y_shape()), cc.p);
    EXPECT_TRUE(all_close(y, ref.y, cc.y_shape(), 1e-4));
  }
}

// Cached primitives run from several threads at once, each with its own scratchpad.
TEST(Conv2dOneDnnCache, ConcurrentCallsFromThreads) {
  kernels::cpu::set_conv_library(ConvLibrary::OneDnn);
  const ConvCase cc{"", 2, 11, 8, 8, 13, 3, 3, params(1, 1), false};
  const auto xd = random_values(shape_numel(cc.x_shape()), 7);
  const auto wd = random_values(shape_numel(cc.w_shape()), 8);
  const auto gd = random_values(shape_numel(cc.y_shape()), 9);
  const Reference ref = reference(cc, xd, wd, {}, gd);
  constexpr int kThreads = 4;
  std::vector<std::vector<float>> ys(kThreads), gws(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      CpuBackend backend;
      auto x = cast<float>(xd), w = cast<float>(wd), gy = cast<float>(gd);
      ys[t].assign(ref.y.size(), 0.0f);
      gws[t].assign(ref.grad_w.size(), 0.0f);
      for (int rep = 0; rep < 10; ++rep) {
        backend.conv2d_forward(view(x, cc.x_shape()), view(w, cc.w_shape()), nullptr,
                               view(ys[t], cc.y_shape()), cc.p);
        backend.conv2d_backward_weight(view(x, cc.x_shape()), view(gy, cc.y_shape()),
                                       view(gws[t], cc.w_shape()), cc.p);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    SCOPED_TRACE(t);
    EXPECT_TRUE(all_close(ys[t], ref.y, cc.y_shape(), 1e-4));
    EXPECT_TRUE(all_close(gws[t], ref.grad_w, cc.w_shape(), 1e-4));
  }
}

// An empty batch leaves nothing to compute for the forward and gives a zero weight gradient.
TEST(Conv2dEdgeCases, EmptyBatch) {
  CpuBackend backend;
  for (ConvLibrary library : {ConvLibrary::OneDnn, ConvLibrary::OneDnnPlain, ConvLibrary::Blas}) {
    SCOPED_TRACE(kernels::cpu::conv_library_name(library));
    kernels::cpu::set_conv_library(library);
    const ConvCase cc{"", 0, 3, 5, 5, 4, 3, 3, params(1, 1), false};
    std::vector<float> x, y, w(static_cast<std::size_t>(shape_numel(cc.w_shape())), 1.0f);
    backend.conv2d_forward(view(x, cc.x_shape()), view(w, cc.w_shape()), nullptr,
                           view(y, cc.y_shape()), cc.p);
    backend.conv2d_backward_weight(view(x, cc.x_shape()), view(y, cc.y_shape()),
                                   view(w, cc.w_shape()), cc.p);
    EXPECT_TRUE(std::all_of(w.begin(), w.end(), [](float v) { return v == 0.0f; }));
  }
}

// No input channels: the forward gives the bias; no output channels: grad_x is zero.
TEST(Conv2dEdgeCases, EmptyChannels) {
  CpuBackend backend;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (ConvLibrary library : {ConvLibrary::OneDnn, ConvLibrary::OneDnnPlain, ConvLibrary::Blas}) {
    SCOPED_TRACE(kernels::cpu::conv_library_name(library));
    kernels::cpu::set_conv_library(library);
    std::vector<float> x, w, bias{1.5f, -2.0f}, y(2 * 2 * 4 * 4, nan);
    TensorView b = view(bias, {2});
    backend.conv2d_forward(view(x, {2, 0, 4, 4}), view(w, {2, 0, 3, 3}), &b, view(y, {2, 2, 4, 4}),
                           params(1, 1));
    for (std::size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], bias[(i / 16) % 2]) << i;
    std::vector<float> grad_y, grad_x(2 * 3 * 4 * 4, nan);
    backend.conv2d_backward_data(view(grad_y, {2, 0, 4, 4}), view(w, {0, 3, 3, 3}),
                                 view(grad_x, {2, 3, 4, 4}), params(1, 1));
    EXPECT_TRUE(std::all_of(grad_x.begin(), grad_x.end(), [](float v) { return v == 0.0f; }));
  }
}

// ---- bad input ----------------------------------------------------------------------------------

// Runs `f`, expecting a ShapeError whose message contains every string in `parts`.
template <typename F>
void expect_shape_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no ShapeError thrown";
  } catch (const ShapeError& e) {
    const std::string what = e.what();
    for (const auto& part : parts) {
      EXPECT_NE(what.find(part), std::string::npos) << "'" << part << "' not in: " << what;
    }
  }
}

class Conv2dBadInput : public ::testing::Test {
 protected:
  CpuBackend backend_;
  std::vector<float> x_ = std::vector<float>(2 * 6 * 5 * 5), w_ = std::vector<float>(4 * 6 * 9),
                     y_ = std::vector<float>(2 * 4 * 5 * 5), bias_ = std::vector<float>(4);
  Conv2dParams p_ = params(1, 1);
};

TEST_F(Conv2dBadInput, InputChannelsDoNotMatchWeight) {
  expect_shape_error(
      [&] {
        backend_.conv2d_forward(view(x_, {2, 6, 5, 5}), view(w_, {4, 3, 3, 3}), nullptr,
                                view(y_, {2, 4, 5, 5}), p_);
      },
      {"conv2d_forward", "x [2, 6, 5, 5]", "weight [4, 3, 3, 3]", "expected 6"});
}

TEST_F(Conv2dBadInput, WrongOutputShape) {
  expect_shape_error(
      [&] {
        backend_.conv2d_forward(view(x_, {2, 6, 5, 5}), view(w_, {4, 6, 3, 3}), nullptr,
                                view(y_, {2, 4, 4, 4}), p_);
      },
      {"y [2, 4, 4, 4]", "must be [2, 4, 5, 5]", "padding (1, 1)"});
}

TEST_F(Conv2dBadInput, GroupsDoNotDivideChannels) {
  Conv2dParams p = params(1, 1, 1, 4);
  expect_shape_error(
      [&] {
        backend_.conv2d_backward_data(view(y_, {2, 4, 5, 5}), view(w_, {4, 1, 3, 3}),
                                      view(x_, {2, 6, 5, 5}), p);
      },
      {"conv2d_backward_data", "grad_x [2, 6, 5, 5]", "groups 4", "divisible by groups"});
}

TEST_F(Conv2dBadInput, BiasOfWrongLength) {
  TensorView bias = view(bias_, {3});
  expect_shape_error(
      [&] {
        backend_.conv2d_forward(view(x_, {2, 6, 5, 5}), view(w_, {4, 6, 3, 3}), &bias,
                                view(y_, {2, 4, 5, 5}), p_);
      },
      {"bias [3]", "must be [4]"});
}

TEST_F(Conv2dBadInput, MixedDtypes) {
  std::vector<double> gw(w_.size());
  expect_shape_error(
      [&] {
        backend_.conv2d_backward_weight(view(x_, {2, 6, 5, 5}), view(y_, {2, 4, 5, 5}),
                                        view(gw, {4, 6, 3, 3}), p_);
      },
      {"conv2d_backward_weight", "grad_weight [4, 6, 3, 3]", "dtypes differ (F32, F64, F32)"});
}

TEST_F(Conv2dBadInput, KernelLargerThanPaddedInput) {
  std::vector<float> w(4 * 6 * 49);
  expect_shape_error(
      [&] {
        backend_.conv2d_forward(view(x_, {2, 6, 5, 5}), view(w, {4, 6, 7, 7}), nullptr,
                                view(y_, {2, 4, 1, 1}), params(1, 0));
      },
      {"weight [4, 6, 7, 7]", "larger than the padded input"});
}

TEST_F(Conv2dBadInput, NonPositiveStride) {
  expect_shape_error(
      [&] {
        backend_.conv2d_forward(view(x_, {2, 6, 5, 5}), view(w_, {4, 6, 3, 3}), nullptr,
                                view(y_, {2, 4, 5, 5}), params(0, 1));
      },
      {"stride (0, 0)", "must be >= 1"});
}

}  // namespace
}  // namespace shears
