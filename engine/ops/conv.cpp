#include "engine/ops/conv.h"

#include "engine/autograd/node.h"
#include "engine/ops/common.h"
#include "engine/ops/reduce.h"

namespace shears {

std::int64_t conv_out_size(std::int64_t in, int kernel, int stride, int pad, int dilation) {
  return (in + 2 * pad - static_cast<std::int64_t>(dilation) * (kernel - 1) - 1) / stride + 1;
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  ops_detail::check_floating("conv2d", x);
  ops_detail::check_same("conv2d", x, {weight, bias});
  ops_detail::check_dim("conv2d", x, 4, "input");
  ops_detail::check_dim("conv2d", weight, 4, "weight");
  const std::int64_t cin = x.size(1), cout = weight.size(0);
  SHEARS_CHECK_AS(ShapeError, p.groups >= 1 && cin % p.groups == 0 && cout % p.groups == 0,
                  "conv2d: groups=", p.groups, " must divide input channels ", cin,
                  " and output channels ", cout);
  SHEARS_CHECK_AS(ShapeError, weight.size(1) * p.groups == cin, "conv2d: input ",
                  shape_str(x.shape()), " has ", cin, " channels but weight ",
                  shape_str(weight.shape()), " with groups=", p.groups, " expects ",
                  weight.size(1) * p.groups);
  SHEARS_CHECK_AS(ShapeError,
                  p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0 &&
                      p.pad_h >= 0 && p.pad_w >= 0,
                  "conv2d: stride and dilation must be positive and padding non-negative");
  if (bias.defined()) {
    SHEARS_CHECK_AS(ShapeError, bias.dim() == 1 && bias.size(0) == cout, "conv2d: bias ",
                    shape_str(bias.shape()), " does not match ", cout, " output channels");
  }
  const std::int64_t ho =
      conv_out_size(x.size(2), static_cast<int>(weight.size(2)), p.stride_h, p.pad_h, p.dilation_h);
  const std::int64_t wo =
      conv_out_size(x.size(3), static_cast<int>(weight.size(3)), p.stride_w, p.pad_w, p.dilation_w);
  SHEARS_CHECK_AS(ShapeError, ho > 0 && wo > 0, "conv2d: input ", shape_str(x.shape()),
                  " is too small for weight ", shape_str(weight.shape()), " (output ", ho, "x", wo,
                  ")");
  Tensor y = Tensor::empty({x.size(0), cout, ho, wo}, x.dtype(), x.device());
  ops_detail::OptView b(bias);
  if (y.numel() > 0) {
    ops_detail::backend_of(x).conv2d_forward(x.view(), weight.view(), b.get(), y.view(), p);
  }
  OpAttrs attrs = {{"stride_h", p.stride_h},     {"stride_w", p.stride_w},
                   {"pad_h", p.pad_h},           {"pad_w", p.pad_w},
                   {"dilation_h", p.dilation_h}, {"dilation_w", p.dilation_w},
                   {"groups", p.groups}};
  if (!needs_grad({x, weight, bias})) {
    record_op(y, Op::Conv2d, {x, weight, bias}, nullptr, std::move(attrs));
    return y;
  }
  const bool gx = x.requires_grad(), gw = weight.requires_grad();
  const bool gb = bias.defined() && bias.requires_grad();
  // Keep x only for the weight gradient and the weight only for the input gradient.
  Tensor saved_x = gw ? x.detach() : Tensor();
  Tensor saved_w = gx ? weight.detach() : Tensor();
  Shape x_shape = x.shape(), w_shape = weight.shape();
  record_op(
      y, Op::Conv2d, {x, weight, bias},
      [=](const Tensor& g) -> std::vector<Tensor> {
        Backend& be = ops_detail::backend_of(g);
        std::vector<Tensor> grads(3);
        if (gx) {
          grads[0] = Tensor::empty(x_shape, g.dtype(), g.device());
          be.conv2d_backward_data(g.view(), saved_w.view(), grads[0].view(), p);
        }
        if (gw) {
          grads[1] = Tensor::empty(w_shape, g.dtype(), g.device());
          be.conv2d_backward_weight(saved_x.view(), g.view(), grads[1].view(), p);
        }
        if (gb) grads[2] = sum_to(g, {1, w_shape[0], 1, 1}).detach();
        if (gb) grads[2] = Tensor::from_storage(grads[2].storage(), {w_shape[0]}, g.dtype());
        return grads;
      },
      std::move(attrs));
  return y;
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int stride, int padding,
              int dilation, int groups) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = padding;
  p.dilation_h = p.dilation_w = dilation;
  p.groups = groups;
  return conv2d(x, weight, bias, p);
}

}  // namespace shears
