// Messages of SHEARS_CUDA_CHECK, SHEARS_CUDNN_CHECK and SHEARS_CUBLAS_CHECK.

#include "kernels/cuda/check.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/common/error.h"

namespace shears::kernels::cuda::check_detail {

void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
  // Clears the runtime's record of a non-sticky error, so that the next, unrelated check does not
  // report it again. A sticky error (a kernel fault) stays: the context is unusable after it.
  cudaGetLastError();
  throw CudaError(detail::cat("CUDA call ", call, " failed: ", cudaGetErrorName(status), " (",
                              cudaGetErrorString(status), ") [", file, ":", line, "]"));
}

void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file, int line) {
  // cuDNN 9 keeps a per-thread description of the last failure, often naming the bad parameter.
  char detail_text[512] = {0};
  cudnnGetLastErrorString(detail_text, sizeof(detail_text));
  std::string message = detail::cat("cuDNN call ", call, " failed: ", cudnnGetErrorString(status),
                                    " (status ", static_cast<int>(status), ")");
  if (detail_text[0] != '\0') message += detail::cat(": ", detail_text);
  throw CudaError(detail::cat(message, " [", file, ":", line, "]"));
}

void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
  throw CudaError(detail::cat("cuBLAS call ", call, " failed: ", cublasGetStatusName(status), " (",
                              cublasGetStatusString(status), ") [", file, ":", line, "]"));
}

bool sync_each_op() {
  static const bool on = [] {
    const char* v = std::getenv("SHEARS_CUDA_SYNC");
    return v != nullptr && std::strcmp(v, "") != 0 && std::strcmp(v, "0") != 0;
  }();
  return on;
}

namespace {
thread_local bool t_capturing = false;
}

void set_capturing(bool capturing) { t_capturing = capturing; }
bool capturing() { return t_capturing; }

void sync_point(const char* what, const char* file, int line) {
  if (!sync_each_op() || t_capturing) return;
  const cudaError_t status = cudaDeviceSynchronize();
  if (status != cudaSuccess) {
    cudaGetLastError();
    throw CudaError(detail::cat("SHEARS_CUDA_SYNC: the GPU failed in ", what, ": ",
                                cudaGetErrorName(status), " (", cudaGetErrorString(status), ") [",
                                file, ":", line, "]"));
  }
}

}  // namespace shears::kernels::cuda::check_detail
