#include "engine/dist/sync_batch_norm.h"

#include <cmath>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/node.h"
#include "engine/nn/batch_norm2d.h"
#include "engine/ops/batch_norm.h"
#include "engine/ops/common.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"

namespace shears::dist {

namespace {
/// Per-channel sums (1,C,1,1) accumulated in double: a channel of a large layer sums 10^5 values
/// and more, whose float sum would differ from a single process's by far more than rounding.
Tensor channel_sum64(const Tensor& t, const Shape& stat_shape) {
  return sum_to(t.to(DType::F64), stat_shape);
}
}  // namespace

Tensor sync_batch_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias,
                       const Tensor& running_mean, const Tensor& running_var, double momentum,
                       double eps, Communicator& comm) {
  ops_detail::check_floating("sync_batch_norm", x_in);
  SHEARS_CHECK_AS(ShapeError, x_in.dim() == 4 || x_in.dim() == 2,
                  "sync_batch_norm: input must be (N,C,H,W) or (N,C), got ",
                  shape_str(x_in.shape()));
  const std::int64_t c = x_in.size(1);
  const Shape out_shape = x_in.shape();
  const Shape stat_shape = {1, c, 1, 1};
  Tensor x = x_in.dim() == 2
                 ? Tensor::from_storage(x_in.storage(), {x_in.size(0), c, 1, 1}, x_in.dtype())
                 : x_in.detach();
  Tensor mean, invstd, xhat, var_global;
  double n = 0;
  {
    NoGrad no_grad;
    Tensor count =
        Tensor::from_vector(std::vector<double>{static_cast<double>(x.numel() / c)}, {1});
    comm.allreduce_(count);
    n = count.data<double>()[0];
    SHEARS_CHECK_AS(ShapeError, n > 1,
                    "sync_batch_norm: training needs more than one value per "
                    "channel over all ranks, input ",
                    shape_str(x_in.shape()));
    Tensor s = channel_sum64(x, stat_shape);
    comm.allreduce_(s);
    mean = scale(s, 1.0 / n).to(x.dtype());
    Tensor xc = sub(x, mean);
    Tensor xc64 = xc.to(DType::F64);
    Tensor q = sum_to(mul(xc64, xc64), stat_shape);
    comm.allreduce_(q);
    Tensor var = scale(q, 1.0 / n).to(x.dtype());
    var_global = var;
    // 1/sqrt(var + eps) on the host: C values.
    Tensor v = scale(q, 1.0 / n).cpu();
    Tensor inv = Tensor::empty({1, c, 1, 1}, DType::F64);
    for (std::int64_t i = 0; i < c; ++i) {
      inv.data<double>()[i] = 1.0 / std::sqrt(v.data<double>()[i] + eps);
    }
    invstd = inv.to(x.dtype()).to(x.device());
    xhat = mul(xc, invstd);
    if (running_mean.defined()) {
      running_mean.copy_(
          add(scale(running_mean, 1.0 - momentum),
              scale(Tensor::from_storage(mean.storage(), {c}, mean.dtype()), momentum)));
    }
    if (running_var.defined()) {
      running_var.copy_(add(
          scale(running_var, 1.0 - momentum),
          scale(Tensor::from_storage(var.storage(), {c}, var.dtype()), momentum * n / (n - 1))));
    }
  }
  Tensor y;
  {
    // The normalisation itself is the batch_norm kernel's, fed the global statistics as its
    // running ones: the same y = x * scale + shift arithmetic as one process's training step, so
    // that no activation lands on the other side of a ReLU's kink by rounding alone.
    NoGrad no_grad;
    Tensor m = Tensor::from_storage(mean.storage(), {c}, mean.dtype()).clone();
    Tensor v = Tensor::from_storage(var_global.storage(), {c}, var_global.dtype()).clone();
    y = batch_norm(x, weight.defined() ? weight.detach() : Tensor(),
                   bias.defined() ? bias.detach() : Tensor(), m, v, false, 0.0, eps);
  }
  if (out_shape.size() == 2) y = Tensor::from_storage(y.storage(), out_shape, y.dtype());
  if (!needs_grad({x_in, weight, bias})) {
    record_op(y, "batch_norm", {x_in, weight, bias}, nullptr);
    return y;
  }
  const bool gx = x_in.requires_grad();
  const bool gw = weight.defined() && weight.requires_grad();
  const bool gb = bias.defined() && bias.requires_grad();
  Tensor saved_w = weight.defined() ? weight.detach() : Tensor();
  Communicator* cm = &comm;
  record_op(y, "batch_norm", {x_in, weight, bias}, [=](const Tensor& g_in) -> std::vector<Tensor> {
    NoGrad no_grad;
    Tensor g = Tensor::from_storage(g_in.storage(), xhat.shape(), g_in.dtype());
    std::vector<Tensor> grads(3);
    Tensor sum_g = sum_to(g, stat_shape);
    Tensor sum_gx = sum_to(mul(g, xhat), stat_shape);
    if (gw) grads[1] = Tensor::from_storage(sum_gx.storage(), {c}, sum_gx.dtype());
    if (gb) grads[2] = Tensor::from_storage(sum_g.storage(), {c}, sum_g.dtype());
    if (gx) {
      // dx = w * invstd * (g - mean(g) - xhat * mean(g * xhat)), means over all ranks.
      Tensor a = sum_g.clone(), b = sum_gx.clone();
      cm->allreduce_(a);
      cm->allreduce_(b);
      Tensor k = invstd;
      if (saved_w.defined()) {
        k = mul(k, Tensor::from_storage(saved_w.storage(), stat_shape, saved_w.dtype()));
      }
      Tensor dx = mul(sub(sub(g, scale(a, 1.0 / n)), mul(xhat, scale(b, 1.0 / n))), k);
      grads[0] = Tensor::from_storage(dx.storage(), out_shape, dx.dtype());
    }
    return grads;
  });
  return y;
}

int set_sync_batch_norm(nn::Module& model, Communicator* comm) {
  int changed = 0;
  for (auto& [name, m] : model.named_modules()) {
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) {
      bn->set_sync(comm);
      ++changed;
    }
  }
  return changed;
}

}  // namespace shears::dist
