// CpuBackend::sgd_update: one fused SGD step over a parameter, in its own dtype, with PyTorch's
// order of operations (torch.optim.SGD, single-tensor path):
//   g = grad + weight_decay * param
//   buf = first_step ? g : momentum * buf + (1 - dampening) * g        (when momentum != 0)
//   g = nesterov ? g + momentum * buf : buf                             (when momentum != 0)
//   param -= lr * g
// param, grad and momentum_buf have one shape; every element is independent.

#include <cstdint>

#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/kernel_util.h"

namespace shears::kernels::cpu {
namespace {

template <typename T>
void sgd_typed(T* param, const T* grad, T* buf, std::int64_t n, const SgdParams& p) {
  const T lr = static_cast<T>(p.lr), wd = static_cast<T>(p.weight_decay);
  const T mom = static_cast<T>(p.momentum), damp = static_cast<T>(1.0 - p.dampening);
  const bool par = n >= kParallelMin;
  if (!buf) {
#pragma omp parallel for simd if (par)
    for (std::int64_t i = 0; i < n; ++i) param[i] -= lr * (grad[i] + wd * param[i]);
    return;
  }
  const bool first = p.first_step, nesterov = p.nesterov;
#pragma omp parallel for simd if (par)
  for (std::int64_t i = 0; i < n; ++i) {
    const T g = grad[i] + wd * param[i];
    const T b = first ? g : mom * buf[i] + damp * g;
    buf[i] = b;
    param[i] -= lr * (nesterov ? g + mom * b : b);
  }
}

}  // namespace

void CpuBackend::sgd_update(const TensorView& param, const TensorView& grad,
                            const TensorView* momentum_buf, const SgdParams& p) {
  const char* op = "sgd_update";
  check_cpu(op, "param", param);
  check_cpu(op, "grad", grad);
  check_floating(op, "param", param);
  check_same(op, "param", param, "grad", grad);
  SHEARS_CHECK_AS(Error, !p.nesterov || (p.momentum > 0.0 && p.dampening == 0.0), op,
                  ": Nesterov momentum needs momentum > 0 and zero dampening, got momentum ",
                  p.momentum, ", dampening ", p.dampening);
  SHEARS_CHECK_AS(Error, p.lr_device == nullptr, op,
                  ": a device-resident learning rate (SgdParams::lr_device) is for device "
                  "backends; the CPU takes lr");
  const bool use_momentum = p.momentum != 0.0;
  SHEARS_CHECK_AS(Error, !use_momentum || momentum_buf, op, ": momentum ", p.momentum,
                  " needs a momentum buffer for param ", view_str(param));
  if (use_momentum) {
    check_cpu(op, "momentum_buf", *momentum_buf);
    check_same(op, "param", param, "momentum_buf", *momentum_buf);
  }
  dispatch_floating(op, param, [&](auto tag) {
    using T = decltype(tag);
    sgd_typed(param.as<T>(), grad.as<const T>(), use_momentum ? momentum_buf->as<T>() : nullptr,
              param.numel(), p);
  });
}

}  // namespace shears::kernels::cpu
