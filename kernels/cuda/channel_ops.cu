// CudaBackend structured-pruning channel kernels: gather and scatter of kept entries along one
// dimension, in-place channel masks and the learnable soft mask (forward and backward). The
// per-channel scaling and reductions they share with batch_norm.cpp and conv2d.cpp are in
// channel_math.cu (launchers.h).
//
// All of these are memory-bound, so each moves every byte once and keeps the memory system busy:
//   * tensors are seen as (outer, size, inner) around the indexed dimension; a "row" is the
//     `inner` contiguous elements of one (outer, entry) pair;
//   * rows are copied in the widest unit (16, 8, 4, 2 or 1 bytes) that divides the row length and
//     both base addresses, so (N, C, 32, 32) f32 moves in 16-byte vectors;
//   * one flat grid-stride loop over output units, one wave of blocks, four independent loads in
//     flight per thread before the first store; consecutive threads take consecutive units, so
//     every warp reads and writes whole 128-byte lines (except at row ends);
//   * index decomposition uses FastDivmod (multiply-high and shift) below 2^31 units.
// The keep list is validated on the device by one small kernel (sorted, unique, in range), which
// records the first bad entry in the deferred-error record: thrown at the host's next
// synchronisation with the CPU backend's message, so no call waits for the device. The check
// runs on the side stream, forked from the compute stream before the copy and joined after it,
// so it overlaps the copy instead of adding its launch to it. The copy
// kernels skip entries out of range. A keep list as long as the dimension is keep-all (sorted,
// unique and in range leaves no other choice): a plain device copy.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/deferred.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/state.h"
#include "kernels/cuda/util.h"

namespace shears::kernels::cuda {
namespace {

// Independent units each thread loads before it stores.
constexpr int kUnroll = 4;

// ---- gather and scatter -------------------------------------------------------------------------

// Copies rows between a dense side and an indexed side, in units of Unit.
//   Gather:  src (outer, size, inner) -> dst (outer, count, inner), dst row (o, i) = src row
//            (o, keep[i]).
//   Scatter: src (outer, count, inner) -> dst (outer, size, inner), dst row (o, keep[i]) = src
//            row (o, i); other dst rows are untouched.
// total: units of the dense side (outer * count * row_units); row_units: units per row; count:
// keep entries; size: entries of the indexed side's dimension. keep: `count` indices in [0, size)
// (validated on the host); sorted and unique for channel ops, any order for index_select's gather
// (a scatter with repeats would race).
template <typename Unit, typename Index, bool Gather>
__global__ void __launch_bounds__(kBlock)
    channel_copy_kernel(const Unit* __restrict__ src, Unit* __restrict__ dst,
                        const std::int64_t* __restrict__ keep, Index total,
                        typename IndexTraits<Index>::Divmod row_units,
                        typename IndexTraits<Index>::Divmod count, Index size) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index base = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; base < total;
       base += stride * kUnroll) {
    Unit values[kUnroll];
    Index targets[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const Index v = base + static_cast<Index>(u) * stride;
      if (v < total) {
        const Index row = row_units.div(v);
        const Index col = v - row * static_cast<Index>(row_units.divisor);
        const Index outer = count.div(row);
        const Index entry =
            static_cast<Index>(keep[row - outer * static_cast<Index>(count.divisor)]);
        // A bad entry (reported by the keep check) is clamped: nothing outside the tensors is
        // touched.
        const Index safe = entry < size ? entry : size - 1;
        const Index indexed = (outer * size + safe) * static_cast<Index>(row_units.divisor) + col;
        values[u] = __ldg(src + (Gather ? indexed : v));
        targets[u] = Gather ? v : indexed;
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (base + static_cast<Index>(u) * stride < total) dst[targets[u]] = values[u];
    }
  }
}

template <int UnitBytes, bool Gather>
void launch_copy_unit(CudaBackend::State& s, const void* src, void* dst, const std::int64_t* keep,
                      std::int64_t outer, std::int64_t count, std::int64_t size,
                      std::int64_t row_bytes) {
  using Unit = typename CopyUnit<UnitBytes>::type;
  const std::int64_t row_units = row_bytes / UnitBytes;
  const std::int64_t total = outer * count * row_units;
  const std::int64_t full = outer * size * row_units;
  const unsigned grid = grid_for(ceil_div(total, kUnroll), s.sm_count);
  const auto* from = static_cast<const Unit*>(src);
  auto* to = static_cast<Unit*>(dst);
  if (full <= kMax32 && total <= kMax32) {
    using Index = std::uint32_t;
    channel_copy_kernel<Unit, Index, Gather><<<grid, kBlock, 0, s.current()>>>(
        from, to, keep, static_cast<Index>(total), FastDivmod(static_cast<Index>(row_units)),
        FastDivmod(static_cast<Index>(count)), static_cast<Index>(size));
  } else {
    using Index = std::uint64_t;
    channel_copy_kernel<Unit, Index, Gather><<<grid, kBlock, 0, s.current()>>>(
        from, to, keep, static_cast<Index>(total), PlainDivmod(static_cast<Index>(row_units)),
        PlainDivmod(static_cast<Index>(count)), static_cast<Index>(size));
  }
  SHEARS_CUDA_CHECK_LAUNCH();
}

template <bool Gather>
void launch_channel_copy(CudaBackend::State& s, const void* src, void* dst,
                         const std::int64_t* keep, std::int64_t outer, std::int64_t count,
                         std::int64_t size, std::int64_t row_bytes) {
  if (size == 0) return;  // every keep entry is out of range: reported by the keep check
  switch (copy_unit_bytes(row_bytes, src, dst)) {
    case 16:
      launch_copy_unit<16, Gather>(s, src, dst, keep, outer, count, size, row_bytes);
      return;
    case 8:
      launch_copy_unit<8, Gather>(s, src, dst, keep, outer, count, size, row_bytes);
      return;
    case 4:
      launch_copy_unit<4, Gather>(s, src, dst, keep, outer, count, size, row_bytes);
      return;
    case 2:
      launch_copy_unit<2, Gather>(s, src, dst, keep, outer, count, size, row_bytes);
      return;
    default:
      launch_copy_unit<1, Gather>(s, src, dst, keep, outer, count, size, row_bytes);
  }
}

// One block: records the lowest bad position of keep (count entries, values in [0, size),
// strictly increasing) under code + 0 (out of range), + 1 (a duplicate), + 2 (not sorted), the
// CPU backend's order of checks.
__global__ void check_keep_kernel(const std::int64_t* __restrict__ keep, std::int64_t count,
                                  std::int64_t size, int dim, int code, DeferredError* err) {
  __shared__ unsigned long long first;
  if (threadIdx.x == 0) first = ~0ull;
  __syncthreads();
  for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const std::int64_t k = keep[i];
    const bool bad = k < 0 || k >= size || (i > 0 && k <= keep[i - 1]);
    if (bad) atomicMin(&first, static_cast<unsigned long long>(i));
  }
  __syncthreads();
  if (threadIdx.x != 0 || first == ~0ull) return;
  const auto i = static_cast<std::int64_t>(first);
  const std::int64_t k = keep[i];
  const std::int64_t previous = i > 0 ? keep[i - 1] : 0;
  const int kind = (k < 0 || k >= size) ? 0 : (k == previous ? 1 : 2);
  if (atomicCAS(&err->code, 0, -1) == 0) {
    err->dim = dim;
    err->position = i;
    err->value = k;
    err->size = size;
    err->previous = previous;
    __threadfence();
    atomicExch(&err->code, code + kind);
  }
}

// Checks keep like the CPU backend: 1-D I64 on this device here, its values (in [0, size),
// strictly increasing) on the device, reported at the next synchronisation. Returns true when
// keep is as long as the dimension: keep-all, if the values pass.
// The check is queued on s.copy_stream after everything the compute stream queued so far (keep
// may just have been written); join_keep_check makes the compute stream wait for it.
bool check_keep(CudaBackend::State& s, const char* op, const TensorView& keep, int dim,
                std::int64_t size, int code) {
  check_device(op, "keep", keep, s.device);
  check_keep_tensor(op, keep);
  const std::int64_t count = keep.shape[0];
  if (count > 0 && s.current() != s.stream) {
    // A thread on a stream of its own checks in line (the fork/join events serve s.stream).
    check_keep_kernel<<<1, kBlock, 0, s.current()>>>(keep.as<const std::int64_t>(), count, size,
                                                     dim, code, s.deferred);
    SHEARS_CUDA_CHECK_LAUNCH();
  } else if (count > 0) {
    SHEARS_CUDA_CHECK(cudaEventRecord(s.keep_fork, s.stream));
    SHEARS_CUDA_CHECK(cudaStreamWaitEvent(s.copy_stream, s.keep_fork, 0));
    check_keep_kernel<<<1, kBlock, 0, s.copy_stream>>>(keep.as<const std::int64_t>(), count, size,
                                                       dim, code, s.deferred);
    SHEARS_CUDA_CHECK_LAUNCH();
    SHEARS_CUDA_CHECK(cudaEventRecord(s.keep_join, s.copy_stream));
  }
  return count == size;
}

// The compute stream waits for the keep check queued by check_keep (after its own copy).
void join_keep_check(CudaBackend::State& s, const TensorView& keep) {
  if (keep.shape[0] > 0 && s.current() == s.stream) {
    SHEARS_CUDA_CHECK(cudaStreamWaitEvent(s.stream, s.keep_join, 0));
  }
}

// soft mask layout: x, y, grad_y, grad_x are (N, C, spatial...) F32; mask and grad_mask are (C).
void check_soft_mask(CudaBackend::State& s, const char* op, const TensorView& x,
                     const TensorView& mask) {
  check_device(op, "x", x, s.device);
  check_device(op, "mask", mask, s.device);
  check_f32(op, "x", x);
  check_soft_mask_layout(op, x, mask);
}

}  // namespace

void launch_row_gather(CudaBackend::State& s, const void* src, void* dst, const std::int64_t* index,
                       std::int64_t outer, std::int64_t count, std::int64_t size,
                       std::int64_t row_bytes) {
  if (outer * count * row_bytes == 0) return;
  launch_channel_copy<true>(s, src, dst, index, outer, count, size, row_bytes);
}

void CudaBackend::channel_gather(const TensorView& x, int dim, const TensorView& keep,
                                 const TensorView& out) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "channel_gather";
  check_device(op, "x", x, s.device);
  check_device(op, "out", out, s.device);
  dim = normalise_dim(op, x, dim);
  const DimSplit split = split_at(x.shape, dim);
  const bool keep_all = check_keep(s, op, keep, dim, split.size, kBadKeepGather);
  const std::int64_t count = keep.shape[0];
  check_kept_shape(op, "x", x, "out", out, dim, count);
  const std::int64_t row_bytes = split.inner * static_cast<std::int64_t>(dtype_size(x.dtype));
  if (out.numel() > 0 && keep_all) {
    copy(out.data, x.data, static_cast<std::size_t>(x.numel()) * dtype_size(x.dtype));
  } else if (out.numel() > 0) {
    launch_channel_copy<true>(s, x.data, out.data, keep.as<const std::int64_t>(), split.outer,
                              count, split.size, row_bytes);
  }
  join_keep_check(s, keep);
}

void CudaBackend::channel_scatter(const TensorView& src, int dim, const TensorView& keep,
                                  const TensorView& out) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "channel_scatter";
  check_device(op, "src", src, s.device);
  check_device(op, "out", out, s.device);
  dim = normalise_dim(op, out, dim);
  const DimSplit split = split_at(out.shape, dim);
  const bool keep_all = check_keep(s, op, keep, dim, split.size, kBadKeepScatter);
  const std::int64_t count = keep.shape[0];
  check_kept_shape(op, "out", out, "src", src, dim, count);
  const std::int64_t row_bytes = split.inner * static_cast<std::int64_t>(dtype_size(out.dtype));
  if (src.numel() > 0 && keep_all) {
    copy(out.data, src.data, static_cast<std::size_t>(src.numel()) * dtype_size(src.dtype));
  } else if (src.numel() > 0) {
    launch_channel_copy<false>(s, src.data, out.data, keep.as<const std::int64_t>(), split.outer,
                               count, split.size, row_bytes);
  }
  join_keep_check(s, keep);
}

void CudaBackend::channel_mask(const TensorView& x, int dim, const TensorView& mask) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "channel_mask";
  check_device(op, "x", x, s.device);
  check_device(op, "mask", mask, s.device);
  check_f32(op, "x", x);
  check_floating(op, "mask", mask);
  dim = normalise_dim(op, x, dim);
  const DimSplit split = split_at(x.shape, dim);
  check_mask_length(op, x, dim, split.size, mask);
  float* px = x.as<float>();
  // An F64 mask is rounded to f32 per channel inside the kernel, as the CPU backend does.
  if (mask.dtype == DType::F64) {
    launch_channel_scale_by_f64(s, px, px, split.outer, split.size, split.inner,
                                mask.as<const double>());
  } else {
    launch_channel_scale_f32(s, px, px, split.outer, split.size, split.inner,
                             mask.as<const float>(), nullptr);
  }
}

void CudaBackend::soft_mask_forward(const TensorView& x, const TensorView& mask,
                                    const TensorView& y) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "soft_mask_forward";
  check_soft_mask(s, op, x, mask);
  check_device(op, "y", y, s.device);
  check_same(op, "x", x, "y", y);
  const DimSplit split = split_at(x.shape, 1);
  launch_channel_scale_f32(s, x.as<const float>(), y.as<float>(), split.outer, split.size,
                           split.inner, mask.as<const float>(), nullptr);
}

void CudaBackend::soft_mask_backward(const TensorView& x, const TensorView& mask,
                                     const TensorView& grad_y, const TensorView* grad_x,
                                     const TensorView* grad_mask) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "soft_mask_backward";
  check_soft_mask(s, op, x, mask);
  check_device(op, "grad_y", grad_y, s.device);
  SHEARS_CHECK_AS(ShapeError, grad_y.shape == x.shape && grad_y.dtype == x.dtype, op, ": grad_y ",
                  view_str(grad_y), " must match x ", view_str(x));
  if (grad_x) {
    check_device(op, "grad_x", *grad_x, s.device);
    check_same(op, "grad_y", grad_y, "grad_x", *grad_x);
  }
  if (grad_mask) {
    check_device(op, "grad_mask", *grad_mask, s.device);
    check_same(op, "mask", mask, "grad_mask", *grad_mask);
  }
  const DimSplit split = split_at(x.shape, 1);
  const float* gy = grad_y.as<const float>();
  if (grad_x) {
    launch_channel_scale_f32(s, gy, grad_x->as<float>(), split.outer, split.size, split.inner,
                             mask.as<const float>(), nullptr);
  }
  // x is read only here: the engine passes a view without data when no mask gradient is wanted.
  if (grad_mask) {
    launch_channel_reduce_f32(s, gy, x.as<const float>(), split.outer, split.size, split.inner,
                              nullptr, nullptr, grad_mask->as<float>(), nullptr);
  }
}

}  // namespace shears::kernels::cuda
