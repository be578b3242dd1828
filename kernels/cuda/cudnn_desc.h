#pragma once

// Private to kernels/cuda: RAII owners of cuDNN descriptors. Each is created in its constructor
// (throwing CudaError on failure), destroyed in its destructor (which never throws) and cannot be
// copied. All describe f32 NCHW data, the only layout and type the CUDA backend hands to cuDNN.

#include <cstdint>

#include <cudnn.h>

#include "kernels/common/params.h"

namespace shears::kernels::cuda {

/// A 4-D f32 tensor (n, c, h, w), fully packed NCHW. Throws ShapeError when a size or the element
/// count does not fit cuDNN's 32-bit sizes.
class TensorDesc {
 public:
  TensorDesc(const char* op, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w);
  ~TensorDesc();
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  cudnnTensorDescriptor_t get() const { return desc_; }

 private:
  cudnnTensorDescriptor_t desc_ = nullptr;
};

/// An f32 convolution filter (k, c_per_group, kh, kw) in NCHW (KCRS) order.
class FilterDesc {
 public:
  FilterDesc(const char* op, std::int64_t k, std::int64_t c, std::int64_t kh, std::int64_t kw);
  ~FilterDesc();
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
  cudnnFilterDescriptor_t get() const { return desc_; }

 private:
  cudnnFilterDescriptor_t desc_ = nullptr;
};

/// A 2-D cross-correlation (PyTorch's convolution) with f32 accumulation, the geometry and group
/// count of `p`, and math type `math` (which set_math may change before each library call).
class ConvDesc {
 public:
  ConvDesc(const Conv2dParams& p, cudnnMathType_t math);
  ~ConvDesc();
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
  void set_math(cudnnMathType_t math);
  cudnnConvolutionDescriptor_t get() const { return desc_; }

 private:
  cudnnConvolutionDescriptor_t desc_ = nullptr;
};

/// The (1, C, 1, 1) descriptor cuDNN derives from an input descriptor for spatial batch-norm
/// parameters and statistics.
class BatchNormParamDesc {
 public:
  explicit BatchNormParamDesc(const TensorDesc& x);
  ~BatchNormParamDesc();
  BatchNormParamDesc(const BatchNormParamDesc&) = delete;
  BatchNormParamDesc& operator=(const BatchNormParamDesc&) = delete;
  cudnnTensorDescriptor_t get() const { return desc_; }

 private:
  cudnnTensorDescriptor_t desc_ = nullptr;
};

}  // namespace shears::kernels::cuda
