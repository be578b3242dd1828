// CpuBackend::sum_to: sums x over the dimensions in which out's shape is 1 or absent.
//
// x's dimensions are grouped into alternating kept and reduced runs (size-1 dimensions dropped,
// neighbours of the same kind merged), so (N,C,H,W) -> (1,C,1,1) becomes reduced N, kept C,
// reduced H*W. Two loop shapes then cover every case:
//  - innermost run reduced: each output is a sum of contiguous segments of x;
//  - innermost run kept: each output row is a sum of contiguous rows of x, added as vectors.
// Accumulation is in double for both f32 and f64, and every output is summed in a fixed order,
// so results do not depend on the number of threads.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/kernel_util.h"

namespace shears::kernels::cpu {
namespace {

struct Group {
  std::int64_t size;
  bool kept;
};

// Row offsets (in rows of the innermost group's length) of every combination of indices of the
// outer groups of one kind (kept or reduced), in row-major order; the other kind's indices are 0.
std::vector<std::int64_t> row_offsets(const std::vector<Group>& groups, bool kept) {
  std::vector<std::int64_t> offsets{0};
  std::int64_t stride = 1;
  for (std::size_t g = groups.size() - 1; g-- > 0;) {
    if (groups[g].kept == kept) {
      std::vector<std::int64_t> next;
      next.reserve(offsets.size() * static_cast<std::size_t>(groups[g].size));
      for (std::int64_t i = 0; i < groups[g].size; ++i) {
        for (std::int64_t o : offsets) next.push_back(i * stride + o);
      }
      offsets.swap(next);
    }
    stride *= groups[g].size;
  }
  return offsets;
}

// Sum of n contiguous values in double. Eight independent partial sums, combined in a fixed
// order, break the add-latency chain and let the compiler vectorise; the result is the same on
// every call for the same input.
template <typename T>
double sum_segment(const T* x, std::int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += static_cast<double>(x[i + k]);
  }
  for (int k = 0; i < n; ++i, ++k) acc[k] += static_cast<double>(x[i]);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

template <typename T>
void total_sum(const T* x, std::int64_t n, T* out) {
  // Fixed-size chunks summed into partials, then the partials in order: deterministic for any
  // thread count, and closer to pairwise summation's accuracy for long inputs.
  constexpr std::int64_t kChunk = 1 << 14;
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<std::size_t>(chunks));
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (std::int64_t c = 0; c < chunks; ++c) {
    const std::int64_t begin = c * kChunk;
    partial[static_cast<std::size_t>(c)] = sum_segment(x + begin, std::min(kChunk, n - begin));
  }
  double total = 0.0;
  for (double p : partial) total += p;
  out[0] = static_cast<T>(total);
}

template <typename T>
void sum_groups(const T* x, std::int64_t numel, const std::vector<Group>& groups, T* out) {
  const std::int64_t len = groups.back().size;
  const std::vector<std::int64_t> kept_rows = row_offsets(groups, true);
  const std::vector<std::int64_t> red_rows = row_offsets(groups, false);
  const std::int64_t outer = static_cast<std::int64_t>(kept_rows.size());
  const bool par = numel >= kParallelMin;
  if (!groups.back().kept) {
#pragma omp parallel for schedule(static) if (par)
    for (std::int64_t o = 0; o < outer; ++o) {
      double acc = 0.0;
      for (std::int64_t r : red_rows) {
        acc += sum_segment(x + (kept_rows[static_cast<std::size_t>(o)] + r) * len, len);
      }
      out[o] = static_cast<T>(acc);
    }
    return;
  }
  // Innermost kept: work items are (output row, chunk of the row), so a single long output row
  // (N,C) -> (C) still spreads over the threads; each chunk accumulates in a local buffer.
  constexpr std::int64_t kChunk = 512;
  const std::int64_t chunks = (len + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (par)
  for (std::int64_t item = 0; item < outer * chunks; ++item) {
    const std::int64_t o = item / chunks, begin = (item % chunks) * kChunk;
    const std::int64_t count = std::min(kChunk, len - begin);
    double acc[kChunk];
    std::fill(acc, acc + count, 0.0);
    for (std::int64_t r : red_rows) {
      const T* row = x + (kept_rows[static_cast<std::size_t>(o)] + r) * len + begin;
      for (std::int64_t j = 0; j < count; ++j) acc[j] += static_cast<double>(row[j]);
    }
    T* dst = out + o * len + begin;
    for (std::int64_t j = 0; j < count; ++j) dst[j] = static_cast<T>(acc[j]);
  }
}

}  // namespace

void CpuBackend::sum_to(const TensorView& x, const TensorView& out) {
  check_cpu("sum_to", "x", x);
  check_cpu("sum_to", "out", out);
  check_floating("sum_to", "x", x);
  SHEARS_CHECK_AS(ShapeError, out.dtype == x.dtype, "sum_to: out ", view_str(out),
                  " must have the dtype of x ", view_str(x));
  const std::size_t rank = x.shape.size();
  bool fits = out.shape.size() <= rank;
  std::vector<Group> groups;
  for (std::size_t d = 0; fits && d < rank; ++d) {
    const std::size_t lead = rank - out.shape.size();
    const std::int64_t od = d < lead ? 1 : out.shape[d - lead];
    fits = od == x.shape[d] || od == 1;
    if (x.shape[d] == 1) continue;
    const bool kept = od == x.shape[d];
    if (!groups.empty() && groups.back().kept == kept) {
      groups.back().size *= x.shape[d];
    } else {
      groups.push_back({x.shape[d], kept});
    }
  }
  SHEARS_CHECK_AS(ShapeError, fits, "sum_to: out ", shape_str(out.shape),
                  " is not broadcast-compatible with x ", shape_str(x.shape));
  dispatch_floating("sum_to", x, [&](auto tag) {
    using T = decltype(tag);
    T* po = out.as<T>();
    const std::int64_t n = x.numel();
    if (n == 0) {
      std::fill(po, po + out.numel(), T(0));
    } else if (groups.empty()) {
      po[0] = x.as<const T>()[0];
    } else if (groups.size() == 1 && !groups[0].kept) {
      total_sum(x.as<const T>(), n, po);
    } else {
      sum_groups(x.as<const T>(), n, groups, po);
    }
  });
}

}  // namespace shears::kernels::cpu
