// CpuBackend::svd through LAPACK's divide-and-conquer SVD (LAPACKE sgesdd / dgesdd).
//
// LAPACK is column-major and our matrices are row-major. The row-major m x n matrix A is, in the
// same memory, the column-major n x m matrix A^T. Decomposing that one, A^T = U' S V'^T, gives
// A = V' S U'^T, so with no transposes at all:
//   vt (row-major k x n) is the memory of U' (column-major n x k, leading dimension n), and
//   u  (row-major m x k) is the memory of V'^T (column-major k x m, leading dimension k).
// gesdd destroys its input, so it works on a copy of `a`.

#include <algorithm>
#include <cstdint>
#include <vector>

#include <lapacke.h>

#include "kernels/common/error.h"
#include "kernels/common/linalg_checks.h"
#include "kernels/cpu/cpu_backend.h"

namespace shears::kernels::cpu {
namespace {

lapack_int gesdd(lapack_int rows, lapack_int cols, float* a, lapack_int lda, float* s, float* u,
                 lapack_int ldu, float* vt, lapack_int ldvt) {
  return LAPACKE_sgesdd(LAPACK_COL_MAJOR, 'S', rows, cols, a, lda, s, u, ldu, vt, ldvt);
}

lapack_int gesdd(lapack_int rows, lapack_int cols, double* a, lapack_int lda, double* s, double* u,
                 lapack_int ldu, double* vt, lapack_int ldvt) {
  return LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', rows, cols, a, lda, s, u, ldu, vt, ldvt);
}

template <typename T>
void run_svd(const TensorView& a, const TensorView& u, const TensorView& s, const TensorView& vt) {
  const std::int64_t m = a.shape[0], n = a.shape[1], k = std::min(m, n);
  if (k == 0) return;
  std::vector<T> work(a.as<const T>(), a.as<const T>() + m * n);
  const auto rows = static_cast<lapack_int>(n), cols = static_cast<lapack_int>(m);
  const lapack_int info = gesdd(rows, cols, work.data(), rows, s.as<T>(), vt.as<T>(), rows,
                                u.as<T>(), static_cast<lapack_int>(k));
  SHEARS_CHECK(info >= 0, "svd: LAPACK gesdd rejected argument ", -info, " for a ",
               shape_str(a.shape), " matrix");
  SHEARS_CHECK(info == 0, "svd: LAPACK gesdd did not converge on a ", shape_str(a.shape),
               " matrix (", info, " superdiagonals left); does it hold NaN or Inf?");
}

}  // namespace

void CpuBackend::svd(const TensorView& a, const TensorView& u, const TensorView& s,
                     const TensorView& vt) {
  SHEARS_CHECK_AS(ShapeError, a.dim() == 2, "svd needs a 2-D matrix, got ", shape_str(a.shape));
  const std::int64_t m = a.shape[0], n = a.shape[1];
  check_svd_shapes(a, u, s, vt);
  SHEARS_CHECK_AS(ShapeError,
                  a.dtype == u.dtype && a.dtype == s.dtype && a.dtype == vt.dtype &&
                      (a.dtype == DType::F32 || a.dtype == DType::F64),
                  "svd needs F32 or F64 operands of one dtype, got a ", dtype_name(a.dtype), ", u ",
                  dtype_name(u.dtype), ", s ", dtype_name(s.dtype), ", vt ", dtype_name(vt.dtype));
  SHEARS_CHECK_AS(ShapeError, std::max(m, n) <= 0x7fffffff, "svd: matrix ", shape_str(a.shape),
                  " is too large for LAPACK's int sizes");
  if (a.dtype == DType::F32) {
    run_svd<float>(a, u, s, vt);
  } else {
    run_svd<double>(a, u, s, vt);
  }
}

}  // namespace shears::kernels::cpu
