#include "engine/ops/channel.h"

#include "engine/autograd/node.h"
#include "engine/ops/common.h"
#include "engine/ops/shape.h"

namespace shears {

Tensor soft_mask(const Tensor& x, const Tensor& mask) {
  ops_detail::check_floating("soft_mask", x);
  ops_detail::check_same("soft_mask", x, {mask});
  ops_detail::check_dim("soft_mask", x, 4, "input");
  SHEARS_CHECK_AS(ShapeError, mask.dim() == 1 && mask.size(0) == x.size(1), "soft_mask: mask ",
                  shape_str(mask.shape()), " does not match channels of ", shape_str(x.shape()));
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (y.numel() > 0) ops_detail::backend_of(x).soft_mask_forward(x.view(), mask.view(), y.view());
  const bool gx = x.requires_grad(), gm = mask.requires_grad();
  Tensor sx = gm ? x.detach() : Tensor(), sm = mask.detach();
  Shape x_shape = x.shape();
  record_op(y, "soft_mask", {x, mask}, [=](const Tensor& g) -> std::vector<Tensor> {
    std::vector<Tensor> grads(2);
    if (gx) grads[0] = Tensor::empty(x_shape, g.dtype(), g.device());
    if (gm) grads[1] = Tensor::empty(sm.shape(), g.dtype(), g.device());
    ops_detail::OptView ogx(grads[0]), ogm(grads[1]);
    // With no x saved (mask gradient not needed), x's view is only read for its shape.
    TensorView xv = gm ? sx.view() : TensorView{nullptr, x_shape, g.dtype(), g.device()};
    ops_detail::backend_of(g).soft_mask_backward(xv, sm.view(), g.view(), ogx.get(), ogm.get());
    return grads;
  });
  return y;
}

namespace {
Tensor keep_tensor(const std::vector<std::int64_t>& keep, Device device) {
  return Tensor::from_vector(keep, {static_cast<std::int64_t>(keep.size())}, device);
}
}  // namespace

Tensor channel_gather(const Tensor& x, int dim_in, const std::vector<std::int64_t>& keep) {
  int dim = ops_detail::normalise_dim("channel_gather", x, dim_in);
  Shape shape = x.shape();
  shape[static_cast<std::size_t>(dim)] = static_cast<std::int64_t>(keep.size());
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  ops_detail::backend_of(x).channel_gather(x.view(), dim, keep_tensor(keep, x.device()).view(),
                                           out.view());
  return out;
}

void channel_scatter(const Tensor& src, int dim_in, const std::vector<std::int64_t>& keep,
                     const Tensor& out) {
  int dim = ops_detail::normalise_dim("channel_scatter", out, dim_in);
  ops_detail::check_same("channel_scatter", out, {src});
  ops_detail::backend_of(out).channel_scatter(src.view(), dim,
                                              keep_tensor(keep, out.device()).view(), out.view());
}

void channel_mask_(const Tensor& x, int dim_in, const Tensor& mask) {
  int dim = ops_detail::normalise_dim("channel_mask_", x, dim_in);
  SHEARS_CHECK_AS(ShapeError, mask.dim() == 1 && mask.size(0) == x.size(dim),
                  "channel_mask_: mask ", shape_str(mask.shape()), " does not match dimension ",
                  dim, " of ", shape_str(x.shape()));
  Tensor m = mask.device() == x.device() && mask.dtype() == x.dtype()
                 ? mask
                 : mask.to(x.dtype()).to(x.device());
  ops_detail::backend_of(x).channel_mask(x.view(), dim, m.view());
}

}  // namespace shears
