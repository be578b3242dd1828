#pragma once

// Status checks for CUDA runtime, cuDNN and cuBLAS calls. A failed call throws shears::CudaError
// whose message carries the call's text, the status name and description, and file:line; the op
// that made the call may add the shapes. Private to kernels/cuda.

#include <cstddef>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

namespace shears::kernels::cuda::check_detail {

[[noreturn]] void throw_cuda_error(cudaError_t status, const char* call, const char* file,
                                   int line);
[[noreturn]] void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file,
                                    int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* call, const char* file,
                                     int line);

}  // namespace shears::kernels::cuda::check_detail

/// Throws CudaError when the CUDA runtime call `call` does not return cudaSuccess.
#define SHEARS_CUDA_CHECK(call)                                                                \
  do {                                                                                         \
    const cudaError_t shears_status_ = (call);                                                 \
    if (shears_status_ != cudaSuccess) {                                                       \
      ::shears::kernels::cuda::check_detail::throw_cuda_error(shears_status_, #call, __FILE__, \
                                                              __LINE__);                       \
    }                                                                                          \
  } while (0)

/// Throws CudaError when the cuDNN call `call` does not return CUDNN_STATUS_SUCCESS.
#define SHEARS_CUDNN_CHECK(call)                                                                \
  do {                                                                                          \
    const cudnnStatus_t shears_status_ = (call);                                                \
    if (shears_status_ != CUDNN_STATUS_SUCCESS) {                                               \
      ::shears::kernels::cuda::check_detail::throw_cudnn_error(shears_status_, #call, __FILE__, \
                                                               __LINE__);                       \
    }                                                                                           \
  } while (0)

/// Throws CudaError when the cuBLAS call `call` does not return CUBLAS_STATUS_SUCCESS.
#define SHEARS_CUBLAS_CHECK(call)                                                                \
  do {                                                                                           \
    const cublasStatus_t shears_status_ = (call);                                                \
    if (shears_status_ != CUBLAS_STATUS_SUCCESS) {                                               \
      ::shears::kernels::cuda::check_detail::throw_cublas_error(shears_status_, #call, __FILE__, \
                                                                __LINE__);                       \
    }                                                                                            \
  } while (0)

/// Checks the launch that was just queued (bad configuration, missing kernel image for this GPU).
#define SHEARS_CUDA_CHECK_LAUNCH() SHEARS_CUDA_CHECK(cudaGetLastError())
