// CpuBackend indexing along one dimension: index_select, index_add and slice_copy, plus the block
// copier (copy_runs) that they and the channel kernels share.
//
// Every tensor is contiguous and seen as (outer, size, inner) around `dim`: an entry along `dim`
// is a block of inner elements, and data movement copies whole blocks (or runs of consecutive
// blocks) with memcpy, whatever the dtype.

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/kernel_util.h"

namespace shears::kernels::cpu {

void copy_runs(const std::uint8_t* src, std::int64_t src_size, std::uint8_t* dst,
               std::int64_t dst_size, std::int64_t outer, std::int64_t unit,
               const std::vector<CopyRun>& runs) {
  std::int64_t per_outer = 0;
  for (const CopyRun& r : runs) per_outer += r.len;
  const std::int64_t total = outer * per_outer * unit;
  if (total == 0) return;
  auto copy_slice = [&](std::int64_t o) {
    const std::uint8_t* s = src + o * src_size * unit;
    std::uint8_t* d = dst + o * dst_size * unit;
    for (const CopyRun& r : runs) {
      copy_bytes(d + r.dst * unit, s + r.src * unit, static_cast<std::size_t>(r.len * unit));
    }
  };
  const std::int64_t threads = omp_get_max_threads();
  if (total < kParallelBytes || threads == 1) {
    for (std::int64_t o = 0; o < outer; ++o) copy_slice(o);
    return;
  }
  if (outer >= 4 * threads) {
#pragma omp parallel for schedule(static)
    for (std::int64_t o = 0; o < outer; ++o) copy_slice(o);
    return;
  }
  // Few outer slices (gathering along dim 0, a batch of one, a matrix's last dim): list every
  // run of every slice, cut into pieces of at most kPiece bytes, and share the pieces.
  constexpr std::int64_t kPiece = 256 * 1024;
  struct Piece {
    const std::uint8_t* src;
    std::uint8_t* dst;
    std::int64_t bytes;
  };
  std::vector<Piece> pieces;
  for (std::int64_t o = 0; o < outer; ++o) {
    for (const CopyRun& r : runs) {
      const std::uint8_t* s = src + (o * src_size + r.src) * unit;
      std::uint8_t* d = dst + (o * dst_size + r.dst) * unit;
      for (std::int64_t done = 0, bytes = r.len * unit; done < bytes; done += kPiece) {
        pieces.push_back({s + done, d + done, std::min(kPiece, bytes - done)});
      }
    }
  }
  const std::int64_t count = static_cast<std::int64_t>(pieces.size());
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < count; ++i) {
    const Piece& p = pieces[static_cast<std::size_t>(i)];
    copy_bytes(p.dst, p.src, static_cast<std::size_t>(p.bytes));
  }
}

namespace {

// Checks index (I64, 1-D) and that each value lies in [0, size); the scan runs before any output
// is written.
void check_index(const char* op, const TensorView& index, int dim, std::int64_t size) {
  check_cpu(op, "index", index);
  SHEARS_CHECK_AS(ShapeError, index.dtype == DType::I64 && index.dim() == 1, op,
                  ": index must be a 1-D I64 tensor, got ", view_str(index));
  const std::int64_t* idx = index.as<const std::int64_t>();
  for (std::int64_t i = 0; i < index.shape[0]; ++i) {
    SHEARS_CHECK_AS(ShapeError, idx[i] >= 0 && idx[i] < size, op, ": index[", i, "] = ", idx[i],
                    " is out of range for dimension ", dim, " of size ", size);
  }
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

template <typename T>
void index_add_typed(const T* src, const std::int64_t* index, std::int64_t count, T* out,
                     const DimSplit& s) {
  // Work items are (outer slice, chunk of inner), each owning a disjoint part of `out`, so
  // duplicate indices accumulate without races; within an item the indices run in order.
  constexpr std::int64_t kChunk = 4096;
  const std::int64_t chunks = (s.inner + kChunk - 1) / kChunk;
  const std::int64_t items = s.outer * chunks;
#pragma omp parallel for schedule(static) if (s.outer * count * s.inner >= kParallelMin)
  for (std::int64_t item = 0; item < items; ++item) {
    const std::int64_t o = item / chunks, begin = (item % chunks) * kChunk;
    const std::int64_t len = std::min(kChunk, s.inner - begin);
    for (std::int64_t i = 0; i < count; ++i) {
      const T* from = src + (o * count + i) * s.inner + begin;
      T* to = out + (o * s.size + index[i]) * s.inner + begin;
      for (std::int64_t j = 0; j < len; ++j) to[j] += from[j];
    }
  }
}

}  // namespace

void CpuBackend::index_select(const TensorView& x, int dim, const TensorView& index,
                              const TensorView& out) {
  const char* op = "index_select";
  check_cpu(op, "x", x);
  check_cpu(op, "out", out);
  dim = normalise_dim(op, x, dim);
  const DimSplit s = split_at(x.shape, dim);
  check_index(op, index, dim, s.size);
  const std::int64_t count = index.shape[0];
  check_shape_along(op, "x", x, "out", out, dim, count);
  const std::vector<CopyRun> runs = make_runs(index.as<const std::int64_t>(), nullptr, count);
  copy_runs(x.as<const std::uint8_t>(), s.size, out.as<std::uint8_t>(), count, s.outer,
            s.inner * static_cast<std::int64_t>(dtype_size(x.dtype)), runs);
}

void CpuBackend::index_add(const TensorView& src, int dim, const TensorView& index,
                           const TensorView& out) {
  const char* op = "index_add";
  check_cpu(op, "src", src);
  check_cpu(op, "out", out);
  check_floating(op, "out", out);
  dim = normalise_dim(op, out, dim);
  const DimSplit s = split_at(out.shape, dim);
  check_index(op, index, dim, s.size);
  const std::int64_t count = index.shape[0];
  check_shape_along(op, "out", out, "src", src, dim, count);
  dispatch_floating(op, out, [&](auto tag) {
    using T = decltype(tag);
    index_add_typed(src.as<const T>(), index.as<const std::int64_t>(), count, out.as<T>(), s);
  });
}

void CpuBackend::slice_copy(const TensorView& src, int dim, std::int64_t src_start,
                            const TensorView& dst, std::int64_t dst_start, std::int64_t length) {
  const char* op = "slice_copy";
  check_cpu(op, "src", src);
  check_cpu(op, "dst", dst);
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
  if (length == 0) return;
  const DimSplit s = split_at(src.shape, dim);
  copy_runs(src.as<const std::uint8_t>(), src_size, dst.as<std::uint8_t>(), dst_size, s.outer,
            s.inner * static_cast<std::int64_t>(dtype_size(src.dtype)),
            {CopyRun{src_start, dst_start, length}});
}

}  // namespace shears::kernels::cpu
