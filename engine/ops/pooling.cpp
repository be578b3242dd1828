#include "engine/ops/pooling.h"

#include "engine/autograd/node.h"
#include "engine/ops/common.h"

namespace shears {

std::int64_t pool_out_size(std::int64_t in, int kernel, int stride, int pad, bool ceil_mode) {
  std::int64_t span = in + 2 * pad - kernel;
  std::int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

namespace {
Pool2dParams make_params(const char* op, const Tensor& x, int kh, int kw, int sh, int sw, int ph,
                         int pw, bool ceil_mode, bool count_include_pad) {
  ops_detail::check_floating(op, x);
  ops_detail::check_dim(op, x, 4, "input");
  SHEARS_CHECK_AS(ShapeError, kh > 0 && kw > 0 && sh > 0 && sw > 0, op,
                  ": kernel and stride must be positive");
  SHEARS_CHECK_AS(ShapeError, ph >= 0 && pw >= 0 && 2 * ph <= kh && 2 * pw <= kw, op,
                  ": padding must be at most half the kernel, got padding ", ph, " for kernel ",
                  kh);
  Pool2dParams p;
  p.kernel_h = kh;
  p.kernel_w = kw;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_h = ph;
  p.pad_w = pw;
  p.ceil_mode = ceil_mode;
  p.count_include_pad = count_include_pad;
  return p;
}

Shape out_shape(const char* op, const Tensor& x, const Pool2dParams& p) {
  std::int64_t ho = pool_out_size(x.size(2), p.kernel_h, p.stride_h, p.pad_h, p.ceil_mode);
  std::int64_t wo = pool_out_size(x.size(3), p.kernel_w, p.stride_w, p.pad_w, p.ceil_mode);
  SHEARS_CHECK_AS(ShapeError, ho > 0 && wo > 0, op, ": input ", shape_str(x.shape()),
                  " is too small for kernel ", p.kernel_h, "x", p.kernel_w);
  return {x.size(0), x.size(1), ho, wo};
}

OpAttrs pool_attrs(const Pool2dParams& p) {
  return {{"kernel_h", p.kernel_h},
          {"kernel_w", p.kernel_w},
          {"stride_h", p.stride_h},
          {"stride_w", p.stride_w},
          {"pad_h", p.pad_h},
          {"pad_w", p.pad_w},
          {"ceil_mode", p.ceil_mode ? 1 : 0},
          {"count_include_pad", p.count_include_pad ? 1 : 0}};
}

Tensor avg_pool_impl(Op op, const Tensor& x, const Pool2dParams& p) {
  const char* name = op_name(op);
  Tensor y = Tensor::empty(out_shape(name, x, p), x.dtype(), x.device());
  if (y.numel() > 0) ops_detail::backend_of(x).avg_pool2d_forward(x.view(), y.view(), p);
  Shape x_shape = x.shape();
  record_op(
      y, op, {x},
      [p, x_shape](const Tensor& g) -> std::vector<Tensor> {
        Tensor gx = Tensor::empty(x_shape, g.dtype(), g.device());
        if (gx.numel() > 0) ops_detail::backend_of(g).avg_pool2d_backward(g.view(), gx.view(), p);
        return {gx};
      },
      pool_attrs(p));
  return y;
}
}  // namespace

Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding, bool ceil_mode) {
  if (stride <= 0) stride = kernel;
  Pool2dParams p = make_params("max_pool2d", x, kernel, kernel, stride, stride, padding, padding,
                               ceil_mode, true);
  Shape shape = out_shape("max_pool2d", x, p);
  Tensor y = Tensor::empty(shape, x.dtype(), x.device());
  Tensor indices = Tensor::empty(shape, DType::I64, x.device());
  if (y.numel() > 0) {
    ops_detail::backend_of(x).max_pool2d_forward(x.view(), y.view(), indices.view(), p);
  }
  Shape x_shape = x.shape();
  record_op(
      y, Op::MaxPool2d, {x},
      [indices, x_shape](const Tensor& g) -> std::vector<Tensor> {
        Tensor gx = Tensor::empty(x_shape, g.dtype(), g.device());
        if (gx.numel() > 0) {
          ops_detail::backend_of(g).max_pool2d_backward(g.view(), indices.view(), gx.view());
        }
        return {gx};
      },
      pool_attrs(p));
  return y;
}

Tensor avg_pool2d(const Tensor& x, int kernel, int stride, int padding, bool ceil_mode,
                  bool count_include_pad) {
  if (stride <= 0) stride = kernel;
  Pool2dParams p = make_params("avg_pool2d", x, kernel, kernel, stride, stride, padding, padding,
                               ceil_mode, count_include_pad);
  return avg_pool_impl(Op::AvgPool2d, x, p);
}

Tensor global_avg_pool2d(const Tensor& x) {
  ops_detail::check_dim("global_avg_pool2d", x, 4, "input");
  int h = static_cast<int>(x.size(2)), w = static_cast<int>(x.size(3));
  Pool2dParams p = make_params("global_avg_pool2d", x, h, w, h, w, 0, 0, false, true);
  return avg_pool_impl(Op::GlobalAvgPool2d, x, p);
}

}  // namespace shears
