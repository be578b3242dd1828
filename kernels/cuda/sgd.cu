// CudaBackend::sgd_update: one fused SGD step, every element read and written once, with the CPU
// backend's order of operations (torch.optim.SGD, single-tensor path):
//   g = grad + weight_decay * param
//   buf = first_step ? g : momentum * buf + (1 - dampening) * g        (when momentum != 0)
//   g = nesterov ? g + momentum * buf : buf                             (when momentum != 0)
//   param -= lr * g
// nvcc contracts the multiply-adds into FMAs, so results may differ from the CPU's in the last
// bit; the parity test compares with a tolerance.
//
// sgd_update_many runs the same arithmetic for every parameter of a network in one launch: the
// host cuts each tensor into chunks of kChunk elements and uploads the chunk table (through the
// pinned staging buffers, without waiting; while a graph is captured, from a pinned buffer the
// graph keeps); block b updates chunk b. With SgdParams::lr_device the kernel reads the LR from
// device memory when it runs, so a replayed graph follows the schedule.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/state.h"
#include "kernels/cuda/util.h"

namespace shears::kernels::cuda {
namespace {

// param, grad: n f32 elements; updated in place.
__global__ void sgd_plain_kernel(float* __restrict__ param, const float* __restrict__ grad,
                                 std::int64_t n, float lr, float wd) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += stride) {
    param[i] -= lr * (grad[i] + wd * param[i]);
  }
}

// param, grad, buf: n f32 elements; param and buf updated in place. On the first step buf is
// assigned, never read (it may hold garbage).
__global__ void sgd_momentum_kernel(float* __restrict__ param, const float* __restrict__ grad,
                                    float* __restrict__ buf, std::int64_t n, float lr, float wd,
                                    float momentum, float damp, bool first, bool nesterov) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += stride) {
    const float g = grad[i] + wd * param[i];
    const float b = first ? g : momentum * buf[i] + damp * g;
    buf[i] = b;
    param[i] -= lr * (nesterov ? g + momentum * b : b);
  }
}

constexpr int kChunk = 8192;

// One chunk of one parameter tensor. buf is null without momentum.
struct SgdChunk {
  float* param;
  const float* grad;
  float* buf;
  std::int64_t start;
  int count;
  float wd;
  int first;
};

// lr_device, when not null, holds the learning rate (graph replays change it between launches).
__global__ void sgd_many_kernel(const SgdChunk* __restrict__ chunks, float lr,
                                const float* __restrict__ lr_device, float momentum, float damp,
                                bool nesterov) {
  const SgdChunk c = chunks[blockIdx.x];
  if (lr_device != nullptr) lr = *lr_device;
  float* param = c.param + c.start;
  const float* grad = c.grad + c.start;
  if (c.buf == nullptr) {
    for (int i = threadIdx.x; i < c.count; i += blockDim.x) {
      param[i] -= lr * (grad[i] + c.wd * param[i]);
    }
    return;
  }
  float* buf = c.buf + c.start;
  for (int i = threadIdx.x; i < c.count; i += blockDim.x) {
    const float g = grad[i] + c.wd * param[i];
    const float b = c.first ? g : momentum * buf[i] + damp * g;
    buf[i] = b;
    param[i] -= lr * (nesterov ? g + momentum * b : b);
  }
}

}  // namespace

void CudaBackend::sgd_update_many(const std::vector<SgdItem>& items, const SgdParams& p) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "sgd_update";
  SHEARS_CHECK_AS(Error, !p.nesterov || (p.momentum > 0.0 && p.dampening == 0.0), op,
                  ": Nesterov momentum needs momentum > 0 and zero dampening, got momentum ",
                  p.momentum, ", dampening ", p.dampening);
  const bool use_momentum = p.momentum != 0.0;
  std::vector<SgdChunk> chunks;
  for (const SgdItem& item : items) {
    check_device(op, "param", item.param, s.device);
    check_device(op, "grad", item.grad, s.device);
    check_f32(op, "param", item.param);
    check_same(op, "param", item.param, "grad", item.grad);
    SHEARS_CHECK_AS(Error, !use_momentum || item.has_momentum_buf, op, ": momentum ", p.momentum,
                    " needs a momentum buffer for param ", view_str(item.param));
    if (use_momentum) {
      check_device(op, "momentum_buf", item.momentum_buf, s.device);
      check_same(op, "param", item.param, "momentum_buf", item.momentum_buf);
    }
    const std::int64_t n = item.param.numel();
    for (std::int64_t start = 0; start < n; start += kChunk) {
      SgdChunk c;
      c.param = item.param.as<float>();
      c.grad = item.grad.as<const float>();
      c.buf = use_momentum ? item.momentum_buf.as<float>() : nullptr;
      c.start = start;
      c.count = static_cast<int>(std::min<std::int64_t>(kChunk, n - start));
      c.wd = static_cast<float>(item.weight_decay);
      c.first = item.first_step ? 1 : 0;
      chunks.push_back(c);
    }
  }
  if (chunks.empty()) return;
  SHEARS_CHECK_AS(Error, chunks.size() <= 0x7fffffffu, op, ": too many chunks");
  const std::size_t bytes = chunks.size() * sizeof(SgdChunk);
  DeviceBuffer table(s, bytes, "the SGD chunk table");
  copy_from_host(table.get(), chunks.data(), bytes);
  sgd_many_kernel<<<static_cast<unsigned>(chunks.size()), kBlock, 0, s.current()>>>(
      table.as<const SgdChunk>(), static_cast<float>(p.lr), p.lr_device,
      static_cast<float>(p.momentum), static_cast<float>(1.0 - p.dampening), p.nesterov);
  SHEARS_CUDA_CHECK_LAUNCH();
}

void CudaBackend::sgd_update(const TensorView& param, const TensorView& grad,
                             const TensorView* momentum_buf, const SgdParams& p) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "sgd_update";
  check_device(op, "param", param, s.device);
  check_device(op, "grad", grad, s.device);
  check_f32(op, "param", param);
  check_same(op, "param", param, "grad", grad);
  SHEARS_CHECK_AS(Error, !p.nesterov || (p.momentum > 0.0 && p.dampening == 0.0), op,
                  ": Nesterov momentum needs momentum > 0 and zero dampening, got momentum ",
                  p.momentum, ", dampening ", p.dampening);
  const bool use_momentum = p.momentum != 0.0;
  SHEARS_CHECK_AS(Error, !use_momentum || momentum_buf, op, ": momentum ", p.momentum,
                  " needs a momentum buffer for param ", view_str(param));
  if (use_momentum) {
    check_device(op, "momentum_buf", *momentum_buf, s.device);
    check_same(op, "param", param, "momentum_buf", *momentum_buf);
  }
  const std::int64_t n = param.numel();
  if (n == 0) return;
  if (p.lr_device != nullptr) {
    SgdItem item;
    item.param = param;
    item.grad = grad;
    if (use_momentum) item.momentum_buf = *momentum_buf;
    item.has_momentum_buf = use_momentum;
    item.weight_decay = p.weight_decay;
    item.first_step = p.first_step;
    sgd_update_many({item}, p);
    return;
  }
  const unsigned grid = grid_for(n, s.sm_count);
  const auto lr = static_cast<float>(p.lr), wd = static_cast<float>(p.weight_decay);
  if (!use_momentum) {
    sgd_plain_kernel<<<grid, kBlock, 0, s.current()>>>(param.as<float>(), grad.as<const float>(), n,
                                                       lr, wd);
  } else {
    sgd_momentum_kernel<<<grid, kBlock, 0, s.current()>>>(
        param.as<float>(), grad.as<const float>(), momentum_buf->as<float>(), n, lr, wd,
        static_cast<float>(p.momentum), static_cast<float>(1.0 - p.dampening), p.first_step,
        p.nesterov);
  }
  SHEARS_CUDA_CHECK_LAUNCH();
}

}  // namespace shears::kernels::cuda
