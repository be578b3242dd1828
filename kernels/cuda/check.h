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

/// Whether SHEARS_CUDA_SYNC=1 is set (read once): then every kernel launch and library call waits
/// for the device and checks for a fault, so that an asynchronous error is reported by the op that
/// caused it rather than by a later call. Slow; for finding faults only.
bool sync_each_op();

/// With sync_each_op(), waits for the device and throws CudaError naming `what` and file:line when
/// the work so far failed. Does nothing otherwise, or while the calling thread captures a graph.
void sync_point(const char* what, const char* file, int line);

/// Marks the calling thread as capturing a CUDA graph (no synchronisation allowed) or not.
void set_capturing(bool capturing);
bool capturing();

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
    ::shears::kernels::cuda::check_detail::sync_point(#call, __FILE__, __LINE__);               \
  } while (0)

/// Throws CudaError when the cuBLAS call `call` does not return CUBLAS_STATUS_SUCCESS.
#define SHEARS_CUBLAS_CHECK(call)                                                                \
  do {                                                                                           \
    const cublasStatus_t shears_status_ = (call);                                                \
    if (shears_status_ != CUBLAS_STATUS_SUCCESS) {                                               \
      ::shears::kernels::cuda::check_detail::throw_cublas_error(shears_status_, #call, __FILE__, \
                                                                __LINE__);                       \
    }                                                                                            \
    ::shears::kernels::cuda::check_detail::sync_point(#call, __FILE__, __LINE__);                \
  } while (0)

/// Checks the launch that was just queued (bad configuration, missing kernel image for this GPU)
/// and, with SHEARS_CUDA_SYNC=1, that the kernel ran without a fault.
#define SHEARS_CUDA_CHECK_LAUNCH()                                                            \
  do {                                                                                        \
    SHEARS_CUDA_CHECK(cudaGetLastError());                                                    \
    ::shears::kernels::cuda::check_detail::sync_point("a kernel launch", __FILE__, __LINE__); \
  } while (0)
