// CudaBackend indexing: index_select (a row gather), index_add (a row scatter-add with atomics)
// and slice_copy (a strided block copy).
//
// Tensors are seen as (outer, size, inner) around `dim`; a row is the `inner` contiguous elements
// of one (outer, entry) pair. Index lists are validated on the device, without the host waiting:
// a one-block kernel writes a checked copy (an out-of-range entry becomes 0, so no access leaves
// the tensors) and records the first bad entry in the backend's deferred-error record, which the
// host throws as ShapeError at its next synchronisation.

#include <cstdint>

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

constexpr int kCheckBlock = 256;

// One block: checked[i] = index[i] when it lies in [0, size), else 0; the first bad entry (lowest
// i) goes to the deferred-error record under `code`.
__global__ void __launch_bounds__(kCheckBlock)
    check_index_kernel(const std::int64_t* __restrict__ index, std::int64_t n, std::int64_t size,
                       std::int64_t* __restrict__ checked, DeferredError* err, int code, int dim) {
  __shared__ unsigned long long first;
  if (threadIdx.x == 0) first = ~0ULL;
  __syncthreads();
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const std::int64_t v = index[i];
    const bool ok = v >= 0 && v < size;
    checked[i] = ok ? v : 0;
    if (!ok) atomicMin(&first, static_cast<unsigned long long>(i));
  }
  __syncthreads();
  if (threadIdx.x == 0 && first != ~0ULL) {
    record_deferred(err, code, dim, static_cast<long long>(first),
                    static_cast<long long>(index[first]), static_cast<long long>(size));
  }
}

// Checks index's form (I64, 1-D, on this device) on the host and its values on the device;
// returns the checked copy the kernels read.
DeviceBuffer check_index(CudaBackend::State& s, const char* op, const TensorView& index, int dim,
                         std::int64_t size, int code) {
  check_device(op, "index", index, s.device);
  SHEARS_CHECK_AS(ShapeError, index.dtype == DType::I64 && index.dim() == 1, op,
                  ": index must be a 1-D I64 tensor, got ", view_str(index));
  const std::int64_t n = index.shape[0];
  DeviceBuffer checked(s, static_cast<std::size_t>(n) * sizeof(std::int64_t), "a checked index");
  if (n > 0) {
    check_index_kernel<<<1, kCheckBlock, 0, s.current()>>>(
        index.as<const std::int64_t>(), n, size, checked.as<std::int64_t>(), s.deferred, code, dim);
    SHEARS_CUDA_CHECK_LAUNCH();
  }
  return checked;
}

// Throws ShapeError unless `b` has `a`'s shape except along `dim`, where it has `b_size`.
void check_shape_along(const char* op, const char* a_name, const TensorView& a, const char* b_name,
                       const TensorView& b, int dim, std::int64_t b_size) {
  Shape want = a.shape;
  want[static_cast<std::size_t>(dim)] = b_size;
  SHEARS_CHECK_AS(ShapeError, b.shape == want && b.dtype == a.dtype, op, ": ", b_name, " ",
                  view_str(b), " does not fit ", a_name, " ", view_str(a), " along dimension ", dim,
                  " (expected ", dtype_name(a.dtype), " ", shape_str(want), ")");
}

// src: (outer, count, inner) f32, `total` elements; out: (outer, size, inner) f32. Each src
// element is added to out row (o, index[i]) with atomicAdd, so repeated indices accumulate (in
// no fixed order: sums with repeats may differ in the last bits from run to run).
template <typename Index>
__global__ void index_add_kernel(const float* __restrict__ src, float* out,
                                 const std::int64_t* __restrict__ index, Index total,
                                 typename IndexTraits<Index>::Divmod inner,
                                 typename IndexTraits<Index>::Divmod count, Index size) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index v = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; v < total;
       v += stride) {
    const Index row = inner.div(v);
    const Index col = v - row * static_cast<Index>(inner.divisor);
    const Index o = count.div(row);
    const Index entry = static_cast<Index>(index[row - o * static_cast<Index>(count.divisor)]);
    atomicAdd(out + (o * size + entry) * static_cast<Index>(inner.divisor) + col, src[v]);
  }
}

}  // namespace

void CudaBackend::index_select(const TensorView& x, int dim, const TensorView& index,
                               const TensorView& out) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "index_select";
  check_device(op, "x", x, s.device);
  check_device(op, "out", out, s.device);
  dim = normalise_dim(op, x, dim);
  const DimSplit split = split_at(x.shape, dim);
  const DeviceBuffer checked = check_index(s, op, index, dim, split.size, kBadIndexSelect);
  const std::int64_t count = index.shape[0];
  check_shape_along(op, "x", x, "out", out, dim, count);
  launch_row_gather(s, x.data, out.data, checked.as<const std::int64_t>(), split.outer, count,
                    split.size, split.inner * static_cast<std::int64_t>(dtype_size(x.dtype)));
}

void CudaBackend::index_add(const TensorView& src, int dim, const TensorView& index,
                            const TensorView& out) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "index_add";
  check_device(op, "src", src, s.device);
  check_device(op, "out", out, s.device);
  check_f32(op, "out", out);
  dim = normalise_dim(op, out, dim);
  const DimSplit split = split_at(out.shape, dim);
  const DeviceBuffer checked = check_index(s, op, index, dim, split.size, kBadIndexAdd);
  const std::int64_t count = index.shape[0];
  check_shape_along(op, "out", out, "src", src, dim, count);
  const std::int64_t total = src.numel();
  if (total == 0) return;
  const unsigned grid = grid_for(total, s.sm_count);
  const auto* idx = checked.as<const std::int64_t>();
  if (out.numel() <= kMax32 && total <= kMax32) {
    using Index = std::uint32_t;
    index_add_kernel<Index><<<grid, kBlock, 0, s.current()>>>(
        src.as<const float>(), out.as<float>(), idx, static_cast<Index>(total),
        FastDivmod(static_cast<Index>(split.inner)), FastDivmod(static_cast<Index>(count)),
        static_cast<Index>(split.size));
  } else {
    using Index = std::uint64_t;
    index_add_kernel<Index><<<grid, kBlock, 0, s.current()>>>(
        src.as<const float>(), out.as<float>(), idx, static_cast<Index>(total),
        PlainDivmod(static_cast<Index>(split.inner)), PlainDivmod(static_cast<Index>(count)),
        static_cast<Index>(split.size));
  }
  SHEARS_CUDA_CHECK_LAUNCH();
}

// One 2-D copy: `outer` blocks of length * row bytes, src blocks src_size rows apart and dst
// blocks dst_size rows apart. cudaMemcpy2DAsync runs it on the copy path at full bandwidth; its
// pitches are limited to the device's maximum pitch, beyond which each block is copied alone.
void CudaBackend::slice_copy(const TensorView& src, int dim, std::int64_t src_start,
                             const TensorView& dst, std::int64_t dst_start, std::int64_t length) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "slice_copy";
  check_device(op, "src", src, s.device);
  check_device(op, "dst", dst, s.device);
  dim = normalise_dim(op, src, dim);
  SHEARS_CHECK_AS(ShapeError, dst.dim() == src.dim(), op, ": src ", view_str(src), " and dst ",
                  view_str(dst), " must have the same rank");
  check_shape_along(op, "src", src, "dst", dst, dim, dst.size(dim));
  const std::int64_t src_size = src.size(dim), dst_size = dst.size(dim);
  SHEARS_CHECK_AS(ShapeError, length >= 0 && src_start >= 0 && src_start + length <= src_size, op,
                  ": source range [", src_start, ", ", src_start + length,
                  ") is outside dimension ", dim, " of src ", shape_str(src.shape));
  SHEARS_CHECK_AS(ShapeError, dst_start >= 0 && dst_start + length <= dst_size, op,
                  ": destination range [", dst_start, ", ", dst_start + length,
                  ") is outside dimension ", dim, " of dst ", shape_str(dst.shape));
  const DimSplit split = split_at(src.shape, dim);
  const auto row = static_cast<std::size_t>(split.inner) * dtype_size(src.dtype);
  const std::size_t width = static_cast<std::size_t>(length) * row;
  if (width == 0 || split.outer == 0) return;
  const auto* from = static_cast<const std::uint8_t*>(src.data) + src_start * row;
  auto* to = static_cast<std::uint8_t*>(dst.data) + dst_start * row;
  const std::size_t spitch = static_cast<std::size_t>(src_size) * row;
  const std::size_t dpitch = static_cast<std::size_t>(dst_size) * row;
  const auto outer = static_cast<std::size_t>(split.outer);
  if (outer == 1 || (spitch == width && dpitch == width)) {
    SHEARS_CUDA_CHECK(
        cudaMemcpyAsync(to, from, width * outer, cudaMemcpyDeviceToDevice, s.current()));
    return;
  }
  int max_pitch = 0;
  SHEARS_CUDA_CHECK(cudaDeviceGetAttribute(&max_pitch, cudaDevAttrMaxPitch, s.device));
  if (spitch <= static_cast<std::size_t>(max_pitch) &&
      dpitch <= static_cast<std::size_t>(max_pitch)) {
    SHEARS_CUDA_CHECK(cudaMemcpy2DAsync(to, dpitch, from, spitch, width, outer,
                                        cudaMemcpyDeviceToDevice, s.current()));
    return;
  }
  for (std::size_t o = 0; o < outer; ++o) {
    SHEARS_CUDA_CHECK(cudaMemcpyAsync(to + o * dpitch, from + o * spitch, width,
                                      cudaMemcpyDeviceToDevice, s.current()));
  }
}

}  // namespace shears::kernels::cuda
