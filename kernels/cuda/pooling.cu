// CudaBackend 2-D pooling: max (with argmax indices) and average, forward and backward.
//
// Our own kernels rather than cuDNN's: cuDNN pooling returns no indices, and its output size and
// divisor rules differ from PyTorch's ceil_mode / count_include_pad, which the CPU backend
// follows. Semantics, for output (oh, ow) of a (H, W) plane:
//   window rows [oh*sh - ph, oh*sh - ph + kh) and columns likewise, clipped to the input;
//   max: the largest value, the first one in row-major order on ties; the first NaN wins, so
//        NaN propagates as in PyTorch;
//        indices hold its position h*W + w inside the plane;
//   avg: the sum over the clipped window divided by the window's size clipped to the padded input
//        (count_include_pad) or to the input itself (otherwise), as PyTorch.
// Output sizes follow PyTorch: floor((in + 2p - k) / s) + 1, or ceil in ceil mode, where a last
// window that would start in the right padding is dropped.
//
// Every kernel is a grid-stride loop with one output (forward) or input (average backward)
// element per thread. Max backward scatters through the indices with atomicAdd, since
// overlapping windows may pick the same input; average backward gathers from the outputs whose
// windows cover each input, so it writes every element once and needs no atomics.

#include <cmath>
#include <cstdint>

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/state.h"
#include "kernels/cuda/util.h"

namespace shears::kernels::cuda {
namespace {

struct PoolGeometry {
  int h, w, ho, wo;
  int kh, kw, sh, sw, ph, pw;
  bool count_include_pad;
};

std::int64_t pool_out_size(std::int64_t in, int kernel, int stride, int pad, bool ceil_mode) {
  const std::int64_t span = in + 2 * pad - kernel;
  std::int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

std::string params_str(const Pool2dParams& p) {
  return detail::cat("kernel ", p.kernel_h, "x", p.kernel_w, ", stride ", p.stride_h, "x",
                     p.stride_w, ", padding ", p.pad_h, "x", p.pad_w,
                     p.ceil_mode ? ", ceil mode" : "");
}

// Checks x (N,C,H,W) and y (N,C,Ho,Wo) against the parameters and returns the geometry.
PoolGeometry make_geometry(CudaBackend::State& s, const char* op, const char* x_name,
                           const TensorView& x, const char* y_name, const TensorView& y,
                           const Pool2dParams& p) {
  check_device(op, x_name, x, s.device);
  check_device(op, y_name, y, s.device);
  check_f32(op, x_name, x);
  check_f32(op, y_name, y);
  check_dim(op, x_name, x, 4);
  check_dim(op, y_name, y, 4);
  SHEARS_CHECK_AS(ShapeError,
                  p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0 &&
                      p.pad_h >= 0 && p.pad_w >= 0 && 2 * p.pad_h <= p.kernel_h &&
                      2 * p.pad_w <= p.kernel_w,
                  op, ": invalid ", params_str(p),
                  " (kernel and stride must be positive, padding at most half the kernel)");
  const std::int64_t ho = pool_out_size(x.shape[2], p.kernel_h, p.stride_h, p.pad_h, p.ceil_mode);
  const std::int64_t wo = pool_out_size(x.shape[3], p.kernel_w, p.stride_w, p.pad_w, p.ceil_mode);
  const Shape want{x.shape[0], x.shape[1], ho, wo};
  SHEARS_CHECK_AS(ShapeError, y.shape == want, op, ": ", y_name, " ", view_str(y), " does not fit ",
                  x_name, " ", view_str(x), " with ", params_str(p), " (expected ", shape_str(want),
                  ")");
  PoolGeometry g;
  g.h = checked_int(op, "input height", x.shape[2]);
  g.w = checked_int(op, "input width", x.shape[3]);
  g.ho = checked_int(op, "output height", ho);
  g.wo = checked_int(op, "output width", wo);
  g.kh = p.kernel_h;
  g.kw = p.kernel_w;
  g.sh = p.stride_h;
  g.sw = p.stride_w;
  g.ph = p.pad_h;
  g.pw = p.pad_w;
  g.count_include_pad = p.count_include_pad;
  return g;
}

// x: (planes, h, w); y, indices: (planes, ho, wo); `total` = planes * ho * wo.
__global__ void max_pool_forward_kernel(const float* __restrict__ x, float* __restrict__ y,
                                        std::int64_t* __restrict__ indices, std::int64_t total,
                                        PoolGeometry g) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t v = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; v < total;
       v += stride) {
    const int ow = static_cast<int>(v % g.wo);
    const int oh = static_cast<int>((v / g.wo) % g.ho);
    const std::int64_t plane = v / (static_cast<std::int64_t>(g.wo) * g.ho);
    int hstart = oh * g.sh - g.ph, wstart = ow * g.sw - g.pw;
    const int hend = min(hstart + g.kh, g.h), wend = min(wstart + g.kw, g.w);
    hstart = max(hstart, 0);
    wstart = max(wstart, 0);
    const float* in = x + plane * g.h * g.w;
    float best = -INFINITY;
    std::int64_t best_at = static_cast<std::int64_t>(hstart) * g.w + wstart;
    bool found_nan = false;
    for (int ih = hstart; ih < hend && !found_nan; ++ih) {
      for (int iw = wstart; iw < wend; ++iw) {
        const float val = in[ih * g.w + iw];
        if (val > best || isnan(val)) {
          best = val;
          best_at = static_cast<std::int64_t>(ih) * g.w + iw;
          if (isnan(val)) {
            found_nan = true;
            break;
          }
        }
      }
    }
    y[v] = best;
    indices[v] = best_at;
  }
}

// grad_y, indices: (planes, out_plane) with `total` elements; grad_x: (planes, in_plane), zeroed
// before. Indices outside the plane (never produced by the forward) are skipped.
__global__ void max_pool_backward_kernel(const float* __restrict__ grad_y,
                                         const std::int64_t* __restrict__ indices,
                                         float* __restrict__ grad_x, std::int64_t total,
                                         std::int64_t out_plane, std::int64_t in_plane) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t v = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; v < total;
       v += stride) {
    const std::int64_t at = indices[v];
    if (at >= 0 && at < in_plane) atomicAdd(grad_x + (v / out_plane) * in_plane + at, grad_y[v]);
  }
}

// The window of output (oh, ow): clipped bounds and the divisor.
struct AvgWindow {
  int hstart, hend, wstart, wend;
  int divisor;
};

__device__ __forceinline__ AvgWindow avg_window(const PoolGeometry& g, int oh, int ow) {
  AvgWindow win;
  int hstart = oh * g.sh - g.ph, wstart = ow * g.sw - g.pw;
  int hend = min(hstart + g.kh, g.h + g.ph), wend = min(wstart + g.kw, g.w + g.pw);
  const int padded = (hend - hstart) * (wend - wstart);
  hstart = max(hstart, 0);
  wstart = max(wstart, 0);
  hend = min(hend, g.h);
  wend = min(wend, g.w);
  win.hstart = hstart;
  win.hend = hend;
  win.wstart = wstart;
  win.wend = wend;
  win.divisor = g.count_include_pad ? padded : (hend - hstart) * (wend - wstart);
  return win;
}

// x: (planes, h, w); y: (planes, ho, wo); `total` = planes * ho * wo.
__global__ void avg_pool_forward_kernel(const float* __restrict__ x, float* __restrict__ y,
                                        std::int64_t total, PoolGeometry g) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t v = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; v < total;
       v += stride) {
    const int ow = static_cast<int>(v % g.wo);
    const int oh = static_cast<int>((v / g.wo) % g.ho);
    const std::int64_t plane = v / (static_cast<std::int64_t>(g.wo) * g.ho);
    const AvgWindow win = avg_window(g, oh, ow);
    const float* in = x + plane * g.h * g.w;
    // Summed in double, as on the CPU: windows are small, and the result then rounds once.
    double sum = 0.0;
    for (int ih = win.hstart; ih < win.hend; ++ih) {
      for (int iw = win.wstart; iw < win.wend; ++iw) sum += static_cast<double>(in[ih * g.w + iw]);
    }
    y[v] = win.divisor > 0 ? static_cast<float>(sum / win.divisor) : 0.0f;
  }
}

// grad_y: (planes, ho, wo); grad_x: (planes, h, w) with `total` elements, each written once with
// the sum of grad_y / divisor over the outputs whose windows contain it.
__global__ void avg_pool_backward_kernel(const float* __restrict__ grad_y,
                                         float* __restrict__ grad_x, std::int64_t total,
                                         PoolGeometry g) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t v = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; v < total;
       v += stride) {
    const int iw = static_cast<int>(v % g.w);
    const int ih = static_cast<int>((v / g.w) % g.h);
    const std::int64_t plane = v / (static_cast<std::int64_t>(g.w) * g.h);
    // Outputs whose padded windows [o*s, o*s + k) contain the padded coordinate.
    const int hp = ih + g.ph, wp = iw + g.pw;
    const int oh_begin = hp < g.kh ? 0 : (hp - g.kh) / g.sh + 1;
    const int oh_end = min(hp / g.sh + 1, g.ho);
    const int ow_begin = wp < g.kw ? 0 : (wp - g.kw) / g.sw + 1;
    const int ow_end = min(wp / g.sw + 1, g.wo);
    const float* gy = grad_y + plane * g.ho * g.wo;
    float acc = 0.0f;
    for (int oh = oh_begin; oh < oh_end; ++oh) {
      for (int ow = ow_begin; ow < ow_end; ++ow) {
        const AvgWindow win = avg_window(g, oh, ow);
        if (win.divisor > 0) acc += gy[oh * g.wo + ow] / static_cast<float>(win.divisor);
      }
    }
    grad_x[v] = acc;
  }
}

}  // namespace

void CudaBackend::max_pool2d_forward(const TensorView& x, const TensorView& y,
                                     const TensorView& indices, const Pool2dParams& p) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "max_pool2d_forward";
  const PoolGeometry g = make_geometry(s, op, "x", x, "y", y, p);
  check_device(op, "indices", indices, s.device);
  SHEARS_CHECK_AS(ShapeError, indices.dtype == DType::I64 && indices.shape == y.shape, op,
                  ": indices ", view_str(indices), " must be I64 ", shape_str(y.shape));
  const std::int64_t total = y.numel();
  if (total == 0) return;
  max_pool_forward_kernel<<<grid_for(total, s.sm_count), kBlock, 0, s.current()>>>(
      x.as<const float>(), y.as<float>(), indices.as<std::int64_t>(), total, g);
  SHEARS_CUDA_CHECK_LAUNCH();
}

void CudaBackend::max_pool2d_backward(const TensorView& grad_y, const TensorView& indices,
                                      const TensorView& grad_x) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "max_pool2d_backward";
  check_device(op, "grad_y", grad_y, s.device);
  check_device(op, "indices", indices, s.device);
  check_device(op, "grad_x", grad_x, s.device);
  check_f32(op, "grad_y", grad_y);
  check_f32(op, "grad_x", grad_x);
  check_dim(op, "grad_y", grad_y, 4);
  check_dim(op, "grad_x", grad_x, 4);
  SHEARS_CHECK_AS(ShapeError, indices.dtype == DType::I64 && indices.shape == grad_y.shape, op,
                  ": indices ", view_str(indices), " must be I64 ", shape_str(grad_y.shape));
  SHEARS_CHECK_AS(
      ShapeError, grad_x.shape[0] == grad_y.shape[0] && grad_x.shape[1] == grad_y.shape[1], op,
      ": grad_x ", view_str(grad_x), " and grad_y ", view_str(grad_y), " must share N and C");
  if (grad_x.numel() == 0) return;
  fill(grad_x, 0.0);
  const std::int64_t total = grad_y.numel();
  if (total == 0) return;
  max_pool_backward_kernel<<<grid_for(total, s.sm_count), kBlock, 0, s.current()>>>(
      grad_y.as<const float>(), indices.as<const std::int64_t>(), grad_x.as<float>(), total,
      grad_y.shape[2] * grad_y.shape[3], grad_x.shape[2] * grad_x.shape[3]);
  SHEARS_CUDA_CHECK_LAUNCH();
}

void CudaBackend::avg_pool2d_forward(const TensorView& x, const TensorView& y,
                                     const Pool2dParams& p) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const PoolGeometry g = make_geometry(s, "avg_pool2d_forward", "x", x, "y", y, p);
  const std::int64_t total = y.numel();
  if (total == 0) return;
  avg_pool_forward_kernel<<<grid_for(total, s.sm_count), kBlock, 0, s.current()>>>(
      x.as<const float>(), y.as<float>(), total, g);
  SHEARS_CUDA_CHECK_LAUNCH();
}

void CudaBackend::avg_pool2d_backward(const TensorView& grad_y, const TensorView& grad_x,
                                      const Pool2dParams& p) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const PoolGeometry g =
      make_geometry(s, "avg_pool2d_backward", "grad_x", grad_x, "grad_y", grad_y, p);
  const std::int64_t total = grad_x.numel();
  if (total == 0) return;
  avg_pool_backward_kernel<<<grid_for(total, s.sm_count), kBlock, 0, s.current()>>>(
      grad_y.as<const float>(), grad_x.as<float>(), total, g);
  SHEARS_CUDA_CHECK_LAUNCH();
}

}  // namespace shears::kernels::cuda
