// CpuBackend softmax and log-softmax over the classes of (N,C) rows, forward and backward.
//
// Forward subtracts the row maximum before exponentiating, so no exp overflows, and sums the
// exponentials in double. Rows are independent and are the parallel unit.

#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/kernel_util.h"

namespace shears::kernels::cpu {
namespace {

template <typename T>
void softmax_rows(const T* x, T* y, std::int64_t rows, std::int64_t cols, bool log) {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    T max = -std::numeric_limits<T>::infinity();
    for (std::int64_t c = 0; c < cols; ++c) max = xr[c] > max ? xr[c] : max;
    double sum = 0.0;
    if (log) {
      for (std::int64_t c = 0; c < cols; ++c) sum += std::exp(static_cast<double>(xr[c] - max));
      const double shift = static_cast<double>(max) + std::log(sum);
      for (std::int64_t c = 0; c < cols; ++c) {
        yr[c] = static_cast<T>(static_cast<double>(xr[c]) - shift);
      }
    } else {
      for (std::int64_t c = 0; c < cols; ++c) {
        const T e = std::exp(xr[c] - max);
        yr[c] = e;
        sum += static_cast<double>(e);
      }
      const T inv = static_cast<T>(1.0 / sum);
      for (std::int64_t c = 0; c < cols; ++c) yr[c] *= inv;
    }
  }
}

// softmax:     grad_x = y * (g - sum(g * y))
// log_softmax: grad_x = g - exp(y) * sum(g)
template <typename T>
void softmax_backward_rows(const T* y, const T* gy, T* gx, std::int64_t rows, std::int64_t cols,
                           bool log) {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* yr = y + r * cols;
    const T* gr = gy + r * cols;
    T* out = gx + r * cols;
    double dot = 0.0;
    if (log) {
      for (std::int64_t c = 0; c < cols; ++c) dot += static_cast<double>(gr[c]);
      const T s = static_cast<T>(dot);
      for (std::int64_t c = 0; c < cols; ++c) out[c] = gr[c] - std::exp(yr[c]) * s;
    } else {
      for (std::int64_t c = 0; c < cols; ++c) {
        dot += static_cast<double>(gr[c]) * static_cast<double>(yr[c]);
      }
      const T s = static_cast<T>(dot);
      for (std::int64_t c = 0; c < cols; ++c) out[c] = yr[c] * (gr[c] - s);
    }
  }
}

}  // namespace

void CpuBackend::softmax_forward(const TensorView& x, const TensorView& y, bool log) {
  const char* op = log ? "log_softmax_forward" : "softmax_forward";
  check_cpu(op, "x", x);
  check_cpu(op, "y", y);
  check_floating(op, "x", x);
  check_dim(op, "x", x, 2);
  check_same(op, "x", x, "y", y);
  dispatch_floating(op, x, [&](auto tag) {
    using T = decltype(tag);
    softmax_rows(x.as<const T>(), y.as<T>(), x.shape[0], x.shape[1], log);
  });
}

void CpuBackend::softmax_backward(const TensorView& y, const TensorView& grad_y,
                                  const TensorView& grad_x, bool log) {
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  check_cpu(op, "y", y);
  check_cpu(op, "grad_y", grad_y);
  check_cpu(op, "grad_x", grad_x);
  check_floating(op, "y", y);
  check_dim(op, "y", y, 2);
  check_same(op, "y", y, "grad_y", grad_y);
  check_same(op, "y", y, "grad_x", grad_x);
  dispatch_floating(op, y, [&](auto tag) {
    using T = decltype(tag);
    softmax_backward_rows(y.as<const T>(), grad_y.as<const T>(), grad_x.as<T>(), y.shape[0],
                          y.shape[1], log);
  });
}

}  // namespace shears::kernels::cpu
