#pragma once

#include <cstdint>

#include "kernels/common/backend.h"
#include "kernels/common/device.h"

namespace shears {

/// The backend that runs ops for `device`; throws shears::Error when that device is unavailable
/// (CUDA not compiled, or no such GPU).
Backend& backend_for(const Device& device);
/// Whether this build contains the CUDA backend.
bool cuda_compiled();
/// Number of usable CUDA devices (0 when not compiled, no driver or no GPU). Asked once.
int cuda_device_count();
/// Device memory the allocator of a CUDA device has reserved, now and at its peak since the last
/// reset_peak_device_memory (cached free blocks count); 0 for the CPU.
struct DeviceMemoryStats {
  std::uint64_t reserved_bytes = 0, peak_reserved_bytes = 0;
  std::uint64_t used_bytes = 0, peak_used_bytes = 0;
  /// Memory the device's graphs reserved for their own allocations (recorded steps), now and
  /// at the peak; not part of the pool's figures above.
  std::uint64_t graph_reserved_bytes = 0, graph_peak_reserved_bytes = 0;
};
DeviceMemoryStats device_memory_stats(const Device& device);
void reset_peak_device_memory(const Device& device);

/// How the CUDA backend may compute, process-wide (set from a config's device_options). The
/// defaults are PyTorch's: TF32 off for matrix products (torch.backends.cuda.matmul.allow_tf32),
/// on for cuDNN convolutions (torch.backends.cudnn.allow_tf32); algorithms chosen by cuDNN's
/// heuristics. The CPU backend ignores all of it.
struct CudaPolicy {
  /// TF32 tensor-core maths in cuBLAS GEMM (linear layers).
  bool tf32_matmul = false;
  /// TF32 tensor-core maths in cuDNN convolutions.
  bool tf32_conv = true;
  /// Only deterministic algorithms (no atomics-based cuDNN backward algorithms, no timing-based
  /// choice): the same inputs on the same GPU and library versions give the same bytes.
  bool deterministic = false;
  /// Choose each convolution algorithm by timing the candidates once per shape (cudnnFind*Ex)
  /// instead of by the heuristics. Ignored when `deterministic` is set.
  bool conv_find = false;
};
void set_cuda_policy(const CudaPolicy& policy);
CudaPolicy cuda_policy();
/// Sets both TF32 switches of the policy (tests of the maths use this).
void set_allow_tf32(bool allow);
bool allow_tf32_matmul();
bool allow_tf32_conv();
/// OpenMP threads the CPU kernels use when called from the calling thread (OMP_NUM_THREADS or
/// the number of cores unless set).
int cpu_threads();
/// Sets cpu_threads() for the calling thread only (every thread keeps its own count), so work
/// running on several threads at once can divide the cores between them. Throws Error for < 1.
void set_cpu_threads(int threads);

}  // namespace shears
