// ThreadStream on a machine or build without a usable GPU: the CPU needs no stream of its own,
// and asking for one on a missing CUDA device is an error naming the device.

#include <gtest/gtest.h>

#include <string>

#include "kernels/common/error.h"
#include "kernels/common/registry.h"
#include "kernels/common/thread_stream.h"

namespace shears::testing {
namespace {

TEST(ThreadStream, CpuThreadsKeepComputingOnTheirOwn) {
  ThreadStream stream(Device::cpu());
  EXPECT_FALSE(stream.own_stream());
}

TEST(ThreadStream, AMissingCudaDeviceIsNamed) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present (tests/cuda covers it)";
  try {
    ThreadStream stream(Device::cuda(0));
    FAIL() << "expected an error for cuda:0";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace shears::testing
