// CudaBackend::dropout_mask: the inverted-dropout mask from the counter-based generator shared
// with the CPU backend (kernels/common/counter_rng.h). Element i depends only on (seed, i), and
// the comparison and the scale are computed in double exactly as on the CPU, so the mask is
// bit-identical to CpuBackend's for any launch configuration.

#include <cstdint>

#include "kernels/common/counter_rng.h"
#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/state.h"
#include "kernels/cuda/util.h"

namespace shears::kernels::cuda {
namespace {

// mask: n f32 elements; mask[i] = u(seed, i) >= p ? keep : 0, keep = float(1 / (1 - p)).
__global__ void dropout_mask_kernel(float* mask, std::int64_t n, double p, std::uint64_t seed,
                                    float keep) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += stride) {
    mask[i] = counter_uniform(seed, static_cast<std::uint64_t>(i)) >= p ? keep : 0.0f;
  }
}

}  // namespace

void CudaBackend::dropout_mask(const TensorView& mask, double p, std::uint64_t seed) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "dropout_mask";
  check_device(op, "mask", mask, s.device);
  check_f32(op, "mask", mask);
  // p == 1 is accepted: no uniform draw in [0, 1) reaches it, so the mask is all zeros and the
  // infinite scale is never stored.
  SHEARS_CHECK_AS(Error, p >= 0.0 && p <= 1.0, op, ": probability must be in [0, 1], got ", p);
  const std::int64_t n = mask.numel();
  if (n == 0) return;
  const float keep = static_cast<float>(1.0 / (1.0 - p));
  dropout_mask_kernel<<<grid_for(n, s.sm_count), kBlock, 0, s.current()>>>(mask.as<float>(), n, p,
                                                                           seed, keep);
  SHEARS_CUDA_CHECK_LAUNCH();
}

}  // namespace shears::kernels::cuda
