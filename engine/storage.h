#pragma once

#include <cstddef>
#include <memory>

#include "kernels/common/device.h"

namespace shears {

/// A block of device memory owned through shared_ptr. Allocated by the device's backend
/// (64-byte aligned on the CPU) and returned to it on destruction.
class Storage {
 public:
  Storage(std::size_t bytes, Device device);
  /// A block on `device` holding a copy of `bytes` host bytes at `host_src` (an upload: on CUDA
  /// queued on the copy stream, so it overlaps the compute stream's work).
  Storage(std::size_t bytes, Device device, const void* host_src);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  const Device& device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  Device device_;
};

/// Bytes of tensor storage alive now on every device together, and the most alive at once since
/// the last reset_storage_peak() (library scratch buffers are not counted). For benchmarks.
std::size_t storage_bytes_live();
std::size_t storage_bytes_peak();
/// Sets the peak to the bytes alive now.
void reset_storage_peak();

}  // namespace shears
