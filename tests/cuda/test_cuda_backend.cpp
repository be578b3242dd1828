// The CUDA backend's memory, copies and error reporting: round trips through device memory,
// out-of-memory errors that name the request and the free/total memory, tensors on the wrong
// device, and the registry's view of the devices. Skipped without a GPU.

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/common/registry.h"
#include "tests/cuda/parity_support.h"
#include "tests/support/cuda_test.h"

namespace shears::testing {
namespace {

class CudaBackendTest : public CudaTest {
 protected:
  void SetUp() override {
    CudaTest::SetUp();
    if (IsSkipped()) return;
    gpu_ = &backend_for(Device::cuda(0));
  }
  Backend* gpu_ = nullptr;
};

TEST_F(CudaBackendTest, NameAndMemoryInfo) {
  EXPECT_EQ(gpu_->name(), "cuda:0");
  const MemoryInfo info = gpu_->memory_info();
  EXPECT_GT(info.total_bytes, 0u);
  EXPECT_LE(info.free_bytes, info.total_bytes);
}

TEST_F(CudaBackendTest, CopiesRoundTrip) {
  std::vector<std::int32_t> host(100003);
  std::iota(host.begin(), host.end(), -5);
  const std::size_t bytes = host.size() * sizeof(std::int32_t);
  void* a = gpu_->allocate(bytes);
  void* b = gpu_->allocate(bytes);
  gpu_->copy_from_host(a, host.data(), bytes);
  gpu_->copy(b, a, bytes);
  std::vector<std::int32_t> back(host.size(), 0);
  gpu_->copy_to_host(back.data(), b, bytes);
  EXPECT_EQ(back, host);
  gpu_->deallocate(a, bytes);
  gpu_->deallocate(b, bytes);
  gpu_->synchronize();
}

TEST_F(CudaBackendTest, ZeroByteAllocationsAreDistinctAndFreeable) {
  void* a = gpu_->allocate(0);
  void* b = gpu_->allocate(0);
  EXPECT_NE(a, b);
  gpu_->deallocate(a, 0);
  gpu_->deallocate(b, 0);
  gpu_->deallocate(nullptr, 0);
}

TEST_F(CudaBackendTest, FreedMemoryIsReused) {
  const std::size_t bytes = std::size_t{64} << 20;
  for (int i = 0; i < 8; ++i) {
    void* p = gpu_->allocate(bytes);
    gpu_->deallocate(p, bytes);
  }
  gpu_->synchronize();
  SUCCEED();
}

TEST_F(CudaBackendTest, OutOfMemoryNamesTheRequest) {
  const MemoryInfo info = gpu_->memory_info();
  const std::size_t request = info.total_bytes * 4;
  try {
    void* p = gpu_->allocate(request);
    gpu_->deallocate(p, request);
    FAIL() << "allocating " << request << " bytes succeeded";
  } catch (const OutOfMemoryError& e) {
    EXPECT_EQ(e.requested(), request);
    EXPECT_EQ(e.total_bytes(), info.total_bytes);
    const std::string msg = e.what();
    EXPECT_NE(msg.find(std::to_string(request) + " bytes"), std::string::npos) << msg;
    EXPECT_NE(msg.find("free of"), std::string::npos) << msg;
  }
  // The backend still works.
  void* p = gpu_->allocate(1024);
  gpu_->deallocate(p, 1024);
}

TEST_F(CudaBackendTest, TensorsOnTheWrongDeviceAreRejected) {
  std::vector<float> host(6, 1.0f);
  const TensorView on_cpu{host.data(), {2, 3}, DType::F32, Device::cpu()};
  try {
    gpu_->fill(on_cpu, 0.0);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("is on cpu"), std::string::npos) << e.what();
  }
}

TEST_F(CudaBackendTest, FloatingPrimitivesRejectF64) {
  Buffer x(*gpu_, Device::cuda(0), {4}, DType::F64), y(*gpu_, Device::cuda(0), {4}, DType::F64);
  try {
    gpu_->activation_forward(ActivationKind::Relu, 0.0, x.view(), y.view());
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("must be F32 on the CUDA backend"), std::string::npos)
        << e.what();
  }
}

TEST_F(CudaBackendTest, RegistryRefusesAMissingDevice) {
  const int count = cuda_device_count();
  try {
    backend_for(Device::cuda(count));
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not available"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace shears::testing
