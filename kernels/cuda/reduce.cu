// CudaBackend::sum_to: sums x over the dimensions where out (broadcast-aligned to x) has size 1.
//
// The host folds x's dimensions into alternating groups of kept and reduced dimensions (size-1
// dimensions dropped, neighbours of one kind merged), so (N,C,H,W) -> (C,1,1) becomes
// reduced N, kept C, reduced H*W. Then one of two kernels runs, chosen so that a warp always reads
// consecutive addresses:
//   * innermost group reduced ("rows"): one block per output element and slice of the reduced
//     range; the block's threads stride over the reduced elements, the innermost of which are
//     contiguous;
//   * innermost group kept ("columns"): one thread per output element and slice; neighbouring
//     threads read neighbouring addresses at every step of their loop over the reduced range
//     (also used for short reductions, under kMinRowReduction elements per output).
// When the outputs alone cannot fill the device, the reduced range is cut into slices whose
// partial sums go to a scratch buffer, and a second kernel adds them in slice order. Every sum is
// thus computed in a fixed order: results are reproducible run to run. Sums accumulate in double,
// as on the CPU.

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/state.h"
#include "kernels/cuda/util.h"

namespace shears::kernels::cuda {
namespace {

constexpr int kMaxGroups = 6;

// Reductions shorter than this per output use the column kernel (see launch_sum).
constexpr std::int64_t kMinRowReduction = 128;

// Maps a linear index over some groups (row-major, outermost first) to an element offset in x.
template <typename Index>
struct GroupIndexer {
  using Divmod = typename IndexTraits<Index>::Divmod;
  int count = 0;
  Divmod size[kMaxGroups];
  Index stride[kMaxGroups] = {};

  __device__ __forceinline__ Index offset(Index i) const {
    Index off = 0;
#pragma unroll
    for (int g = kMaxGroups - 1; g >= 0; --g) {
      if (g < count) {
        const Index q = size[g].div(i);
        off += (i - q * static_cast<Index>(size[g].divisor)) * stride[g];
        i = q;
      }
    }
    return off;
  }
};

// x read through the two indexers; out (or partial, slice-major: partial[slice * kept + k]) gets
// one value per kept index k. Grid: (kept, slices); each block sums reduced indices
// [slice * per_slice, min(reduced, (slice + 1) * per_slice)).
template <typename Index, typename Out>
__global__ void sum_rows_kernel(const float* x, Out* out, Index kept, Index reduced,
                                Index per_slice, GroupIndexer<Index> kept_ix,
                                GroupIndexer<Index> red_ix) {
  const Index k = blockIdx.x;
  const Index begin = static_cast<Index>(blockIdx.y) * per_slice;
  const Index end = min(reduced, begin + per_slice);
  const float* base = x + kept_ix.offset(k);
  double acc = 0.0;
  for (Index r = begin + threadIdx.x; r < end; r += blockDim.x) {
    acc += static_cast<double>(base[red_ix.offset(r)]);
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) out[static_cast<Index>(blockIdx.y) * kept + k] = static_cast<Out>(acc);
}

// Grid: (ceil(kept / block), slices); thread k of slice s sums its reduced range in order.
template <typename Index, typename Out>
__global__ void sum_columns_kernel(const float* x, Out* out, Index kept, Index reduced,
                                   Index per_slice, GroupIndexer<Index> kept_ix,
                                   GroupIndexer<Index> red_ix) {
  const Index k = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= kept) return;
  const Index begin = static_cast<Index>(blockIdx.y) * per_slice;
  const Index end = min(reduced, begin + per_slice);
  const float* base = x + kept_ix.offset(k);
  double acc = 0.0;
  for (Index r = begin; r < end; ++r) acc += static_cast<double>(base[red_ix.offset(r)]);
  out[static_cast<Index>(blockIdx.y) * kept + k] = static_cast<Out>(acc);
}

// partial: (slices, kept); out[k] = sum over slices in order.
__global__ void sum_slices_kernel(const double* partial, float* out, std::int64_t kept,
                                  int slices) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t k = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; k < kept;
       k += stride) {
    double acc = 0.0;
    for (int sl = 0; sl < slices; ++sl) acc += partial[sl * kept + k];
    out[k] = static_cast<float>(acc);
  }
}

struct Group {
  bool kept;
  std::int64_t size;
  std::int64_t stride;  // element stride in x
};

template <typename Index>
GroupIndexer<Index> make_indexer(const std::vector<Group>& groups, bool kept) {
  GroupIndexer<Index> ix;
  for (const Group& g : groups) {
    if (g.kept != kept) continue;
    ix.size[ix.count] = typename IndexTraits<Index>::Divmod(static_cast<Index>(g.size));
    ix.stride[ix.count] = static_cast<Index>(g.stride);
    ++ix.count;
  }
  for (int i = ix.count; i < kMaxGroups; ++i) ix.size[i] = typename IndexTraits<Index>::Divmod(1);
  return ix;
}

template <typename Index>
void launch_sum(CudaBackend::State& s, const float* x, float* out, const std::vector<Group>& groups,
                std::int64_t kept, std::int64_t reduced) {
  // Short reductions go to the column kernel even when their elements are contiguous: a block
  // per output would leave most of its threads idle.
  const bool rows = !groups.back().kept && reduced >= kMinRowReduction;
  const std::int64_t wave_threads = static_cast<std::int64_t>(s.sm_count) * kThreadsPerSm;
  std::int64_t slices;
  if (rows) {
    // Enough blocks for a wave, each slice at least 8 elements per thread.
    const std::int64_t wanted = ceil_div(wave_threads / kBlock, kept);
    slices = std::min<std::int64_t>(wanted, ceil_div(reduced, 8 * kBlock));
  } else {
    // Enough threads for a wave, each thread at least 16 elements.
    const std::int64_t wanted = ceil_div(wave_threads, kept);
    slices = std::min<std::int64_t>(wanted, ceil_div(reduced, 16));
  }
  slices = std::clamp<std::int64_t>(slices, 1, 65535);
  const std::int64_t per_slice = ceil_div(reduced, slices);
  slices = ceil_div(reduced, per_slice);
  const auto kept_ix = make_indexer<Index>(groups, true);
  const auto red_ix = make_indexer<Index>(groups, false);
  const dim3 grid(static_cast<unsigned>(rows ? kept : ceil_div(kept, kBlock)),
                  static_cast<unsigned>(slices));
  // One slice writes f32 results directly; several write f64 partial sums, added afterwards.
  auto run = [&](auto* target) {
    using Out = std::remove_pointer_t<decltype(target)>;
    if (rows) {
      sum_rows_kernel<Index, Out><<<grid, kBlock, 0, s.current()>>>(
          x, target, static_cast<Index>(kept), static_cast<Index>(reduced),
          static_cast<Index>(per_slice), kept_ix, red_ix);
    } else {
      sum_columns_kernel<Index, Out><<<grid, kBlock, 0, s.current()>>>(
          x, target, static_cast<Index>(kept), static_cast<Index>(reduced),
          static_cast<Index>(per_slice), kept_ix, red_ix);
    }
    SHEARS_CUDA_CHECK_LAUNCH();
  };
  if (slices == 1) {
    run(out);
    return;
  }
  DeviceBuffer partial(s, static_cast<std::size_t>(slices * kept) * sizeof(double),
                       "sum_to partial sums");
  run(partial.as<double>());
  sum_slices_kernel<<<grid_for(kept, s.sm_count), kBlock, 0, s.current()>>>(
      partial.as<const double>(), out, kept, static_cast<int>(slices));
  SHEARS_CUDA_CHECK_LAUNCH();
}

}  // namespace

void CudaBackend::sum_to(const TensorView& x, const TensorView& out) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "sum_to";
  check_device(op, "x", x, s.device);
  check_device(op, "out", out, s.device);
  check_f32(op, "x", x);
  check_f32(op, "out", out);
  const int rank = x.dim();
  const bool total = out.numel() == 1 && out.dim() <= 1;
  SHEARS_CHECK_AS(ShapeError, total || out.dim() <= rank, op, ": out ", view_str(out),
                  " has more dimensions than x ", view_str(x));
  // Groups of x's dimensions, outermost first.
  std::vector<Group> groups;
  for (int d = 0; d < rank; ++d) {
    const std::int64_t n = x.shape[static_cast<std::size_t>(d)];
    const int od = d - (rank - out.dim());
    const std::int64_t m = total ? 1 : (od >= 0 ? out.shape[static_cast<std::size_t>(od)] : 1);
    SHEARS_CHECK_AS(ShapeError, m == n || m == 1, op, ": out ", view_str(out),
                    " does not broadcast to x ", view_str(x), " (dimension ", d, ")");
    if (n == 1) continue;
    const bool kept = m == n;
    if (!groups.empty() && groups.back().kept == kept) {
      groups.back().size *= n;
    } else {
      groups.push_back({kept, n, 0});
    }
  }
  std::int64_t step = 1, kept = 1, reduced = 1;
  for (auto g = groups.rbegin(); g != groups.rend(); ++g) {
    g->stride = step;
    step *= g->size;
    (g->kept ? kept : reduced) *= g->size;
  }
  if (x.numel() == 0) {
    // Nothing to add: every output is an empty sum.
    if (out.numel() > 0) fill(out, 0.0);
    return;
  }
  if (reduced == 1) {
    copy(out.data, x.data, static_cast<std::size_t>(kept) * sizeof(float));
    return;
  }
  int kept_groups = 0, reduced_groups = 0;
  for (const Group& g : groups) (g.kept ? kept_groups : reduced_groups)++;
  SHEARS_CHECK_AS(ShapeError, kept_groups <= kMaxGroups && reduced_groups <= kMaxGroups, op, ": x ",
                  view_str(x), " to out ", view_str(out),
                  " alternates between kept and summed dimensions more often than the kernel ",
                  "handles (", kMaxGroups, " groups of each)");
  SHEARS_CHECK_AS(ShapeError, kept < (std::int64_t{1} << 31), op, ": out ", view_str(out),
                  " has more than 2^31 elements");
  if (x.numel() <= kMax32) {
    launch_sum<std::uint32_t>(s, x.as<const float>(), out.as<float>(), groups, kept, reduced);
  } else {
    launch_sum<std::uint64_t>(s, x.as<const float>(), out.as<float>(), groups, kept, reduced);
  }
}

}  // namespace shears::kernels::cuda
