// CudaBackend: device discovery, the per-device backends, the stream and library handles, and
// memory. The primitives are defined in one file per family (elementwise.cu, conv2d.cpp, ...).

#include "kernels/cuda/cuda_backend.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
  conv_plans.clear();
  tensor_descs.clear();
  bn_param_descs.clear();
  for (const auto& [size, ptr] : blocks.free_blocks) cudaFree(ptr);
  if (copy_stream != nullptr) cudaStreamSynchronize(copy_stream);
  for (HostStaging* st : {&staging, &copy_staging}) {
    for (int i = 0; i < 2; ++i) {
      if (st->done[i] != nullptr) cudaEventDestroy(st->done[i]);
      if (st->buffer[i] != nullptr) cudaFreeHost(st->buffer[i]);
    }
  }
  for (void* block : capture.host_blocks) cudaFreeHost(block);
  if (copy_done != nullptr) cudaEventDestroy(copy_done);
  if (keep_fork != nullptr) cudaEventDestroy(keep_fork);
  if (keep_join != nullptr) cudaEventDestroy(keep_join);
  if (copy_stream != nullptr) cudaStreamDestroy(copy_stream);
  if (deferred != nullptr) cudaFree(deferred);
  if (deferred_host != nullptr) cudaFreeHost(deferred_host);
  if (cusolver != nullptr) cusolverDnDestroy(cusolver);
  if (cublas != nullptr) cublasDestroy(cublas);
  if (cublas_workspace != nullptr) cudaFree(cublas_workspace);
  if (cudnn != nullptr) cudnnDestroy(cudnn);
  if (stream != nullptr) cudaStreamDestroy(stream);
  for (cudaStream_t spare : spare_streams) cudaStreamDestroy(spare);
  cudaGetLastError();
}

DeviceGuard::DeviceGuard(int device) : device_(device) {
  SHEARS_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device_) SHEARS_CUDA_CHECK(cudaSetDevice(device_));
}

DeviceGuard::~DeviceGuard() {
  if (previous_ >= 0 && previous_ != device_) cudaSetDevice(previous_);
}

namespace {
// The calling thread's binding (bind_thread_stream): which backend and which stream. One binding
// per thread at a time; a nested one saves and restores the outer.
thread_local const CudaBackend::State* t_bound_state = nullptr;
thread_local cudaStream_t t_bound_stream = nullptr;
}  // namespace

cudaStream_t CudaBackend::State::current() const {
  return t_bound_state == this ? t_bound_stream : stream;
}

void CudaBackend::State::point_handles() {
  const cudaStream_t now = current();
  if (handles_stream == now) return;
  SHEARS_CUDNN_CHECK(cudnnSetStream(cudnn, now));
  SHEARS_CUBLAS_CHECK(cublasSetStream(cublas, now));
  handles_stream = now;
}

void stream_wait_for(cudaStream_t waiter, cudaStream_t target) {
  cudaEvent_t event = nullptr;
  SHEARS_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  const cudaError_t recorded = cudaEventRecord(event, target);
  const cudaError_t waited =
      recorded == cudaSuccess ? cudaStreamWaitEvent(waiter, event, 0) : recorded;
  // Destroying an event that a queued wait refers to is allowed: the wait keeps its state.
  cudaEventDestroy(event);
  if (waited != cudaSuccess) {
    check_detail::throw_cuda_error(waited, "cudaStreamWaitEvent(waiter, event, 0)", __FILE__,
                                   __LINE__);
  }
}

std::shared_ptr<void> CudaBackend::bind_thread_stream() {
  State& s = *state_;
  DeviceGuard guard(s.device);
  cudaStream_t stream = nullptr;
  {
    std::lock_guard<std::mutex> lock(s.streams_mutex);
    if (!s.spare_streams.empty()) {
      stream = s.spare_streams.back();
      s.spare_streams.pop_back();
    }
  }
  if (stream == nullptr)
    SHEARS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  // What the thread finds on the device (weights, data) was made on the stream it used so far.
  const cudaStream_t before = s.current();
  try {
    stream_wait_for(stream, before);
  } catch (...) {
    std::lock_guard<std::mutex> lock(s.streams_mutex);
    s.spare_streams.push_back(stream);
    throw;
  }
  struct Binding {
    State* state;
    cudaStream_t stream;
    const State* outer_state;
    cudaStream_t outer_stream;
  };
  auto* binding = new Binding{&s, stream, t_bound_state, t_bound_stream};
  t_bound_state = &s;
  t_bound_stream = stream;
  return std::shared_ptr<void>(binding, [](void* p) {
    std::unique_ptr<Binding> b(static_cast<Binding*>(p));
    // Everything queued on the thread's stream is done before any other stream may see its
    // results or reuse its memory (stream-ordered frees of its tensors happen on other streams
    // once the binding is gone).
    int previous = -1;
    if (cudaGetDevice(&previous) == cudaSuccess && previous != b->state->device)
      cudaSetDevice(b->state->device);
    if (cudaStreamSynchronize(b->stream) != cudaSuccess) {
      std::fprintf(stderr, "shears: warning: cuda:%d: a thread's stream failed: %s\n",
                   b->state->device, cudaGetErrorString(cudaGetLastError()));
    }
    if (previous >= 0 && previous != b->state->device) cudaSetDevice(previous);
    if (t_bound_stream == b->stream) {
      t_bound_state = b->outer_state;
      t_bound_stream = b->outer_stream;
    }
    std::lock_guard<std::mutex> lock(b->state->streams_mutex);
    b->state->spare_streams.push_back(b->stream);
  });
}

void sync_and_check(CudaBackend::State& s) {
  SHEARS_CUDA_CHECK(cudaMemcpyAsync(s.deferred_host, s.deferred, sizeof(DeferredError),
                                    cudaMemcpyDeviceToHost, s.current()));
  SHEARS_CUDA_CHECK(cudaStreamSynchronize(s.current()));
  if (s.deferred_host->code == kNoDeferredError) return;
  const DeferredError e = *s.deferred_host;
  *s.deferred_host = DeferredError{};
  SHEARS_CUDA_CHECK(cudaMemsetAsync(s.deferred, 0, sizeof(DeferredError), s.current()));
  const char* when = " (found on the device, reported at the next synchronisation)";
  switch (e.code) {
    case kBadLabel:
      throw ShapeError(detail::cat("nll_loss_forward: label ", e.value, " at row ", e.position,
                                   " is out of range for ", e.size, " classes", when));
    case kBadIndexSelect:
    case kBadIndexAdd:
      throw ShapeError(detail::cat(
          e.code == kBadIndexSelect ? "index_select" : "index_add", ": index[", e.position,
          "] = ", e.value, " is out of range for dimension ", e.dim, " of size ", e.size, when));
    default:
      break;
  }
  if (e.code >= kBadKeepGather && e.code < kBadKeepScatter + 3) {
    const char* op = e.code < kBadKeepScatter ? "channel_gather" : "channel_scatter";
    switch ((e.code - kBadKeepGather) % 3) {
      case 0:
        throw ShapeError(detail::cat(op, ": keep[", e.position, "] = ", e.value,
                                     " is out of range for dimension ", e.dim, " of size ", e.size,
                                     when));
      case 1:
        throw ShapeError(detail::cat(op, ": keep has a duplicate: keep[", e.position,
                                     "] = ", e.value, " repeats keep[", e.position - 1, "]", when));
      default:
        throw ShapeError(detail::cat(op, ": keep is not sorted: keep[", e.position, "] = ", e.value,
                                     " comes after keep[", e.position - 1, "] = ", e.previous,
                                     when));
    }
  }
  switch (e.code) {
    default:
      throw CudaError(detail::cat("cuda:", s.device, ": a kernel recorded error code ", e.code));
  }
}

const TensorDesc& cached_tensor_desc(CudaBackend::State& s, const char* op, std::int64_t n,
                                     std::int64_t c, std::int64_t h, std::int64_t w) {
  const std::array<std::int64_t, 4> key{n, c, h, w};
  auto found = s.tensor_descs.find(key);
  if (found == s.tensor_descs.end()) {
    found = s.tensor_descs.emplace(key, std::make_unique<TensorDesc>(op, n, c, h, w)).first;
  }
  return *found->second;
}

const BatchNormParamDesc& cached_bn_param_desc(CudaBackend::State& s, const char* op,
                                               std::int64_t n, std::int64_t c, std::int64_t h,
                                               std::int64_t w) {
  const std::array<std::int64_t, 4> key{n, c, h, w};
  auto found = s.bn_param_descs.find(key);
  if (found == s.bn_param_descs.end()) {
    const TensorDesc& x = cached_tensor_desc(s, op, n, c, h, w);
    found = s.bn_param_descs.emplace(key, std::make_unique<BatchNormParamDesc>(x)).first;
  }
  return *found->second;
}

namespace {

// Block sizes of the caching allocator: small requests in 512-byte steps, large ones in 2 MiB
// steps, so that the same tensor shapes, step after step, find their blocks again.
std::size_t block_size(std::size_t bytes) {
  constexpr std::size_t kSmall = 512, kLarge = std::size_t{2} << 20;
  if (bytes < (std::size_t{1} << 20)) return (bytes + kSmall - 1) / kSmall * kSmall;
  return (bytes + kLarge - 1) / kLarge * kLarge;
}

// Frees every cached block (after the device is done with them). Caller holds cache.mutex.
void release_cached_blocks(BlockCache& cache) {
  if (cache.free_blocks.empty()) return;
  cudaDeviceSynchronize();
  for (const auto& [size, ptr] : cache.free_blocks) {
    cudaFree(ptr);
    cache.sizes.erase(ptr);
    cache.reserved -= size;
  }
  cache.free_blocks.clear();
  cudaGetLastError();
}

}  // namespace

MemoryInfo device_memory_info(CudaBackend::State& s) noexcept {
  MemoryInfo info;
  std::size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
    cudaGetLastError();
    return info;
  }
  // The pool (or the block cache) keeps freed blocks, and the driver counts them as used; for us
  // they are free.
  const PoolStats stats = pool_stats(s);
  if (stats.reserved_bytes >= stats.used_bytes) {
    free_bytes += static_cast<std::size_t>(stats.reserved_bytes - stats.used_bytes);
  }
  info.free_bytes = free_bytes < total_bytes ? free_bytes : total_bytes;
  info.total_bytes = total_bytes;
  return info;
}

PoolStats pool_stats(CudaBackend::State& s) noexcept {
  PoolStats stats;
  {
    std::uint64_t v = 0;
    if (cudaDeviceGetGraphMemAttribute(s.device, cudaGraphMemAttrReservedMemCurrent, &v) ==
        cudaSuccess) {
      stats.graph_reserved_bytes = v;
    }
    if (cudaDeviceGetGraphMemAttribute(s.device, cudaGraphMemAttrReservedMemHigh, &v) ==
        cudaSuccess) {
      stats.graph_reserved_high_bytes = v;
    }
    cudaGetLastError();
  }
  if (!s.use_pool) {
    std::lock_guard<std::mutex> lock(s.blocks.mutex);
    stats.reserved_bytes = s.blocks.reserved;
    stats.reserved_high_bytes = s.blocks.reserved_high;
    stats.used_bytes = s.blocks.used;
    stats.used_high_bytes = s.blocks.used_high;
    return stats;
  }
  if (s.pool == nullptr) return stats;
  std::uint64_t v = 0;
  if (cudaMemPoolGetAttribute(s.pool, cudaMemPoolAttrReservedMemCurrent, &v) == cudaSuccess) {
    stats.reserved_bytes = v;
  }
  if (cudaMemPoolGetAttribute(s.pool, cudaMemPoolAttrReservedMemHigh, &v) == cudaSuccess) {
    stats.reserved_high_bytes = v;
  }
  if (cudaMemPoolGetAttribute(s.pool, cudaMemPoolAttrUsedMemCurrent, &v) == cudaSuccess) {
    stats.used_bytes = v;
  }
  if (cudaMemPoolGetAttribute(s.pool, cudaMemPoolAttrUsedMemHigh, &v) == cudaSuccess) {
    stats.used_high_bytes = v;
  }
  cudaGetLastError();
  return stats;
}

void reset_pool_peaks(CudaBackend::State& s) noexcept {
  {
    std::uint64_t zero = 0;
    cudaDeviceSetGraphMemAttribute(s.device, cudaGraphMemAttrReservedMemHigh, &zero);
    cudaGetLastError();
  }
  if (!s.use_pool) {
    std::lock_guard<std::mutex> lock(s.blocks.mutex);
    s.blocks.reserved_high = s.blocks.reserved;
    s.blocks.used_high = s.blocks.used;
    return;
  }
  if (s.pool == nullptr) return;
  std::uint64_t zero = 0;
  cudaMemPoolSetAttribute(s.pool, cudaMemPoolAttrReservedMemHigh, &zero);
  cudaMemPoolSetAttribute(s.pool, cudaMemPoolAttrUsedMemHigh, &zero);
  cudaGetLastError();
}

void refuse_while_capturing(CudaBackend::State& s, const char* what) {
  if (s.capture.active.load()) {
    throw GraphCaptureError(detail::cat("cuda:", s.device, ": ", what,
                                        " makes the host wait for the device, which a captured "
                                        "graph cannot do"));
  }
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
  if (!s.use_pool) {
    const std::size_t rounded = block_size(size);
    std::lock_guard<std::mutex> lock(s.blocks.mutex);
    BlockCache& cache = s.blocks;
    auto found = cache.free_blocks.lower_bound(rounded);
    if (found != cache.free_blocks.end() && found->first <= 2 * rounded) {
      ptr = found->second;
      cache.used += found->first;
      cache.free_blocks.erase(found);
      // A block freed from the backend's own stream may still be in use there: a thread's bound
      // stream waits for that point of it first.
      if (s.current() != s.stream) stream_wait_for(s.current(), s.stream);
    } else {
      cudaError_t status = cudaMalloc(&ptr, rounded);
      if (status == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        release_cached_blocks(cache);
        status = cudaMalloc(&ptr, rounded);
      }
      if (status == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        throw out_of_memory();
      }
      if (status != cudaSuccess) {
        check_detail::throw_cuda_error(status, "cudaMalloc(&ptr, rounded)", __FILE__, __LINE__);
      }
      cache.sizes[ptr] = rounded;
      cache.reserved += rounded;
      cache.used += rounded;
      if (cache.reserved > cache.reserved_high) cache.reserved_high = cache.reserved;
    }
    if (cache.used > cache.used_high) cache.used_high = cache.used;
    return ptr;
  }
  if (s.capture.active.load()) {
    // Recorded as an allocation node: the memory comes from the graph's pool, at an address
    // fixed for the graph's life. No retry (it would wait for the stream).
    const cudaError_t captured = cudaMallocAsync(&ptr, size, s.stream);
    if (captured == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      throw out_of_memory();
    }
    if (captured != cudaSuccess) {
      check_detail::throw_cuda_error(captured, "cudaMallocAsync(&ptr, size, s.stream)", __FILE__,
                                     __LINE__);
    }
    std::lock_guard<std::mutex> lock(s.capture.mutex);
    s.capture.live.insert(ptr);
    return ptr;
  }
  const cudaStream_t stream = s.current();
  cudaError_t status = cudaMallocFromPoolAsync(&ptr, size, s.pool, stream);
  if (status == cudaErrorMemoryAllocation) {
    // Free blocks held by the pool may be too fragmented for this request: wait until every
    // queued free has happened, hand the unused blocks back to the driver and ask once more.
    cudaGetLastError();
    SHEARS_CUDA_CHECK(cudaStreamSynchronize(stream));
    SHEARS_CUDA_CHECK(cudaMemPoolTrimTo(s.pool, 0));
    status = cudaMallocFromPoolAsync(&ptr, size, s.pool, stream);
  }
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw out_of_memory();
  }
  if (status != cudaSuccess) {
    check_detail::throw_cuda_error(status, "cudaMallocFromPoolAsync(&ptr, size, s.pool, stream)",
                                   __FILE__, __LINE__);
  }
  return ptr;
}

void pool_free(CudaBackend::State& s, void* ptr) noexcept {
  if (ptr == nullptr) return;
  if (!s.use_pool) {
    std::lock_guard<std::mutex> lock(s.blocks.mutex);
    const auto found = s.blocks.sizes.find(ptr);
    if (found == s.blocks.sizes.end()) return;
    // The next allocation may come from another stream and use the block at once: work queued
    // on a thread's bound stream must be done first (the backend's own stream is the one every
    // other thread's work is queued on, and stays ordered by itself).
    const cudaStream_t stream = s.current();
    if (stream != s.stream && cudaStreamSynchronize(stream) != cudaSuccess) cudaGetLastError();
    s.blocks.used -= found->second;
    s.blocks.free_blocks.emplace(found->second, ptr);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(s.capture.mutex);
    if (!s.capture.dead.empty() && s.capture.dead.erase(ptr) != 0) return;
    if (s.capture.active.load() && s.capture.live.erase(ptr) == 0) {
      // Allocated before the capture: a free node would free it at every replay.
      s.capture.held.push_back(ptr);
      return;
    }
  }
  if (cudaFreeAsync(ptr, s.current()) != cudaSuccess) cudaGetLastError();
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
  // SHEARS_CUDA_ALLOCATOR=caching asks for the fallback on any device (to test it).
  const char* allocator = std::getenv("SHEARS_CUDA_ALLOCATOR");
  const bool forced = allocator != nullptr && std::strcmp(allocator, "caching") == 0;
  s.use_pool = pools_supported != 0 && !forced;
  if (pools_supported == 0) {
    std::fprintf(stderr,
                 "shears: warning: cuda:%d does not support stream-ordered memory pools "
                 "(cudaMallocAsync); using a caching cudaMalloc allocator instead\n",
                 device);
  }
  // A non-blocking stream does not wait for the legacy default stream, which others in the same
  // process (a profiler, PyTorch) may use.
  SHEARS_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
  // The default pool with a release threshold of "never": freed memory stays mapped in the pool
  // and serves the next allocation without a driver call, as a caching allocator would.
  if (s.use_pool) {
    SHEARS_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&s.pool, device));
    std::uint64_t threshold = std::numeric_limits<std::uint64_t>::max();
    SHEARS_CUDA_CHECK(cudaMemPoolSetAttribute(s.pool, cudaMemPoolAttrReleaseThreshold, &threshold));
  }
  SHEARS_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&s.deferred), sizeof(DeferredError)));
  SHEARS_CUDA_CHECK(cudaMemsetAsync(s.deferred, 0, sizeof(DeferredError), s.stream));
  SHEARS_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&s.deferred_host), sizeof(DeferredError),
                                  cudaHostAllocDefault));
  *s.deferred_host = DeferredError{};
  SHEARS_CUDNN_CHECK(cudnnCreate(&s.cudnn));
  SHEARS_CUDNN_CHECK(cudnnSetStream(s.cudnn, s.stream));
  SHEARS_CUBLAS_CHECK(cublasCreate(&s.cublas));
  SHEARS_CUBLAS_CHECK(cublasSetStream(s.cublas, s.stream));
  SHEARS_CUDA_CHECK(cudaMalloc(&s.cublas_workspace, State::kCublasWorkspace));
  SHEARS_CUBLAS_CHECK(cublasSetWorkspace(s.cublas, s.cublas_workspace, State::kCublasWorkspace));
  SHEARS_CUDA_CHECK(cudaStreamCreateWithFlags(&s.copy_stream, cudaStreamNonBlocking));
  SHEARS_CUDA_CHECK(cudaEventCreateWithFlags(&s.copy_done, cudaEventDisableTiming));
  SHEARS_CUDA_CHECK(cudaEventCreateWithFlags(&s.keep_fork, cudaEventDisableTiming));
  SHEARS_CUDA_CHECK(cudaEventCreateWithFlags(&s.keep_join, cudaEventDisableTiming));
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

bool CudaBackend::uses_stream_ordered_pool() const { return state_->use_pool; }

PoolStats CudaBackend::pool_stats() {
  DeviceGuard guard(state_->device);
  return cuda::pool_stats(*state_);
}

void CudaBackend::reset_peak_memory() {
  DeviceGuard guard(state_->device);
  reset_pool_peaks(*state_);
}

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

// Host-to-device copies go through the two pinned staging buffers, chunk by chunk: the caller's
// buffer may be freed or refilled when the call returns (its bytes are in pinned memory by then),
// and the host waits only for the copy queued two chunks earlier, not for the stream. The copies
// are queued on the compute stream: the destination is stream-ordered memory allocated there, so
// a copy stream would have to wait for that point of the compute stream anyway.
namespace {

// Queues the copy of `bytes` host bytes to `dst` on `stream` through the two pinned buffers of
// `st` in turn, waiting only for the copy that used the same buffer two chunks earlier.
void staged_copy(HostStaging& st, cudaStream_t stream, void* dst, const void* src,
                 std::size_t bytes) {
  std::lock_guard<std::mutex> lock(st.mutex);
  if (st.buffer[0] == nullptr) {
    for (int i = 0; i < 2; ++i) {
      SHEARS_CUDA_CHECK(cudaHostAlloc(&st.buffer[i], HostStaging::kBytes, cudaHostAllocDefault));
      SHEARS_CUDA_CHECK(cudaEventCreateWithFlags(&st.done[i], cudaEventDisableTiming));
    }
  }
  const auto* from = static_cast<const std::uint8_t*>(src);
  auto* to = static_cast<std::uint8_t*>(dst);
  for (std::size_t offset = 0; offset < bytes; offset += HostStaging::kBytes) {
    const std::size_t n = std::min(HostStaging::kBytes, bytes - offset);
    const int b = st.next;
    st.next ^= 1;
    SHEARS_CUDA_CHECK(cudaEventSynchronize(st.done[b]));
    std::memcpy(st.buffer[b], from + offset, n);
    SHEARS_CUDA_CHECK(
        cudaMemcpyAsync(to + offset, st.buffer[b], n, cudaMemcpyHostToDevice, stream));
    SHEARS_CUDA_CHECK(cudaEventRecord(st.done[b], stream));
  }
}

// While capturing: the bytes go to pinned memory the graph keeps, and the recorded copy reads
// them there at every replay (constant data: a chunk table, an index list).
void captured_copy(CudaBackend::State& s, void* dst, const void* src, std::size_t bytes) {
  CaptureState& c = s.capture;
  void* host = nullptr;
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    const std::size_t need = (bytes + 255) / 256 * 256;
    if (c.host_blocks.empty() || c.host_used + need > c.host_capacity) {
      const std::size_t size = std::max(CaptureState::kHostBlock, need);
      void* block = nullptr;
      SHEARS_CUDA_CHECK(cudaHostAlloc(&block, size, cudaHostAllocDefault));
      c.host_blocks.push_back(block);
      c.host_used = 0;
      c.host_capacity = size;
    }
    host = static_cast<std::uint8_t*>(c.host_blocks.back()) + c.host_used;
    c.host_used += need;
  }
  std::memcpy(host, src, bytes);
  SHEARS_CUDA_CHECK(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, s.stream));
}

}  // namespace

// Host-to-device copies go through the two pinned staging buffers, chunk by chunk: the caller's
// buffer may be freed or refilled when the call returns (its bytes are in pinned memory by then),
// and the host waits only for the copy queued two chunks earlier, not for the stream. They are
// queued on the calling thread's compute stream: `dst` is memory it may still be using.
void CudaBackend::copy_from_host(void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  State& s = *state_;
  DeviceGuard guard(s.device);
  if (s.capture.active.load()) {
    captured_copy(s, dst, src, bytes);
    return;
  }
  staged_copy(s.staging, s.current(), dst, src, bytes);
}

// New memory needs no ordering with the compute stream's earlier work, so the copy runs on the
// copy stream and overlaps the step in flight: allocated there (stream-ordered), copied through
// the copy stream's own staging buffers, and the compute stream waits for an event recorded after
// the copy. With the caching allocator a block may still be in use by queued compute work, so the
// copy stream first waits for the compute stream. A thread on a stream of its own (parallel
// candidates) copies on that stream: the copy stream and its events serve the backend's stream.
void* CudaBackend::allocate_from_host(const void* src, std::size_t bytes) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  if (bytes == 0 || s.capture.active.load() || s.current() != s.stream) {
    return Backend::allocate_from_host(src, bytes);
  }
  void* ptr = nullptr;
  if (s.use_pool) {
    const cudaError_t status = cudaMallocFromPoolAsync(&ptr, bytes, s.pool, s.copy_stream);
    if (status != cudaSuccess) {
      cudaGetLastError();
      return Backend::allocate_from_host(src, bytes);  // the compute stream's path, with retry
    }
  } else {
    ptr = pool_allocate(s, bytes, "a tensor copied from the host");
    SHEARS_CUDA_CHECK(cudaEventRecord(s.copy_done, s.stream));
    SHEARS_CUDA_CHECK(cudaStreamWaitEvent(s.copy_stream, s.copy_done, 0));
  }
  try {
    staged_copy(s.copy_staging, s.copy_stream, ptr, src, bytes);
    SHEARS_CUDA_CHECK(cudaEventRecord(s.copy_done, s.copy_stream));
    SHEARS_CUDA_CHECK(cudaStreamWaitEvent(s.stream, s.copy_done, 0));
  } catch (...) {
    pool_free(s, ptr);
    throw;
  }
  return ptr;
}

void CudaBackend::copy_to_host(void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  refuse_while_capturing(*state_, "copy_to_host (a read of device memory: item(), to_vector)");
  DeviceGuard guard(state_->device);
  SHEARS_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, state_->current()));
  sync_and_check(*state_);
}

void CudaBackend::copy(void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  DeviceGuard guard(state_->device);
  SHEARS_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, state_->current()));
}

void CudaBackend::synchronize() {
  refuse_while_capturing(*state_, "synchronize");
  DeviceGuard guard(state_->device);
  sync_and_check(*state_);
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
  refuse_while_capturing(*state_, "time_ms");
  DeviceGuard guard(state_->device);
  EventPair events;
  SHEARS_CUDA_CHECK(cudaEventRecord(events.start, state_->current()));
  work();
  SHEARS_CUDA_CHECK(cudaEventRecord(events.stop, state_->current()));
  SHEARS_CUDA_CHECK(cudaEventSynchronize(events.stop));
  float ms = 0.0f;
  SHEARS_CUDA_CHECK(cudaEventElapsedTime(&ms, events.start, events.stop));
  return static_cast<double>(ms);
}

}  // namespace shears::kernels::cuda
