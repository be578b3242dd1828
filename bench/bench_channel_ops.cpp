// Throughput of the structured-pruning channel kernels (channel_gather, channel_scatter,
// channel_mask, soft_mask_forward, soft_mask_backward) on the CPU and CUDA backends, for CIFAR and
// ImageNet activation shapes and conv weights, in GB/s through SetBytesProcessed (bytes that must
// move: every byte read once plus every byte written once). Beside each shape a plain device copy
// of the same tensor ("copy") measures the memory-bandwidth limit in the same session, so each
// kernel's fraction of the limit is its GB/s over the copy's.
//
// CUDA is timed with events on the backend's stream (Backend::time_ms) through UseManualTime, and
// the L2 cache is flushed before every timed iteration (a 256 MiB fill outside the events), so
// tensors smaller than the L2 are still read from HBM. Without a GPU the CUDA benchmarks report
// SkipWithError. Benchmarks are named <op>/<backend>/<shape>.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/common/backend.h"
#include "kernels/common/error.h"
#include "kernels/common/registry.h"

namespace {

using shears::Backend;
using shears::Device;
using shears::DType;
using shears::Shape;
using shears::TensorView;

struct ChannelCase {
  const char* name;
  Shape shape;
  int dim;
  double keep_fraction;
};

// Activations of CIFAR ResNets (batch 128) and ResNet-50 (batch 256), with odd and pruned channel
// counts, and 3x3 conv weights pruned along their output and input channels.
const std::vector<ChannelCase>& cases() {
  static const std::vector<ChannelCase> table = {
      {"act_128x64x32x32_keep50", {128, 64, 32, 32}, 1, 0.5},
      {"act_128x27x32x32_keep13of27", {128, 27, 32, 32}, 1, 13.0 / 27.0},
      {"act_128x256x16x16_keep70", {128, 256, 16, 16}, 1, 0.7},
      {"act_256x512x7x7_keep50", {256, 512, 7, 7}, 1, 0.5},
      {"act_256x256x32x32_keep50", {256, 256, 32, 32}, 1, 0.5},
      {"weight_512x512x3x3_out_keep50", {512, 512, 3, 3}, 0, 0.5},
      {"weight_512x512x3x3_in_keep50", {512, 512, 3, 3}, 1, 0.5},
  };
  return table;
}

enum class Op { Copy, Gather, Scatter, Mask, SoftMaskForward, SoftMaskBackward };

const char* op_name(Op op) {
  switch (op) {
    case Op::Copy:
      return "copy";
    case Op::Gather:
      return "channel_gather";
    case Op::Scatter:
      return "channel_scatter";
    case Op::Mask:
      return "channel_mask";
    case Op::SoftMaskForward:
      return "soft_mask_forward";
    case Op::SoftMaskBackward:
      return "soft_mask_backward";
  }
  return "?";
}

// Memory owned by one backend.
class Tensor {
 public:
  Tensor(Backend& backend, Device device, Shape shape, DType dtype = DType::F32)
      : backend_(backend), device_(device), shape_(std::move(shape)), dtype_(dtype) {
    bytes_ = static_cast<std::size_t>(shears::shape_numel(shape_)) * shears::dtype_size(dtype_);
    data_ = backend_.allocate(bytes_);
  }
  ~Tensor() { backend_.deallocate(data_, bytes_); }
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  TensorView view() const { return TensorView{data_, shape_, dtype_, device_}; }
  std::size_t bytes() const { return bytes_; }
  template <typename T>
  void set(const std::vector<T>& values) {
    backend_.copy_from_host(data_, values.data(), values.size() * sizeof(T));
  }

 private:
  Backend& backend_;
  Device device_;
  Shape shape_;
  DType dtype_;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

std::vector<float> random_floats(std::int64_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

// Evenly spread kept indices: round(i / fraction) for the first round(size * fraction) entries.
std::vector<std::int64_t> spread_keep(std::int64_t size, double fraction) {
  const auto count = static_cast<std::int64_t>(static_cast<double>(size) * fraction + 0.5);
  std::vector<std::int64_t> keep;
  for (std::int64_t i = 0; i < count; ++i) {
    keep.push_back(static_cast<std::int64_t>(static_cast<double>(i) * size / count));
  }
  return keep;
}

void run(benchmark::State& state, Device device, Op op, const ChannelCase& cc) {
  if (device.is_cuda() && shears::cuda_device_count() == 0) {
    state.SkipWithError(shears::cuda_compiled() ? "no CUDA device on this machine"
                                                : "this build has no CUDA backend");
    return;
  }
  try {
    Backend& be = shears::backend_for(device);
    const std::int64_t size = cc.shape[static_cast<std::size_t>(cc.dim)];
    const std::vector<std::int64_t> keep_values = spread_keep(size, cc.keep_fraction);
    Shape small_shape = cc.shape;
    small_shape[static_cast<std::size_t>(cc.dim)] = static_cast<std::int64_t>(keep_values.size());
    const std::int64_t channels = cc.shape[1];

    Tensor full(be, device, cc.shape), full2(be, device, cc.shape), full3(be, device, cc.shape);
    Tensor small(be, device, small_shape);
    Tensor keep(be, device, {static_cast<std::int64_t>(keep_values.size())}, DType::I64);
    Tensor mask(be, device, {size});
    Tensor grad_mask(be, device, {channels});
    full.set(random_floats(shears::shape_numel(cc.shape), 1));
    full2.set(random_floats(shears::shape_numel(cc.shape), 2));
    small.set(random_floats(shears::shape_numel(small_shape), 3));
    keep.set(keep_values);
    std::vector<float> mask_values(static_cast<std::size_t>(size));
    for (std::int64_t c = 0; c < size; ++c) {
      mask_values[static_cast<std::size_t>(c)] = c % 2 ? 1.0f : 0.0f;
    }
    mask.set(mask_values);
    const TensorView soft_mask{mask.view().data, {channels}, DType::F32, device};

    std::size_t moved = 0;
    std::function<void()> work;
    switch (op) {
      case Op::Copy:
        moved = 2 * full.bytes();
        work = [&] { be.copy(full2.view().data, full.view().data, full.bytes()); };
        break;
      case Op::Gather:
        moved = 2 * small.bytes();
        work = [&] { be.channel_gather(full.view(), cc.dim, keep.view(), small.view()); };
        break;
      case Op::Scatter:
        moved = 2 * small.bytes();
        work = [&] { be.channel_scatter(small.view(), cc.dim, keep.view(), full.view()); };
        break;
      case Op::Mask:
        moved = 2 * full.bytes();
        work = [&] { be.channel_mask(full.view(), cc.dim, mask.view()); };
        break;
      case Op::SoftMaskForward:
        moved = 2 * full.bytes();
        work = [&] { be.soft_mask_forward(full.view(), soft_mask, full2.view()); };
        break;
      case Op::SoftMaskBackward: {
        // grad_x and grad_mask: read grad_y and x, write grad_x.
        moved = 3 * full.bytes();
        work = [&] {
          const TensorView gx = full3.view(), gm = grad_mask.view();
          be.soft_mask_backward(full.view(), soft_mask, full2.view(), &gx, &gm);
        };
        break;
      }
    }
    std::unique_ptr<Tensor> flush;
    if (device.is_cuda()) flush = std::make_unique<Tensor>(be, device, Shape{64 << 20});
    for (auto _ : state) {
      if (device.is_cuda()) {
        be.fill(flush->view(), 1.0);
        state.SetIterationTime(be.time_ms(work) / 1000.0);
      } else {
        work();
      }
    }
    be.synchronize();
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(moved));
    state.counters["MB"] = static_cast<double>(moved) / 1e6;
  } catch (const shears::Error& e) {
    state.SkipWithError(e.what());
  }
}

void register_all() {
  benchmark::AddCustomContext("shears_cuda_compiled", shears::cuda_compiled() ? "yes" : "no");
  benchmark::AddCustomContext("shears_cuda_devices", std::to_string(shears::cuda_device_count()));
  benchmark::AddCustomContext("shears_tf32_matmul", shears::allow_tf32_matmul() ? "on" : "off");
  benchmark::AddCustomContext("shears_tf32_conv", shears::allow_tf32_conv() ? "on" : "off");
  benchmark::AddCustomContext("bytes_counted",
                              "each byte read once plus each byte written once; compare with "
                              "the copy benchmark of the same shape");
  const Op ops[] = {Op::Copy, Op::Gather,          Op::Scatter,
                    Op::Mask, Op::SoftMaskForward, Op::SoftMaskBackward};
  for (const Device device : {Device::cpu(), Device::cuda(0)}) {
    const std::string backend = device.is_cpu() ? "cpu" : "cuda";
    for (const ChannelCase& cc : cases()) {
      for (Op op : ops) {
        // The soft mask is per channel of an activation (dim 1 of NCHW).
        const bool soft = op == Op::SoftMaskForward || op == Op::SoftMaskBackward;
        if (soft && cc.dim != 1) continue;
        const std::string name = std::string(op_name(op)) + "/" + backend + "/" + cc.name;
        auto* b = benchmark::RegisterBenchmark(
            name.c_str(), [device, op, &cc](benchmark::State& st) { run(st, device, op, cc); });
        b->Unit(benchmark::kMicrosecond)->MinTime(device.is_cuda() ? 0.05 : 0.1);
        if (device.is_cuda()) {
          b->UseManualTime();
        } else {
          b->UseRealTime();
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
