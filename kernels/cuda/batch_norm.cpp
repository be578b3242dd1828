// CudaBackend::batch_norm_forward / batch_norm_backward: spatial batch normalisation of
// (N, C, spatial...) (usually (N,C,H,W); (N,C) has one value per image) with per-channel weight,
// bias and running statistics.
//
// Training uses cuDNN's CUDNN_BATCHNORM_SPATIAL kernels, whose conventions are PyTorch's and the
// CPU backend's: save_mean and save_invstd are the batch mean and 1 / sqrt(biased variance + eps);
// the running statistics move by exponentialAverageFactor = momentum, running_var towards the
// unbiased batch variance. cuDNN requires every parameter and output, so a missing weight or bias
// becomes a ones or zeros buffer and a gradient nobody asked for goes to scratch memory.
//
// Eval mode normalises with the running statistics: cuDNN's inference kernel writes y, and our
// kernel writes save_mean = running_mean and save_invstd = 1 / sqrt(running_var + eps). cuDNN has
// no eval-mode backward (the statistics are constants there), so it is ours:
//   grad_x = grad_y * weight * invstd, grad_weight = invstd * sum(grad_y * (x - mean)),
//   grad_bias = sum(grad_y), the sums over N, H, W (launch_channel_reduce_f32).

#include <cstdint>
#include <mutex>

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cudnn_desc.h"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/state.h"
#include "kernels/cuda/util.h"

namespace shears::kernels::cuda {
namespace {

struct BnShape {
  std::int64_t n, c, h, w;
};

// x: (N, C, spatial...), F32 on this device; cuDNN sees it as (N, C, prod(spatial), 1), the same
// memory.
BnShape check_input(CudaBackend::State& s, const char* op, const TensorView& x) {
  check_device(op, "x", x, s.device);
  check_f32(op, "x", x);
  SHEARS_CHECK_AS(ShapeError, x.dim() >= 2, op, ": x must be (N, C, ...), got ", view_str(x));
  const DimSplit split = split_at(x.shape, 1);
  return {split.outer, split.size, split.inner, 1};
}

// An optional or required per-channel tensor: F32 (C) on this device.
void check_channel(CudaBackend::State& s, const char* op, const char* what, const TensorView* t,
                   std::int64_t c) {
  if (t == nullptr) return;
  check_device(op, what, *t, s.device);
  SHEARS_CHECK_AS(ShapeError, t->dtype == DType::F32 && t->dim() == 1 && t->shape[0] == c, op, ": ",
                  what, " ", view_str(*t), " must be F32 [", c, "]");
}

// A (C) f32 buffer filled with `value`, for a missing weight (1) or bias (0).
DeviceBuffer constant_buffer(CudaBackend& backend, CudaBackend::State& s, std::int64_t c,
                             double value, const char* what) {
  DeviceBuffer buffer(s, static_cast<std::size_t>(c) * sizeof(float), what);
  backend.fill(TensorView{buffer.get(), {c}, DType::F32, Device::cuda(s.device)}, value);
  return buffer;
}

}  // namespace

void CudaBackend::batch_norm_forward(const TensorView& x, const TensorView* weight,
                                     const TensorView* bias, const TensorView* running_mean,
                                     const TensorView* running_var, const TensorView& y,
                                     const TensorView& save_mean, const TensorView& save_invstd,
                                     const BatchNormParams& p) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "batch_norm_forward";
  const BnShape b = check_input(s, op, x);
  check_device(op, "y", y, s.device);
  check_same(op, "x", x, "y", y);
  check_channel(s, op, "weight", weight, b.c);
  check_channel(s, op, "bias", bias, b.c);
  check_channel(s, op, "running_mean", running_mean, b.c);
  check_channel(s, op, "running_var", running_var, b.c);
  check_channel(s, op, "save_mean", &save_mean, b.c);
  check_channel(s, op, "save_invstd", &save_invstd, b.c);
  SHEARS_CHECK_AS(ShapeError, (running_mean == nullptr) == (running_var == nullptr), op,
                  ": running_mean and running_var must be given together");
  SHEARS_CHECK_AS(ShapeError, p.eps >= CUDNN_BN_MIN_EPSILON, op, ": eps ", p.eps,
                  " is below cuDNN's minimum ", CUDNN_BN_MIN_EPSILON);
  if (b.c == 0) return;
  if (!p.training) {
    SHEARS_CHECK_AS(ShapeError, running_mean != nullptr, op,
                    ": eval mode needs running statistics");
    launch_bn_eval_stats_f32(s, running_mean->as<const float>(), running_var->as<const float>(),
                             p.eps, save_mean.as<float>(), save_invstd.as<float>(), b.c);
    if (x.numel() == 0) return;
  } else {
    SHEARS_CHECK_AS(ShapeError, b.n * b.h * b.w > 1, op,
                    ": training needs more than one value per channel, x ", view_str(x));
  }
  DeviceBuffer ones, zeros;
  const void* scale = weight != nullptr ? weight->data : nullptr;
  const void* shift = bias != nullptr ? bias->data : nullptr;
  if (scale == nullptr) {
    ones = constant_buffer(*this, s, b.c, 1.0, "batch_norm unit weight");
    scale = ones.get();
  }
  if (shift == nullptr) {
    zeros = constant_buffer(*this, s, b.c, 0.0, "batch_norm zero bias");
    shift = zeros.get();
  }
  std::lock_guard<std::mutex> lock(s.library_mutex);
  s.point_handles();
  const TensorDesc& xd = cached_tensor_desc(s, op, b.n, b.c, b.h, b.w);
  const BatchNormParamDesc& pd = cached_bn_param_desc(s, op, b.n, b.c, b.h, b.w);
  const float one = 1.0f, zero = 0.0f;
  if (p.training) {
    SHEARS_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
        s.cudnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, xd.get(), x.data, xd.get(), y.data, pd.get(),
        scale, shift, p.momentum, running_mean != nullptr ? running_mean->data : nullptr,
        running_var != nullptr ? running_var->data : nullptr, p.eps, save_mean.data,
        save_invstd.data));
  } else {
    SHEARS_CUDNN_CHECK(cudnnBatchNormalizationForwardInference(
        s.cudnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, xd.get(), x.data, xd.get(), y.data, pd.get(),
        scale, shift, running_mean->data, running_var->data, p.eps));
  }
}

void CudaBackend::batch_norm_backward(const TensorView& x, const TensorView& grad_y,
                                      const TensorView* weight, const TensorView& save_mean,
                                      const TensorView& save_invstd, const TensorView* grad_x,
                                      const TensorView* grad_weight, const TensorView* grad_bias,
                                      bool training, double eps) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "batch_norm_backward";
  const BnShape b = check_input(s, op, x);
  check_device(op, "grad_y", grad_y, s.device);
  check_same(op, "x", x, "grad_y", grad_y);
  check_channel(s, op, "weight", weight, b.c);
  check_channel(s, op, "save_mean", &save_mean, b.c);
  check_channel(s, op, "save_invstd", &save_invstd, b.c);
  check_channel(s, op, "grad_weight", grad_weight, b.c);
  check_channel(s, op, "grad_bias", grad_bias, b.c);
  if (grad_x != nullptr) {
    check_device(op, "grad_x", *grad_x, s.device);
    check_same(op, "x", x, "grad_x", *grad_x);
  }
  if (b.c == 0 || (grad_x == nullptr && grad_weight == nullptr && grad_bias == nullptr)) return;
  const auto* mean = save_mean.as<const float>();
  const auto* invstd = save_invstd.as<const float>();
  const float* w = weight != nullptr ? weight->as<const float>() : nullptr;
  if (!training) {
    if (grad_x != nullptr) {
      launch_channel_scale_f32(s, grad_y.as<const float>(), grad_x->as<float>(), b.n, b.c,
                               b.h * b.w, invstd, w);
    }
    launch_channel_reduce_f32(s, grad_y.as<const float>(), x.as<const float>(), b.n, b.c, b.h * b.w,
                              mean, invstd,
                              grad_weight != nullptr ? grad_weight->as<float>() : nullptr,
                              grad_bias != nullptr ? grad_bias->as<float>() : nullptr);
    return;
  }
  SHEARS_CHECK_AS(ShapeError, b.n * b.h * b.w > 1, op,
                  ": training needs more than one value per channel, x ", view_str(x));
  DeviceBuffer ones, scratch_x, scratch_w, scratch_b;
  const void* scale = w;
  if (scale == nullptr) {
    ones = constant_buffer(*this, s, b.c, 1.0, "batch_norm unit weight");
    scale = ones.get();
  }
  void* dx = grad_x != nullptr ? grad_x->data : nullptr;
  void* dw = grad_weight != nullptr ? grad_weight->data : nullptr;
  void* db = grad_bias != nullptr ? grad_bias->data : nullptr;
  const std::size_t channel_bytes = static_cast<std::size_t>(b.c) * sizeof(float);
  if (dx == nullptr) {
    scratch_x = DeviceBuffer(s, static_cast<std::size_t>(x.numel()) * sizeof(float),
                             "batch_norm unused input gradient");
    dx = scratch_x.get();
  }
  if (dw == nullptr) {
    scratch_w = DeviceBuffer(s, channel_bytes, "batch_norm unused weight gradient");
    dw = scratch_w.get();
  }
  if (db == nullptr) {
    scratch_b = DeviceBuffer(s, channel_bytes, "batch_norm unused bias gradient");
    db = scratch_b.get();
  }
  // cuDNN reads the statistics from save_mean / save_invstd; the epsilon must still be the
  // forward's (its documentation asks for the same value in both passes).
  SHEARS_CHECK_AS(ShapeError, eps >= CUDNN_BN_MIN_EPSILON, op, ": eps ", eps,
                  " is below cuDNN's minimum ", CUDNN_BN_MIN_EPSILON);
  std::lock_guard<std::mutex> lock(s.library_mutex);
  s.point_handles();
  const TensorDesc& xd = cached_tensor_desc(s, op, b.n, b.c, b.h, b.w);
  const BatchNormParamDesc& pd = cached_bn_param_desc(s, op, b.n, b.c, b.h, b.w);
  const float one = 1.0f, zero = 0.0f;
  SHEARS_CUDNN_CHECK(cudnnBatchNormalizationBackward(
      s.cudnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero, xd.get(), x.data, xd.get(),
      grad_y.data, xd.get(), dx, pd.get(), scale, dw, db, eps, mean, invstd));
}

}  // namespace shears::kernels::cuda
