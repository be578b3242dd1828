// CpuBackend 2-D max and average pooling, forward and backward, with PyTorch's geometry:
// out = floor_or_ceil((in + 2*pad - kernel) / stride) + 1, and in ceil mode the last window must
// start inside the input or the left padding (else it is dropped).
//
// Layout: x/grad_x (N,C,H,W), y/grad_y/indices (N,C,Ho,Wo); indices are I64 positions h*W + w
// inside each input plane. Every (n, c) plane is independent, so planes are the parallel unit and
// backward passes scatter into their own plane without races.

#include <algorithm>
#include <cstdint>
#include <limits>

#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/kernel_util.h"

namespace shears::kernels::cpu {
namespace {

std::int64_t pool_out_size(std::int64_t in, int kernel, int stride, int pad, bool ceil_mode) {
  const std::int64_t span = in + 2 * pad - kernel;
  std::int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

struct PoolGeom {
  std::int64_t planes, h, w, ho, wo;
};

// Window bounds along one axis for output position `o`: [start, end) clipped to the input, and
// `padded`, the window's extent clipped to the padded input (count_include_pad's divisor).
struct Window {
  std::int64_t start, end, padded;
};

Window window(std::int64_t o, int kernel, int stride, int pad, std::int64_t in) {
  std::int64_t start = o * stride - pad;
  std::int64_t end = std::min<std::int64_t>(start + kernel, in + pad);
  const std::int64_t padded = end - start;
  start = std::max<std::int64_t>(start, 0);
  end = std::min<std::int64_t>(end, in);
  return {start, end, padded};
}

void check_params(const char* op, const Pool2dParams& p) {
  SHEARS_CHECK_AS(ShapeError, p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0,
                  op, ": kernel and stride must be positive, got kernel ", p.kernel_h, "x",
                  p.kernel_w, ", stride ", p.stride_h, "x", p.stride_w);
  SHEARS_CHECK_AS(
      ShapeError,
      p.pad_h >= 0 && p.pad_w >= 0 && 2 * p.pad_h <= p.kernel_h && 2 * p.pad_w <= p.kernel_w, op,
      ": padding must be in [0, kernel/2], got padding ", p.pad_h, "x", p.pad_w, " for kernel ",
      p.kernel_h, "x", p.kernel_w);
}

// Checks x (input-shaped) and y (output-shaped) against the geometry of `p`.
PoolGeom pool_geom(const char* op, const TensorView& x, const char* x_name, const TensorView& y,
                   const char* y_name, const Pool2dParams& p) {
  check_params(op, p);
  check_cpu(op, x_name, x);
  check_cpu(op, y_name, y);
  check_floating(op, x_name, x);
  check_dim(op, x_name, x, 4);
  check_dim(op, y_name, y, 4);
  SHEARS_CHECK_AS(ShapeError, x.dtype == y.dtype, op, ": ", x_name, " ", view_str(x), " and ",
                  y_name, " ", view_str(y), " must share a dtype");
  const std::int64_t ho = pool_out_size(x.shape[2], p.kernel_h, p.stride_h, p.pad_h, p.ceil_mode);
  const std::int64_t wo = pool_out_size(x.shape[3], p.kernel_w, p.stride_w, p.pad_w, p.ceil_mode);
  const Shape want{x.shape[0], x.shape[1], ho, wo};
  SHEARS_CHECK_AS(ShapeError, y.shape == want, op, ": ", y_name, " ", shape_str(y.shape),
                  " does not match ", x_name, " ", shape_str(x.shape), " pooled with kernel ",
                  p.kernel_h, "x", p.kernel_w, ", stride ", p.stride_h, "x", p.stride_w,
                  ", padding ", p.pad_h, "x", p.pad_w, (p.ceil_mode ? ", ceil mode" : ""),
                  " (expected ", shape_str(want), ")");
  return {x.shape[0] * x.shape[1], x.shape[2], x.shape[3], ho, wo};
}

// Maximum of one window and its position. Padding never wins (it is -inf); a NaN wins and ends the
// search, so it propagates as in PyTorch. On ties the first maximum in row-major order is kept.
template <typename T>
T window_max(const T* plane, std::int64_t w, const Window& wh, const Window& ww,
             std::int64_t* index) {
  T best = -std::numeric_limits<T>::infinity();
  *index = wh.start * w + ww.start;
  for (std::int64_t ih = wh.start; ih < wh.end; ++ih) {
    for (std::int64_t iw = ww.start; iw < ww.end; ++iw) {
      const T v = plane[ih * w + iw];
      if (v != v) {
        *index = ih * w + iw;
        return v;
      }
      if (v > best) {
        best = v;
        *index = ih * w + iw;
      }
    }
  }
  return best;
}

template <typename T>
void max_forward(const T* x, T* y, std::int64_t* indices, const PoolGeom& g,
                 const Pool2dParams& p) {
#pragma omp parallel for schedule(static) if (g.planes * g.h * g.w >= kParallelMin)
  for (std::int64_t plane = 0; plane < g.planes; ++plane) {
    const T* xp = x + plane * g.h * g.w;
    T* yp = y + plane * g.ho * g.wo;
    std::int64_t* ip = indices + plane * g.ho * g.wo;
    for (std::int64_t oh = 0; oh < g.ho; ++oh) {
      const Window wh = window(oh, p.kernel_h, p.stride_h, p.pad_h, g.h);
      for (std::int64_t ow = 0; ow < g.wo; ++ow) {
        const Window ww = window(ow, p.kernel_w, p.stride_w, p.pad_w, g.w);
        std::int64_t best_idx;
        yp[oh * g.wo + ow] = window_max(xp, g.w, wh, ww, &best_idx);
        ip[oh * g.wo + ow] = best_idx;
      }
    }
  }
}

template <typename T>
void avg_forward(const T* x, T* y, const PoolGeom& g, const Pool2dParams& p) {
#pragma omp parallel for schedule(static) if (g.planes * g.h * g.w >= kParallelMin)
  for (std::int64_t plane = 0; plane < g.planes; ++plane) {
    const T* xp = x + plane * g.h * g.w;
    T* yp = y + plane * g.ho * g.wo;
    for (std::int64_t oh = 0; oh < g.ho; ++oh) {
      const Window wh = window(oh, p.kernel_h, p.stride_h, p.pad_h, g.h);
      for (std::int64_t ow = 0; ow < g.wo; ++ow) {
        const Window ww = window(ow, p.kernel_w, p.stride_w, p.pad_w, g.w);
        const std::int64_t count =
            p.count_include_pad ? wh.padded * ww.padded : (wh.end - wh.start) * (ww.end - ww.start);
        double sum = 0.0;
        for (std::int64_t ih = wh.start; ih < wh.end; ++ih) {
          for (std::int64_t iw = ww.start; iw < ww.end; ++iw) {
            sum += static_cast<double>(xp[ih * g.w + iw]);
          }
        }
        yp[oh * g.wo + ow] = count > 0 ? static_cast<T>(sum / static_cast<double>(count)) : T(0);
      }
    }
  }
}

template <typename T>
void avg_backward(const T* gy, T* gx, const PoolGeom& g, const Pool2dParams& p) {
#pragma omp parallel for schedule(static) if (g.planes * g.h * g.w >= kParallelMin)
  for (std::int64_t plane = 0; plane < g.planes; ++plane) {
    T* gxp = gx + plane * g.h * g.w;
    const T* gyp = gy + plane * g.ho * g.wo;
    for (std::int64_t i = 0; i < g.h * g.w; ++i) gxp[i] = T(0);
    for (std::int64_t oh = 0; oh < g.ho; ++oh) {
      const Window wh = window(oh, p.kernel_h, p.stride_h, p.pad_h, g.h);
      for (std::int64_t ow = 0; ow < g.wo; ++ow) {
        const Window ww = window(ow, p.kernel_w, p.stride_w, p.pad_w, g.w);
        const std::int64_t count =
            p.count_include_pad ? wh.padded * ww.padded : (wh.end - wh.start) * (ww.end - ww.start);
        if (count <= 0) continue;
        const T share = gyp[oh * g.wo + ow] / static_cast<T>(count);
        for (std::int64_t ih = wh.start; ih < wh.end; ++ih) {
          for (std::int64_t iw = ww.start; iw < ww.end; ++iw) gxp[ih * g.w + iw] += share;
        }
      }
    }
  }
}

}  // namespace

void CpuBackend::max_pool2d_forward(const TensorView& x, const TensorView& y,
                                    const TensorView& indices, const Pool2dParams& p) {
  const char* op = "max_pool2d_forward";
  const PoolGeom g = pool_geom(op, x, "x", y, "y", p);
  check_cpu(op, "indices", indices);
  check_dtype(op, "indices", indices, DType::I64);
  SHEARS_CHECK_AS(ShapeError, indices.shape == y.shape, op, ": indices ", view_str(indices),
                  " must have the shape of y ", view_str(y));
  dispatch_floating(op, x, [&](auto tag) {
    using T = decltype(tag);
    max_forward(x.as<const T>(), y.as<T>(), indices.as<std::int64_t>(), g, p);
  });
}

void CpuBackend::max_pool2d_backward(const TensorView& grad_y, const TensorView& indices,
                                     const TensorView& grad_x) {
  const char* op = "max_pool2d_backward";
  check_cpu(op, "grad_y", grad_y);
  check_cpu(op, "indices", indices);
  check_cpu(op, "grad_x", grad_x);
  check_floating(op, "grad_y", grad_y);
  check_dim(op, "grad_y", grad_y, 4);
  check_dim(op, "grad_x", grad_x, 4);
  check_dtype(op, "indices", indices, DType::I64);
  SHEARS_CHECK_AS(ShapeError,
                  indices.shape == grad_y.shape && grad_x.dtype == grad_y.dtype &&
                      grad_x.shape[0] == grad_y.shape[0] && grad_x.shape[1] == grad_y.shape[1],
                  op, ": grad_y ", view_str(grad_y), ", indices ", view_str(indices),
                  " and grad_x ", view_str(grad_x), " do not fit together");
  const std::int64_t planes = grad_x.shape[0] * grad_x.shape[1];
  const std::int64_t in_plane = grad_x.shape[2] * grad_x.shape[3];
  const std::int64_t out_plane = grad_y.shape[2] * grad_y.shape[3];
  const std::int64_t* idx = indices.as<const std::int64_t>();
  // Exceptions cannot leave an OpenMP region: a bad index is skipped and the first one (lowest
  // flat position) is reported after the loop.
  const std::int64_t none = std::numeric_limits<std::int64_t>::max();
  std::int64_t bad = none;
  dispatch_floating(op, grad_y, [&](auto tag) {
    using T = decltype(tag);
    const T* gy = grad_y.as<const T>();
    T* gx = grad_x.as<T>();
    std::int64_t first_bad = none;
#pragma omp parallel for schedule(static) \
    reduction(min                         \
              : first_bad) if (planes * in_plane >= kParallelMin)
    for (std::int64_t plane = 0; plane < planes; ++plane) {
      T* gxp = gx + plane * in_plane;
      for (std::int64_t i = 0; i < in_plane; ++i) gxp[i] = T(0);
      for (std::int64_t o = 0; o < out_plane; ++o) {
        const std::int64_t pos = plane * out_plane + o;
        const std::int64_t k = idx[pos];
        if (k < 0 || k >= in_plane) {
          first_bad = std::min(first_bad, pos);
          continue;
        }
        gxp[k] += gy[pos];
      }
    }
    bad = first_bad;
  });
  SHEARS_CHECK_AS(ShapeError, bad == none, op, ": indices[", bad,
                  "] = ", bad == none ? 0 : idx[bad], " is outside the ", grad_x.shape[2], "x",
                  grad_x.shape[3], " input plane");
}

void CpuBackend::avg_pool2d_forward(const TensorView& x, const TensorView& y,
                                    const Pool2dParams& p) {
  const char* op = "avg_pool2d_forward";
  const PoolGeom g = pool_geom(op, x, "x", y, "y", p);
  dispatch_floating(op, x, [&](auto tag) {
    using T = decltype(tag);
    avg_forward(x.as<const T>(), y.as<T>(), g, p);
  });
}

void CpuBackend::avg_pool2d_backward(const TensorView& grad_y, const TensorView& grad_x,
                                     const Pool2dParams& p) {
  const char* op = "avg_pool2d_backward";
  const PoolGeom g = pool_geom(op, grad_x, "grad_x", grad_y, "grad_y", p);
  dispatch_floating(op, grad_x, [&](auto tag) {
    using T = decltype(tag);
    avg_backward(grad_y.as<const T>(), grad_x.as<T>(), g, p);
  });
}

}  // namespace shears::kernels::cpu
