#pragma once

// Shared by the CUDA tests: buffers owned by a backend, random data, twins of one tensor on the
// CPU and the GPU, and the two comparisons the parity tests use (tolerance for arithmetic, exact
// bytes for data movement). Every fixture derives from CudaTest, so nothing here runs without a
// GPU.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/common/backend.h"
#include "kernels/common/registry.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/support/cuda_test.h"

namespace shears::testing {

/// Memory from one backend, freed with it. Move-only.
class Buffer {
 public:
  Buffer(Backend& backend, Device device, Shape shape, DType dtype)
      : backend_(&backend), device_(device), shape_(std::move(shape)), dtype_(dtype) {
    bytes_ = static_cast<std::size_t>(shape_numel(shape_)) * dtype_size(dtype_);
    data_ = backend_->allocate(bytes_);
  }
  ~Buffer() {
    if (backend_ != nullptr) backend_->deallocate(data_, bytes_);
  }
  Buffer(Buffer&& o) noexcept
      : backend_(std::exchange(o.backend_, nullptr)),
        device_(o.device_),
        shape_(std::move(o.shape_)),
        dtype_(o.dtype_),
        data_(std::exchange(o.data_, nullptr)),
        bytes_(o.bytes_) {}
  Buffer& operator=(Buffer&&) = delete;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  TensorView view() const { return TensorView{data_, shape_, dtype_, device_}; }
  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  std::size_t bytes() const { return bytes_; }

  /// Copies raw bytes in (sizes must match).
  void set_bytes(const void* src) { backend_->copy_from_host(data_, src, bytes_); }
  template <typename T>
  void set(const std::vector<T>& values) {
    EXPECT_EQ(values.size() * sizeof(T), bytes_);
    if (values.size() * sizeof(T) == bytes_) set_bytes(values.data());
  }
  std::vector<std::uint8_t> get_bytes() const {
    std::vector<std::uint8_t> out(bytes_);
    backend_->copy_to_host(out.data(), data_, bytes_);
    return out;
  }
  template <typename T>
  std::vector<T> get() const {
    std::vector<T> out(bytes_ / sizeof(T));
    backend_->copy_to_host(out.data(), data_, out.size() * sizeof(T));
    return out;
  }

 private:
  Backend* backend_;
  Device device_;
  Shape shape_;
  DType dtype_;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

/// The same tensor on the CPU (the reference) and on cuda:0.
struct Twin {
  Buffer cpu;
  Buffer gpu;
  TensorView c() const { return cpu.view(); }
  TensorView g() const { return gpu.view(); }
};

/// Uniform values in [lo, hi), from a fixed seed.
inline std::vector<float> random_floats(std::int64_t n, std::uint32_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

/// Random bytes, for data-movement tests of any dtype.
inline std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng() & 0xFF);
  return v;
}

/// "[n, c, h, w]" multi-index of flat offset `i` in `shape`.
inline std::string multi_index(const Shape& shape, std::int64_t i) {
  Shape idx(shape.size());
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    const std::int64_t n = shape[static_cast<std::size_t>(d)];
    idx[static_cast<std::size_t>(d)] = n ? i % n : 0;
    i = n ? i / n : 0;
  }
  return shape_str(idx);
}

/// F32 comparison: passes when |got - want| <= atol + |want| * FLT_EPSILON * k everywhere. A
/// failure names the mismatch count, the worst index, both values and the largest errors.
inline ::testing::AssertionResult close_f32(const Buffer& got, const Buffer& want, double atol,
                                            double k) {
  if (got.shape() != want.shape() || got.dtype() != DType::F32 || want.dtype() != DType::F32) {
    return ::testing::AssertionFailure()
           << "compared " << dtype_name(got.dtype()) << " " << shape_str(got.shape()) << " with "
           << dtype_name(want.dtype()) << " " << shape_str(want.shape());
  }
  const std::vector<float> g = got.get<float>(), w = want.get<float>();
  const double eps = 1.1920928955078125e-07;
  std::int64_t bad = 0, worst = -1;
  double worst_excess = 0.0, max_abs = 0.0, max_rel = 0.0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double a = g[i], e = w[i];
    if (std::isnan(a) && std::isnan(e)) continue;
    const double diff = std::isnan(a) != std::isnan(e) ? INFINITY : std::fabs(a - e);
    max_abs = std::max(max_abs, diff);
    if (e != 0.0) max_rel = std::max(max_rel, diff / std::fabs(e));
    const double excess = diff - (atol + std::fabs(e) * eps * k);
    if (excess > 0.0) {
      ++bad;
      if (worst < 0 || excess > worst_excess) {
        worst = static_cast<std::int64_t>(i);
        worst_excess = excess;
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  const auto at = static_cast<std::size_t>(worst);
  return ::testing::AssertionFailure()
         << bad << " of " << g.size() << " elements differ (atol " << atol << ", eps * " << k
         << "); worst at " << multi_index(got.shape(), worst) << ": cuda " << g[at] << ", cpu "
         << w[at] << "; max abs err " << max_abs << ", max rel err " << max_rel;
}

/// Whether two floating elements are both NaN (conversions may produce different NaN payloads,
/// which count as equal).
inline bool both_nan(DType dtype, const std::uint8_t* a, const std::uint8_t* b) {
  if (dtype == DType::F32) {
    float x, y;
    std::memcpy(&x, a, 4);
    std::memcpy(&y, b, 4);
    return std::isnan(x) && std::isnan(y);
  }
  if (dtype == DType::F64) {
    double x, y;
    std::memcpy(&x, a, 8);
    std::memcpy(&y, b, 8);
    return std::isnan(x) && std::isnan(y);
  }
  return false;
}

/// Exact equality of the bytes of two tensors (any two NaNs are equal); a failure names the
/// first differing element.
inline ::testing::AssertionResult same_bytes(const Buffer& got, const Buffer& want) {
  if (got.shape() != want.shape() || got.dtype() != want.dtype()) {
    return ::testing::AssertionFailure()
           << "compared " << dtype_name(got.dtype()) << " " << shape_str(got.shape()) << " with "
           << dtype_name(want.dtype()) << " " << shape_str(want.shape());
  }
  const auto g = got.get_bytes(), w = want.get_bytes();
  const std::size_t elem = dtype_size(got.dtype());
  std::int64_t bad = 0, first = -1;
  for (std::size_t i = 0; i < g.size(); i += elem) {
    if (std::memcmp(&g[i], &w[i], elem) != 0 && !both_nan(got.dtype(), &g[i], &w[i])) {
      if (first < 0) first = static_cast<std::int64_t>(i / elem);
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << g.size() / elem << " elements differ; first at "
         << multi_index(got.shape(), first);
}

/// Fixture of the parity tests: a CPU reference backend, the cuda:0 backend, TF32 off.
class CudaParity : public CudaTest {
 protected:
  void SetUp() override {
    CudaTest::SetUp();
    if (IsSkipped()) return;
    set_allow_tf32(false);
    gpu_ = &backend_for(Device::cuda(0));
  }
  void TearDown() override { set_cuda_policy(CudaPolicy{}); }

  Buffer cpu_buffer(const Shape& shape, DType dtype = DType::F32) {
    return Buffer(cpu_, Device::cpu(), shape, dtype);
  }
  Buffer gpu_buffer(const Shape& shape, DType dtype = DType::F32) {
    return Buffer(*gpu_, Device::cuda(0), shape, dtype);
  }
  /// Both sides holding `values`.
  template <typename T>
  Twin twin(const Shape& shape, const std::vector<T>& values) {
    Twin t{cpu_buffer(shape, DTypeOf<T>::value), gpu_buffer(shape, DTypeOf<T>::value)};
    t.cpu.set(values);
    t.gpu.set(values);
    return t;
  }
  /// Both sides holding the same random f32 values in [lo, hi).
  Twin random_twin(const Shape& shape, std::uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
    return twin(shape, random_floats(shape_numel(shape), seed, lo, hi));
  }
  /// Both sides allocated, filled with the same garbage-looking values (outputs).
  Twin output_twin(const Shape& shape, DType dtype = DType::F32) {
    Twin t{cpu_buffer(shape, dtype), gpu_buffer(shape, dtype)};
    const auto bytes = random_bytes(t.cpu.bytes(), 99);
    if (!bytes.empty()) {
      t.cpu.set_bytes(bytes.data());
      t.gpu.set_bytes(bytes.data());
    }
    return t;
  }
  Twin index_twin(const std::vector<std::int64_t>& values) {
    return twin(Shape{static_cast<std::int64_t>(values.size())}, values);
  }

  kernels::cpu::CpuBackend cpu_;
  Backend* gpu_ = nullptr;
};

}  // namespace shears::testing
