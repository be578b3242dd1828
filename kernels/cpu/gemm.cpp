// CpuBackend::gemm: dense matrix product through OpenBLAS (sgemm for F32, dgemm for F64).

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "kernels/common/error.h"
#include "kernels/cpu/blas.h"
#include "kernels/cpu/cpu_backend.h"

namespace shears::kernels::cpu {
namespace {

std::string operand_str(const char* name, const TensorView& t, bool trans) {
  return detail::cat(name, " ", shape_str(t.shape), trans ? " (transposed)" : "");
}

// c = beta * c when the inner dimension is empty: BLAS rejects k == 0 through its leading-dimension
// checks, and beta == 0 must assign zeros rather than scale what is there.
template <typename T>
void scale(T* c, std::int64_t count, T beta) {
  if (beta == T(0)) {
    std::fill(c, c + count, T(0));
  } else {
    for (std::int64_t i = 0; i < count; ++i) c[i] *= beta;
  }
}

template <typename T>
void run_gemm(bool trans_a, bool trans_b, double alpha, const TensorView& a, const TensorView& b,
              double beta, const TensorView& c, std::int64_t m, std::int64_t n, std::int64_t k) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    scale(c.as<T>(), m * n, static_cast<T>(beta));
    return;
  }
  // Leading dimensions are the stored row lengths; BLAS wants them >= 1 even for empty rows.
  const std::int64_t lda = std::max<std::int64_t>(1, a.shape[1]);
  const std::int64_t ldb = std::max<std::int64_t>(1, b.shape[1]);
  blas::gemm(trans_a, trans_b, m, n, k, static_cast<T>(alpha), a.as<const T>(), lda,
             b.as<const T>(), ldb, static_cast<T>(beta), c.as<T>(), n);
}

}  // namespace

void CpuBackend::gemm(bool trans_a, bool trans_b, double alpha, const TensorView& a,
                      const TensorView& b, double beta, const TensorView& c) {
  auto describe = [&] {
    return detail::cat(operand_str("a", a, trans_a), ", ", operand_str("b", b, trans_b), ", c ",
                       shape_str(c.shape));
  };
  SHEARS_CHECK_AS(ShapeError, a.dim() == 2 && b.dim() == 2 && c.dim() == 2,
                  "gemm needs 2-D operands, got ", describe());
  SHEARS_CHECK_AS(ShapeError, a.dtype == b.dtype && a.dtype == c.dtype,
                  "gemm operands must share a dtype, got ", dtype_name(a.dtype), ", ",
                  dtype_name(b.dtype), ", ", dtype_name(c.dtype), " for ", describe());
  SHEARS_CHECK_AS(ShapeError, a.device.is_cpu() && b.device.is_cpu() && c.device.is_cpu(),
                  "gemm on the CPU backend needs CPU operands, got a on ", a.device.str(),
                  ", b on ", b.device.str(), ", c on ", c.device.str());
  const std::int64_t m = trans_a ? a.shape[1] : a.shape[0];
  const std::int64_t k = trans_a ? a.shape[0] : a.shape[1];
  const std::int64_t kb = trans_b ? b.shape[1] : b.shape[0];
  const std::int64_t n = trans_b ? b.shape[0] : b.shape[1];
  SHEARS_CHECK_AS(ShapeError, k == kb && c.shape[0] == m && c.shape[1] == n,
                  "gemm shapes do not fit: ", describe(), "; op(a) is [", m, ", ", k,
                  "], op(b) is [", kb, ", ", n, "], so c must be [", m, ", ", n, "]");
  // CBLAS takes 32-bit sizes.
  const std::int64_t largest = std::max({m, n, k, a.shape[1], b.shape[1]});
  SHEARS_CHECK_AS(ShapeError, largest <= std::numeric_limits<std::int32_t>::max(),
                  "gemm dimension ", largest, " exceeds BLAS's 32-bit sizes: ", describe());
  switch (a.dtype) {
    case DType::F32:
      run_gemm<float>(trans_a, trans_b, alpha, a, b, beta, c, m, n, k);
      break;
    case DType::F64:
      run_gemm<double>(trans_a, trans_b, alpha, a, b, beta, c, m, n, k);
      break;
    default:
      throw ShapeError(
          detail::cat("gemm supports F32 and F64, got ", dtype_name(a.dtype), " for ", describe()));
  }
}

}  // namespace shears::kernels::cpu
