#include <cstdlib>

#include "kernels/common/device.h"
#include "kernels/common/error.h"

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

}  // namespace shears
