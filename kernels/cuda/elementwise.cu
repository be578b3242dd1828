// CudaBackend elementwise primitives: fill, convert, binary (numpy broadcasting), axpby and the
// activations, forward and backward.
//
// All kernels are grid-stride loops over the output with one element per thread and trip:
// consecutive threads touch consecutive addresses, so every warp access is coalesced. Index
// arithmetic is 32-bit (FastDivmod) below 2^31 elements, 64-bit above.

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/state.h"
#include "kernels/cuda/util.h"

namespace shears::kernels::cuda {
namespace {

// ---- fill and convert ---------------------------------------------------------------------------

// x: n elements of T, contiguous.
template <typename T>
__global__ void fill_kernel(T* x, std::int64_t n, T value) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += stride) {
    x[i] = value;
  }
}

// The range of each integer dtype, for saturating conversions from floating point.
template <typename T>
struct IntRange;
template <>
struct IntRange<std::int32_t> {
  static constexpr std::int32_t min = -2147483647 - 1, max = 2147483647;
};
template <>
struct IntRange<std::int64_t> {
  static constexpr std::int64_t min = -9223372036854775807LL - 1, max = 9223372036854775807LL;
};
template <>
struct IntRange<std::uint8_t> {
  static constexpr std::uint8_t min = 0, max = 255;
};

// The CPU backend's conversion rule, exactly: floating to integer saturates and maps NaN to 0
// (compared in double); every other conversion is C++'s static_cast (integer narrowing wraps,
// f64 to f32 rounds to nearest).
template <typename To, typename From>
__device__ __forceinline__ To convert_value(From v) {
  if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    if (v != v) return To(0);
    const double d = static_cast<double>(v);
    if (d <= static_cast<double>(IntRange<To>::min)) return IntRange<To>::min;
    if (d >= static_cast<double>(IntRange<To>::max)) return IntRange<To>::max;
    return static_cast<To>(d);
  } else {
    return static_cast<To>(v);
  }
}

// x: n elements of From; out: n elements of To.
template <typename From, typename To>
__global__ void convert_kernel(const From* x, To* out, std::int64_t n) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += stride) {
    out[i] = convert_value<To>(x[i]);
  }
}

// Calls f(T{}) for the C++ type of `dtype`.
template <typename F>
void dispatch_all(DType dtype, F&& f) {
  switch (dtype) {
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
  throw ShapeError(detail::cat("unknown dtype ", static_cast<int>(dtype)));
}

// ---- binary with broadcasting -------------------------------------------------------------------

constexpr int kMaxDims = 6;

// The output's shape after dropping size-1 dimensions and merging dimensions that are contiguous
// in both inputs, with each input's element strides (0 along a broadcast dimension). (N,C,H,W) +
// (C,1,1) becomes (N, C, H*W) with b strides (0, 1, 0).
struct BroadcastPlan {
  int rank = 0;
  std::int64_t size[kMaxDims] = {};
  std::int64_t stride_a[kMaxDims] = {};
  std::int64_t stride_b[kMaxDims] = {};
};

// Device copy of a plan with divisors for the chosen index width.
template <typename Index>
struct BroadcastIndexer {
  using Divmod = typename IndexTraits<Index>::Divmod;
  int rank;
  Divmod size[kMaxDims];
  Index stride_a[kMaxDims];
  Index stride_b[kMaxDims];

  __device__ __forceinline__ void offsets(Index i, Index& oa, Index& ob) const {
    oa = 0;
    ob = 0;
#pragma unroll
    for (int d = kMaxDims - 1; d >= 0; --d) {
      if (d < rank) {
        const Index q = size[d].div(i);
        const Index r = i - q * static_cast<Index>(size[d].divisor);
        oa += r * stride_a[d];
        ob += r * stride_b[d];
        i = q;
      }
    }
  }
};

__device__ __forceinline__ float apply(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::Add:
      return a + b;
    case BinaryOp::Sub:
      return a - b;
    case BinaryOp::Mul:
      return a * b;
    case BinaryOp::Div:
      return a / b;
  }
  return 0.0f;
}

// a, b: inputs read at the plan's offsets; out: n contiguous elements. out may alias an input of
// its own shape (each element is read and written by the same thread).
template <typename Index, BinaryOp Op>
__global__ void binary_kernel(const float* a, const float* b, float* out, Index n,
                              BroadcastIndexer<Index> ix) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; i < n; i += stride) {
    Index oa, ob;
    ix.offsets(i, oa, ob);
    out[i] = apply(Op, a[oa], b[ob]);
  }
}

// Same-shape fast path: no index arithmetic.
template <BinaryOp Op>
__global__ void binary_same_kernel(const float* a, const float* b, float* out, std::int64_t n) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += stride) {
    out[i] = apply(Op, a[i], b[i]);
  }
}

const char* op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add:
      return "add";
    case BinaryOp::Sub:
      return "sub";
    case BinaryOp::Mul:
      return "mul";
    case BinaryOp::Div:
      return "div";
  }
  return "?";
}

BroadcastPlan make_plan(const TensorView& a, const TensorView& b, const TensorView& out) {
  const int rank = out.dim();
  auto describe = [&] {
    return detail::cat("binary ", shape_str(a.shape), " and ", shape_str(b.shape), " into ",
                       shape_str(out.shape));
  };
  SHEARS_CHECK_AS(ShapeError, a.dim() <= rank && b.dim() <= rank, describe(),
                  ": an input has more dimensions than the output");
  // Aligned element strides of each input, 0 along broadcast dimensions.
  std::int64_t sa[16] = {}, sb[16] = {};
  SHEARS_CHECK_AS(ShapeError, rank <= 16, describe(), ": more than 16 dimensions");
  auto strides = [&](const TensorView& t, std::int64_t* s) {
    std::int64_t step = 1;
    for (int d = rank - 1; d >= 0; --d) {
      const int td = d - (rank - t.dim());
      const std::int64_t extent = td >= 0 ? t.shape[static_cast<std::size_t>(td)] : 1;
      const std::int64_t want = out.shape[static_cast<std::size_t>(d)];
      SHEARS_CHECK_AS(ShapeError, extent == want || extent == 1, describe(), ": dimension ", d,
                      " of the output has size ", want, ", an input has ", extent,
                      " (broadcasting needs equal sizes or 1)");
      s[d] = extent == 1 ? 0 : step;
      step *= extent;
    }
  };
  strides(a, sa);
  strides(b, sb);
  // Keep dimensions of size > 1, merging each into the one inside it when both inputs continue
  // contiguously across the boundary.
  std::int64_t size[16], ta[16], tb[16];
  int r = 0;
  for (int d = rank - 1; d >= 0; --d) {
    const std::int64_t n = out.shape[static_cast<std::size_t>(d)];
    if (n == 1) continue;
    if (r > 0 && sa[d] == ta[r - 1] * size[r - 1] && sb[d] == tb[r - 1] * size[r - 1]) {
      size[r - 1] *= n;
    } else {
      size[r] = n;
      ta[r] = sa[d];
      tb[r] = sb[d];
      ++r;
    }
  }
  SHEARS_CHECK_AS(ShapeError, r <= kMaxDims, describe(), ": the broadcast needs ", r,
                  " distinct dimensions, the CUDA kernel handles at most ", kMaxDims);
  BroadcastPlan plan;
  plan.rank = r;
  // Reverse into outermost-first order.
  for (int i = 0; i < r; ++i) {
    plan.size[i] = size[r - 1 - i];
    plan.stride_a[i] = ta[r - 1 - i];
    plan.stride_b[i] = tb[r - 1 - i];
  }
  return plan;
}

template <typename Index>
BroadcastIndexer<Index> make_indexer(const BroadcastPlan& plan) {
  BroadcastIndexer<Index> ix{};
  ix.rank = plan.rank;
  for (int d = 0; d < kMaxDims; ++d) {
    const std::int64_t n = d < plan.rank ? plan.size[d] : 1;
    ix.size[d] = typename IndexTraits<Index>::Divmod(static_cast<Index>(n));
    ix.stride_a[d] = static_cast<Index>(d < plan.rank ? plan.stride_a[d] : 0);
    ix.stride_b[d] = static_cast<Index>(d < plan.rank ? plan.stride_b[d] : 0);
  }
  return ix;
}

template <BinaryOp Op>
void launch_binary(CudaBackend::State& s, const float* a, const float* b, float* out,
                   std::int64_t n, const BroadcastPlan& plan) {
  const unsigned grid = grid_for(n, s.sm_count);
  const bool same = plan.rank == 1 && plan.stride_a[0] == 1 && plan.stride_b[0] == 1;
  if (same) {
    binary_same_kernel<Op><<<grid, kBlock, 0, s.current()>>>(a, b, out, n);
  } else if (n <= kMax32) {
    binary_kernel<std::uint32_t, Op><<<grid, kBlock, 0, s.current()>>>(
        a, b, out, static_cast<std::uint32_t>(n), make_indexer<std::uint32_t>(plan));
  } else {
    binary_kernel<std::uint64_t, Op><<<grid, kBlock, 0, s.current()>>>(
        a, b, out, static_cast<std::uint64_t>(n), make_indexer<std::uint64_t>(plan));
  }
  SHEARS_CUDA_CHECK_LAUNCH();
}

// ---- axpby, scale ------------------------------------------------------------------------------

// x, y: n elements. beta == 0 assigns, so y's old contents (even NaN) never reach the result.
__global__ void axpby_kernel(float alpha, const float* x, float beta, float* y, std::int64_t n) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += stride) {
    y[i] = beta == 0.0f ? alpha * x[i] : alpha * x[i] + beta * y[i];
  }
}

// y: n elements scaled in place; beta == 0 writes zeros.
__global__ void scale_kernel(float* y, std::int64_t n, float beta) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += stride) {
    y[i] = beta == 0.0f ? 0.0f : beta * y[i];
  }
}

// ---- activations --------------------------------------------------------------------------------

template <ActivationKind K>
__device__ __forceinline__ float act_forward(float x, float alpha) {
  if constexpr (K == ActivationKind::Relu) {
    return x > 0.0f ? x : 0.0f;
  } else if constexpr (K == ActivationKind::LeakyRelu) {
    return x > 0.0f ? x : alpha * x;
  } else if constexpr (K == ActivationKind::Sigmoid) {
    return 1.0f / (1.0f + expf(-x));
  } else if constexpr (K == ActivationKind::Tanh) {
    return tanhf(x);
  } else {
    return expf(x);
  }
}

// The derivative expressed through the forward output y (alpha > 0 keeps the sign of x in y).
template <ActivationKind K>
__device__ __forceinline__ float act_backward(float y, float gy, float alpha) {
  if constexpr (K == ActivationKind::Relu) {
    return y > 0.0f ? gy : 0.0f;
  } else if constexpr (K == ActivationKind::LeakyRelu) {
    return y > 0.0f ? gy : alpha * gy;
  } else if constexpr (K == ActivationKind::Sigmoid) {
    return gy * y * (1.0f - y);
  } else if constexpr (K == ActivationKind::Tanh) {
    return gy * (1.0f - y * y);
  } else {
    return gy * y;
  }
}

// x, y: n elements; y may equal x.
template <ActivationKind K>
__global__ void act_forward_kernel(const float* x, float* y, std::int64_t n, float alpha) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += stride) {
    y[i] = act_forward<K>(x[i], alpha);
  }
}

// y, grad_y, grad_x: n elements; grad_x may equal grad_y.
template <ActivationKind K>
__global__ void act_backward_kernel(const float* y, const float* gy, float* gx, std::int64_t n,
                                    float alpha) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += stride) {
    gx[i] = act_backward<K>(y[i], gy[i], alpha);
  }
}

template <typename F>
void dispatch_activation(ActivationKind kind, F&& f) {
  switch (kind) {
    case ActivationKind::Relu:
      f(std::integral_constant<ActivationKind, ActivationKind::Relu>{});
      return;
    case ActivationKind::LeakyRelu:
      f(std::integral_constant<ActivationKind, ActivationKind::LeakyRelu>{});
      return;
    case ActivationKind::Sigmoid:
      f(std::integral_constant<ActivationKind, ActivationKind::Sigmoid>{});
      return;
    case ActivationKind::Tanh:
      f(std::integral_constant<ActivationKind, ActivationKind::Tanh>{});
      return;
    case ActivationKind::Exp:
      f(std::integral_constant<ActivationKind, ActivationKind::Exp>{});
      return;
  }
  throw ShapeError(detail::cat("unknown activation kind ", static_cast<int>(kind)));
}

// ---- pointwise maps that differentiate from their input ----------------------------------------

// x, y: n elements; y may equal x. NaN passes through every op.
__global__ void pointwise_forward_kernel(PointwiseOp op, const float* x, float* y, std::int64_t n,
                                         float lo, float hi) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += stride) {
    const float v = x[i];
    if (op == PointwiseOp::Abs) {
      y[i] = fabsf(v);
    } else if (op == PointwiseOp::Sign) {
      y[i] = v != v ? v : static_cast<float>((0.0f < v) - (v < 0.0f));
    } else {
      y[i] = v < lo ? lo : (v > hi ? hi : v);
    }
  }
}

// x, grad_y, grad_x: n elements; grad_x may equal grad_y.
__global__ void pointwise_backward_kernel(PointwiseOp op, const float* x, const float* gy,
                                          float* gx, std::int64_t n, float lo, float hi) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += stride) {
    const float v = x[i];
    if (op == PointwiseOp::Abs) {
      gx[i] = v > 0.0f ? gy[i] : (v < 0.0f ? -gy[i] : 0.0f);
    } else if (op == PointwiseOp::Sign) {
      gx[i] = 0.0f;
    } else {
      gx[i] = (v >= lo && v <= hi) ? gy[i] : 0.0f;
    }
  }
}

}  // namespace

void launch_scale_f32(CudaBackend::State& s, float* y, std::int64_t n, float beta) {
  if (n <= 0) return;
  scale_kernel<<<grid_for(n, s.sm_count), kBlock, 0, s.current()>>>(y, n, beta);
  SHEARS_CUDA_CHECK_LAUNCH();
}

void CudaBackend::fill(const TensorView& x, double value) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  check_device("fill", "x", x, s.device);
  const std::int64_t n = x.numel();
  if (n == 0) return;
  // Zero is all-zero bits in every dtype: a memset runs at copy-engine speed.
  if (value == 0.0 && !std::signbit(value)) {
    SHEARS_CUDA_CHECK(
        cudaMemsetAsync(x.data, 0, static_cast<std::size_t>(n) * dtype_size(x.dtype), s.current()));
    return;
  }
  dispatch_all(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    fill_kernel<T>
        <<<grid_for(n, s.sm_count), kBlock, 0, s.current()>>>(x.as<T>(), n, static_cast<T>(value));
  });
  SHEARS_CUDA_CHECK_LAUNCH();
}

void CudaBackend::convert(const TensorView& x, const TensorView& out) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  check_device("convert", "x", x, s.device);
  check_device("convert", "out", out, s.device);
  SHEARS_CHECK_AS(ShapeError, x.shape == out.shape, "convert: x ", view_str(x), " and out ",
                  view_str(out), " must have the same shape");
  const std::int64_t n = x.numel();
  if (n == 0) return;
  if (x.dtype == out.dtype) {
    copy(out.data, x.data, static_cast<std::size_t>(n) * dtype_size(x.dtype));
    return;
  }
  dispatch_all(x.dtype, [&](auto from_tag) {
    using From = decltype(from_tag);
    dispatch_all(out.dtype, [&](auto to_tag) {
      using To = decltype(to_tag);
      convert_kernel<From, To><<<grid_for(n, s.sm_count), kBlock, 0, s.current()>>>(
          x.as<const From>(), out.as<To>(), n);
    });
  });
  SHEARS_CUDA_CHECK_LAUNCH();
}

void CudaBackend::binary(BinaryOp op, const TensorView& a, const TensorView& b,
                         const TensorView& out) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* name = op_name(op);
  check_device(name, "a", a, s.device);
  check_device(name, "b", b, s.device);
  check_device(name, "out", out, s.device);
  check_f32(name, "a", a);
  check_f32(name, "b", b);
  check_f32(name, "out", out);
  const BroadcastPlan plan = make_plan(a, b, out);
  const std::int64_t n = out.numel();
  if (n == 0) return;
  const float* pa = a.as<const float>();
  const float* pb = b.as<const float>();
  float* po = out.as<float>();
  switch (op) {
    case BinaryOp::Add:
      launch_binary<BinaryOp::Add>(s, pa, pb, po, n, plan);
      return;
    case BinaryOp::Sub:
      launch_binary<BinaryOp::Sub>(s, pa, pb, po, n, plan);
      return;
    case BinaryOp::Mul:
      launch_binary<BinaryOp::Mul>(s, pa, pb, po, n, plan);
      return;
    case BinaryOp::Div:
      launch_binary<BinaryOp::Div>(s, pa, pb, po, n, plan);
      return;
  }
  throw ShapeError(detail::cat("binary: unknown op ", static_cast<int>(op)));
}

void CudaBackend::axpby(double alpha, const TensorView& x, double beta, const TensorView& y) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  check_device("axpby", "x", x, s.device);
  check_device("axpby", "y", y, s.device);
  check_f32("axpby", "x", x);
  check_f32("axpby", "y", y);
  SHEARS_CHECK_AS(ShapeError, x.numel() == y.numel(), "axpby: x ", view_str(x), " and y ",
                  view_str(y), " must have the same number of elements");
  const std::int64_t n = y.numel();
  if (n == 0) return;
  axpby_kernel<<<grid_for(n, s.sm_count), kBlock, 0, s.current()>>>(
      static_cast<float>(alpha), x.as<const float>(), static_cast<float>(beta), y.as<float>(), n);
  SHEARS_CUDA_CHECK_LAUNCH();
}

void CudaBackend::activation_forward(ActivationKind kind, double alpha, const TensorView& x,
                                     const TensorView& y) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "activation_forward";
  check_device(op, "x", x, s.device);
  check_device(op, "y", y, s.device);
  check_f32(op, "x", x);
  check_same(op, "x", x, "y", y);
  const std::int64_t n = x.numel();
  if (n == 0) return;
  dispatch_activation(kind, [&](auto k) {
    act_forward_kernel<decltype(k)::value><<<grid_for(n, s.sm_count), kBlock, 0, s.current()>>>(
        x.as<const float>(), y.as<float>(), n, static_cast<float>(alpha));
  });
  SHEARS_CUDA_CHECK_LAUNCH();
}

void CudaBackend::activation_backward(ActivationKind kind, double alpha, const TensorView& y,
                                      const TensorView& grad_y, const TensorView& grad_x) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "activation_backward";
  check_device(op, "y", y, s.device);
  check_device(op, "grad_y", grad_y, s.device);
  check_device(op, "grad_x", grad_x, s.device);
  check_f32(op, "y", y);
  check_same(op, "y", y, "grad_y", grad_y);
  check_same(op, "y", y, "grad_x", grad_x);
  const std::int64_t n = y.numel();
  if (n == 0) return;
  dispatch_activation(kind, [&](auto k) {
    act_backward_kernel<decltype(k)::value><<<grid_for(n, s.sm_count), kBlock, 0, s.current()>>>(
        y.as<const float>(), grad_y.as<const float>(), grad_x.as<float>(), n,
        static_cast<float>(alpha));
  });
  SHEARS_CUDA_CHECK_LAUNCH();
}

void CudaBackend::pointwise_forward(PointwiseOp op, double lo, double hi, const TensorView& x,
                                    const TensorView& y) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* name = "pointwise_forward";
  check_device(name, "x", x, s.device);
  check_device(name, "y", y, s.device);
  check_f32(name, "x", x);
  check_same(name, "x", x, "y", y);
  SHEARS_CHECK_AS(Error, op != PointwiseOp::Clamp || lo <= hi, name, ": clamp needs lo <= hi, got ",
                  lo, " > ", hi);
  const std::int64_t n = x.numel();
  if (n == 0) return;
  pointwise_forward_kernel<<<grid_for(n, s.sm_count), kBlock, 0, s.current()>>>(
      op, x.as<const float>(), y.as<float>(), n, static_cast<float>(lo), static_cast<float>(hi));
  SHEARS_CUDA_CHECK_LAUNCH();
}

void CudaBackend::pointwise_backward(PointwiseOp op, double lo, double hi, const TensorView& x,
                                     const TensorView& grad_y, const TensorView& grad_x) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* name = "pointwise_backward";
  check_device(name, "x", x, s.device);
  check_device(name, "grad_y", grad_y, s.device);
  check_device(name, "grad_x", grad_x, s.device);
  check_f32(name, "x", x);
  check_same(name, "x", x, "grad_y", grad_y);
  check_same(name, "x", x, "grad_x", grad_x);
  SHEARS_CHECK_AS(Error, op != PointwiseOp::Clamp || lo <= hi, name, ": clamp needs lo <= hi, got ",
                  lo, " > ", hi);
  const std::int64_t n = x.numel();
  if (n == 0) return;
  pointwise_backward_kernel<<<grid_for(n, s.sm_count), kBlock, 0, s.current()>>>(
      op, x.as<const float>(), grad_y.as<const float>(), grad_x.as<float>(), n,
      static_cast<float>(lo), static_cast<float>(hi));
  SHEARS_CUDA_CHECK_LAUNCH();
}

}  // namespace shears::kernels::cuda
