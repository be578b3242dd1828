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

}  // namespace shears
