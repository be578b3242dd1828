#pragma once

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
/// Forbids (false) or allows (true, default) TF32 tensor-core maths in CUDA conv/GEMM.
void set_allow_tf32(bool allow);
bool allow_tf32();
/// OpenMP threads the CPU kernels use when called from the calling thread (OMP_NUM_THREADS or
/// the number of cores unless set).
int cpu_threads();
/// Sets cpu_threads() for the calling thread only (every thread keeps its own count), so work
/// running on several threads at once can divide the cores between them. Throws Error for < 1.
void set_cpu_threads(int threads);

}  // namespace shears
