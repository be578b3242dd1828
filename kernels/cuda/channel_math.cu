// Per-channel arithmetic on (outer, channels, inner) f32 tensors, queued by the channel ops
// (channel_ops.cu) and beside cuDNN calls (batch_norm.cpp, conv2d.cpp): scaling by a per-channel
// factor, deterministic per-channel reductions, a per-channel broadcast and batch norm's
// eval-mode statistics. All are memory-bound: 16-byte vectors where rows allow, one wave of
// blocks, FastDivmod index decomposition below 2^31 elements (launchers.h documents each).

#include <algorithm>
#include <cstdint>

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/state.h"
#include "kernels/cuda/util.h"

namespace shears::kernels::cuda {
namespace {

// Independent vectors each thread loads before it stores.
constexpr int kUnroll = 4;

// ---- per-channel scaling ------------------------------------------------------------------------

// V consecutive floats, moved as one 16-byte access when V = 4. Plain (coherent) loads: the scale
// kernel may read and write the same tensor.
template <int V>
struct FloatVec {
  float v[V];
};

template <int V>
__device__ __forceinline__ FloatVec<V> load_vec(const float* p) {
  FloatVec<V> out;
  if constexpr (V == 4) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    out.v[0] = q.x;
    out.v[1] = q.y;
    out.v[2] = q.z;
    out.v[3] = q.w;
  } else {
    out.v[0] = *p;
  }
  return out;
}

template <int V>
__device__ __forceinline__ void store_vec(float* p, const FloatVec<V>& in) {
  if constexpr (V == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(in.v[0], in.v[1], in.v[2], in.v[3]);
  } else {
    *p = in.v[0];
  }
}

// src, dst: (outer, channels, inner) f32, seen as `total` vectors of V floats, `row_vecs` per
// (outer, channel) row; dst = src * m[channel] with m = float(scale[ch]) (times scale2[ch] when
// given). dst may equal src (in-place channel mask): each vector is read and written by one
// thread, so no __restrict__ here.
template <int V, typename Index, typename Scale>
__global__ void __launch_bounds__(kBlock)
    channel_scale_kernel(const float* src, float* dst, Index total,
                         typename IndexTraits<Index>::Divmod row_vecs,
                         typename IndexTraits<Index>::Divmod channels,
                         const Scale* __restrict__ scale, const float* __restrict__ scale2) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index base = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; base < total;
       base += stride * kUnroll) {
    FloatVec<V> values[kUnroll];
    float factors[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const Index v = base + static_cast<Index>(u) * stride;
      if (v < total) {
        const Index ch = channels.mod(row_vecs.div(v));
        float m = static_cast<float>(scale[ch]);
        if (scale2 != nullptr) m *= scale2[ch];
        factors[u] = m;
        values[u] = load_vec<V>(src + static_cast<std::uint64_t>(v) * V);
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const Index v = base + static_cast<Index>(u) * stride;
      if (v < total) {
#pragma unroll
        for (int e = 0; e < V; ++e) values[u].v[e] *= factors[u];
        store_vec<V>(dst + static_cast<std::uint64_t>(v) * V, values[u]);
      }
    }
  }
}

template <int V, typename Scale>
void launch_scale_vec(CudaBackend::State& s, const float* src, float* dst, std::int64_t outer,
                      std::int64_t c, std::int64_t inner, const Scale* scale, const float* scale2) {
  const std::int64_t row_vecs = inner / V;
  const std::int64_t total = outer * c * row_vecs;
  const unsigned grid = grid_for(ceil_div(total, kUnroll), s.sm_count);
  if (total <= kMax32) {
    using Index = std::uint32_t;
    channel_scale_kernel<V, Index, Scale><<<grid, kBlock, 0, s.current()>>>(
        src, dst, static_cast<Index>(total), FastDivmod(static_cast<Index>(row_vecs)),
        FastDivmod(static_cast<Index>(c)), scale, scale2);
  } else {
    using Index = std::uint64_t;
    channel_scale_kernel<V, Index, Scale><<<grid, kBlock, 0, s.current()>>>(
        src, dst, static_cast<Index>(total), PlainDivmod(static_cast<Index>(row_vecs)),
        PlainDivmod(static_cast<Index>(c)), scale, scale2);
  }
  SHEARS_CUDA_CHECK_LAUNCH();
}

template <typename Scale>
void launch_scale(CudaBackend::State& s, const float* src, float* dst, std::int64_t outer,
                  std::int64_t c, std::int64_t inner, const Scale* scale, const float* scale2) {
  if (outer * c * inner == 0) return;
  const bool vec4 = inner % 4 == 0 && copy_unit_bytes(16, src, dst) == 16;
  if (vec4) {
    launch_scale_vec<4>(s, src, dst, outer, c, inner, scale, scale2);
  } else {
    launch_scale_vec<1>(s, src, dst, outer, c, inner, scale, scale2);
  }
}

// ---- per-channel reductions ---------------------------------------------------------------------

// Rows variant, for inner >= kMinRowInner: g, x (outer, channels, inner) f32 read as V-vectors;
// grid (channels, slices). Block (ch, sl) sums the reduced vectors r in
// [sl * per_slice, min(reduced, (sl + 1) * per_slice)), r = n * row_vecs + j, in double:
// pdot[sl * channels + ch] = sum g * (x - shift[ch]) (when pdot), psum[...] = sum g (when psum).
template <int V, typename Index>
__global__ void __launch_bounds__(kBlock)
    channel_reduce_rows_kernel(const float* __restrict__ g, const float* __restrict__ x,
                               const float* __restrict__ shift, Index channels, Index reduced,
                               Index per_slice, typename IndexTraits<Index>::Divmod row_vecs,
                               double* __restrict__ pdot, double* __restrict__ psum) {
  const Index ch = blockIdx.x;
  const Index begin = static_cast<Index>(blockIdx.y) * per_slice;
  const Index end = min(reduced, begin + per_slice);
  const float sh = shift != nullptr ? shift[ch] : 0.0f;
  double dot = 0.0, sum = 0.0;
  for (Index r = begin + threadIdx.x; r < end; r += blockDim.x) {
    const Index n = row_vecs.div(r);
    const Index j = r - n * static_cast<Index>(row_vecs.divisor);
    const std::uint64_t off =
        (static_cast<std::uint64_t>(n) * channels + ch) * row_vecs.divisor + j;
    const FloatVec<V> gv = load_vec<V>(g + off * V);
    if (pdot != nullptr) {
      const FloatVec<V> xv = load_vec<V>(x + off * V);
#pragma unroll
      for (int e = 0; e < V; ++e) {
        dot += static_cast<double>(gv.v[e]) * static_cast<double>(xv.v[e] - sh);
      }
    }
#pragma unroll
    for (int e = 0; e < V; ++e) sum += static_cast<double>(gv.v[e]);
  }
  dot = block_sum(dot);
  sum = block_sum(sum);
  if (threadIdx.x == 0) {
    const std::uint64_t at = static_cast<std::uint64_t>(blockIdx.y) * channels + ch;
    if (pdot != nullptr) pdot[at] = dot;
    if (psum != nullptr) psum[at] = sum;
  }
}

// Columns variant, for short rows (inner < kMinRowInner, e.g. (N, C) or 2x2 maps): thread j of
// slice sl owns column j in [0, channels * inner) of the (outer, channels * inner) matrix and sums
// rows n in its slice; neighbouring threads read neighbouring addresses. Partials go to
// pdot/psum[sl * columns + j].
template <typename Index>
__global__ void __launch_bounds__(kBlock)
    channel_reduce_columns_kernel(const float* __restrict__ g, const float* __restrict__ x,
                                  const float* __restrict__ shift, Index columns, Index outer,
                                  Index per_slice, typename IndexTraits<Index>::Divmod inner,
                                  double* __restrict__ pdot, double* __restrict__ psum) {
  const Index j = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= columns) return;
  const Index begin = static_cast<Index>(blockIdx.y) * per_slice;
  const Index end = min(outer, begin + per_slice);
  const float sh = shift != nullptr ? shift[inner.div(j)] : 0.0f;
  double dot = 0.0, sum = 0.0;
  for (Index n = begin; n < end; ++n) {
    const std::uint64_t off = static_cast<std::uint64_t>(n) * columns + j;
    const float gv = __ldg(g + off);
    if (pdot != nullptr) dot += static_cast<double>(gv) * static_cast<double>(__ldg(x + off) - sh);
    sum += static_cast<double>(gv);
  }
  const std::uint64_t at = static_cast<std::uint64_t>(blockIdx.y) * columns + j;
  if (pdot != nullptr) pdot[at] = dot;
  if (psum != nullptr) psum[at] = sum;
}

// pdot/psum: (slices, channels, per_channel) partials; dot[ch] = float(scale[ch] * total) (scale
// null: 1), sum[ch] = float(total), totals added in slice-then-position order.
__global__ void channel_reduce_finish_kernel(const double* __restrict__ pdot,
                                             const double* __restrict__ psum, std::int64_t slices,
                                             std::int64_t channels, std::int64_t per_channel,
                                             const float* __restrict__ scale,
                                             float* __restrict__ dot, float* __restrict__ sum) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t ch = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
       ch < channels; ch += stride) {
    double d = 0.0, t = 0.0;
    for (std::int64_t sl = 0; sl < slices; ++sl) {
      const std::int64_t at = (sl * channels + ch) * per_channel;
      for (std::int64_t h = 0; h < per_channel; ++h) {
        if (pdot != nullptr) d += pdot[at + h];
        if (psum != nullptr) t += psum[at + h];
      }
    }
    if (dot != nullptr) dot[ch] = static_cast<float>(scale != nullptr ? scale[ch] * d : d);
    if (sum != nullptr) sum[ch] = static_cast<float>(t);
  }
}

// Rows shorter than this reduce through the column kernel.
constexpr std::int64_t kMinRowInner = 32;

template <int V, typename Index>
void launch_reduce_rows(CudaBackend::State& s, const float* g, const float* x, const float* shift,
                        std::int64_t outer, std::int64_t c, std::int64_t inner, double* pdot,
                        double* psum, std::int64_t slices, std::int64_t per_slice) {
  const std::int64_t row_vecs = inner / V;
  const dim3 grid(static_cast<unsigned>(c), static_cast<unsigned>(slices));
  channel_reduce_rows_kernel<V, Index><<<grid, kBlock, 0, s.current()>>>(
      g, x, shift, static_cast<Index>(c), static_cast<Index>(outer * row_vecs),
      static_cast<Index>(per_slice),
      typename IndexTraits<Index>::Divmod(static_cast<Index>(row_vecs)), pdot, psum);
  SHEARS_CUDA_CHECK_LAUNCH();
}

template <typename Index>
void launch_reduce_columns(CudaBackend::State& s, const float* g, const float* x,
                           const float* shift, std::int64_t outer, std::int64_t c,
                           std::int64_t inner, double* pdot, double* psum, std::int64_t slices,
                           std::int64_t per_slice) {
  const std::int64_t columns = c * inner;
  const dim3 grid(static_cast<unsigned>(ceil_div(columns, kBlock)), static_cast<unsigned>(slices));
  channel_reduce_columns_kernel<Index><<<grid, kBlock, 0, s.current()>>>(
      g, x, shift, static_cast<Index>(columns), static_cast<Index>(outer),
      static_cast<Index>(per_slice), typename IndexTraits<Index>::Divmod(static_cast<Index>(inner)),
      pdot, psum);
  SHEARS_CUDA_CHECK_LAUNCH();
}

// ---- small helpers for conv2d.cpp and batch_norm.cpp --------------------------------------------

// y: (outer, c, inner); value: (c) or null.
__global__ void channel_broadcast_kernel(float* y, std::int64_t total, std::int64_t c,
                                         std::int64_t inner, const float* value) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += stride) {
    y[i] = value != nullptr ? value[(i / inner) % c] : 0.0f;
  }
}

// All (c): running statistics to the statistics eval-mode batch norm uses.
__global__ void bn_eval_stats_kernel(const float* running_mean, const float* running_var,
                                     double eps, float* save_mean, float* save_invstd,
                                     std::int64_t c) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < c;
       i += stride) {
    save_mean[i] = running_mean[i];
    save_invstd[i] = static_cast<float>(1.0 / sqrt(static_cast<double>(running_var[i]) + eps));
  }
}

}  // namespace

void launch_channel_broadcast_f32(CudaBackend::State& s, float* y, std::int64_t outer,
                                  std::int64_t c, std::int64_t inner, const float* value) {
  const std::int64_t total = outer * c * inner;
  if (total == 0) return;
  channel_broadcast_kernel<<<grid_for(total, s.sm_count), kBlock, 0, s.current()>>>(y, total, c,
                                                                                    inner, value);
  SHEARS_CUDA_CHECK_LAUNCH();
}

void launch_channel_scale_f32(CudaBackend::State& s, const float* src, float* dst,
                              std::int64_t outer, std::int64_t c, std::int64_t inner,
                              const float* scale, const float* scale2) {
  launch_scale(s, src, dst, outer, c, inner, scale, scale2);
}

void launch_channel_scale_by_f64(CudaBackend::State& s, const float* src, float* dst,
                                 std::int64_t outer, std::int64_t c, std::int64_t inner,
                                 const double* scale) {
  launch_scale<double>(s, src, dst, outer, c, inner, scale, nullptr);
}

void launch_channel_reduce_f32(CudaBackend::State& s, const float* g, const float* x,
                               std::int64_t outer, std::int64_t c, std::int64_t inner,
                               const float* shift, const float* scale, float* dot, float* sum) {
  if (c == 0 || (dot == nullptr && sum == nullptr)) return;
  if (outer * inner == 0) {
    if (dot != nullptr) SHEARS_CUDA_CHECK(cudaMemsetAsync(dot, 0, c * sizeof(float), s.current()));
    if (sum != nullptr) SHEARS_CUDA_CHECK(cudaMemsetAsync(sum, 0, c * sizeof(float), s.current()));
    return;
  }
  const bool rows = inner >= kMinRowInner;
  const int v =
      rows && inner % 4 == 0 && copy_unit_bytes(16, g, x != nullptr ? x : g) == 16 ? 4 : 1;
  const std::int64_t wave_threads = static_cast<std::int64_t>(s.sm_count) * kThreadsPerSm;
  // Slices of the reduced range, so that the launch fills at least one wave.
  std::int64_t slices, per_slice, per_channel;
  if (rows) {
    const std::int64_t reduced = outer * (inner / v);
    slices = std::min(ceil_div(wave_threads / kBlock, c), ceil_div(reduced, 4 * kBlock));
    slices = std::clamp<std::int64_t>(slices, 1, 65535);
    per_slice = ceil_div(reduced, slices);
    slices = ceil_div(reduced, per_slice);
    per_channel = 1;
  } else {
    slices = std::min(ceil_div(wave_threads, c * inner), ceil_div(outer, 8));
    slices = std::clamp<std::int64_t>(slices, 1, 65535);
    per_slice = ceil_div(outer, slices);
    slices = ceil_div(outer, per_slice);
    per_channel = inner;
  }
  const std::size_t partials = static_cast<std::size_t>(slices * c * per_channel);
  DeviceBuffer pdot, psum;
  if (dot != nullptr) pdot = DeviceBuffer(s, partials * sizeof(double), "channel reduction");
  if (sum != nullptr) psum = DeviceBuffer(s, partials * sizeof(double), "channel reduction");
  const bool small = outer * c * inner <= kMax32;
  if (rows && v == 4) {
    if (small) {
      launch_reduce_rows<4, std::uint32_t>(s, g, x, shift, outer, c, inner, pdot.as<double>(),
                                           psum.as<double>(), slices, per_slice);
    } else {
      launch_reduce_rows<4, std::uint64_t>(s, g, x, shift, outer, c, inner, pdot.as<double>(),
                                           psum.as<double>(), slices, per_slice);
    }
  } else if (rows) {
    if (small) {
      launch_reduce_rows<1, std::uint32_t>(s, g, x, shift, outer, c, inner, pdot.as<double>(),
                                           psum.as<double>(), slices, per_slice);
    } else {
      launch_reduce_rows<1, std::uint64_t>(s, g, x, shift, outer, c, inner, pdot.as<double>(),
                                           psum.as<double>(), slices, per_slice);
    }
  } else if (small) {
    launch_reduce_columns<std::uint32_t>(s, g, x, shift, outer, c, inner, pdot.as<double>(),
                                         psum.as<double>(), slices, per_slice);
  } else {
    launch_reduce_columns<std::uint64_t>(s, g, x, shift, outer, c, inner, pdot.as<double>(),
                                         psum.as<double>(), slices, per_slice);
  }
  channel_reduce_finish_kernel<<<grid_for(c, s.sm_count), kBlock, 0, s.current()>>>(
      pdot.as<double>(), psum.as<double>(), slices, c, per_channel, scale, dot, sum);
  SHEARS_CUDA_CHECK_LAUNCH();
}

void launch_bn_eval_stats_f32(CudaBackend::State& s, const float* running_mean,
                              const float* running_var, double eps, float* save_mean,
                              float* save_invstd, std::int64_t c) {
  if (c == 0) return;
  bn_eval_stats_kernel<<<grid_for(c, s.sm_count), kBlock, 0, s.current()>>>(
      running_mean, running_var, eps, save_mean, save_invstd, c);
  SHEARS_CUDA_CHECK_LAUNCH();
}

}  // namespace shears::kernels::cuda
