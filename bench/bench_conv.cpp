// CPU convolution throughput: forward, backward-data, backward-weights and all three, for CIFAR
// ResNet and VGG-16 layers (batch 128), pruned widths, and ResNet-50 layers (batch 32), through
// every f32 path of the CPU backend (oneDNN on its own layouts, oneDNN on plain NCHW, im2col +
// OpenBLAS). Reports GFLOP/s (2 * multiply-adds; each backward pass costs as much as the forward).
//
// Benchmarks are named <pass>/<library>/<layer>, pass "fwd", "bwd_data", "bwd_weight" or
// "fwdbwd".
// `bench_conv --print_shapes` prints the layer table as JSON, which bench/reference/torch_conv.py
// reads so that PyTorch times exactly the same layers (scripts/bench-conv runs both).

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/conv_library.h"
#include "kernels/cpu/cpu_backend.h"

namespace {

using shears::Conv2dParams;
using shears::Device;
using shears::DType;
using shears::Shape;
using shears::TensorView;
using shears::kernels::cpu::ConvLibrary;

struct ConvLayer {
  const char* name;
  std::int64_t n, c, h, w, k, kh, kw;
  int stride, pad;

  std::int64_t ho() const { return (h + 2 * pad - kh) / stride + 1; }
  std::int64_t wo() const { return (w + 2 * pad - kw) / stride + 1; }
  /// Floating-point operations of one forward pass (a multiply-add counts as two).
  double forward_flops() const {
    return 2.0 * static_cast<double>(n * k * ho() * wo() * c * kh * kw);
  }
};

// CIFAR ResNet-20/56 (3x3 convs; stride-2 transitions), two pruned widths, and a representative
// set of ResNet-50 layers (torchvision v1.5: the stride sits in the 3x3 conv).
const std::vector<ConvLayer>& layers() {
  static const std::vector<ConvLayer> table = {
      {"cifar_stem_3to16_32px", 128, 3, 32, 32, 16, 3, 3, 1, 1},
      {"cifar_3x3_16_32px", 128, 16, 32, 32, 16, 3, 3, 1, 1},
      {"cifar_3x3s2_16to32_32px", 128, 16, 32, 32, 32, 3, 3, 2, 1},
      {"cifar_3x3_32_16px", 128, 32, 16, 16, 32, 3, 3, 1, 1},
      {"cifar_3x3s2_32to64_16px", 128, 32, 16, 16, 64, 3, 3, 2, 1},
      {"cifar_3x3_64_8px", 128, 64, 8, 8, 64, 3, 3, 1, 1},
      {"pruned_3x3_8_32px", 128, 8, 32, 32, 8, 3, 3, 1, 1},
      {"pruned_3x3_11_32px", 128, 11, 32, 32, 11, 3, 3, 1, 1},
      {"pruned_3x3_24_16px", 128, 24, 16, 16, 24, 3, 3, 1, 1},
      {"pruned_3x3_45_8px", 128, 45, 8, 8, 45, 3, 3, 1, 1},
      {"vgg16_3x3_3to64_32px", 128, 3, 32, 32, 64, 3, 3, 1, 1},
      {"vgg16_3x3_64_32px", 128, 64, 32, 32, 64, 3, 3, 1, 1},
      {"vgg16_3x3_128_16px", 128, 128, 16, 16, 128, 3, 3, 1, 1},
      {"vgg16_3x3_256_8px", 128, 256, 8, 8, 256, 3, 3, 1, 1},
      {"vgg16_3x3_512_4px", 128, 512, 4, 4, 512, 3, 3, 1, 1},
      {"vgg16_3x3_512_2px", 128, 512, 2, 2, 512, 3, 3, 1, 1},
      {"r50_stem_7x7s2_3to64_224px", 32, 3, 224, 224, 64, 7, 7, 2, 3},
      {"r50_l1_1x1_64to64_56px", 32, 64, 56, 56, 64, 1, 1, 1, 0},
      {"r50_l1_3x3_64_56px", 32, 64, 56, 56, 64, 3, 3, 1, 1},
      {"r50_l1_1x1_64to256_56px", 32, 64, 56, 56, 256, 1, 1, 1, 0},
      {"r50_l2_3x3s2_128_56px", 32, 128, 56, 56, 128, 3, 3, 2, 1},
      {"r50_l2_1x1s2_256to512_56px", 32, 256, 56, 56, 512, 1, 1, 2, 0},
      {"r50_l2_3x3_128_28px", 32, 128, 28, 28, 128, 3, 3, 1, 1},
      {"r50_l3_3x3_256_14px", 32, 256, 14, 14, 256, 3, 3, 1, 1},
      {"r50_l3_1x1_1024to256_14px", 32, 1024, 14, 14, 256, 1, 1, 1, 0},
      {"r50_l4_3x3_512_7px", 32, 512, 7, 7, 512, 3, 3, 1, 1},
      {"r50_l4_1x1_512to2048_7px", 32, 512, 7, 7, 2048, 1, 1, 1, 0},
  };
  return table;
}

// 64-byte-aligned f32 storage, as the engine allocates it, filled with U(-1, 1).
class Buffer {
 public:
  Buffer(const Shape& shape, std::uint32_t seed)
      : shape_(shape), count_(static_cast<std::size_t>(shears::shape_numel(shape))) {
    const std::size_t bytes = (count_ * sizeof(float) + 63) / 64 * 64;
    data_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!data_) throw shears::Error("bench_conv: out of memory");
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (std::size_t i = 0; i < count_; ++i) data_.get()[i] = dist(rng);
  }
  TensorView view() const { return TensorView{data_.get(), shape_, DType::F32, Device::cpu()}; }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  Shape shape_;
  std::size_t count_;
  std::unique_ptr<float, Free> data_;
};

// What one benchmark times: the forward, one of the two backward passes, or all three.
enum class Pass { Forward, BackwardData, BackwardWeight, All };

const char* pass_name(Pass pass) {
  switch (pass) {
    case Pass::Forward:
      return "fwd";
    case Pass::BackwardData:
      return "bwd_data";
    case Pass::BackwardWeight:
      return "bwd_weight";
    case Pass::All:
      return "fwdbwd";
  }
  return "?";
}

void bm_conv(benchmark::State& state, const ConvLayer& layer, ConvLibrary library, Pass pass) {
  try {
    shears::kernels::cpu::set_conv_library(library);
    shears::kernels::cpu::CpuBackend backend;
    Conv2dParams p;
    p.stride_h = p.stride_w = layer.stride;
    p.pad_h = p.pad_w = layer.pad;
    const Buffer x({layer.n, layer.c, layer.h, layer.w}, 1);
    const Buffer w({layer.k, layer.c, layer.kh, layer.kw}, 2);
    const Buffer y({layer.n, layer.k, layer.ho(), layer.wo()}, 3);
    const Buffer grad_y({layer.n, layer.k, layer.ho(), layer.wo()}, 4);
    const Buffer grad_x({layer.n, layer.c, layer.h, layer.w}, 5);
    const Buffer grad_w({layer.k, layer.c, layer.kh, layer.kw}, 6);
    auto step = [&] {
      if (pass == Pass::Forward || pass == Pass::All) {
        backend.conv2d_forward(x.view(), w.view(), nullptr, y.view(), p);
      }
      if (pass == Pass::BackwardData || pass == Pass::All) {
        backend.conv2d_backward_data(grad_y.view(), w.view(), grad_x.view(), p);
      }
      if (pass == Pass::BackwardWeight || pass == Pass::All) {
        backend.conv2d_backward_weight(x.view(), grad_y.view(), grad_w.view(), p);
      }
    };
    step();  // builds and caches the oneDNN primitives outside the timed loop
    for (auto _ : state) {
      step();
      benchmark::ClobberMemory();
    }
    const double flops = layer.forward_flops() * (pass == Pass::All ? 3.0 : 1.0);
    state.counters["GFLOP/s"] = benchmark::Counter(
        flops * static_cast<double>(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

void register_all() {
  for (const ConvLayer& layer : layers()) {
    for (Pass pass : {Pass::Forward, Pass::BackwardData, Pass::BackwardWeight, Pass::All}) {
      for (ConvLibrary library :
           {ConvLibrary::OneDnn, ConvLibrary::OneDnnPlain, ConvLibrary::Blas}) {
        const std::string name = std::string(pass_name(pass)) + "/" +
                                 shears::kernels::cpu::conv_library_name(library) + "/" +
                                 layer.name;
        benchmark::RegisterBenchmark(name.c_str(), bm_conv, layer, library, pass)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
}

void print_shapes() {
  std::printf("[\n");
  const auto& table = layers();
  for (std::size_t i = 0; i < table.size(); ++i) {
    const ConvLayer& l = table[i];
    std::printf(
        "  {\"name\": \"%s\", \"n\": %lld, \"c\": %lld, \"h\": %lld, \"w\": %lld, \"k\": %lld, "
        "\"kh\": %lld, \"kw\": %lld, \"stride\": %d, \"pad\": %d, \"flops\": %.0f}%s\n",
        l.name, static_cast<long long>(l.n), static_cast<long long>(l.c),
        static_cast<long long>(l.h), static_cast<long long>(l.w), static_cast<long long>(l.k),
        static_cast<long long>(l.kh), static_cast<long long>(l.kw), l.stride, l.pad,
        l.forward_flops(), i + 1 < table.size() ? "," : "");
  }
  std::printf("]\n");
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (argc == 2 && std::strcmp(argv[1], "--print_shapes") == 0) {
    print_shapes();
    return 0;
  }
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_all();
  benchmark::AddCustomContext("conv_library_default", shears::kernels::cpu::conv_library_name(
                                                          shears::kernels::cpu::conv_library()));
  benchmark::AddCustomContext("math_libraries", shears::kernels::cpu::cpu_math_libraries());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
