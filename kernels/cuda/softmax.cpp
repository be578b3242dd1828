// CudaBackend::softmax_forward / softmax_backward over (N,C) rows through cuDNN.
//
// The rows are described as an (N, C, 1, 1) tensor with CUDNN_SOFTMAX_MODE_INSTANCE (one softmax
// per image over C). Forward uses CUDNN_SOFTMAX_ACCURATE (the row maximum is subtracted first) or
// CUDNN_SOFTMAX_LOG; backward takes the forward output y:
//   softmax:     grad_x = y * (grad_y - sum(grad_y * y))
//   log_softmax: grad_x = grad_y - exp(y) * sum(grad_y)

#include <cstdint>
#include <mutex>

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cudnn_desc.h"
#include "kernels/cuda/state.h"
#include "kernels/cuda/util.h"

namespace shears::kernels::cuda {

void CudaBackend::softmax_forward(const TensorView& x, const TensorView& y, bool log) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = log ? "log_softmax_forward" : "softmax_forward";
  check_device(op, "x", x, s.device);
  check_device(op, "y", y, s.device);
  check_f32(op, "x", x);
  check_dim(op, "x", x, 2);
  check_same(op, "x", x, "y", y);
  if (x.numel() == 0) return;
  std::lock_guard<std::mutex> lock(s.library_mutex);
  s.point_handles();
  const TensorDesc& d = cached_tensor_desc(s, op, x.shape[0], x.shape[1], 1, 1);
  const float one = 1.0f, zero = 0.0f;
  SHEARS_CUDNN_CHECK(cudnnSoftmaxForward(s.cudnn, log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE,
                                         CUDNN_SOFTMAX_MODE_INSTANCE, &one, d.get(), x.data, &zero,
                                         d.get(), y.data));
}

void CudaBackend::softmax_backward(const TensorView& y, const TensorView& grad_y,
                                   const TensorView& grad_x, bool log) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  check_device(op, "y", y, s.device);
  check_device(op, "grad_y", grad_y, s.device);
  check_device(op, "grad_x", grad_x, s.device);
  check_f32(op, "y", y);
  check_dim(op, "y", y, 2);
  check_same(op, "y", y, "grad_y", grad_y);
  check_same(op, "y", y, "grad_x", grad_x);
  if (y.numel() == 0) return;
  std::lock_guard<std::mutex> lock(s.library_mutex);
  s.point_handles();
  const TensorDesc& d = cached_tensor_desc(s, op, y.shape[0], y.shape[1], 1, 1);
  const float one = 1.0f, zero = 0.0f;
  SHEARS_CUDNN_CHECK(cudnnSoftmaxBackward(s.cudnn, log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE,
                                          CUDNN_SOFTMAX_MODE_INSTANCE, &one, d.get(), y.data,
                                          d.get(), grad_y.data, &zero, d.get(), grad_x.data));
}

}  // namespace shears::kernels::cuda
