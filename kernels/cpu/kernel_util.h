#pragma once

// Private to kernels/cpu: the CPU-only argument check, dtype dispatch and the block copier shared
// by the reference kernels. The checks both backends share are in kernels/common/checks.h.
// Nothing outside kernels/cpu includes this header.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/common/checks.h"
#include "kernels/common/error.h"
#include "kernels/common/view.h"

namespace shears::kernels::cpu {

/// Below this many elements a loop runs on one thread: starting an OpenMP team costs a few
/// microseconds, more than the work itself on small tensors.
constexpr std::int64_t kParallelMin = 1 << 15;

/// Below this many bytes a data-movement kernel copies on one thread.
constexpr std::int64_t kParallelBytes = 1 << 20;

/// Throws ShapeError unless `t` lives on the CPU.
inline void check_cpu(const char* op, const char* what, const TensorView& t) {
  SHEARS_CHECK_AS(ShapeError, t.device.is_cpu(), op, ": ", what, " ", view_str(t), " is on ",
                  t.device.str(), ", the CPU backend needs CPU tensors");
}

/// Calls f(T{}) with T = float or double according to `dtype`; throws ShapeError for others.
template <typename F>
void dispatch_floating(const char* op, const TensorView& t, F&& f) {
  switch (t.dtype) {
    case DType::F32:
      f(float{});
      return;
    case DType::F64:
      f(double{});
      return;
    default:
      throw ShapeError(detail::cat(op, ": supports F32 and F64, got ", view_str(t)));
  }
}

/// A run of consecutive entries along the indexed dimension: source entries
/// [src, src + len) go to destination entries [dst, dst + len).
struct CopyRun {
  std::int64_t src = 0, dst = 0, len = 0;
};

/// Merges consecutive index pairs (src_i, dst_i) into runs, so that keep-all or mostly-kept
/// lists become a few long copies instead of one per entry.
inline std::vector<CopyRun> make_runs(const std::int64_t* src_index, const std::int64_t* dst_index,
                                      std::int64_t count) {
  std::vector<CopyRun> runs;
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t s = src_index ? src_index[i] : i;
    const std::int64_t d = dst_index ? dst_index[i] : i;
    if (!runs.empty() && runs.back().src + runs.back().len == s &&
        runs.back().dst + runs.back().len == d) {
      ++runs.back().len;
    } else {
      runs.push_back({s, d, 1});
    }
  }
  return runs;
}

/// Copies `bytes` bytes; entries of 4 or 8 bytes (one element along a last dimension) are copied
/// through fixed-size memcpy, which compiles to a single move instead of a library call.
inline void copy_bytes(std::uint8_t* dst, const std::uint8_t* src, std::size_t bytes) {
  switch (bytes) {
    case 4:
      std::memcpy(dst, src, 4);
      return;
    case 8:
      std::memcpy(dst, src, 8);
      return;
    default:
      std::memcpy(dst, src, bytes);
  }
}

/// For every o in [0, outer) and every run, copies run.len * unit bytes from
/// src + (o * src_size + run.src) * unit to dst + (o * dst_size + run.dst) * unit, where
/// src_size/dst_size are the extents of the indexed dimension and unit the bytes of one entry
/// (inner elements times element size). Every byte is moved exactly once, by memcpy of whole runs;
/// large single runs are split into pieces so that all threads share them.
void copy_runs(const std::uint8_t* src, std::int64_t src_size, std::uint8_t* dst,
               std::int64_t dst_size, std::int64_t outer, std::int64_t unit,
               const std::vector<CopyRun>& runs);

}  // namespace shears::kernels::cpu
