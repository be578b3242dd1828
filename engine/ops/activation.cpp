#include "engine/ops/activation.h"

#include "engine/autograd/node.h"
#include "engine/ops/common.h"
#include "engine/ops/elementwise.h"

namespace shears {

namespace {
Tensor activation(Op op, ActivationKind kind, double alpha, const Tensor& x) {
  const char* name = op_name(op);
  ops_detail::check_floating(name, x);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (y.numel() > 0) ops_detail::backend_of(x).activation_forward(kind, alpha, x.view(), y.view());
  OpAttrs attrs = {{"kind", static_cast<std::int64_t>(kind)}, {"alpha", real_attr(alpha)}};
  if (needs_grad({x})) {
    // Every kind differentiates from its output, so the input need not be kept alive.
    Tensor saved = y.detach();
    record_op(
        y, op, {x},
        [kind, alpha, saved](const Tensor& g) -> std::vector<Tensor> {
          Tensor gx = Tensor::empty(saved.shape(), saved.dtype(), saved.device());
          if (gx.numel() > 0) {
            ops_detail::backend_of(g).activation_backward(kind, alpha, saved.view(), g.view(),
                                                          gx.view());
          }
          return {gx};
        },
        std::move(attrs));
  } else {
    record_op(y, op, {x}, nullptr, std::move(attrs));
  }
  return y;
}

Tensor pointwise(Op traced, PointwiseOp op, double lo, double hi, const Tensor& x) {
  const char* name = op_name(traced);
  ops_detail::check_floating(name, x);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (y.numel() > 0) ops_detail::backend_of(x).pointwise_forward(op, lo, hi, x.view(), y.view());
  OpAttrs attrs = {
      {"kind", static_cast<std::int64_t>(op)}, {"lo", real_attr(lo)}, {"hi", real_attr(hi)}};
  if (needs_grad({x})) {
    Tensor saved = x.detach();
    record_op(
        y, traced, {x},
        [op, lo, hi, saved](const Tensor& g) -> std::vector<Tensor> {
          Tensor gx = Tensor::empty(saved.shape(), saved.dtype(), saved.device());
          if (gx.numel() > 0) {
            ops_detail::backend_of(g).pointwise_backward(op, lo, hi, saved.view(), g.view(),
                                                         gx.view());
          }
          return {gx};
        },
        std::move(attrs));
  } else {
    record_op(y, traced, {x}, nullptr, std::move(attrs));
  }
  return y;
}
}  // namespace

Tensor relu(const Tensor& x) { return activation(Op::Relu, ActivationKind::Relu, 0.0, x); }
Tensor leaky_relu(const Tensor& x, double negative_slope) {
  SHEARS_CHECK(negative_slope > 0, "leaky_relu: negative_slope must be > 0, got ", negative_slope);
  return activation(Op::LeakyRelu, ActivationKind::LeakyRelu, negative_slope, x);
}
Tensor sigmoid(const Tensor& x) { return activation(Op::Sigmoid, ActivationKind::Sigmoid, 0.0, x); }
Tensor tanh(const Tensor& x) { return activation(Op::Tanh, ActivationKind::Tanh, 0.0, x); }
Tensor exp(const Tensor& x) { return activation(Op::Exp, ActivationKind::Exp, 0.0, x); }
Tensor abs(const Tensor& x) { return pointwise(Op::Abs, PointwiseOp::Abs, 0.0, 0.0, x); }
Tensor sign(const Tensor& x) { return pointwise(Op::Sign, PointwiseOp::Sign, 0.0, 0.0, x); }
Tensor clamp(const Tensor& x, double lo, double hi) {
  SHEARS_CHECK(lo <= hi, "clamp: lo must be <= hi, got ", lo, " > ", hi);
  return pointwise(Op::Clamp, PointwiseOp::Clamp, lo, hi, x);
}
Tensor soft_threshold(const Tensor& x, double t) {
  SHEARS_CHECK(t >= 0, "soft_threshold: threshold must be >= 0, got ", t);
  return mul(sign(x), relu(add_scalar(abs(x), -t)));
}

}  // namespace shears
