#pragma once

// Private to kernels/cuda: the CUDA objects behind a CudaBackend (stream, memory pool, cuDNN and
// cuBLAS handles, the convolution plans and descriptor caches) and the RAII helpers every
// primitive uses to select the device and to borrow scratch memory from the pool.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <cusolverDn.h>

#include "kernels/common/backend.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cudnn_desc.h"

namespace shears::kernels::cuda {

/// The convolution geometry, direction, maths mode and algorithm policy (TF32, deterministic,
/// timing-based choice) that an algorithm choice depends on.
using ConvKey = std::array<std::int64_t, 20>;

/// A cuDNN algorithm for one ConvKey: the algorithm enum value (forward, backward-data or
/// backward-filter, by the key's direction), the math type to set on the descriptor with it, and
/// the workspace bytes it needs.
struct ConvChoice {
  int algo = 0;
  cudnnMathType_t math = CUDNN_FMA_MATH;
  std::size_t workspace = 0;
};

/// Everything one convolution problem needs, built once per ConvKey: its descriptors and the
/// acceptable algorithms in preference order. `next` is the first candidate not yet seen failing
/// at run time; a failure moves it on (and `failures` says why), so the plan falls back to the
/// next candidate instead of failing every later call.
struct ConvPlan {
  ConvPlan(const char* op, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
           std::int64_t k, std::int64_t kh, std::int64_t kw, std::int64_t ho, std::int64_t wo,
           const Conv2dParams& p, cudnnMathType_t math)
      : x(op, n, c, h, w),
        y(op, n, k, ho, wo),
        filter(op, k, c / p.groups, kh, kw),
        conv(p, math),
        bias(op, 1, k, 1, 1) {}
  TensorDesc x, y;
  FilterDesc filter;
  ConvDesc conv;
  TensorDesc bias;
  std::vector<ConvChoice> candidates;
  std::size_t next = 0;
  std::string failures;
};

/// The caching allocator used where the device has no stream-ordered pools (cudaMallocAsync):
/// cudaMalloc'd blocks, rounded up, kept on free lists by size and handed out again. Work on the
/// backend's own stream is ordered by the stream itself, so a block freed there can serve the
/// next allocation at once: its new work is queued after its old. A block freed from a thread's
/// own stream (bind_thread_stream) is cached only once that stream is idle, and a block handed to
/// a thread's own stream makes it wait for the backend's stream first. Guarded by `mutex`.
struct BlockCache {
  std::mutex mutex;
  std::multimap<std::size_t, void*> free_blocks;
  std::unordered_map<void*, std::size_t> sizes;  // every live or cached block
  std::uint64_t reserved = 0, reserved_high = 0, used = 0, used_high = 0;
};

/// A fault in the data that a kernel found while the host ran ahead (an out-of-range label or
/// index): kernels record the first one here, in device memory, instead of making the host wait
/// for a flag after every call; the host reads it at its next synchronisation (synchronize,
/// copy_to_host) and throws it then. code 0: none recorded.
struct DeferredError {
  int code = 0;
  int dim = 0;
  long long position = 0, value = 0, size = 0;
  long long previous = 0;  // keep checks: the entry before `position`
};
enum DeferredCode : int {
  kNoDeferredError = 0,
  kBadLabel = 1,
  kBadIndexSelect = 2,
  kBadIndexAdd = 3,
  // Keep lists of channel_gather (4..6) and channel_scatter (7..9): out of range, a duplicate,
  // not sorted.
  kBadKeepGather = 4,
  kBadKeepScatter = 7
};

/// Pinned host buffers that host-to-device copies go through, two in turn: the caller's buffer is
/// free again as soon as its bytes are in a staging buffer, and the host waits only for the copy
/// that used the same staging buffer two chunks ago, never for the whole stream.
struct HostStaging {
  static constexpr std::size_t kBytes = std::size_t{4} << 20;
  std::mutex mutex;
  void* buffer[2] = {nullptr, nullptr};
  cudaEvent_t done[2] = {nullptr, nullptr};
  int next = 0;
};

/// What a graph capture in progress (Backend::begin_capture .. end_capture) keeps track of. The
/// allocator consults it: memory allocated while capturing becomes the graph's (`live` until freed
/// in the capture), memory allocated before and freed while capturing is not freed inside the
/// graph (a replay would free it again) but held until the graph is destroyed (`held`), and the
/// memory of a discarded capture is never passed to the driver again (`dead`). Host bytes copied
/// to the device while capturing are kept in pinned buffers the graph reads at every replay
/// (`host_blocks`; `host_used` bytes of the last one are taken). Guarded by `mutex`; `active` is
/// read without it on the allocator's fast path.
struct CaptureState {
  static constexpr std::size_t kHostBlock = std::size_t{1} << 20;
  std::mutex mutex;
  std::atomic<bool> active{false};
  std::unordered_set<void*> live, dead;
  std::vector<void*> held;
  std::vector<void*> host_blocks;
  std::size_t host_used = 0, host_capacity = 0;
};

struct CudaBackend::State {
  int device = 0;
  int sm_count = 1;
  /// The backend's own stream: every thread's work goes there unless the thread bound a stream
  /// of its own (bind_thread_stream); current() says which.
  cudaStream_t stream = nullptr;
  cudaMemPool_t pool = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cublasHandle_t cublas = nullptr;
  /// cuBLAS's workspace, ours (cublasSetWorkspace), so that a GEMM recorded into a graph never
  /// makes cuBLAS allocate while capturing; kCublasWorkspace bytes, PyTorch's size for Hopper.
  static constexpr std::size_t kCublasWorkspace = std::size_t{32} << 20;
  void* cublas_workspace = nullptr;
  /// Created on the first svd (most runs never decompose anything); guarded by library_mutex.
  cusolverDnHandle_t cusolver = nullptr;
  /// The deferred-error record (device memory) and its pinned host mirror.
  DeferredError* deferred = nullptr;
  DeferredError* deferred_host = nullptr;
  HostStaging staging;
  /// Host-to-device copies into new memory (allocate_from_host: input batches) run on this stream,
  /// beside the compute stream, from their own staging buffers; the compute stream waits for
  /// `copy_done` before it uses the memory.
  cudaStream_t copy_stream = nullptr;
  HostStaging copy_staging;
  cudaEvent_t copy_done = nullptr;
  /// Fork and join of the channel ops' keep check, which runs on copy_stream beside the copy.
  cudaEvent_t keep_fork = nullptr, keep_join = nullptr;
  CaptureState capture;
  /// False when the device lacks stream-ordered pools: memory then comes from `blocks`.
  bool use_pool = true;
  BlockCache blocks;
  /// Held while a cuDNN or cuBLAS call uses the handles (a handle serves one thread at a time);
  /// also guards the plan and descriptor caches below.
  std::mutex library_mutex;
  std::map<ConvKey, std::unique_ptr<ConvPlan>> conv_plans;
  /// The algorithm the last successful conv2d_forward ran (name/math), for profiles.
  std::string last_forward_algo;
  /// 4-D f32 descriptors by (n, c, h, w), and batch-norm parameter descriptors by the same key,
  /// for batch norm and softmax: built on first use of a shape.
  std::map<std::array<std::int64_t, 4>, std::unique_ptr<TensorDesc>> tensor_descs;
  std::map<std::array<std::int64_t, 4>, std::unique_ptr<BatchNormParamDesc>> bn_param_descs;

  /// Streams of ended thread bindings, kept for the next binding; guarded by streams_mutex.
  std::mutex streams_mutex;
  std::vector<cudaStream_t> spare_streams;
  /// The stream the cuDNN and cuBLAS handles were last pointed at (library_mutex).
  cudaStream_t handles_stream = nullptr;

  /// The stream the calling thread's work goes to: the one bind_thread_stream gave it while that
  /// binding lives, else `stream`.
  cudaStream_t current() const;
  /// Points the cuDNN and cuBLAS handles at current() (a no-op when they already are). Every
  /// library call does this first, with library_mutex held.
  void point_handles();

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

/// Makes `waiter` wait (on the device, the host does not block) for the work queued on `target`
/// so far. Throws CudaError.
void stream_wait_for(cudaStream_t waiter, cudaStream_t target);

/// Waits for the calling thread's stream (current()) and throws the deferred error the kernels
/// recorded, if any (ShapeError with the CPU backend's message), clearing it so the backend stays
/// usable. The record is the device's: a fault found on another thread's stream is thrown by
/// whichever thread synchronises first. Throws CudaError when
/// the stream failed.
void sync_and_check(CudaBackend::State& s);

/// The cached descriptor of an f32 (n, c, h, w) tensor, built on first use. Call with
/// s.library_mutex held.
const TensorDesc& cached_tensor_desc(CudaBackend::State& s, const char* op, std::int64_t n,
                                     std::int64_t c, std::int64_t h, std::int64_t w);
/// The cached batch-norm parameter descriptor derived from cached_tensor_desc(n, c, h, w).
const BatchNormParamDesc& cached_bn_param_desc(CudaBackend::State& s, const char* op,
                                               std::int64_t n, std::int64_t c, std::int64_t h,
                                               std::int64_t w);

/// Free and total device memory as this backend can use it: the driver's free memory plus the
/// blocks our pool holds unused. Never throws (zeros when the runtime cannot answer).
MemoryInfo device_memory_info(CudaBackend::State& s) noexcept;

/// The pool's (or block cache's) reserved and used bytes, now and at their peaks.
PoolStats pool_stats(CudaBackend::State& s) noexcept;
void reset_pool_peaks(CudaBackend::State& s) noexcept;

/// `bytes` (at least 1) from the pool (or the block cache), stream-ordered on s.stream. On
/// failure, returns the unused blocks to the driver and tries once more; then throws
/// OutOfMemoryError naming `bytes`, free and total memory and `what`.
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

/// Throws GraphCaptureError naming `what` when a graph capture is in progress on `s`: work that
/// makes the host wait for the device cannot be recorded.
void refuse_while_capturing(CudaBackend::State& s, const char* what);

/// Copies `count` values of T from device memory to a host vector and waits for them (after all
/// work queued before). Used where a primitive must look at a few device values on the host.
template <typename T>
std::vector<T> copy_to_host_vector(CudaBackend::State& s, const T* src, std::int64_t count) {
  refuse_while_capturing(s, "a primitive that reads device values on the host");
  std::vector<T> out(static_cast<std::size_t>(count));
  if (count > 0) {
    SHEARS_CUDA_CHECK(cudaMemcpyAsync(out.data(), src, out.size() * sizeof(T),
                                      cudaMemcpyDeviceToHost, s.current()));
    SHEARS_CUDA_CHECK(cudaStreamSynchronize(s.current()));
  }
  return out;
}

}  // namespace shears::kernels::cuda
