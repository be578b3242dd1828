// The process-wide CUDA policy declared in kernels/common/registry.h: TF32 for matrix products
// and for convolutions, deterministic algorithms, and cuDNN's timed algorithm search.

#include <atomic>

#include "kernels/common/registry.h"

namespace shears {
namespace {
std::atomic<bool> g_tf32_matmul{CudaPolicy{}.tf32_matmul};
std::atomic<bool> g_tf32_conv{CudaPolicy{}.tf32_conv};
std::atomic<bool> g_deterministic{CudaPolicy{}.deterministic};
std::atomic<bool> g_conv_find{CudaPolicy{}.conv_find};
}  // namespace

void set_cuda_policy(const CudaPolicy& policy) {
  g_tf32_matmul.store(policy.tf32_matmul);
  g_tf32_conv.store(policy.tf32_conv);
  g_deterministic.store(policy.deterministic);
  g_conv_find.store(policy.conv_find);
}

CudaPolicy cuda_policy() {
  CudaPolicy p;
  p.tf32_matmul = g_tf32_matmul.load();
  p.tf32_conv = g_tf32_conv.load();
  p.deterministic = g_deterministic.load();
  p.conv_find = g_conv_find.load();
  return p;
}

void set_allow_tf32(bool allow) {
  g_tf32_matmul.store(allow);
  g_tf32_conv.store(allow);
}
bool allow_tf32_matmul() { return g_tf32_matmul.load(); }
bool allow_tf32_conv() { return g_tf32_conv.load(); }
}  // namespace shears
