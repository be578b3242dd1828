#pragma once

// Private to kernels/cpu: typed wrappers over OpenBLAS's CBLAS interface and a guard for its
// thread count. Included by gemm.cpp, conv2d.cpp and conv2d_im2col.cpp only.

#include <cstdint>

#include <cblas.h>

namespace shears::kernels::cpu::blas {

/// Row-major C (m x n, leading dimension ldc) = alpha * op(A) @ op(B) + beta * C, where op(A) is
/// m x k and op(B) is k x n. Leading dimensions are those of the stored (untransposed) matrices.
/// With beta == 0 BLAS never reads C, so NaN or garbage there is ignored.
inline void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                 float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
                 float beta, float* c, std::int64_t ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(m), static_cast<blasint>(n),
              static_cast<blasint>(k), alpha, a, static_cast<blasint>(lda), b,
              static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

inline void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                 double alpha, const double* a, std::int64_t lda, const double* b, std::int64_t ldb,
                 double beta, double* c, std::int64_t ldc) {
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(m), static_cast<blasint>(n),
              static_cast<blasint>(k), alpha, a, static_cast<blasint>(lda), b,
              static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

/// Sets OpenBLAS's thread count for the guard's lifetime and restores it afterwards. OpenBLAS
/// (the Debian pthread build) keeps its own thread pool, separate from OpenMP's: a BLAS call made
/// from inside an OpenMP parallel region would start a second set of threads on the same cores,
/// so such regions run OpenBLAS with one thread. The setting is process-wide; kernels are called
/// from one thread at a time.
class ThreadsGuard {
 public:
  explicit ThreadsGuard(int threads) : saved_(openblas_get_num_threads()) {
    if (threads != saved_) openblas_set_num_threads(threads);
  }
  ~ThreadsGuard() {
    if (openblas_get_num_threads() != saved_) openblas_set_num_threads(saved_);
  }
  ThreadsGuard(const ThreadsGuard&) = delete;
  ThreadsGuard& operator=(const ThreadsGuard&) = delete;

 private:
  int saved_;
};

}  // namespace shears::kernels::cpu::blas
