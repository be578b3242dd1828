#pragma once

// Private to kernels/cuda: host functions that queue one of our kernels on a backend's stream,
// for the host-code files (conv2d.cpp, gemm.cpp, batch_norm.cpp) that need a small kernel beside
// a library call. Pointers are device pointers on s.device, already checked by the caller; every
// function returns as soon as the work is queued and throws CudaError when the launch fails.

#include <cstdint>

#include "kernels/cuda/state.h"

namespace shears::kernels::cuda {

/// y[i] = beta * y[i] for i < n; beta == 0 writes zeros (even over NaN). (elementwise.cu)
void launch_scale_f32(CudaBackend::State& s, float* y, std::int64_t n, float beta);

/// y (outer, c, inner) = value[ch] broadcast over each channel row, or 0 where `value` is null.
/// (channel_math.cu)
void launch_channel_broadcast_f32(CudaBackend::State& s, float* y, std::int64_t outer,
                                  std::int64_t c, std::int64_t inner, const float* value);

/// dst (outer, c, inner) = src * scale[ch] (* scale2[ch] when scale2 is not null); dst may equal
/// src. (channel_math.cu)
void launch_channel_scale_f32(CudaBackend::State& s, const float* src, float* dst,
                              std::int64_t outer, std::int64_t c, std::int64_t inner,
                              const float* scale, const float* scale2);

/// The same with an f64 scale, each factor rounded to f32 first (as the CPU backend's F64 channel
/// mask). (channel_math.cu)
void launch_channel_scale_by_f64(CudaBackend::State& s, const float* src, float* dst,
                                 std::int64_t outer, std::int64_t c, std::int64_t inner,
                                 const double* scale);

/// Per-channel sums over (outer, inner) of a (outer, c, inner) layout, accumulated in double:
///   dot[ch] = scale[ch] * sum(g * (x - shift[ch]))   (shift null: 0; scale null: 1)
///   sum[ch] = sum(g)
/// Either output may be null; x may be null when dot is. The result is deterministic (fixed
/// partitioning and summation order). (channel_math.cu)
void launch_channel_reduce_f32(CudaBackend::State& s, const float* g, const float* x,
                               std::int64_t outer, std::int64_t c, std::int64_t inner,
                               const float* shift, const float* scale, float* dot, float* sum);

/// Row gather: dst (outer, count, row_bytes) row (o, i) = src (outer, size, row_bytes) row
/// (o, index[i]), index holding `count` device I64 values in [0, size) (any order, repeats
/// allowed; checked by the caller). Moves whole rows in the widest aligned unit. (channel_ops.cu)
void launch_row_gather(CudaBackend::State& s, const void* src, void* dst, const std::int64_t* index,
                       std::int64_t outer, std::int64_t count, std::int64_t size,
                       std::int64_t row_bytes);

/// save_mean[ch] = running_mean[ch]; save_invstd[ch] = 1 / sqrt(running_var[ch] + eps), for
/// ch < c. (channel_math.cu)
void launch_bn_eval_stats_f32(CudaBackend::State& s, const float* running_mean,
                              const float* running_var, double eps, float* save_mean,
                              float* save_invstd, std::int64_t c);

}  // namespace shears::kernels::cuda
