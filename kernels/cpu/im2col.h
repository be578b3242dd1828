#pragma once

// Private to kernels/cpu: convolution geometry and the im2col / col2im transforms behind the BLAS
// convolution path (f32 when chosen, f64 always).

#include <algorithm>
#include <cstdint>

#include "kernels/common/params.h"

namespace shears::kernels::cpu {

/// Sizes of one 2-D convolution: input (n, c, h, w), weight (k, c/groups, kh, kw), output
/// (n, k, ho, wo), plus the PyTorch-style parameters. Built and validated by conv2d.cpp
/// (make_geometry).
struct ConvGeometry {
  std::int64_t n = 0, c = 0, h = 0, w = 0;
  std::int64_t k = 0, kh = 0, kw = 0;
  std::int64_t ho = 0, wo = 0;
  Conv2dParams p;

  std::int64_t c_per_group() const { return c / p.groups; }
  std::int64_t k_per_group() const { return k / p.groups; }
  /// Rows of one group's column matrix: (c/groups) * kh * kw, ordered (channel, ki, kj) to match
  /// the weight layout (k, c/groups, kh, kw), so a group's weights are a plain row-major matrix.
  std::int64_t col_rows() const { return c_per_group() * kh * kw; }
  /// A 1x1 kernel with stride 1 and no padding reads the input as its own column matrix.
  bool pointwise() const {
    return kh == 1 && kw == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0;
  }
};

/// Output columns [lo, hi) whose input column ow*stride + offset lies in [0, w).
inline void valid_output_range(std::int64_t offset, std::int64_t stride, std::int64_t w,
                               std::int64_t wo, std::int64_t& lo, std::int64_t& hi) {
  lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  hi = w - 1 - offset < 0 ? 0 : std::min(wo, (w - 1 - offset) / stride + 1);
  lo = std::min(lo, wo);
  hi = std::max(hi, lo);
}

/// Unfolds one group of one image. im: (c/groups, h, w) contiguous; col: (col_rows, ho*wo),
/// row (ci*kh + ki)*kw + kj holding, for every output pixel, the input value that kernel tap
/// multiplies (zero in the padding). `parallel` spreads rows over OpenMP threads; pass false when
/// already inside a parallel region.
template <typename T>
void im2col(const T* im, T* col, const ConvGeometry& g, bool parallel) {
  const std::int64_t rows = g.col_rows();
  const std::int64_t taps = g.kh * g.kw;
  const std::int64_t sh = g.p.stride_h, sw = g.p.stride_w;
#pragma omp parallel for schedule(static) if (parallel)
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t ci = r / taps, ki = (r / g.kw) % g.kh, kj = r % g.kw;
    const T* plane = im + ci * g.h * g.w;
    const std::int64_t off_h = ki * g.p.dilation_h - g.p.pad_h;
    const std::int64_t off_w = kj * g.p.dilation_w - g.p.pad_w;
    std::int64_t lo, hi;
    valid_output_range(off_w, sw, g.w, g.wo, lo, hi);
    T* out = col + r * g.ho * g.wo;
    for (std::int64_t oh = 0; oh < g.ho; ++oh, out += g.wo) {
      const std::int64_t ih = oh * sh + off_h;
      if (ih < 0 || ih >= g.h) {
        std::fill(out, out + g.wo, T(0));
        continue;
      }
      const T* src = plane + ih * g.w;
      std::fill(out, out + lo, T(0));
      if (sw == 1) {
        std::copy(src + lo + off_w, src + hi + off_w, out + lo);
      } else {
        for (std::int64_t ow = lo; ow < hi; ++ow) out[ow] = src[ow * sw + off_w];
      }
      std::fill(out + hi, out + g.wo, T(0));
    }
  }
}

/// The adjoint of im2col: im (c/groups, h, w) = sum over kernel taps of the column entries that
/// read each input position. Writes im (no need to clear it first). Parallel over channels, whose
/// planes are disjoint, when `parallel` is set.
template <typename T>
void col2im(const T* col, T* im, const ConvGeometry& g, bool parallel) {
  const std::int64_t cg = g.c_per_group();
  const std::int64_t sh = g.p.stride_h, sw = g.p.stride_w;
#pragma omp parallel for schedule(static) if (parallel)
  for (std::int64_t ci = 0; ci < cg; ++ci) {
    T* plane = im + ci * g.h * g.w;
    std::fill(plane, plane + g.h * g.w, T(0));
    for (std::int64_t ki = 0; ki < g.kh; ++ki) {
      const std::int64_t off_h = ki * g.p.dilation_h - g.p.pad_h;
      for (std::int64_t kj = 0; kj < g.kw; ++kj) {
        const std::int64_t off_w = kj * g.p.dilation_w - g.p.pad_w;
        std::int64_t lo, hi;
        valid_output_range(off_w, sw, g.w, g.wo, lo, hi);
        const T* in = col + ((ci * g.kh + ki) * g.kw + kj) * g.ho * g.wo;
        for (std::int64_t oh = 0; oh < g.ho; ++oh, in += g.wo) {
          const std::int64_t ih = oh * sh + off_h;
          if (ih < 0 || ih >= g.h) continue;
          T* dst = plane + ih * g.w;
          if (sw == 1) {
            for (std::int64_t ow = lo; ow < hi; ++ow) dst[ow + off_w] += in[ow];
          } else {
            for (std::int64_t ow = lo; ow < hi; ++ow) dst[ow * sw + off_w] += in[ow];
          }
        }
      }
    }
  }
}

}  // namespace shears::kernels::cpu
