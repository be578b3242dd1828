#pragma once

#include <string>

namespace shears {

enum class DeviceType { Cpu, Cuda };

/// Where a tensor lives. CPU has index 0; CUDA devices are numbered from 0.
struct Device {
  DeviceType type = DeviceType::Cpu;
  int index = 0;

  static Device cpu() { return {DeviceType::Cpu, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::Cuda, index}; }
  bool is_cpu() const { return type == DeviceType::Cpu; }
  bool is_cuda() const { return type == DeviceType::Cuda; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;
};

/// Parses "cpu", "cuda" or "cuda:N"; throws shears::Error naming the text otherwise.
Device parse_device(const std::string& text);

}  // namespace shears
