#pragma once

// Private to kernels/cuda: the CUDA objects behind a CudaBackend (stream, memory pool, cuDNN and
// cuBLAS handles, the convolution algorithm cache) and the RAII helpers every primitive uses to
// select the device and to borrow scratch memory from the pool.

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include <cusolverDn.h>

#include "kernels/common/backend.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_backend.h"

namespace shears::kernels::cuda {

/// The convolution geometry, direction, dtype and maths mode that an algorithm choice depends on.
using ConvKey = std::array<std::int64_t, 20>;

/// A cuDNN algorithm chosen for one ConvKey: the algorithm enum value (forward, backward-data or
/// backward-filter, by the key's direction), the math type to set on the descriptor with it, and
/// the workspace bytes it needs.
struct ConvChoice {
  int algo = 0;
  cudnnMathType_t math = CUDNN_FMA_MATH;
  std::size_t workspace = 0;
};

struct CudaBackend::State {
  int device = 0;
  int sm_count = 1;
  cudaStream_t stream = nullptr;
  cudaMemPool_t pool = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cublasHandle_t cublas = nullptr;
  /// Created on the first svd (most runs never decompose anything); guarded by library_mutex.
  cusolverDnHandle_t cusolver = nullptr;
  /// Held while a cuDNN or cuBLAS call uses the handles: a handle serves one thread at a time.
  std::mutex library_mutex;
  /// Guards conv_cache; an algorithm is chosen once per key, under this lock.
  std::mutex conv_mutex;
  std::map<ConvKey, ConvChoice> conv_cache;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  /// Destroys whatever was created, ignoring errors (the runtime may already be shutting down).
  ~State();
};

/// Makes `device` the calling thread's current device for the scope and restores the previous one
/// afterwards. Every kernel launch and library call goes to the current device, so each backend
/// entry point opens one. Throws CudaError when the device cannot be selected.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
  int device_ = 0;
};

/// Free and total device memory as this backend can use it: the driver's free memory plus the
/// blocks our pool holds unused. Never throws (zeros when the runtime cannot answer).
MemoryInfo device_memory_info(CudaBackend::State& s) noexcept;

/// `bytes` (at least 1) from the pool, stream-ordered on s.stream. On failure, returns the pool's
/// unused blocks to the driver and tries once more; then throws OutOfMemoryError naming `bytes`,
/// free and total memory and `what`.
void* pool_allocate(CudaBackend::State& s, std::size_t bytes, const char* what);

/// Returns `ptr` to the pool, stream-ordered after the work already queued. Null is ignored.
/// Never throws.
void pool_free(CudaBackend::State& s, void* ptr) noexcept;

/// Move-only scratch memory from the pool, returned (stream-ordered) when the buffer goes out of
/// scope: work queued before the destructor may still use it. Zero bytes allocates nothing.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(CudaBackend::State& s, std::size_t bytes, const char* what)
      : state_(&s), ptr_(bytes ? pool_allocate(s, bytes, what) : nullptr), bytes_(bytes) {}
  ~DeviceBuffer() {
    if (state_) pool_free(*state_, ptr_);
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : state_(std::exchange(o.state_, nullptr)),
        ptr_(std::exchange(o.ptr_, nullptr)),
        bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      if (state_) pool_free(*state_, ptr_);
      state_ = std::exchange(o.state_, nullptr);
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  std::size_t bytes() const { return bytes_; }

 private:
  CudaBackend::State* state_ = nullptr;
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

/// Copies `count` values of T from device memory to a host vector and waits for them (after all
/// work queued before). Used where a primitive must look at a few device values on the host.
template <typename T>
std::vector<T> copy_to_host_vector(CudaBackend::State& s, const T* src, std::int64_t count) {
  std::vector<T> out(static_cast<std::size_t>(count));
  if (count > 0) {
    SHEARS_CUDA_CHECK(
        cudaMemcpyAsync(out.data(), src, out.size() * sizeof(T), cudaMemcpyDeviceToHost, s.stream));
    SHEARS_CUDA_CHECK(cudaStreamSynchronize(s.stream));
  }
  return out;
}

}  // namespace shears::kernels::cuda
