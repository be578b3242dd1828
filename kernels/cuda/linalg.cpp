// CudaBackend::svd through cuSOLVER's Jacobi SVD (cusolverDnSgesvdj, economy size), F32 only.
//
// cuSOLVER is column-major and our matrices are row-major: the row-major m x n matrix A is, in the
// same memory, the column-major n x m matrix A^T. gesvdj decomposes that one as A^T = U' S V'^T,
// so A = V' S U'^T:
//   vt (row-major k x n) is the memory of U' (column-major n x k, leading dimension n);
//   u  (row-major m x k) is V' transposed: gesvdj writes V' (column-major m x k) to scratch
//   memory and cublasSgeam transposes it into u.
// Jacobi rather than gesvd because gesvd needs rows >= columns and returns V^T, while filter
// matrices come in both orientations; gesvdj takes any shape. Its tolerance is left at machine
// precision. gesvdj destroys its input, so it works on a copy of `a`.

#include <algorithm>
#include <cstdint>
#include <mutex>

#include "kernels/common/error.h"
#include "kernels/common/linalg_checks.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/state.h"
#include "kernels/cuda/util.h"

namespace shears::kernels::cuda {
namespace {

void check_cusolver(cusolverStatus_t status, const char* call, const char* file, int line) {
  if (status == CUSOLVER_STATUS_SUCCESS) return;
  throw CudaError(detail::cat("cuSOLVER call ", call, " failed: status ", static_cast<int>(status),
                              " [", file, ":", line, "]"));
}

#define SHEARS_CUSOLVER_CHECK(call) check_cusolver((call), #call, __FILE__, __LINE__)

// Destroys a gesvdj parameter object on scope exit.
class GesvdjInfo {
 public:
  GesvdjInfo() { SHEARS_CUSOLVER_CHECK(cusolverDnCreateGesvdjInfo(&info_)); }
  ~GesvdjInfo() { cusolverDnDestroyGesvdjInfo(info_); }
  GesvdjInfo(const GesvdjInfo&) = delete;
  GesvdjInfo& operator=(const GesvdjInfo&) = delete;
  gesvdjInfo_t get() const { return info_; }

 private:
  gesvdjInfo_t info_ = nullptr;
};

}  // namespace

void CudaBackend::svd(const TensorView& a, const TensorView& u, const TensorView& s,
                      const TensorView& vt) {
  State& st = *state_;
  DeviceGuard guard(st.device);
  check_device("svd", "a", a, st.device);
  check_device("svd", "u", u, st.device);
  check_device("svd", "s", s, st.device);
  check_device("svd", "vt", vt, st.device);
  check_dim("svd", "a", a, 2);
  check_f32("svd", "a", a);
  check_f32("svd", "u", u);
  check_f32("svd", "s", s);
  check_f32("svd", "vt", vt);
  const std::int64_t m = a.shape[0], n = a.shape[1], k = std::min(m, n);
  check_svd_shapes(a, u, s, vt);
  if (k == 0) return;
  const int rows = checked_int("svd", "columns of a", n);
  const int cols = checked_int("svd", "rows of a", m);
  const int ik = checked_int("svd", "rank bound", k);

  DeviceBuffer work_a(st, static_cast<std::size_t>(m * n) * sizeof(float), "svd input copy");
  DeviceBuffer v(st, static_cast<std::size_t>(m * k) * sizeof(float), "svd right vectors");
  DeviceBuffer info_dev(st, sizeof(int), "svd status");
  SHEARS_CUDA_CHECK(cudaMemcpyAsync(work_a.get(), a.data, work_a.bytes(), cudaMemcpyDeviceToDevice,
                                    st.current()));
  GesvdjInfo params;
  int info = 0;
  {
    std::lock_guard<std::mutex> lock(st.library_mutex);
    if (st.cusolver == nullptr) SHEARS_CUSOLVER_CHECK(cusolverDnCreate(&st.cusolver));
    SHEARS_CUSOLVER_CHECK(cusolverDnSetStream(st.cusolver, st.current()));
    int lwork = 0;
    SHEARS_CUSOLVER_CHECK(cusolverDnSgesvdj_bufferSize(
        st.cusolver, CUSOLVER_EIG_MODE_VECTOR, 1, rows, cols, work_a.as<float>(), rows,
        s.as<float>(), vt.as<float>(), rows, v.as<float>(), cols, &lwork, params.get()));
    DeviceBuffer work(st, static_cast<std::size_t>(std::max(lwork, 1)) * sizeof(float),
                      "svd workspace");
    SHEARS_CUSOLVER_CHECK(cusolverDnSgesvdj(st.cusolver, CUSOLVER_EIG_MODE_VECTOR, 1, rows, cols,
                                            work_a.as<float>(), rows, s.as<float>(), vt.as<float>(),
                                            rows, v.as<float>(), cols, work.as<float>(), lwork,
                                            info_dev.as<int>(), params.get()));
    // u (column-major k x m) = transpose of V' (column-major m x k).
    const float one = 1.0f, zero = 0.0f;
    SHEARS_CUBLAS_CHECK(cublasSetMathMode(st.cublas, CUBLAS_DEFAULT_MATH));
    SHEARS_CUBLAS_CHECK(cublasSgeam(st.cublas, CUBLAS_OP_T, CUBLAS_OP_N, ik, cols, &one,
                                    v.as<const float>(), cols, &zero, u.as<const float>(), ik,
                                    u.as<float>(), ik));
    info = copy_to_host_vector(st, info_dev.as<const int>(), 1)[0];
  }
  SHEARS_CHECK(info >= 0, "svd: cuSOLVER gesvdj rejected argument ", -info, " for a ",
               shape_str(a.shape), " matrix");
  SHEARS_CHECK(info == 0, "svd: cuSOLVER gesvdj did not converge on a ", shape_str(a.shape),
               " matrix; does it hold NaN or Inf?");
}

}  // namespace shears::kernels::cuda
