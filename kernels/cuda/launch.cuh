#pragma once

// Device-side helpers shared by our kernels: block size, grid sizing for grid-stride loops, fast
// 32-bit division for index arithmetic, and the vector units data-movement kernels copy in.
// Included by .cu files only.

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

namespace shears::kernels::cuda {

/// Threads per block of our elementwise and data-movement kernels.
constexpr int kBlock = 256;

/// Resident threads per multiprocessor on sm_80 and sm_90; grid-stride kernels launch at most one
/// full wave (sm_count * kThreadsPerSm / block blocks) and let each thread loop.
constexpr int kThreadsPerSm = 2048;

/// Largest element count handled with 32-bit index arithmetic: with n < 2^31, (t + n) in
/// FastDivmod and i + stride in a grid-stride loop cannot overflow 32 bits.
constexpr std::int64_t kMax32 = (std::int64_t{1} << 31) - 1;

__host__ __device__ constexpr std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return (a + b - 1) / b;
}

/// Blocks of `block` threads for a grid-stride loop over `n` work items: enough for one item per
/// thread, capped at one full wave of the device.
inline unsigned grid_for(std::int64_t n, int sm_count, int block = kBlock) {
  const std::int64_t wanted = ceil_div(std::max<std::int64_t>(n, 1), block);
  const std::int64_t wave =
      static_cast<std::int64_t>(std::max(sm_count, 1)) * (kThreadsPerSm / block);
  return static_cast<unsigned>(std::min(wanted, wave));
}

/// Division by a run-time constant through a multiply-high and a shift (Granlund-Montgomery), as
/// PyTorch's IntDivider does: integer division is a long instruction sequence on the GPU, and
/// index decomposition does one or two per element. Valid for divisor in [1, 2^31] and dividends
/// below 2^31.
struct FastDivmod {
  std::uint32_t divisor = 1;
  std::uint32_t multiplier = 1;
  std::uint32_t shift = 0;

  FastDivmod() = default;
  explicit FastDivmod(std::uint32_t d) : divisor(d) {
    shift = 0;
    while ((std::uint64_t{1} << shift) < d) ++shift;
    const std::uint64_t one = 1;
    multiplier = static_cast<std::uint32_t>(((one << 32) * ((one << shift) - d)) / d + 1);
  }
  __device__ __forceinline__ std::uint32_t div(std::uint32_t n) const {
    return (__umulhi(n, multiplier) + n) >> shift;
  }
  __device__ __forceinline__ std::uint32_t mod(std::uint32_t n) const {
    return n - div(n) * divisor;
  }
};

/// 64-bit counterpart of FastDivmod with the same interface, for tensors of 2^31 elements or more.
struct PlainDivmod {
  std::uint64_t divisor = 1;

  PlainDivmod() = default;
  explicit PlainDivmod(std::uint64_t d) : divisor(d) {}
  __device__ __forceinline__ std::uint64_t div(std::uint64_t n) const { return n / divisor; }
  __device__ __forceinline__ std::uint64_t mod(std::uint64_t n) const { return n % divisor; }
};

/// Index arithmetic of one width: 32-bit with FastDivmod below kMax32 elements, else 64-bit.
template <typename Index>
struct IndexTraits;
template <>
struct IndexTraits<std::uint32_t> {
  using Divmod = FastDivmod;
};
template <>
struct IndexTraits<std::uint64_t> {
  using Divmod = PlainDivmod;
};

/// Unsigned integer type of exactly `Bytes` bytes (16: the four-word vector uint4), the unit in
/// which data-movement kernels copy.
template <int Bytes>
struct CopyUnit;
template <>
struct CopyUnit<1> {
  using type = std::uint8_t;
};
template <>
struct CopyUnit<2> {
  using type = std::uint16_t;
};
template <>
struct CopyUnit<4> {
  using type = std::uint32_t;
};
template <>
struct CopyUnit<8> {
  using type = uint2;
};
template <>
struct CopyUnit<16> {
  using type = uint4;
};

/// The widest unit in {16, 8, 4, 2, 1} bytes that divides `row_bytes` and the addresses of both
/// pointers, so that every row starts and ends on a unit boundary.
inline int copy_unit_bytes(std::int64_t row_bytes, const void* a, const void* b) {
  const auto pa = reinterpret_cast<std::uintptr_t>(a);
  const auto pb = reinterpret_cast<std::uintptr_t>(b);
  for (int unit = 16; unit > 1; unit /= 2) {
    const auto u = static_cast<std::uint64_t>(unit);
    if (static_cast<std::uint64_t>(row_bytes) % u == 0 && pa % u == 0 && pb % u == 0) return unit;
  }
  return 1;
}

/// Sum of `v` over the 32 lanes of a full warp; the total is valid in lane 0.
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

/// Sum of `v` over the block (blockDim.x a multiple of 32); the total is valid in thread 0. Every
/// thread of the block must call it. The order of additions is fixed, so results are
/// reproducible run to run.
template <typename T>
__device__ T block_sum(T v) {
  __shared__ T warp_totals[32];
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  v = warp_sum(v);
  if (lane == 0) warp_totals[warp] = v;
  __syncthreads();
  const int warps = static_cast<int>(blockDim.x) >> 5;
  v = static_cast<int>(threadIdx.x) < warps ? warp_totals[threadIdx.x] : T(0);
  if (warp == 0) v = warp_sum(v);
  // The next call may overwrite warp_totals only after everyone has read it.
  __syncthreads();
  return v;
}

}  // namespace shears::kernels::cuda
