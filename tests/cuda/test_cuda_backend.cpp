// The CUDA backend's memory, copies and error reporting: round trips through device memory,
// out-of-memory errors that name the request and the free/total memory, tensors on the wrong
// device, and the registry's view of the devices. Skipped without a GPU.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/common/registry.h"
#include "kernels/cuda/cuda_backend.h"
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
  void* first = gpu_->allocate(bytes);
  gpu_->deallocate(first, bytes);
  gpu_->synchronize();
  const DeviceMemoryStats before = device_memory_stats(Device::cuda(0));
  EXPECT_GE(before.reserved_bytes, bytes);
  for (int i = 0; i < 8; ++i) {
    void* p = gpu_->allocate(bytes);
    gpu_->deallocate(p, bytes);
  }
  gpu_->synchronize();
  // Eight more allocations of the same size were served by the freed block: the allocator
  // reserved nothing new from the driver.
  const DeviceMemoryStats after = device_memory_stats(Device::cuda(0));
  EXPECT_EQ(after.reserved_bytes, before.reserved_bytes);
  EXPECT_LE(after.used_bytes, before.used_bytes);
}

TEST_F(CudaBackendTest, AllocatorFollowsTheEnvironment) {
  const char* allocator = std::getenv("SHEARS_CUDA_ALLOCATOR");
  auto& cuda = static_cast<kernels::cuda::CudaBackend&>(*gpu_);
  if (allocator != nullptr && std::string(allocator) == "caching") {
    EXPECT_FALSE(cuda.uses_stream_ordered_pool());
  } else {
    // Every GPU the project targets (compute capability >= 8.0) has stream-ordered pools.
    EXPECT_TRUE(cuda.uses_stream_ordered_pool());
  }
  // Peaks cover what was live: one 8 MiB block held while a second is allocated.
  cuda.reset_peak_memory();
  const std::size_t bytes = std::size_t{8} << 20;
  void* a = gpu_->allocate(bytes);
  void* b = gpu_->allocate(bytes);
  gpu_->deallocate(a, bytes);
  gpu_->deallocate(b, bytes);
  gpu_->synchronize();
  EXPECT_GE(device_memory_stats(Device::cuda(0)).peak_used_bytes, 2 * bytes);
}

// Inputs 1 + 2^-12 need 13 significant bits; TF32 keeps 11, so with TF32 they become 1 and a
// 64-term dot product gives 64 instead of 64 + 2^-6. Both sums are exact in f32.
TEST_F(CudaParity, GemmKeepsFullF32ProductsByDefault) {
  set_cuda_policy(CudaPolicy{});
  ASSERT_FALSE(allow_tf32_matmul()) << "TF32 for matrix products must be off by default";
  const float v = 1.0f + 1.0f / 4096.0f;
  Twin a = twin({64, 64}, std::vector<float>(64 * 64, v));
  Twin b = twin({64, 64}, std::vector<float>(64 * 64, 1.0f));
  Twin c = output_twin({64, 64});
  gpu_->gemm(false, false, 1.0, a.g(), b.g(), 0.0, c.g());
  for (float got : c.gpu.get<float>()) ASSERT_EQ(got, 64.0f + 1.0f / 64.0f);
}

TEST_F(CudaParity, ConvKeepsFullF32ProductsWithTf32Off) {
  CudaPolicy policy;
  policy.tf32_conv = false;
  set_cuda_policy(policy);
  const float v = 1.0f + 1.0f / 4096.0f;
  // 16 channels x 3 x 3 = 144 products per interior output: 144 + 144 / 4096, exact in f32.
  Twin x = twin({2, 16, 8, 8}, std::vector<float>(2 * 16 * 8 * 8, v));
  Twin w = twin({32, 16, 3, 3}, std::vector<float>(32 * 16 * 9, 1.0f));
  Twin y = output_twin({2, 32, 8, 8});
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  gpu_->conv2d_forward(x.g(), w.g(), nullptr, y.g(), p);
  const std::vector<float> got = y.gpu.get<float>();
  set_cuda_policy(CudaPolicy{});
  // Interior pixel (1, 1) of image 0, channel 0.
  EXPECT_EQ(got[1 * 8 + 1], 144.0f + 144.0f / 4096.0f);
}

TEST_F(CudaParity, DeferredErrorsAreThrownOnceAtTheNextSynchronisation) {
  Twin x = random_twin({5, 3}, 3);
  Twin bad = twin({2}, std::vector<std::int64_t>{1, 9});
  Twin out = output_twin({2, 3});
  EXPECT_NO_THROW(gpu_->index_select(x.g(), 0, bad.g(), out.g()));
  try {
    gpu_->synchronize();
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("index_select: index[1] = 9 is out of range for "
                                         "dimension 0 of size 5"),
              std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(gpu_->synchronize());
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

namespace shears::testing {
namespace {

// The one-launch multi-tensor SGD step against one sgd_update per tensor: the same arithmetic,
// for a tensor smaller than a chunk, one spanning several chunks and one with a fresh buffer.
TEST_F(CudaParity, SgdManyEqualsOneUpdatePerTensor) {
  const std::vector<Shape> shapes = {{7}, {3, 8192 + 5}, {16, 3, 3, 3}};
  SgdParams p;
  p.lr = 0.1;
  p.momentum = 0.9;
  p.nesterov = true;
  std::vector<Twin> params, grads, bufs, params2, bufs2;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const auto seed = static_cast<std::uint32_t>(100 + 10 * i);
    params.push_back(random_twin(shapes[i], seed));
    params2.push_back(random_twin(shapes[i], seed));
    grads.push_back(random_twin(shapes[i], seed + 1));
    bufs.push_back(random_twin(shapes[i], seed + 2));
    bufs2.push_back(random_twin(shapes[i], seed + 2));
  }
  std::vector<SgdItem> items;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    SgdItem item;
    item.param = params[i].g();
    item.grad = grads[i].g();
    item.momentum_buf = bufs[i].g();
    item.has_momentum_buf = true;
    item.weight_decay = 1e-3 * static_cast<double>(i);
    item.first_step = i == 2;
    items.push_back(item);
    SgdParams q = p;
    q.weight_decay = item.weight_decay;
    q.first_step = item.first_step;
    const TensorView b2 = bufs2[i].g();
    gpu_->sgd_update(params2[i].g(), grads[i].g(), &b2, q);
  }
  gpu_->sgd_update_many(items, p);
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    EXPECT_TRUE(close_f32(params[i].gpu, params2[i].gpu, 1e-7, 2)) << "param " << i;
    EXPECT_TRUE(close_f32(bufs[i].gpu, bufs2[i].gpu, 1e-7, 2)) << "buffer " << i;
  }
}

}  // namespace
}  // namespace shears::testing
