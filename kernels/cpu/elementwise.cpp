// CpuBackend elementwise primitives: fill, convert, binary (numpy broadcasting), axpby and the
// activations. Every tensor is contiguous; outputs may alias inputs of the same shape (the engine
// uses binary(Add, out, g, out) and in-place activations), so no loop reads an element after
// writing a different one.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/kernel_util.h"

namespace shears::kernels::cpu {
namespace {

// Calls f(T{}) with T the C++ type of `t`'s dtype; every dtype is supported.
template <typename F>
void dispatch_any(const TensorView& t, F&& f) {
  switch (t.dtype) {
    case DType::F32:
      f(float{});
      return;
    case DType::F64:
      f(double{});
      return;
    case DType::I32:
      f(std::int32_t{});
      return;
    case DType::I64:
      f(std::int64_t{});
      return;
    case DType::U8:
      f(std::uint8_t{});
      return;
  }
}

// Floating to integer conversion saturates and maps NaN to 0, as CUDA's cvt.rzi does, so both
// backends agree and no input reaches the undefined behaviour of an out-of-range static_cast.
// Other conversions are the C++ ones (integer narrowing wraps; f64 to f32 rounds).
template <typename To, typename From>
To convert_value(From v) {
  if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    if (std::isnan(v)) return To(0);
    constexpr double lo = static_cast<double>(std::numeric_limits<To>::min());
    constexpr double hi = static_cast<double>(std::numeric_limits<To>::max());
    const double d = static_cast<double>(v);
    if (d <= lo) return std::numeric_limits<To>::min();
    if (d >= hi) return std::numeric_limits<To>::max();
    return static_cast<To>(d);
  } else {
    return static_cast<To>(v);
  }
}

// ---- binary with broadcasting -----------------------------------------------------------------

// The output's dimensions after dropping size-1 ones and merging neighbours that both operands
// traverse the same way (both contiguous, or both broadcast). A per-channel (1,C,1,1) operand
// against (N,C,H,W) becomes three dimensions: N (broadcast), C (stride 1), H*W (broadcast).
struct BroadcastPlan {
  std::vector<std::int64_t> sizes, stride_a, stride_b;
};

// Element strides of `t` aligned right to `rank` dimensions; a broadcast dimension gets stride 0.
std::vector<std::int64_t> aligned_strides(const TensorView& t, const Shape& out_shape) {
  const std::size_t rank = out_shape.size(), offset = rank - t.shape.size();
  std::vector<std::int64_t> strides(rank, 0);
  std::int64_t stride = 1;
  for (std::size_t i = t.shape.size(); i-- > 0;) {
    if (t.shape[i] == out_shape[offset + i] && t.shape[i] != 1) strides[offset + i] = stride;
    stride *= t.shape[i];
  }
  return strides;
}

BroadcastPlan plan_broadcast(const TensorView& a, const TensorView& b, const TensorView& out) {
  const Shape& os = out.shape;
  const std::size_t rank = os.size();
  bool fits = a.shape.size() <= rank && b.shape.size() <= rank;
  for (std::size_t d = 0; fits && d < rank; ++d) {
    const std::int64_t da = d + a.shape.size() < rank ? 1 : a.shape[d + a.shape.size() - rank];
    const std::int64_t db = d + b.shape.size() < rank ? 1 : b.shape[d + b.shape.size() - rank];
    fits = (da == os[d] || da == 1) && (db == os[d] || db == 1) && (os[d] == da || os[d] == db);
  }
  SHEARS_CHECK_AS(ShapeError, fits, "binary: output ", shape_str(os),
                  " is not the broadcast shape of ", shape_str(a.shape), " and ",
                  shape_str(b.shape));
  const std::vector<std::int64_t> sa = aligned_strides(a, os), sb = aligned_strides(b, os);
  BroadcastPlan plan;
  for (std::size_t d = 0; d < rank; ++d) {
    if (os[d] == 1) continue;
    if (!plan.sizes.empty() && plan.stride_a.back() == sa[d] * os[d] &&
        plan.stride_b.back() == sb[d] * os[d]) {
      plan.sizes.back() *= os[d];
      plan.stride_a.back() = sa[d];
      plan.stride_b.back() = sb[d];
    } else {
      plan.sizes.push_back(os[d]);
      plan.stride_a.push_back(sa[d]);
      plan.stride_b.push_back(sb[d]);
    }
  }
  if (plan.sizes.empty()) plan = {{1}, {0}, {0}};
  return plan;
}

// One contiguous run of the output. The innermost strides are 0 or 1; the common cases get their
// own loops so that the compiler vectorises them.
template <typename T, typename Op>
void binary_run(const T* a, std::int64_t sa, const T* b, std::int64_t sb, T* out, std::int64_t n,
                Op op) {
  if (sa == 1 && sb == 1) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = op(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const T bv = b[0];
    for (std::int64_t i = 0; i < n; ++i) out[i] = op(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const T av = a[0];
    for (std::int64_t i = 0; i < n; ++i) out[i] = op(av, b[i]);
  } else {
    for (std::int64_t i = 0; i < n; ++i) out[i] = op(a[i * sa], b[i * sb]);
  }
}

template <typename T, typename Op>
void binary_typed(const TensorView& a, const TensorView& b, const TensorView& out,
                  const BroadcastPlan& plan, Op op) {
  const T* pa = a.as<const T>();
  const T* pb = b.as<const T>();
  T* po = out.as<T>();
  const std::int64_t dims = static_cast<std::int64_t>(plan.sizes.size());
  const std::int64_t len = plan.sizes.back();
  const std::int64_t rows = out.numel() / len;
  // Long rows are cut into chunks so that a tensor plus a scalar (one row) still uses every
  // thread; each work item is one chunk of one row.
  constexpr std::int64_t kChunk = 1 << 14;
  const std::int64_t chunks = (len + kChunk - 1) / kChunk;
  const std::int64_t items = rows * chunks;
#pragma omp parallel for schedule(static) if (out.numel() >= kParallelMin)
  for (std::int64_t item = 0; item < items; ++item) {
    const std::int64_t row = item / chunks, begin = (item % chunks) * kChunk;
    std::int64_t off_a = 0, off_b = 0, rest = row;
    for (std::int64_t d = dims - 2; d >= 0; --d) {
      const std::int64_t idx = rest % plan.sizes[static_cast<std::size_t>(d)];
      rest /= plan.sizes[static_cast<std::size_t>(d)];
      off_a += idx * plan.stride_a[static_cast<std::size_t>(d)];
      off_b += idx * plan.stride_b[static_cast<std::size_t>(d)];
    }
    const std::int64_t sa = plan.stride_a.back(), sb = plan.stride_b.back();
    binary_run(pa + off_a + begin * sa, sa, pb + off_b + begin * sb, sb, po + row * len + begin,
               std::min(kChunk, len - begin), op);
  }
}

// ---- activations ------------------------------------------------------------------------------

template <typename T>
T sigmoid(T x) {
  // Split by sign so that exp never overflows: exp(-|x|) is in (0, 1].
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

template <typename T>
void activation_forward_typed(ActivationKind kind, T alpha, const T* x, T* y, std::int64_t n) {
  const bool par = n >= kParallelMin;
  switch (kind) {
    case ActivationKind::Relu:
      // `x < 0 ? 0 : x` keeps NaN, as torch.relu does.
#pragma omp parallel for simd if (par)
      for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];
      return;
    case ActivationKind::LeakyRelu:
#pragma omp parallel for simd if (par)
      for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] < T(0) ? alpha * x[i] : x[i];
      return;
    case ActivationKind::Sigmoid:
#pragma omp parallel for if (par)
      for (std::int64_t i = 0; i < n; ++i) y[i] = sigmoid(x[i]);
      return;
    case ActivationKind::Tanh:
#pragma omp parallel for if (par)
      for (std::int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
      return;
    case ActivationKind::Exp:
#pragma omp parallel for if (par)
      for (std::int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
      return;
  }
}

// Derivatives written in terms of the output y. ReLU and leaky ReLU take the slope of the
// negative side at y == 0, as PyTorch's threshold_backward and leaky_relu_backward do.
template <typename T>
void activation_backward_typed(ActivationKind kind, T alpha, const T* y, const T* gy, T* gx,
                               std::int64_t n) {
  const bool par = n >= kParallelMin;
  switch (kind) {
    case ActivationKind::Relu:
#pragma omp parallel for simd if (par)
      for (std::int64_t i = 0; i < n; ++i) gx[i] = y[i] > T(0) ? gy[i] : T(0);
      return;
    case ActivationKind::LeakyRelu:
#pragma omp parallel for simd if (par)
      for (std::int64_t i = 0; i < n; ++i) gx[i] = y[i] > T(0) ? gy[i] : alpha * gy[i];
      return;
    case ActivationKind::Sigmoid:
#pragma omp parallel for simd if (par)
      for (std::int64_t i = 0; i < n; ++i) gx[i] = gy[i] * y[i] * (T(1) - y[i]);
      return;
    case ActivationKind::Tanh:
#pragma omp parallel for simd if (par)
      for (std::int64_t i = 0; i < n; ++i) gx[i] = gy[i] * (T(1) - y[i] * y[i]);
      return;
    case ActivationKind::Exp:
#pragma omp parallel for simd if (par)
      for (std::int64_t i = 0; i < n; ++i) gx[i] = gy[i] * y[i];
      return;
  }
}

void check_activation(const char* op, ActivationKind kind, double alpha) {
  SHEARS_CHECK_AS(Error, kind != ActivationKind::LeakyRelu || alpha > 0.0, op,
                  ": leaky-ReLU slope must be > 0 (the backward pass reads the sign of the "
                  "output), got ",
                  alpha);
}

}  // namespace

void CpuBackend::fill(const TensorView& x, double value) {
  check_cpu("fill", "x", x);
  const std::int64_t n = x.numel();
  dispatch_any(x, [&](auto tag) {
    using T = decltype(tag);
    const T v = convert_value<T>(value);
    T* p = x.as<T>();
#pragma omp parallel for simd if (n >= kParallelMin)
    for (std::int64_t i = 0; i < n; ++i) p[i] = v;
  });
}

void CpuBackend::convert(const TensorView& x, const TensorView& out) {
  check_cpu("convert", "x", x);
  check_cpu("convert", "out", out);
  SHEARS_CHECK_AS(ShapeError, x.shape == out.shape, "convert: x ", view_str(x), " and out ",
                  view_str(out), " must have the same shape");
  const std::int64_t n = x.numel();
  dispatch_any(x, [&](auto from_tag) {
    using From = decltype(from_tag);
    dispatch_any(out, [&](auto to_tag) {
      using To = decltype(to_tag);
      const From* src = x.as<const From>();
      To* dst = out.as<To>();
#pragma omp parallel for if (n >= kParallelMin)
      for (std::int64_t i = 0; i < n; ++i) dst[i] = convert_value<To>(src[i]);
    });
  });
}

void CpuBackend::binary(BinaryOp op, const TensorView& a, const TensorView& b,
                        const TensorView& out) {
  check_cpu("binary", "a", a);
  check_cpu("binary", "b", b);
  check_cpu("binary", "out", out);
  check_floating("binary", "a", a);
  SHEARS_CHECK_AS(ShapeError, a.dtype == b.dtype && a.dtype == out.dtype, "binary: a ", view_str(a),
                  ", b ", view_str(b), " and out ", view_str(out), " must share a dtype");
  const BroadcastPlan plan = plan_broadcast(a, b, out);
  if (out.numel() == 0) return;
  dispatch_floating("binary", a, [&](auto tag) {
    using T = decltype(tag);
    switch (op) {
      case BinaryOp::Add:
        binary_typed<T>(a, b, out, plan, [](T u, T v) { return u + v; });
        return;
      case BinaryOp::Sub:
        binary_typed<T>(a, b, out, plan, [](T u, T v) { return u - v; });
        return;
      case BinaryOp::Mul:
        binary_typed<T>(a, b, out, plan, [](T u, T v) { return u * v; });
        return;
      case BinaryOp::Div:
        binary_typed<T>(a, b, out, plan, [](T u, T v) { return u / v; });
        return;
    }
  });
}

void CpuBackend::axpby(double alpha, const TensorView& x, double beta, const TensorView& y) {
  check_cpu("axpby", "x", x);
  check_cpu("axpby", "y", y);
  check_same("axpby", "x", x, "y", y);
  const std::int64_t n = x.numel();
  dispatch_floating("axpby", x, [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.as<const T>();
    T* py = y.as<T>();
    const T a = static_cast<T>(alpha), b = static_cast<T>(beta);
    if (beta == 0.0) {
#pragma omp parallel for simd if (n >= kParallelMin)
      for (std::int64_t i = 0; i < n; ++i) py[i] = a * px[i];
    } else {
#pragma omp parallel for simd if (n >= kParallelMin)
      for (std::int64_t i = 0; i < n; ++i) py[i] = a * px[i] + b * py[i];
    }
  });
}

void CpuBackend::activation_forward(ActivationKind kind, double alpha, const TensorView& x,
                                    const TensorView& y) {
  check_cpu("activation_forward", "x", x);
  check_cpu("activation_forward", "y", y);
  check_same("activation_forward", "x", x, "y", y);
  check_activation("activation_forward", kind, alpha);
  dispatch_floating("activation_forward", x, [&](auto tag) {
    using T = decltype(tag);
    activation_forward_typed<T>(kind, static_cast<T>(alpha), x.as<const T>(), y.as<T>(), x.numel());
  });
}

void CpuBackend::activation_backward(ActivationKind kind, double alpha, const TensorView& y,
                                     const TensorView& grad_y, const TensorView& grad_x) {
  check_cpu("activation_backward", "y", y);
  check_cpu("activation_backward", "grad_y", grad_y);
  check_cpu("activation_backward", "grad_x", grad_x);
  check_same("activation_backward", "y", y, "grad_y", grad_y);
  check_same("activation_backward", "y", y, "grad_x", grad_x);
  check_activation("activation_backward", kind, alpha);
  dispatch_floating("activation_backward", y, [&](auto tag) {
    using T = decltype(tag);
    activation_backward_typed<T>(kind, static_cast<T>(alpha), y.as<const T>(), grad_y.as<const T>(),
                                 grad_x.as<T>(), y.numel());
  });
}

}  // namespace shears::kernels::cpu

namespace shears::kernels::cpu {
namespace {

template <typename T>
void pointwise_forward_typed(PointwiseOp op, T lo, T hi, const T* x, T* y, std::int64_t n) {
  const bool par = n >= kParallelMin;
  switch (op) {
    case PointwiseOp::Abs:
#pragma omp parallel for simd if (par)
      for (std::int64_t i = 0; i < n; ++i) y[i] = std::abs(x[i]);
      return;
    case PointwiseOp::Sign:
      // (0 < x) - (x < 0) is 0 for NaN; keep NaN as torch.sign does.
#pragma omp parallel for simd if (par)
      for (std::int64_t i = 0; i < n; ++i) {
        y[i] = x[i] != x[i] ? x[i] : static_cast<T>((T(0) < x[i]) - (x[i] < T(0)));
      }
      return;
    case PointwiseOp::Clamp:
      // Comparisons that are false for NaN keep it.
#pragma omp parallel for simd if (par)
      for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]);
      return;
  }
}

template <typename T>
void pointwise_backward_typed(PointwiseOp op, T lo, T hi, const T* x, const T* gy, T* gx,
                              std::int64_t n) {
  const bool par = n >= kParallelMin;
  switch (op) {
    case PointwiseOp::Abs:
#pragma omp parallel for simd if (par)
      for (std::int64_t i = 0; i < n; ++i) {
        gx[i] = x[i] > T(0) ? gy[i] : (x[i] < T(0) ? -gy[i] : T(0));
      }
      return;
    case PointwiseOp::Sign:
#pragma omp parallel for simd if (par)
      for (std::int64_t i = 0; i < n; ++i) gx[i] = T(0);
      return;
    case PointwiseOp::Clamp:
#pragma omp parallel for simd if (par)
      for (std::int64_t i = 0; i < n; ++i) gx[i] = (x[i] >= lo && x[i] <= hi) ? gy[i] : T(0);
      return;
  }
}

void check_pointwise(const char* name, PointwiseOp op, double lo, double hi) {
  SHEARS_CHECK_AS(Error, op != PointwiseOp::Clamp || lo <= hi, name, ": clamp needs lo <= hi, got ",
                  lo, " > ", hi);
}

}  // namespace

void CpuBackend::pointwise_forward(PointwiseOp op, double lo, double hi, const TensorView& x,
                                   const TensorView& y) {
  check_cpu("pointwise_forward", "x", x);
  check_cpu("pointwise_forward", "y", y);
  check_same("pointwise_forward", "x", x, "y", y);
  check_pointwise("pointwise_forward", op, lo, hi);
  dispatch_floating("pointwise_forward", x, [&](auto tag) {
    using T = decltype(tag);
    pointwise_forward_typed<T>(op, static_cast<T>(lo), static_cast<T>(hi), x.as<const T>(),
                               y.as<T>(), x.numel());
  });
}

void CpuBackend::pointwise_backward(PointwiseOp op, double lo, double hi, const TensorView& x,
                                    const TensorView& grad_y, const TensorView& grad_x) {
  check_cpu("pointwise_backward", "x", x);
  check_cpu("pointwise_backward", "grad_y", grad_y);
  check_cpu("pointwise_backward", "grad_x", grad_x);
  check_same("pointwise_backward", "x", x, "grad_y", grad_y);
  check_same("pointwise_backward", "x", x, "grad_x", grad_x);
  check_pointwise("pointwise_backward", op, lo, hi);
  dispatch_floating("pointwise_backward", x, [&](auto tag) {
    using T = decltype(tag);
    pointwise_backward_typed<T>(op, static_cast<T>(lo), static_cast<T>(hi), x.as<const T>(),
                                grad_y.as<const T>(), grad_x.as<T>(), x.numel());
  });
}

}  // namespace shears::kernels::cpu
