#include "engine/storage.h"

#include <atomic>

#include "kernels/common/registry.h"

namespace shears {

namespace {
std::atomic<std::size_t> g_live{0};
std::atomic<std::size_t> g_peak{0};
}  // namespace

Storage::Storage(std::size_t bytes, Device device) : bytes_(bytes), device_(device) {
  data_ = backend_for(device_).allocate(bytes_);
  std::size_t now = g_live.fetch_add(bytes_) + bytes_;
  std::size_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}

Storage::Storage(std::size_t bytes, Device device, const void* host_src)
    : bytes_(bytes), device_(device) {
  data_ = backend_for(device_).allocate_from_host(host_src, bytes_);
  std::size_t now = g_live.fetch_add(bytes_) + bytes_;
  std::size_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}

Storage::~Storage() {
  backend_for(device_).deallocate(data_, bytes_);
  g_live.fetch_sub(bytes_);
}

std::size_t storage_bytes_live() { return g_live.load(); }
std::size_t storage_bytes_peak() { return g_peak.load(); }
void reset_storage_peak() { g_peak.store(g_live.load()); }

}  // namespace shears
