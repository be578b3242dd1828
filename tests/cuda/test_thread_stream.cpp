// Per-thread CUDA streams (ThreadStream, CudaBackend::bind_thread_stream): threads that each hold
// one compute the same results as one thread on the backend's stream, a bound stream sees the
// work queued before the binding, and what it made is complete when the binding ends. Skipped
// without a GPU.

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "kernels/common/registry.h"
#include "kernels/common/thread_stream.h"
#include "tests/cuda/parity_support.h"

namespace shears::testing {
namespace {

class ThreadStreamTest : public CudaParity {
 protected:
  // A convolution, a matrix product and a ReLU of one thread's own inputs (seed), on the GPU:
  // cuDNN, cuBLAS and our own kernels, each through the calling thread's stream.
  std::vector<float> compute(std::uint32_t seed) {
    Twin x = random_twin({4, 8, 12, 12}, seed);
    Twin w = random_twin({16, 8, 3, 3}, seed + 1);
    Twin y = output_twin({4, 16, 12, 12});
    Conv2dParams p;
    p.pad_h = p.pad_w = 1;
    gpu_->conv2d_forward(x.g(), w.g(), nullptr, y.g(), p);
    Twin b = random_twin({144, 32}, seed + 2);
    Twin c = output_twin({64, 32});
    const TensorView flat{y.gpu.view().data, Shape{64, 144}, DType::F32, Device::cuda(0)};
    gpu_->gemm(false, false, 1.0, flat, b.g(), 0.0, c.g());
    Twin r = output_twin({64, 32});
    gpu_->activation_forward(ActivationKind::Relu, 0.0, c.g(), r.g());
    return r.gpu.get<float>();
  }
};

TEST_F(ThreadStreamTest, BindsAStreamOnTheGpuOnly) {
  ThreadStream gpu(Device::cuda(0));
  EXPECT_TRUE(gpu.own_stream());
  ThreadStream cpu(Device::cpu());
  EXPECT_FALSE(cpu.own_stream());
}

TEST_F(ThreadStreamTest, ThreadsOnTheirOwnStreamsComputeWhatOneThreadComputes) {
  CudaPolicy policy;
  policy.tf32_conv = false;
  policy.deterministic = true;
  set_cuda_policy(policy);
  const std::vector<std::uint32_t> seeds = {3, 11, 19, 27};
  std::vector<std::vector<float>> expected;
  for (std::uint32_t s : seeds) expected.push_back(compute(s));
  std::vector<std::vector<float>> got(seeds.size());
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < seeds.size(); ++t) {
    threads.emplace_back([&, t] {
      ThreadStream stream(Device::cuda(0));
      // Several rounds, so the threads' kernels interleave on the device.
      for (int round = 0; round < 3; ++round) got[t] = compute(seeds[t]);
    });
  }
  for (std::thread& th : threads) th.join();
  for (std::size_t t = 0; t < seeds.size(); ++t)
    EXPECT_EQ(got[t], expected[t]) << "seed " << seeds[t];
}

TEST_F(ThreadStreamTest, BoundStreamSeesEarlierWorkAndItsWorkIsDoneWhenTheBindingEnds) {
  const std::int64_t n = std::int64_t{1} << 24;  // 64 MiB: the fills take a while on the device
  Buffer a = gpu_buffer({n});
  Buffer b = gpu_buffer({n});
  gpu_->fill(a.view(), 2.0);  // queued on the backend's stream, not waited for
  std::thread worker([&] {
    ThreadStream stream(Device::cuda(0));
    // a * a must read the finished fill of the main thread's stream.
    gpu_->binary(BinaryOp::Mul, a.view(), a.view(), b.view());
  });  // the binding ended inside the thread: b is complete now
  worker.join();
  std::vector<float> got = b.get<float>();
  EXPECT_EQ(got.front(), 4.0f);
  EXPECT_EQ(got.back(), 4.0f);
}

TEST_F(ThreadStreamTest, BlocksFreedOnABoundStreamAreSafeToReuseWithTheCachingAllocatorToo) {
  // The same check under both allocators is run by the CudaCachingAllocator ctest entry (which
  // runs this binary with SHEARS_CUDA_ALLOCATOR=caching): a block freed while a thread's stream
  // may still use it is only handed out again after that stream's work.
  std::vector<float> got;
  std::thread worker([&] {
    ThreadStream stream(Device::cuda(0));
    for (int round = 0; round < 4; ++round) {
      Buffer x = gpu_buffer({1 << 20});
      gpu_->fill(x.view(), static_cast<double>(round));
      Buffer y = gpu_buffer({1 << 20});
      gpu_->binary(BinaryOp::Add, x.view(), x.view(), y.view());
      got = y.get<float>();
      ASSERT_EQ(got.front(), static_cast<float>(2 * round));
      ASSERT_EQ(got.back(), static_cast<float>(2 * round));
    }
  });
  worker.join();
  Buffer z = gpu_buffer({1 << 20});
  gpu_->fill(z.view(), 7.0);
  EXPECT_EQ(z.get<float>().back(), 7.0f);
}

}  // namespace
}  // namespace shears::testing
