#include <cstdlib>

#include "kernels/common/device.h"
#include "kernels/common/dtype.h"
#include "kernels/common/error.h"
#include "kernels/common/view.h"

namespace shears {

std::string Device::str() const {
  return type == DeviceType::Cpu ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Device parse_device(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda") return Device::cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5) {
    char* end = nullptr;
    long index = std::strtol(text.c_str() + 5, &end, 10);
    if (*end == '\0' && index >= 0) return Device::cuda(static_cast<int>(index));
  }
  throw Error("unknown device '" + text + "' (expected cpu, cuda or cuda:N)");
}

std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32:
      return 4;
    case DType::F64:
      return 8;
    case DType::I32:
      return 4;
    case DType::I64:
      return 8;
    case DType::U8:
      return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "F32";
    case DType::F64:
      return "F64";
    case DType::I32:
      return "I32";
    case DType::I64:
      return "I64";
    case DType::U8:
      return "U8";
  }
  return "?";
}

bool is_floating(DType t) { return t == DType::F32 || t == DType::F64; }

std::string shape_str(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::int64_t shape_numel(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

}  // namespace shears

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
