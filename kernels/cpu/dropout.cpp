// CpuBackend::dropout_mask: the inverted-dropout mask from the counter-based generator shared
// with the CUDA backend. Element i depends only on (seed, i), so the mask is the same for any
// thread count and bit-identical to the CUDA kernel's.

#include <cstdint>

#include "kernels/common/counter_rng.h"
#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/kernel_util.h"

namespace shears::kernels::cpu {

void CpuBackend::dropout_mask(const TensorView& mask, double p, std::uint64_t seed) {
  const char* op = "dropout_mask";
  check_cpu(op, "mask", mask);
  check_floating(op, "mask", mask);
  // p == 1 is accepted: no uniform draw in [0, 1) reaches it, so the mask is all zeros and the
  // infinite scale is never stored.
  SHEARS_CHECK_AS(Error, p >= 0.0 && p <= 1.0, op, ": probability must be in [0, 1], got ", p);
  const std::int64_t n = mask.numel();
  const double scale = 1.0 / (1.0 - p);
  dispatch_floating(op, mask, [&](auto tag) {
    using T = decltype(tag);
    T* m = mask.as<T>();
    const T keep = static_cast<T>(scale);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (std::int64_t i = 0; i < n; ++i) {
      m[i] = counter_uniform(seed, static_cast<std::uint64_t>(i)) >= p ? keep : T(0);
    }
  });
}

}  // namespace shears::kernels::cpu
