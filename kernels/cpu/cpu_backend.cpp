// CpuBackend: name and memory. The primitives are defined in one file per family (elementwise.cpp,
// reduce.cpp, batch_norm.cpp, ...).

#include "kernels/cpu/cpu_backend.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "kernels/common/error.h"

namespace shears::kernels::cpu {
namespace {

constexpr std::size_t kAlignment = 64;

// Reads "Key:   12345 kB" from /proc/meminfo; returns false when the key is absent.
bool meminfo_bytes(const std::string& text, const std::string& key, std::size_t* bytes) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.compare(0, key.size() + 1, key + ":") != 0) continue;
    std::istringstream fields(line.substr(key.size() + 1));
    unsigned long long value = 0;
    std::string unit;
    if (!(fields >> value)) return false;
    fields >> unit;
    *bytes = static_cast<std::size_t>(unit == "kB" ? value * 1024ULL : value);
    return true;
  }
  return false;
}

// Activations and gradients of a training step are a few MB each and are freed and allocated
// again every step. With glibc's defaults such blocks are mmap-ed, or the heap top is trimmed,
// so every step faults its pages in anew (seen as ~20 % of a ResNet-56 forward at batch 128).
// Serving them from the heap and never trimming it keeps the pages mapped; the process's peak
// memory is unchanged. Applied once, when the first CPU allocation is made.
void keep_freed_blocks_mapped() {
  static const bool applied = [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest: blocks up to 32 MB come from the heap
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)applied;
}

}  // namespace

std::string CpuBackend::name() const { return "cpu"; }

// posix_memalign rather than std::aligned_alloc: the latter requires the size to be a multiple of
// the alignment, and rounding up could overflow for absurd requests that must fail cleanly.
// A zero-byte request gets a real (one-line) block, so every allocation has a distinct pointer
// that deallocate frees the same way.
void* CpuBackend::allocate(std::size_t bytes) {
  keep_freed_blocks_mapped();
  void* ptr = nullptr;
  const std::size_t size = bytes == 0 ? kAlignment : bytes;
  if (posix_memalign(&ptr, kAlignment, size) != 0 || ptr == nullptr) {
    const MemoryInfo info = memory_info();
    throw OutOfMemoryError(
        detail::cat("cpu: out of memory allocating ", bytes, " bytes (", info.free_bytes,
                    " bytes free of ", info.total_bytes, " total)"),
        bytes, info.free_bytes, info.total_bytes);
  }
  return ptr;
}

void CpuBackend::deallocate(void* ptr, std::size_t /*bytes*/) noexcept { std::free(ptr); }

void CpuBackend::copy_from_host(void* dst, const void* src, std::size_t bytes) {
  copy(dst, src, bytes);
}

void CpuBackend::copy_to_host(void* dst, const void* src, std::size_t bytes) {
  copy(dst, src, bytes);
}

void CpuBackend::copy(void* dst, const void* src, std::size_t bytes) {
  // memcpy with a null pointer is undefined even for zero bytes, and empty tensors may have none.
  if (bytes > 0) std::memcpy(dst, src, bytes);
}

void CpuBackend::synchronize() {}

// Free memory is what the kernel reports as available to new allocations (MemAvailable counts
// reclaimable caches); sysconf's free pages are the fallback where /proc is not mounted.
MemoryInfo CpuBackend::memory_info() {
  MemoryInfo info;
  std::ifstream file("/proc/meminfo");
  if (file) {
    std::stringstream text;
    text << file.rdbuf();
    const std::string content = text.str();
    std::size_t total = 0, available = 0;
    if (meminfo_bytes(content, "MemTotal", &total) &&
        meminfo_bytes(content, "MemAvailable", &available)) {
      info.total_bytes = total;
      info.free_bytes = available;
      return info;
    }
  }
  const long page = sysconf(_SC_PAGESIZE);
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long free_pages = sysconf(_SC_AVPHYS_PAGES);
  if (page > 0 && pages > 0) info.total_bytes = static_cast<std::size_t>(page) * pages;
  if (page > 0 && free_pages > 0) info.free_bytes = static_cast<std::size_t>(page) * free_pages;
  return info;
}

}  // namespace shears::kernels::cpu
