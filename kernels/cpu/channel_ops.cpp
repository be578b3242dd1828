// CpuBackend structured-pruning channel kernels: gather and scatter of kept entries along one
// dimension, in-place channel masks, and the learnable soft mask (forward and backward).
//
// Gather and scatter see x as (outer, size, inner) around `dim`. `keep` is validated first
// (sorted, unique, in range: one serial pass over its few values), then turned into runs of
// consecutive entries, and the data moves in one pass: one memcpy per (outer slice, run). Keep-all
// along dim 1 of (N,C,H,W) is therefore N copies of C*H*W elements.

#include <cstdint>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/kernel_util.h"

namespace shears::kernels::cpu {
namespace {

void check_keep(const char* op, const TensorView& keep, int dim, std::int64_t size) {
  check_cpu(op, "keep", keep);
  check_keep_tensor(op, keep);
  check_keep_values(op, keep.as<const std::int64_t>(), keep.shape[0], dim, size);
}

// soft mask layout: x, y, grad_y, grad_x are (N, C, spatial...); mask and grad_mask are (C).
void check_soft_mask(const char* op, const TensorView& x, const TensorView& mask) {
  check_cpu(op, "x", x);
  check_cpu(op, "mask", mask);
  check_floating(op, "x", x);
  check_soft_mask_layout(op, x, mask);
}

template <typename T>
void scale_rows(T* x, const T* mask, const T* src, std::int64_t outer, std::int64_t size,
                std::int64_t inner) {
  // Rows are (outer, channel) pairs of `inner` elements; src may equal x (in-place mask).
#pragma omp parallel for schedule(static) if (outer * size * inner >= kParallelMin)
  for (std::int64_t row = 0; row < outer * size; ++row) {
    const T m = mask[row % size];
    const T* from = src + row * inner;
    T* to = x + row * inner;
    for (std::int64_t i = 0; i < inner; ++i) to[i] = from[i] * m;
  }
}

}  // namespace

void CpuBackend::channel_gather(const TensorView& x, int dim, const TensorView& keep,
                                const TensorView& out) {
  const char* op = "channel_gather";
  check_cpu(op, "x", x);
  check_cpu(op, "out", out);
  dim = normalise_dim(op, x, dim);
  const DimSplit s = split_at(x.shape, dim);
  check_keep(op, keep, dim, s.size);
  const std::int64_t count = keep.shape[0];
  check_kept_shape(op, "x", x, "out", out, dim, count);
  const std::vector<CopyRun> runs = make_runs(keep.as<const std::int64_t>(), nullptr, count);
  copy_runs(x.as<const std::uint8_t>(), s.size, out.as<std::uint8_t>(), count, s.outer,
            s.inner * static_cast<std::int64_t>(dtype_size(x.dtype)), runs);
}

void CpuBackend::channel_scatter(const TensorView& src, int dim, const TensorView& keep,
                                 const TensorView& out) {
  const char* op = "channel_scatter";
  check_cpu(op, "src", src);
  check_cpu(op, "out", out);
  dim = normalise_dim(op, out, dim);
  const DimSplit s = split_at(out.shape, dim);
  check_keep(op, keep, dim, s.size);
  const std::int64_t count = keep.shape[0];
  check_kept_shape(op, "out", out, "src", src, dim, count);
  const std::vector<CopyRun> runs = make_runs(nullptr, keep.as<const std::int64_t>(), count);
  copy_runs(src.as<const std::uint8_t>(), count, out.as<std::uint8_t>(), s.size, s.outer,
            s.inner * static_cast<std::int64_t>(dtype_size(out.dtype)), runs);
}

void CpuBackend::channel_mask(const TensorView& x, int dim, const TensorView& mask) {
  const char* op = "channel_mask";
  check_cpu(op, "x", x);
  check_cpu(op, "mask", mask);
  check_floating(op, "x", x);
  check_floating(op, "mask", mask);
  dim = normalise_dim(op, x, dim);
  const DimSplit s = split_at(x.shape, dim);
  check_mask_length(op, x, dim, s.size, mask);
  dispatch_floating(op, x, [&](auto tag) {
    using T = decltype(tag);
    // The mask may be F32 or F64 whatever x is; its few values are converted to x's type once.
    std::vector<T> m(static_cast<std::size_t>(s.size));
    for (std::int64_t c = 0; c < s.size; ++c) {
      m[static_cast<std::size_t>(c)] = mask.dtype == DType::F32
                                           ? static_cast<T>(mask.as<const float>()[c])
                                           : static_cast<T>(mask.as<const double>()[c]);
    }
    scale_rows(x.as<T>(), m.data(), x.as<const T>(), s.outer, s.size, s.inner);
  });
}

void CpuBackend::soft_mask_forward(const TensorView& x, const TensorView& mask,
                                   const TensorView& y) {
  const char* op = "soft_mask_forward";
  check_soft_mask(op, x, mask);
  check_cpu(op, "y", y);
  check_same(op, "x", x, "y", y);
  const DimSplit s = split_at(x.shape, 1);
  dispatch_floating(op, x, [&](auto tag) {
    using T = decltype(tag);
    scale_rows(y.as<T>(), mask.as<const T>(), x.as<const T>(), s.outer, s.size, s.inner);
  });
}

void CpuBackend::soft_mask_backward(const TensorView& x, const TensorView& mask,
                                    const TensorView& grad_y, const TensorView* grad_x,
                                    const TensorView* grad_mask) {
  const char* op = "soft_mask_backward";
  check_soft_mask(op, x, mask);
  check_cpu(op, "grad_y", grad_y);
  SHEARS_CHECK_AS(ShapeError, grad_y.shape == x.shape && grad_y.dtype == x.dtype, op, ": grad_y ",
                  view_str(grad_y), " must match x ", view_str(x));
  if (grad_x) {
    check_cpu(op, "grad_x", *grad_x);
    check_same(op, "grad_y", grad_y, "grad_x", *grad_x);
  }
  if (grad_mask) {
    check_cpu(op, "grad_mask", *grad_mask);
    check_same(op, "mask", mask, "grad_mask", *grad_mask);
  }
  const DimSplit s = split_at(x.shape, 1);
  dispatch_floating(op, x, [&](auto tag) {
    using T = decltype(tag);
    const T* gy = grad_y.as<const T>();
    if (grad_x) scale_rows(grad_x->as<T>(), mask.as<const T>(), gy, s.outer, s.size, s.inner);
    // x is read only here: the engine passes a view without data when no mask gradient is
    // wanted.
    if (!grad_mask) return;
    const T* px = x.as<const T>();
    T* gm = grad_mask->as<T>();
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelMin)
    for (std::int64_t c = 0; c < s.size; ++c) {
      double acc = 0.0;
      for (std::int64_t n = 0; n < s.outer; ++n) {
        const std::int64_t off = (n * s.size + c) * s.inner;
        for (std::int64_t i = 0; i < s.inner; ++i) {
          acc += static_cast<double>(gy[off + i]) * static_cast<double>(px[off + i]);
        }
      }
      gm[c] = static_cast<T>(acc);
    }
  });
}

}  // namespace shears::kernels::cpu
