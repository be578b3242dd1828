#include "engine/ops/activation.h"

#include "engine/autograd/node.h"
#include "engine/ops/common.h"

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
}  // namespace

Tensor relu(const Tensor& x) { return activation(Op::Relu, ActivationKind::Relu, 0.0, x); }
Tensor leaky_relu(const Tensor& x, double negative_slope) {
  SHEARS_CHECK(negative_slope > 0, "leaky_relu: negative_slope must be > 0, got ", negative_slope);
  return activation(Op::LeakyRelu, ActivationKind::LeakyRelu, negative_slope, x);
}
Tensor sigmoid(const Tensor& x) { return activation(Op::Sigmoid, ActivationKind::Sigmoid, 0.0, x); }
Tensor tanh(const Tensor& x) { return activation(Op::Tanh, ActivationKind::Tanh, 0.0, x); }
Tensor exp(const Tensor& x) { return activation(Op::Exp, ActivationKind::Exp, 0.0, x); }

}  // namespace shears
