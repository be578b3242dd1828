#include "engine/ops/reduce.h"

#include "engine/autograd/node.h"
#include "engine/ops/common.h"
#include "engine/ops/elementwise.h"

namespace shears {

using ops_detail::backend_of;

namespace {
/// g (shape `from`-compatible) expanded to `shape` by broadcasting.
Tensor expand_to(const Tensor& g, const Shape& shape) {
  Tensor out = Tensor::zeros(shape, g.dtype(), g.device());
  if (out.numel() > 0) backend_of(g).binary(BinaryOp::Add, out.view(), g.view(), out.view());
  return out;
}
}  // namespace

Tensor sum_to(const Tensor& x, const Shape& shape) {
  ops_detail::check_floating("sum_to", x);
  SHEARS_CHECK_AS(ShapeError, broadcast_shape(x.shape(), shape) == x.shape(), "sum_to: shape ",
                  shape_str(shape), " is not broadcast-compatible with ", shape_str(x.shape()));
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  if (x.numel() == 0) {
    out.fill_(0.0);
  } else {
    backend_of(x).sum_to(x.view(), out.view());
  }
  Shape in_shape = x.shape();
  record_op(out, Op::SumTo, {x}, [in_shape](const Tensor& g) -> std::vector<Tensor> {
    return {expand_to(g, in_shape)};
  });
  return out;
}

Tensor sum(const Tensor& x) { return sum_to(x, {}); }

Tensor mean(const Tensor& x) {
  SHEARS_CHECK_AS(ShapeError, x.numel() > 0, "mean of an empty tensor of shape ",
                  shape_str(x.shape()));
  return scale(sum(x), 1.0 / static_cast<double>(x.numel()));
}

}  // namespace shears
