#include "engine/ops/batch_norm.h"

#include "engine/autograd/node.h"
#include "engine/ops/common.h"

namespace shears {

Tensor batch_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  double momentum, double eps) {
  ops_detail::check_floating("batch_norm", x_in);
  ops_detail::check_same("batch_norm", x_in, {weight, bias, running_mean, running_var});
  SHEARS_CHECK_AS(ShapeError, x_in.dim() == 4 || x_in.dim() == 2,
                  "batch_norm: input must be (N,C,H,W) or (N,C), got ", shape_str(x_in.shape()));
  const std::int64_t c = x_in.size(1);
  for (const Tensor* t : {&weight, &bias, &running_mean, &running_var}) {
    if (t->defined()) {
      SHEARS_CHECK_AS(ShapeError, t->dim() == 1 && t->size(0) == c, "batch_norm: parameter ",
                      shape_str(t->shape()), " does not match ", c, " channels of input ",
                      shape_str(x_in.shape()));
    }
  }
  SHEARS_CHECK_AS(ShapeError, training || (running_mean.defined() && running_var.defined()),
                  "batch_norm: eval mode needs running statistics");
  SHEARS_CHECK_AS(ShapeError, !training || x_in.numel() / c > 1,
                  "batch_norm: training needs more than one value per channel, input ",
                  shape_str(x_in.shape()));
  // (N,C) is normalised as (N,C,1,1): same memory, so the kernels see one layout.
  Shape out_shape = x_in.shape();
  Tensor x = x_in.dim() == 2
                 ? Tensor::from_storage(x_in.storage(), {x_in.size(0), c, 1, 1}, x_in.dtype())
                 : x_in;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor save_mean = Tensor::empty({c}, x.dtype(), x.device());
  Tensor save_invstd = Tensor::empty({c}, x.dtype(), x.device());
  BatchNormParams p{training, momentum, eps};
  ops_detail::OptView w(weight), b(bias), rm(running_mean), rv(running_var);
  ops_detail::backend_of(x).batch_norm_forward(x.view(), w.get(), b.get(), rm.get(), rv.get(),
                                               y.view(), save_mean.view(), save_invstd.view(), p);
  if (out_shape.size() == 2) y = Tensor::from_storage(y.storage(), out_shape, y.dtype());
  OpAttrs attrs = {{"training", training ? 1 : 0}, {"eps", real_attr(eps)}};
  if (!needs_grad({x_in, weight, bias})) {
    record_op(y, Op::BatchNorm, {x_in, weight, bias, running_mean, running_var}, nullptr,
              std::move(attrs));
    return y;
  }
  const bool gx = x_in.requires_grad();
  const bool gw = weight.defined() && weight.requires_grad();
  const bool gb = bias.defined() && bias.requires_grad();
  Tensor saved_x = x.detach(), saved_w = weight.defined() ? weight.detach() : Tensor();
  record_op(
      y, Op::BatchNorm, {x_in, weight, bias, running_mean, running_var},
      [=](const Tensor& g_in) -> std::vector<Tensor> {
        Tensor g = Tensor::from_storage(g_in.storage(), saved_x.shape(), g_in.dtype());
        std::vector<Tensor> grads(5);
        if (gx) grads[0] = Tensor::empty(saved_x.shape(), g.dtype(), g.device());
        if (gw) grads[1] = Tensor::empty({c}, g.dtype(), g.device());
        if (gb) grads[2] = Tensor::empty({c}, g.dtype(), g.device());
        ops_detail::OptView sw(saved_w), ogx(grads[0]), ogw(grads[1]), ogb(grads[2]);
        ops_detail::backend_of(g).batch_norm_backward(
            saved_x.view(), g.view(), sw.get(), save_mean.view(), save_invstd.view(), ogx.get(),
            ogw.get(), ogb.get(), training, eps);
        if (gx && out_shape.size() == 2) {
          grads[0] = Tensor::from_storage(grads[0].storage(), out_shape, g.dtype());
        }
        return grads;
      },
      std::move(attrs));
  return y;
}

}  // namespace shears
