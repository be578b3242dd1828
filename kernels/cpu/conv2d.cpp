// CpuBackend::conv2d_forward / conv2d_backward_data / conv2d_backward_weight.
//
// Two implementations of f32 convolution, chosen by conv_library() (conv_library.h):
//   * oneDNN primitives, cached per shape and parameters, either on layouts oneDNN chooses
//     (format_tag::any: blocked nChw8c/nChw16c and matching weights, reordered from and to NCHW
//     around each call) or on plain NCHW;
//   * im2col / col2im with OpenBLAS sgemm.
// F64 (used only by gradient checks) always takes the im2col path with dgemm: oneDNN has no f64
// convolution.
//
// This file holds the choice of library, the argument checks and geometry, and the entry points;
// the two implementations are conv2d_im2col.cpp and conv2d_onednn.cpp (conv2d_paths.h).

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "kernels/common/error.h"
#include "kernels/cpu/blas.h"
#include "kernels/cpu/conv2d_paths.h"
#include "kernels/cpu/conv_library.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/im2col.h"

namespace shears::kernels::cpu {

// ---- library choice -----------------------------------------------------------------------------

namespace {

constexpr const char* kConvLibraryEnv = "SHEARS_CPU_CONV";

ConvLibrary library_from_env() {
  const char* value = std::getenv(kConvLibraryEnv);
  // The default is oneDNN on its own layouts: on 2 cores it ran a ResNet-56 training step faster
  // than im2col + OpenBLAS and than oneDNN on plain NCHW, and won on nearly every conv shape of
  // bench_conv (the measurements are in README.md, "CPU dense-maths library").
  if (value == nullptr || *value == '\0') return ConvLibrary::OneDnn;
  for (ConvLibrary library : {ConvLibrary::OneDnn, ConvLibrary::OneDnnPlain, ConvLibrary::Blas}) {
    if (std::strcmp(value, conv_library_name(library)) == 0) return library;
  }
  throw Error(detail::cat(kConvLibraryEnv, "='", value, "' is not a CPU convolution library (",
                          "expected onednn, onednn-plain or blas)"));
}

// -1 until set_conv_library is called; otherwise the ConvLibrary value.
std::atomic<int> g_library_override{-1};

}  // namespace

ConvLibrary conv_library() {
  const int forced = g_library_override.load(std::memory_order_relaxed);
  if (forced >= 0) return static_cast<ConvLibrary>(forced);
  static const ConvLibrary from_env = library_from_env();
  return from_env;
}

void set_conv_library(ConvLibrary library) {
  g_library_override.store(static_cast<int>(library), std::memory_order_relaxed);
}

const char* conv_library_name(ConvLibrary library) {
  switch (library) {
    case ConvLibrary::OneDnn:
      return "onednn";
    case ConvLibrary::OneDnnPlain:
      return "onednn-plain";
    case ConvLibrary::Blas:
      return "blas";
  }
  return "?";
}

std::string cpu_math_libraries() {
  const dnnl_version_t* v = dnnl_version();
  const char* runtime = v->cpu_runtime == DNNL_RUNTIME_OMP   ? "OpenMP"
                        : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB"
                        : v->cpu_runtime == DNNL_RUNTIME_SEQ ? "sequential"
                                                             : "other";
  return detail::cat("oneDNN ", v->major, ".", v->minor, ".", v->patch, " (", runtime, " runtime, ",
                     omp_get_max_threads(), " OpenMP threads); ", openblas_get_config(), " (",
                     openblas_get_num_threads(), " threads)");
}

// ---- argument checks ----------------------------------------------------------------------------

std::string params_str(const Conv2dParams& p) {
  return detail::cat("stride (", p.stride_h, ", ", p.stride_w, "), padding (", p.pad_h, ", ",
                     p.pad_w, "), dilation (", p.dilation_h, ", ", p.dilation_w, "), groups ",
                     p.groups);
}

namespace {

// Validates one convolution's tensors and returns its geometry. `names` are the three tensors'
// names in this direction ("x", "weight", "y" for the forward), used in the messages together with
// every shape and the parameters. Throws ShapeError.
ConvGeometry make_geometry(const char* op, const char* const (&names)[3], const TensorView& x,
                           const TensorView& w, const TensorView& y, const Conv2dParams& p) {
  auto describe = [&] {
    return detail::cat(op, ": ", names[0], " ", shape_str(x.shape), ", ", names[1], " ",
                       shape_str(w.shape), ", ", names[2], " ", shape_str(y.shape), " with ",
                       params_str(p));
  };
  SHEARS_CHECK_AS(ShapeError, x.dim() == 4 && w.dim() == 4 && y.dim() == 4, describe(),
                  ": all three tensors must be 4-D (NCHW and (out, in/groups, kh, kw))");
  SHEARS_CHECK_AS(ShapeError,
                  p.stride_h >= 1 && p.stride_w >= 1 && p.dilation_h >= 1 && p.dilation_w >= 1 &&
                      p.pad_h >= 0 && p.pad_w >= 0 && p.groups >= 1,
                  describe(), ": stride and dilation must be >= 1, padding >= 0, groups >= 1");
  SHEARS_CHECK_AS(ShapeError, x.dtype == w.dtype && x.dtype == y.dtype, describe(),
                  ": dtypes differ (", dtype_name(x.dtype), ", ", dtype_name(w.dtype), ", ",
                  dtype_name(y.dtype), ")");
  SHEARS_CHECK_AS(ShapeError, x.dtype == DType::F32 || x.dtype == DType::F64, describe(),
                  ": the CPU backend convolves F32 or F64, got ", dtype_name(x.dtype));
  SHEARS_CHECK_AS(ShapeError, x.device.is_cpu() && w.device.is_cpu() && y.device.is_cpu(),
                  describe(), ": tensors must be on the CPU");
  ConvGeometry g;
  g.p = p;
  g.n = x.shape[0], g.c = x.shape[1], g.h = x.shape[2], g.w = x.shape[3];
  g.k = w.shape[0], g.kh = w.shape[2], g.kw = w.shape[3];
  SHEARS_CHECK_AS(ShapeError, g.c % p.groups == 0 && g.k % p.groups == 0, describe(),
                  ": input channels ", g.c, " and output channels ", g.k,
                  " must both be divisible by groups");
  SHEARS_CHECK_AS(ShapeError, w.shape[1] == g.c / p.groups, describe(), ": ", names[1], " has ",
                  w.shape[1], " input channels per group, expected ", g.c / p.groups);
  SHEARS_CHECK_AS(ShapeError, g.kh >= 1 && g.kw >= 1, describe(), ": empty kernel");
  g.ho = (g.h + 2 * p.pad_h - p.dilation_h * (g.kh - 1) - 1) / p.stride_h + 1;
  g.wo = (g.w + 2 * p.pad_w - p.dilation_w * (g.kw - 1) - 1) / p.stride_w + 1;
  const bool fits = g.h + 2 * p.pad_h >= p.dilation_h * (g.kh - 1) + 1 &&
                    g.w + 2 * p.pad_w >= p.dilation_w * (g.kw - 1) + 1;
  SHEARS_CHECK_AS(ShapeError, fits, describe(), ": the dilated kernel is larger than the padded ",
                  "input");
  const Shape expected{g.n, g.k, g.ho, g.wo};
  SHEARS_CHECK_AS(ShapeError, y.shape == expected, describe(), ": ", names[2], " must be ",
                  shape_str(expected));
  return g;
}

constexpr const char* kForwardNames[3] = {"x", "weight", "y"};
constexpr const char* kBackwardDataNames[3] = {"grad_x", "weight", "grad_y"};
constexpr const char* kBackwardWeightNames[3] = {"x", "grad_weight", "grad_y"};

// With no input channels every output is its bias (or zero); neither library takes empty
// operands.
template <typename T>
void fill_with_bias(const ConvGeometry& g, const T* bias, T* y) {
  const std::int64_t hw_out = g.ho * g.wo;
  for (std::int64_t i = 0; i < g.n * g.k; ++i) {
    std::fill_n(y + i * hw_out, hw_out, bias == nullptr ? T(0) : bias[i % g.k]);
  }
}

bool use_dnnl(DType dtype) { return dtype == DType::F32 && conv_library() != ConvLibrary::Blas; }

}  // namespace

// ---- backend entry points -----------------------------------------------------------------------

void CpuBackend::conv2d_forward(const TensorView& x, const TensorView& w, const TensorView* bias,
                                const TensorView& y, const Conv2dParams& p) {
  const ConvGeometry g = make_geometry("conv2d_forward", kForwardNames, x, w, y, p);
  if (bias != nullptr) {
    SHEARS_CHECK_AS(ShapeError,
                    bias->shape == Shape{g.k} && bias->dtype == x.dtype && bias->device.is_cpu(),
                    "conv2d_forward: bias ", shape_str(bias->shape), " (", dtype_name(bias->dtype),
                    ") must be [", g.k, "] of ", dtype_name(x.dtype), " on the CPU");
  }
  if (y.numel() == 0) return;
  if (g.c == 0) {
    if (x.dtype == DType::F32) {
      fill_with_bias<float>(g, bias ? bias->as<const float>() : nullptr, y.as<float>());
    } else {
      fill_with_bias<double>(g, bias ? bias->as<const double>() : nullptr, y.as<double>());
    }
    return;
  }
  if (use_dnnl(x.dtype)) {
    std::vector<const void*> buffers{x.data, w.data};
    if (bias != nullptr) buffers.push_back(bias->data);
    buffers.push_back(y.data);
    run_dnnl(Direction::Forward, g, bias != nullptr, buffers);
  } else if (x.dtype == DType::F32) {
    blas_forward<float>(g, x.as<const float>(), w.as<const float>(),
                        bias ? bias->as<const float>() : nullptr, y.as<float>());
  } else {
    blas_forward<double>(g, x.as<const double>(), w.as<const double>(),
                         bias ? bias->as<const double>() : nullptr, y.as<double>());
  }
}

void CpuBackend::conv2d_backward_data(const TensorView& grad_y, const TensorView& w,
                                      const TensorView& grad_x, const Conv2dParams& p) {
  const ConvGeometry g =
      make_geometry("conv2d_backward_data", kBackwardDataNames, grad_x, w, grad_y, p);
  if (grad_x.numel() == 0) return;
  if (g.k == 0) {
    std::memset(grad_x.data, 0,
                static_cast<std::size_t>(grad_x.numel()) * dtype_size(grad_x.dtype));
    return;
  }
  if (use_dnnl(grad_y.dtype)) {
    run_dnnl(Direction::BackwardData, g, false, {grad_y.data, w.data, grad_x.data});
  } else if (grad_y.dtype == DType::F32) {
    blas_backward_data<float>(g, grad_y.as<const float>(), w.as<const float>(), grad_x.as<float>());
  } else {
    blas_backward_data<double>(g, grad_y.as<const double>(), w.as<const double>(),
                               grad_x.as<double>());
  }
}

void CpuBackend::conv2d_backward_weight(const TensorView& x, const TensorView& grad_y,
                                        const TensorView& grad_w, const Conv2dParams& p) {
  const ConvGeometry g =
      make_geometry("conv2d_backward_weight", kBackwardWeightNames, x, grad_w, grad_y, p);
  if (grad_w.numel() == 0) return;
  if (g.n == 0) {
    std::memset(grad_w.data, 0,
                static_cast<std::size_t>(grad_w.numel()) * dtype_size(grad_w.dtype));
    return;
  }
  if (use_dnnl(x.dtype)) {
    run_dnnl(Direction::BackwardWeight, g, false, {x.data, grad_y.data, grad_w.data});
  } else if (x.dtype == DType::F32) {
    blas_backward_weight<float>(g, x.as<const float>(), grad_y.as<const float>(),
                                grad_w.as<float>());
  } else {
    blas_backward_weight<double>(g, x.as<const double>(), grad_y.as<const double>(),
                                 grad_w.as<double>());
  }
}

}  // namespace shears::kernels::cpu
