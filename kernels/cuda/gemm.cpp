// CudaBackend::gemm through cuBLAS (f32 only on CUDA).
//
// cuBLAS is column-major and our matrices are row-major. A row-major (r x c) matrix is, in the same
// memory, the column-major (c x r) matrix of its transpose, so
//   C = op(A) op(B)   (row-major, m x n)
// is computed as the column-major product
//   C^T = op(B)^T op(A)^T   (n x m, leading dimension n),
// i.e. cublasSgemm with the operands swapped, each keeping its own transpose flag, and every
// leading dimension equal to the stored row length of that matrix.
//
// TF32: the handle's math mode is set at each call, CUBLAS_TF32_TENSOR_OP_MATH when
// allow_tf32_matmul() and CUBLAS_DEFAULT_MATH (full f32) otherwise.

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <string>

#include "kernels/common/error.h"
#include "kernels/common/registry.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/state.h"
#include "kernels/cuda/util.h"

namespace shears::kernels::cuda {
namespace {

std::string operand_str(const char* name, const TensorView& t, bool trans) {
  return detail::cat(name, " ", shape_str(t.shape), trans ? " (transposed)" : "");
}

}  // namespace

void CudaBackend::gemm(bool trans_a, bool trans_b, double alpha, const TensorView& a,
                       const TensorView& b, double beta, const TensorView& c) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  auto describe = [&] {
    return detail::cat(operand_str("a", a, trans_a), ", ", operand_str("b", b, trans_b), ", c ",
                       shape_str(c.shape));
  };
  check_device("gemm", "a", a, s.device);
  check_device("gemm", "b", b, s.device);
  check_device("gemm", "c", c, s.device);
  SHEARS_CHECK_AS(ShapeError, a.dim() == 2 && b.dim() == 2 && c.dim() == 2,
                  "gemm needs 2-D operands, got ", describe());
  SHEARS_CHECK_AS(ShapeError,
                  a.dtype == DType::F32 && b.dtype == DType::F32 && c.dtype == DType::F32,
                  "gemm on the CUDA backend supports F32 only, got ", dtype_name(a.dtype), ", ",
                  dtype_name(b.dtype), ", ", dtype_name(c.dtype), " for ", describe());
  const std::int64_t m = trans_a ? a.shape[1] : a.shape[0];
  const std::int64_t k = trans_a ? a.shape[0] : a.shape[1];
  const std::int64_t kb = trans_b ? b.shape[1] : b.shape[0];
  const std::int64_t n = trans_b ? b.shape[0] : b.shape[1];
  SHEARS_CHECK_AS(ShapeError, k == kb && c.shape[0] == m && c.shape[1] == n,
                  "gemm shapes do not fit: ", describe(), "; op(a) is [", m, ", ", k,
                  "], op(b) is [", kb, ", ", n, "], so c must be [", m, ", ", n, "]");
  if (m == 0 || n == 0) return;
  if (k == 0) {
    // An empty inner dimension leaves beta * c (zeros when beta == 0, even over NaN).
    launch_scale_f32(s, c.as<float>(), m * n, static_cast<float>(beta));
    return;
  }
  const int im = checked_int("gemm", "m", m), in = checked_int("gemm", "n", n);
  const int ik = checked_int("gemm", "k", k);
  // Leading dimensions are the stored row lengths; cuBLAS wants them >= 1.
  const int lda = std::max(1, checked_int("gemm", "row length of a", a.shape[1]));
  const int ldb = std::max(1, checked_int("gemm", "row length of b", b.shape[1]));
  const float fa = static_cast<float>(alpha), fb = static_cast<float>(beta);
  std::lock_guard<std::mutex> lock(s.library_mutex);
  s.point_handles();
  SHEARS_CUBLAS_CHECK(cublasSetMathMode(
      s.cublas, allow_tf32_matmul() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  SHEARS_CUBLAS_CHECK(cublasSgemm(
      s.cublas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, in, im,
      ik, &fa, b.as<const float>(), ldb, a.as<const float>(), lda, &fb, c.as<float>(), in));
}

}  // namespace shears::kernels::cuda
