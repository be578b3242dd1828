// CpuBackend batch normalisation, forward and backward, with PyTorch's semantics: training
// normalises with the biased batch variance and moves the running variance towards the unbiased
// one; eval normalises with the running statistics.
//
// Layout: x, y, grad_y, grad_x are (N, C, spatial...) with at least two dimensions; a channel's
// m = N * spatial values sit in N contiguous blocks of `spatial` elements. weight, bias,
// running_mean, running_var, save_mean, save_invstd, grad_weight, grad_bias are (C). One thread
// handles one channel at a time, and per-channel sums accumulate in double.

#include <cmath>
#include <cstdint>

#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/kernel_util.h"

namespace shears::kernels::cpu {
namespace {

struct BnShape {
  std::int64_t n, c, spatial;
  std::int64_t m() const { return n * spatial; }
};

BnShape bn_shape(const char* op, const TensorView& x) {
  SHEARS_CHECK_AS(ShapeError, x.dim() >= 2, op, ": x must be (N, C, ...), got ", view_str(x));
  const DimSplit s = split_at(x.shape, 1);
  return {s.outer, s.size, s.inner};
}

void check_channel_vector(const char* op, const char* what, const TensorView* t,
                          const TensorView& x, std::int64_t c) {
  if (!t) return;
  check_cpu(op, what, *t);
  SHEARS_CHECK_AS(ShapeError, t->dim() == 1 && t->shape[0] == c && t->dtype == x.dtype, op, ": ",
                  what, " must be ", dtype_name(x.dtype), " [", c, "] to match x ", view_str(x),
                  ", got ", view_str(*t));
}

template <typename T>
T value_or(const TensorView* t, std::int64_t i, T fallback) {
  return t ? t->as<const T>()[i] : fallback;
}

template <typename T>
void bn_forward(const TensorView& x, const TensorView* weight, const TensorView* bias,
                const TensorView* running_mean, const TensorView* running_var, const TensorView& y,
                const TensorView& save_mean, const TensorView& save_invstd,
                const BatchNormParams& p, const BnShape& s) {
  const T* px = x.as<const T>();
  T* py = y.as<T>();
  const std::int64_t m = s.m();
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelMin)
  for (std::int64_t c = 0; c < s.c; ++c) {
    double mean, invstd;
    if (p.training) {
      // Two passes (mean, then squared deviations) avoid the cancellation of E[x^2] - E[x]^2.
      // The sums vectorise (omp simd reduction: a fixed order of partial sums per build).
      double sum = 0.0;
      for (std::int64_t n = 0; n < s.n; ++n) {
        const T* block = px + (n * s.c + c) * s.spatial;
#pragma omp simd reduction(+ : sum)
        for (std::int64_t i = 0; i < s.spatial; ++i) sum += static_cast<double>(block[i]);
      }
      mean = sum / static_cast<double>(m);
      double sq = 0.0;
      for (std::int64_t n = 0; n < s.n; ++n) {
        const T* block = px + (n * s.c + c) * s.spatial;
#pragma omp simd reduction(+ : sq)
        for (std::int64_t i = 0; i < s.spatial; ++i) {
          const double d = static_cast<double>(block[i]) - mean;
          sq += d * d;
        }
      }
      const double var = sq / static_cast<double>(m);
      invstd = 1.0 / std::sqrt(var + p.eps);
      if (running_mean) {
        T& rm = running_mean->as<T>()[c];
        rm = static_cast<T>((1.0 - p.momentum) * static_cast<double>(rm) + p.momentum * mean);
      }
      if (running_var) {
        const double unbiased = sq / static_cast<double>(m - 1);
        T& rv = running_var->as<T>()[c];
        rv = static_cast<T>((1.0 - p.momentum) * static_cast<double>(rv) + p.momentum * unbiased);
      }
    } else {
      mean = static_cast<double>(running_mean->as<const T>()[c]);
      invstd = 1.0 / std::sqrt(static_cast<double>(running_var->as<const T>()[c]) + p.eps);
    }
    save_mean.as<T>()[c] = static_cast<T>(mean);
    save_invstd.as<T>()[c] = static_cast<T>(invstd);
    // y = x * scale + shift with scale = w * invstd, shift = b - mean * scale (as PyTorch's CPU
    // kernel): one multiply-add per element.
    const double scale = static_cast<double>(value_or<T>(weight, c, T(1))) * invstd;
    const T scale_t = static_cast<T>(scale);
    const T shift_t =
        static_cast<T>(static_cast<double>(value_or<T>(bias, c, T(0))) - mean * scale);
    for (std::int64_t n = 0; n < s.n; ++n) {
      const std::int64_t off = (n * s.c + c) * s.spatial;
      for (std::int64_t i = 0; i < s.spatial; ++i) py[off + i] = px[off + i] * scale_t + shift_t;
    }
  }
}

template <typename T>
void bn_backward(const TensorView& x, const TensorView& grad_y, const TensorView* weight,
                 const TensorView& save_mean, const TensorView& save_invstd,
                 const TensorView* grad_x, const TensorView* grad_weight,
                 const TensorView* grad_bias, bool training, const BnShape& s) {
  const T* px = x.as<const T>();
  const T* pg = grad_y.as<const T>();
  const double m = static_cast<double>(s.m());
  const bool need_sums = grad_weight || grad_bias || (grad_x && training);
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelMin)
  for (std::int64_t c = 0; c < s.c; ++c) {
    const double mean = static_cast<double>(save_mean.as<const T>()[c]);
    const double invstd = static_cast<double>(save_invstd.as<const T>()[c]);
    // sum_g = sum of grad_y; sum_gxhat = sum of grad_y * xhat, xhat = (x - mean) * invstd.
    double sum_g = 0.0, sum_gxhat = 0.0;
    if (need_sums) {
      for (std::int64_t n = 0; n < s.n; ++n) {
        const std::int64_t off = (n * s.c + c) * s.spatial;
#pragma omp simd reduction(+ : sum_g, sum_gxhat)
        for (std::int64_t i = 0; i < s.spatial; ++i) {
          const double g = static_cast<double>(pg[off + i]);
          sum_g += g;
          sum_gxhat += g * (static_cast<double>(px[off + i]) - mean);
        }
      }
      sum_gxhat *= invstd;
    }
    if (grad_bias) grad_bias->as<T>()[c] = static_cast<T>(sum_g);
    if (grad_weight) grad_weight->as<T>()[c] = static_cast<T>(sum_gxhat);
    if (!grad_x) continue;
    const double w = static_cast<double>(value_or<T>(weight, c, T(1)));
    T* gx = grad_x->as<T>();
    if (training) {
      // d/dx of the batch-normalised output: the batch mean and variance depend on x, giving
      // grad_x = w * invstd * (g - mean(g) - xhat * mean(g * xhat)).
      const double k = w * invstd;
      const double mean_g = sum_g / m, mean_gxhat = sum_gxhat / m;
      for (std::int64_t n = 0; n < s.n; ++n) {
        const std::int64_t off = (n * s.c + c) * s.spatial;
        for (std::int64_t i = 0; i < s.spatial; ++i) {
          const double xhat = (static_cast<double>(px[off + i]) - mean) * invstd;
          gx[off + i] =
              static_cast<T>(k * (static_cast<double>(pg[off + i]) - mean_g - xhat * mean_gxhat));
        }
      }
    } else {
      const T k = static_cast<T>(w * invstd);
      for (std::int64_t n = 0; n < s.n; ++n) {
        const std::int64_t off = (n * s.c + c) * s.spatial;
        for (std::int64_t i = 0; i < s.spatial; ++i) gx[off + i] = pg[off + i] * k;
      }
    }
  }
}

}  // namespace

void CpuBackend::batch_norm_forward(const TensorView& x, const TensorView* weight,
                                    const TensorView* bias, const TensorView* running_mean,
                                    const TensorView* running_var, const TensorView& y,
                                    const TensorView& save_mean, const TensorView& save_invstd,
                                    const BatchNormParams& p) {
  const char* op = "batch_norm_forward";
  check_cpu(op, "x", x);
  check_cpu(op, "y", y);
  check_floating(op, "x", x);
  const BnShape s = bn_shape(op, x);
  check_same(op, "x", x, "y", y);
  check_channel_vector(op, "weight", weight, x, s.c);
  check_channel_vector(op, "bias", bias, x, s.c);
  check_channel_vector(op, "running_mean", running_mean, x, s.c);
  check_channel_vector(op, "running_var", running_var, x, s.c);
  check_channel_vector(op, "save_mean", &save_mean, x, s.c);
  check_channel_vector(op, "save_invstd", &save_invstd, x, s.c);
  if (p.training) {
    SHEARS_CHECK_AS(ShapeError, s.m() > 1, op,
                    ": training needs more than one value per channel, got x ", view_str(x));
  } else {
    SHEARS_CHECK_AS(ShapeError, running_mean && running_var, op,
                    ": eval mode needs running_mean and running_var");
  }
  dispatch_floating(op, x, [&](auto tag) {
    bn_forward<decltype(tag)>(x, weight, bias, running_mean, running_var, y, save_mean, save_invstd,
                              p, s);
  });
}

void CpuBackend::batch_norm_backward(const TensorView& x, const TensorView& grad_y,
                                     const TensorView* weight, const TensorView& save_mean,
                                     const TensorView& save_invstd, const TensorView* grad_x,
                                     const TensorView* grad_weight, const TensorView* grad_bias,
                                     bool training, double /*eps*/) {
  const char* op = "batch_norm_backward";
  check_cpu(op, "x", x);
  check_cpu(op, "grad_y", grad_y);
  check_floating(op, "x", x);
  const BnShape s = bn_shape(op, x);
  check_same(op, "x", x, "grad_y", grad_y);
  if (grad_x) {
    check_cpu(op, "grad_x", *grad_x);
    check_same(op, "x", x, "grad_x", *grad_x);
  }
  check_channel_vector(op, "weight", weight, x, s.c);
  check_channel_vector(op, "save_mean", &save_mean, x, s.c);
  check_channel_vector(op, "save_invstd", &save_invstd, x, s.c);
  check_channel_vector(op, "grad_weight", grad_weight, x, s.c);
  check_channel_vector(op, "grad_bias", grad_bias, x, s.c);
  dispatch_floating(op, x, [&](auto tag) {
    bn_backward<decltype(tag)>(x, grad_y, weight, save_mean, save_invstd, grad_x, grad_weight,
                               grad_bias, training, s);
  });
}

}  // namespace shears::kernels::cpu
