// CudaBackend: device discovery, the per-device backends, the stream and library handles, and
// memory. The primitives are defined in one file per family (elementwise.cu, conv2d.cpp, ...).

#include "kernels/cuda/cuda_backend.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/state.h"

namespace shears::kernels::cuda {
namespace {

// Ordinals beyond this are refused; no machine we target has more GPUs.
constexpr int kMaxDevices = 64;

// Allocations from this size on are checked against the device's total memory first.
constexpr std::size_t kLargeRequest = std::size_t{1} << 30;

// Backends are created on first use and never destroyed. Atomics of pointers and a mutex are
// trivially destructible, so a tensor freed during static destruction still finds its backend.
std::array<std::atomic<CudaBackend*>, kMaxDevices> g_backends{};
std::mutex g_backends_mutex;

}  // namespace

int device_count() noexcept {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count < 0 ? 0 : count;
}

Backend& backend(int index) {
  if (index >= 0 && index < kMaxDevices) {
    CudaBackend* existing = g_backends[static_cast<std::size_t>(index)].load();
    if (existing != nullptr) return *existing;
  }
  const int count = device_count();
  if (index < 0 || index >= count || index >= kMaxDevices) {
    throw Error(
        detail::cat("device cuda:", index, " is not available (", count, " CUDA device(s) found)"));
  }
  std::lock_guard<std::mutex> lock(g_backends_mutex);
  auto& slot = g_backends[static_cast<std::size_t>(index)];
  if (slot.load() == nullptr) slot.store(new CudaBackend(index));
  return *slot.load();
}

// ---- State, device guard, pool --------------------------------------------------------------

CudaBackend::State::~State() {
  if (stream != nullptr) cudaStreamSynchronize(stream);
  if (cusolver != nullptr) cusolverDnDestroy(cusolver);
  if (cublas != nullptr) cublasDestroy(cublas);
  if (cudnn != nullptr) cudnnDestroy(cudnn);
  if (stream != nullptr) cudaStreamDestroy(stream);
  cudaGetLastError();
}

DeviceGuard::DeviceGuard(int device) : device_(device) {
  SHEARS_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device_) SHEARS_CUDA_CHECK(cudaSetDevice(device_));
}

DeviceGuard::~DeviceGuard() {
  if (previous_ >= 0 && previous_ != device_) cudaSetDevice(previous_);
}

MemoryInfo device_memory_info(CudaBackend::State& s) noexcept {
  MemoryInfo info;
  std::size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
    cudaGetLastError();
    return info;
  }
  // The pool keeps freed blocks (release threshold: never), and the driver counts them as used;
  // for us they are free.
  std::uint64_t reserved = 0, used = 0;
  if (s.pool != nullptr &&
      cudaMemPoolGetAttribute(s.pool, cudaMemPoolAttrReservedMemCurrent, &reserved) ==
          cudaSuccess &&
      cudaMemPoolGetAttribute(s.pool, cudaMemPoolAttrUsedMemCurrent, &used) == cudaSuccess &&
      reserved >= used) {
    free_bytes += static_cast<std::size_t>(reserved - used);
  }
  cudaGetLastError();
  info.free_bytes = free_bytes < total_bytes ? free_bytes : total_bytes;
  info.total_bytes = total_bytes;
  return info;
}

void* pool_allocate(CudaBackend::State& s, std::size_t bytes, const char* what) {
  const std::size_t size = bytes == 0 ? 1 : bytes;
  auto out_of_memory = [&]() {
    const MemoryInfo info = device_memory_info(s);
    return OutOfMemoryError(
        detail::cat("cuda:", s.device, ": out of memory allocating ", bytes, " bytes for ", what,
                    " (", info.free_bytes, " bytes free of ", info.total_bytes, " total)"),
        bytes, info.free_bytes, info.total_bytes);
  };
  // Requests beyond the whole device fail here, with a clear message, rather than with whatever
  // status the driver gives absurd sizes. Only large requests pay for the query.
  if (size >= kLargeRequest) {
    const MemoryInfo info = device_memory_info(s);
    if (info.total_bytes != 0 && size > info.total_bytes) throw out_of_memory();
  }
  void* ptr = nullptr;
  cudaError_t status = cudaMallocFromPoolAsync(&ptr, size, s.pool, s.stream);
  if (status == cudaErrorMemoryAllocation) {
    // Free blocks held by the pool may be too fragmented for this request: wait until every
    // queued free has happened, hand the unused blocks back to the driver and ask once more.
    cudaGetLastError();
    SHEARS_CUDA_CHECK(cudaStreamSynchronize(s.stream));
    SHEARS_CUDA_CHECK(cudaMemPoolTrimTo(s.pool, 0));
    status = cudaMallocFromPoolAsync(&ptr, size, s.pool, s.stream);
  }
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw out_of_memory();
  }
  if (status != cudaSuccess) {
    check_detail::throw_cuda_error(status, "cudaMallocFromPoolAsync(&ptr, size, s.pool, s.stream)",
                                   __FILE__, __LINE__);
  }
  return ptr;
}

void pool_free(CudaBackend::State& s, void* ptr) noexcept {
  if (ptr == nullptr) return;
  if (cudaFreeAsync(ptr, s.stream) != cudaSuccess) cudaGetLastError();
}

// ---- CudaBackend ----------------------------------------------------------------------------

CudaBackend::CudaBackend(int device) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.device = device;
  DeviceGuard guard(device);
  SHEARS_CUDA_CHECK(cudaDeviceGetAttribute(&s.sm_count, cudaDevAttrMultiProcessorCount, device));
  int pools_supported = 0;
  SHEARS_CUDA_CHECK(
      cudaDeviceGetAttribute(&pools_supported, cudaDevAttrMemoryPoolsSupported, device));
  SHEARS_CHECK_AS(CudaError, pools_supported != 0, "cuda:", device,
                  " does not support stream-ordered memory pools (cudaMallocAsync), which the ",
                  "CUDA backend needs");
  // A non-blocking stream does not wait for the legacy default stream, which others in the same
  // process (a profiler, PyTorch) may use.
  SHEARS_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
  // The default pool with a release threshold of "never": freed memory stays mapped in the pool
  // and serves the next allocation without a driver call, as a caching allocator would.
  SHEARS_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&s.pool, device));
  std::uint64_t threshold = std::numeric_limits<std::uint64_t>::max();
  SHEARS_CUDA_CHECK(cudaMemPoolSetAttribute(s.pool, cudaMemPoolAttrReleaseThreshold, &threshold));
  SHEARS_CUDNN_CHECK(cudnnCreate(&s.cudnn));
  SHEARS_CUDNN_CHECK(cudnnSetStream(s.cudnn, s.stream));
  SHEARS_CUBLAS_CHECK(cublasCreate(&s.cublas));
  SHEARS_CUBLAS_CHECK(cublasSetStream(s.cublas, s.stream));
}

CudaBackend::~CudaBackend() {
  try {
    DeviceGuard guard(state_->device);
    state_.reset();
  } catch (...) {
    state_.reset();
  }
}

int CudaBackend::device() const { return state_->device; }

std::string CudaBackend::name() const { return "cuda:" + std::to_string(state_->device); }

void* CudaBackend::allocate(std::size_t bytes) {
  DeviceGuard guard(state_->device);
  return pool_allocate(*state_, bytes, "a tensor");
}

void CudaBackend::deallocate(void* ptr, std::size_t /*bytes*/) noexcept {
  if (ptr == nullptr) return;
  int previous = -1;
  if (cudaGetDevice(&previous) != cudaSuccess) {
    cudaGetLastError();
    return;
  }
  if (previous != state_->device && cudaSetDevice(state_->device) != cudaSuccess) {
    cudaGetLastError();
    return;
  }
  pool_free(*state_, ptr);
  if (previous != state_->device) cudaSetDevice(previous);
}

// Host-to-device copies wait for completion: the contract lets the caller free or refill the host
// buffer as soon as the call returns, which an asynchronous copy from pinned memory would break.
void CudaBackend::copy_from_host(void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  DeviceGuard guard(state_->device);
  SHEARS_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, state_->stream));
  SHEARS_CUDA_CHECK(cudaStreamSynchronize(state_->stream));
}

void CudaBackend::copy_to_host(void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  DeviceGuard guard(state_->device);
  SHEARS_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, state_->stream));
  SHEARS_CUDA_CHECK(cudaStreamSynchronize(state_->stream));
}

void CudaBackend::copy(void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  DeviceGuard guard(state_->device);
  SHEARS_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, state_->stream));
}

void CudaBackend::synchronize() {
  DeviceGuard guard(state_->device);
  SHEARS_CUDA_CHECK(cudaStreamSynchronize(state_->stream));
}

MemoryInfo CudaBackend::memory_info() {
  DeviceGuard guard(state_->device);
  return device_memory_info(*state_);
}

namespace {

// Two events, destroyed with the scope.
struct EventPair {
  cudaEvent_t start = nullptr, stop = nullptr;
  EventPair() {
    SHEARS_CUDA_CHECK(cudaEventCreate(&start));
    SHEARS_CUDA_CHECK(cudaEventCreate(&stop));
  }
  ~EventPair() {
    if (start != nullptr) cudaEventDestroy(start);
    if (stop != nullptr) cudaEventDestroy(stop);
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
};

}  // namespace

double CudaBackend::time_ms(const std::function<void()>& work) {
  DeviceGuard guard(state_->device);
  EventPair events;
  SHEARS_CUDA_CHECK(cudaEventRecord(events.start, state_->stream));
  work();
  SHEARS_CUDA_CHECK(cudaEventRecord(events.stop, state_->stream));
  SHEARS_CUDA_CHECK(cudaEventSynchronize(events.stop));
  float ms = 0.0f;
  SHEARS_CUDA_CHECK(cudaEventElapsedTime(&ms, events.start, events.stop));
  return static_cast<double>(ms);
}

}  // namespace shears::kernels::cuda
