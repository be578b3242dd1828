// CpuBackend memory: alignment, zero-byte and failed allocations, copies, memory_info.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/cpu_test_util.h"

namespace shears::testing {
namespace {

using kernels::cpu::CpuBackend;

TEST(CpuMemory, NameIsCpu) { EXPECT_EQ(CpuBackend().name(), "cpu"); }

TEST(CpuMemory, AllocationsAre64ByteAligned) {
  CpuBackend be;
  for (std::size_t bytes : {1u, 3u, 63u, 64u, 65u, 1000u, 1u << 20}) {
    SCOPED_TRACE(bytes);
    void* p = be.allocate(bytes);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 64, 0u);
    std::memset(p, 0xAB, bytes);
    EXPECT_EQ(static_cast<unsigned char*>(p)[bytes - 1], 0xAB);
    be.deallocate(p, bytes);
  }
}

TEST(CpuMemory, ZeroByteAllocationsAreDistinctAndFreeable) {
  CpuBackend be;
  void* a = be.allocate(0);
  void* b = be.allocate(0);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a) % 64, 0u);
  be.deallocate(a, 0);
  be.deallocate(b, 0);
}

TEST(CpuMemory, ImpossibleAllocationThrowsOutOfMemoryWithSizes) {
  CpuBackend be;
  const std::size_t huge = std::numeric_limits<std::size_t>::max() / 2;
  try {
    be.allocate(huge);
    FAIL() << "allocating " << huge << " bytes did not throw";
  } catch (const OutOfMemoryError& e) {
    EXPECT_EQ(e.requested(), huge);
    EXPECT_GT(e.total_bytes(), 0u);
    EXPECT_LE(e.free_bytes(), e.total_bytes());
    const std::string message = e.what();
    EXPECT_NE(message.find("out of memory allocating 9223372036854775807 bytes"), std::string::npos)
        << message;
    EXPECT_NE(message.find("free of"), std::string::npos) << message;
  }
}

TEST(CpuMemory, OutOfMemoryIsAShearsError) {
  CpuBackend be;
  SHEARS_EXPECT_THROW_MSG(be.allocate(std::numeric_limits<std::size_t>::max() - 8), Error,
                          "cpu: out of memory");
}

TEST(CpuMemory, MemoryInfoReportsFreeWithinTotal) {
  CpuBackend be;
  const MemoryInfo info = be.memory_info();
  EXPECT_GT(info.total_bytes, 0u);
  EXPECT_GT(info.free_bytes, 0u);
  EXPECT_LE(info.free_bytes, info.total_bytes);
}

TEST(CpuMemory, CopiesMoveBytes) {
  CpuBackend be;
  std::vector<std::uint8_t> host(300), back(300, 0);
  for (std::size_t i = 0; i < host.size(); ++i) host[i] = static_cast<std::uint8_t>(i * 7);
  void* a = be.allocate(host.size());
  void* b = be.allocate(host.size());
  be.copy_from_host(a, host.data(), host.size());
  be.copy(b, a, host.size());
  be.synchronize();
  be.copy_to_host(back.data(), b, host.size());
  EXPECT_EQ(host, back);
  be.deallocate(a, host.size());
  be.deallocate(b, host.size());
}

// Zero-byte copies with null pointers: memcpy(nullptr, nullptr, 0) is undefined behaviour, so
// the backend must not reach it. What this test asserts is that no UndefinedBehaviorSanitizer
// report comes (a sanitizer-job test: scripts/test --sanitize); in any build it also checks that
// zero-byte copies between real buffers move nothing.
TEST(CpuMemory, ZeroByteCopiesAcceptNullPointers) {
  CpuBackend be;
  EXPECT_NO_THROW(be.copy(nullptr, nullptr, 0));
  EXPECT_NO_THROW(be.copy_from_host(nullptr, nullptr, 0));
  EXPECT_NO_THROW(be.copy_to_host(nullptr, nullptr, 0));
  const std::vector<std::uint8_t> src{1, 2, 3};
  std::vector<std::uint8_t> dst{9, 9, 9};
  be.copy(dst.data(), src.data(), 0);
  be.copy_from_host(dst.data(), src.data(), 0);
  be.copy_to_host(dst.data(), src.data(), 0);
  EXPECT_EQ(dst, (std::vector<std::uint8_t>{9, 9, 9}));
}

}  // namespace
}  // namespace shears::testing
