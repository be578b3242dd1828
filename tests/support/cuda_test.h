#pragma once

#include <gtest/gtest.h>

#include "kernels/common/registry.h"

namespace shears::testing {

/// Base fixture of every CUDA test: skips, saying why, when the build has no CUDA backend or the
/// machine has no usable GPU, so ctest reports these tests as skipped rather than passed.
class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_compiled()) GTEST_SKIP() << "CUDA backend not compiled into this build";
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device present on this machine";
  }
};

}  // namespace shears::testing
