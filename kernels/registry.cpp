#include "kernels/common/registry.h"

#include <mutex>

#include "kernels/common/error.h"
#include "kernels/common/thread_stream.h"
#include "kernels/cpu/cpu_backend.h"
#if SHEARS_WITH_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace shears {

#ifndef SHEARS_WITH_CUDA
#define SHEARS_WITH_CUDA 0
#endif

bool cuda_compiled() { return SHEARS_WITH_CUDA != 0; }

int cpu_threads() { return kernels::cpu::max_threads(); }

void set_cpu_threads(int threads) {
  SHEARS_CHECK(threads >= 1, "set_cpu_threads: threads must be >= 1, got ", threads);
  kernels::cpu::set_max_threads(threads);
}

int cuda_device_count() {
#if SHEARS_WITH_CUDA
  static std::once_flag once;
  static int count = 0;
  std::call_once(once, [] { count = kernels::cuda::device_count(); });
  return count;
#else
  return 0;
#endif
}

DeviceMemoryStats device_memory_stats(const Device& device) {
  DeviceMemoryStats out;
#if SHEARS_WITH_CUDA
  if (!device.is_cpu()) {
    auto& cuda = static_cast<kernels::cuda::CudaBackend&>(backend_for(device));
    const kernels::cuda::PoolStats s = cuda.pool_stats();
    out.reserved_bytes = s.reserved_bytes;
    out.peak_reserved_bytes = s.reserved_high_bytes;
    out.used_bytes = s.used_bytes;
    out.peak_used_bytes = s.used_high_bytes;
    out.graph_reserved_bytes = s.graph_reserved_bytes;
    out.graph_peak_reserved_bytes = s.graph_reserved_high_bytes;
  }
#else
  (void)device;
#endif
  return out;
}

void reset_peak_device_memory(const Device& device) {
#if SHEARS_WITH_CUDA
  if (!device.is_cpu()) {
    static_cast<kernels::cuda::CudaBackend&>(backend_for(device)).reset_peak_memory();
  }
#else
  (void)device;
#endif
}

ThreadStream::ThreadStream(const Device& device) {
#if SHEARS_WITH_CUDA
  if (!device.is_cpu()) {
    binding_ = static_cast<kernels::cuda::CudaBackend&>(backend_for(device)).bind_thread_stream();
  }
#else
  if (!device.is_cpu()) backend_for(device);  // throws: no CUDA backend in this build
#endif
}

ThreadStream::~ThreadStream() = default;

Backend& backend_for(const Device& device) {
  if (device.is_cpu()) {
    static kernels::cpu::CpuBackend cpu;
    return cpu;
  }
#if SHEARS_WITH_CUDA
  int count = cuda_device_count();
  if (device.index < 0 || device.index >= count) {
    throw Error("device " + device.str() + " is not available (" + std::to_string(count) +
                " CUDA device(s) found)");
  }
  return kernels::cuda::backend(device.index);
#else
  throw Error("device " + device.str() +
              " requested but this build has no CUDA backend (configure with SHEARS_CUDA=ON)");
#endif
}

}  // namespace shears
