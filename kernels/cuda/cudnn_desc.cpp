// RAII cuDNN descriptors (cudnn_desc.h).

#include "kernels/cuda/cudnn_desc.h"

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/util.h"

namespace shears::kernels::cuda {

TensorDesc::TensorDesc(const char* op, std::int64_t n, std::int64_t c, std::int64_t h,
                       std::int64_t w) {
  const int in = checked_int(op, "batch size", n);
  const int ic = checked_int(op, "channel count", c);
  const int ih = checked_int(op, "height", h);
  const int iw = checked_int(op, "width", w);
  checked_int(op, "element count", n * c * h * w);
  SHEARS_CUDNN_CHECK(cudnnCreateTensorDescriptor(&desc_));
  const cudnnStatus_t status =
      cudnnSetTensor4dDescriptor(desc_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, in, ic, ih, iw);
  if (status != CUDNN_STATUS_SUCCESS) {
    cudnnDestroyTensorDescriptor(desc_);
    check_detail::throw_cudnn_error(status, "cudnnSetTensor4dDescriptor", __FILE__, __LINE__);
  }
}

TensorDesc::~TensorDesc() {
  if (desc_ != nullptr) cudnnDestroyTensorDescriptor(desc_);
}

FilterDesc::FilterDesc(const char* op, std::int64_t k, std::int64_t c, std::int64_t kh,
                       std::int64_t kw) {
  const int ik = checked_int(op, "output channels", k);
  const int ic = checked_int(op, "input channels per group", c);
  const int ih = checked_int(op, "kernel height", kh);
  const int iw = checked_int(op, "kernel width", kw);
  checked_int(op, "weight element count", k * c * kh * kw);
  SHEARS_CUDNN_CHECK(cudnnCreateFilterDescriptor(&desc_));
  const cudnnStatus_t status =
      cudnnSetFilter4dDescriptor(desc_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, ik, ic, ih, iw);
  if (status != CUDNN_STATUS_SUCCESS) {
    cudnnDestroyFilterDescriptor(desc_);
    check_detail::throw_cudnn_error(status, "cudnnSetFilter4dDescriptor", __FILE__, __LINE__);
  }
}

FilterDesc::~FilterDesc() {
  if (desc_ != nullptr) cudnnDestroyFilterDescriptor(desc_);
}

ConvDesc::ConvDesc(const Conv2dParams& p, cudnnMathType_t math) {
  SHEARS_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&desc_));
  cudnnStatus_t status =
      cudnnSetConvolution2dDescriptor(desc_, p.pad_h, p.pad_w, p.stride_h, p.stride_w, p.dilation_h,
                                      p.dilation_w, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT);
  const char* call = "cudnnSetConvolution2dDescriptor";
  if (status == CUDNN_STATUS_SUCCESS) {
    status = cudnnSetConvolutionGroupCount(desc_, p.groups);
    call = "cudnnSetConvolutionGroupCount";
  }
  if (status == CUDNN_STATUS_SUCCESS) {
    status = cudnnSetConvolutionMathType(desc_, math);
    call = "cudnnSetConvolutionMathType";
  }
  if (status != CUDNN_STATUS_SUCCESS) {
    cudnnDestroyConvolutionDescriptor(desc_);
    check_detail::throw_cudnn_error(status, call, __FILE__, __LINE__);
  }
}

ConvDesc::~ConvDesc() {
  if (desc_ != nullptr) cudnnDestroyConvolutionDescriptor(desc_);
}

void ConvDesc::set_math(cudnnMathType_t math) {
  SHEARS_CUDNN_CHECK(cudnnSetConvolutionMathType(desc_, math));
}

BatchNormParamDesc::BatchNormParamDesc(const TensorDesc& x) {
  SHEARS_CUDNN_CHECK(cudnnCreateTensorDescriptor(&desc_));
  const cudnnStatus_t status =
      cudnnDeriveBNTensorDescriptor(desc_, x.get(), CUDNN_BATCHNORM_SPATIAL);
  if (status != CUDNN_STATUS_SUCCESS) {
    cudnnDestroyTensorDescriptor(desc_);
    check_detail::throw_cudnn_error(status, "cudnnDeriveBNTensorDescriptor", __FILE__, __LINE__);
  }
}

BatchNormParamDesc::~BatchNormParamDesc() {
  if (desc_ != nullptr) cudnnDestroyTensorDescriptor(desc_);
}

}  // namespace shears::kernels::cuda
