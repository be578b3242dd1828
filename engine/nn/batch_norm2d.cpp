#include "engine/nn/batch_norm2d.h"

#include "engine/dist/sync_batch_norm.h"
#include "engine/graph/recording.h"
#include "engine/ops/batch_norm.h"

namespace shears::nn {

BatchNorm2d::BatchNorm2d(std::int64_t channels, double eps, double momentum, bool affine)
    : eps_(eps), momentum_(momentum) {
  SHEARS_CHECK(channels > 0, "BatchNorm2d: channels must be positive, got ", channels);
  if (affine) {
    weight = Tensor::ones({channels});
    bias = Tensor::zeros({channels});
  }
  running_mean = Tensor::zeros({channels});
  running_var = Tensor::ones({channels});
  num_batches_tracked = Tensor::zeros({}, DType::I64);
  register_parameter("weight", weight);
  register_parameter("bias", bias);
  register_buffer("running_mean", running_mean);
  register_buffer("running_var", running_var);
  register_host_buffer("num_batches_tracked", num_batches_tracked);
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  if (is_training()) {
    // A host buffer (it stays on the CPU when the module moves to a GPU): counting here costs
    // no device round trip. A tensor assigned from elsewhere may still live on a device. In a
    // recorded step graph the count advances at every replay (graph::host_effect).
    graph::host_effect([this] {
      if (!num_batches_tracked.device().is_cpu()) {
        num_batches_tracked = num_batches_tracked.to(Device::cpu());
      }
      num_batches_tracked.data<std::int64_t>()[0] += 1;
    });
    if (cumulative_) {
      graph::require_eager(
          "BatchNorm2d with a cumulative average (momentum None) changes its momentum every "
          "step");
    }
  }
  double momentum = momentum_;
  if (cumulative_ && is_training()) momentum = 1.0 / static_cast<double>(++cumulative_count_);
  if (is_training() && sync_ != nullptr && sync_->size() > 1) {
    return apply_forward_hooks(
        dist::sync_batch_norm(x, weight, bias, running_mean, running_var, momentum, eps_, *sync_));
  }
  return apply_forward_hooks(
      batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum, eps_));
}

void BatchNorm2d::reset_running_stats() {
  running_mean.fill_(0.0);
  running_var.fill_(1.0);
  num_batches_tracked.fill_(0.0);
}

void BatchNorm2d::set_cumulative(bool on) {
  cumulative_ = on;
  cumulative_count_ = 0;
}

std::string BatchNorm2d::extra_repr() const {
  return std::to_string(channels()) + ", eps=" + std::to_string(eps_) +
         (weight.defined() ? "" : ", affine=false");
}

}  // namespace shears::nn
