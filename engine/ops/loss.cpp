#include "engine/ops/loss.h"

#include "engine/autograd/node.h"
#include "engine/ops/activation.h"
#include "engine/ops/common.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"

namespace shears {

namespace {
Tensor softmax_impl(Op op, const Tensor& x, bool log) {
  const char* name = op_name(op);
  ops_detail::check_floating(name, x);
  ops_detail::check_dim(name, x, 2, "input");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (y.numel() > 0) ops_detail::backend_of(x).softmax_forward(x.view(), y.view(), log);
  Tensor saved = y.detach();
  record_op(y, op, {x}, [saved, log](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = Tensor::empty(saved.shape(), saved.dtype(), saved.device());
    if (gx.numel() > 0) {
      ops_detail::backend_of(g).softmax_backward(saved.view(), g.view(), gx.view(), log);
    }
    return {gx};
  });
  return y;
}
}  // namespace

Tensor softmax(const Tensor& x) { return softmax_impl(Op::Softmax, x, false); }
Tensor log_softmax(const Tensor& x) { return softmax_impl(Op::LogSoftmax, x, true); }

Tensor nll_loss(const Tensor& logp, const Tensor& labels, double label_smoothing) {
  ops_detail::check_floating("nll_loss", logp);
  ops_detail::check_dim("nll_loss", logp, 2, "log-probabilities");
  SHEARS_CHECK_AS(
      ShapeError,
      labels.dim() == 1 && labels.dtype() == DType::I64 && labels.size(0) == logp.size(0),
      "nll_loss: labels must be I64 of shape [", logp.size(0), "], got ",
      dtype_name(labels.dtype()), " ", shape_str(labels.shape()));
  SHEARS_CHECK_AS(ShapeError, logp.size(0) > 0, "nll_loss: empty batch");
  SHEARS_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0,
               "label_smoothing must be in [0, 1], got ", label_smoothing);
  Tensor lab = labels.device() == logp.device() ? labels : labels.to(logp.device());
  Tensor loss = Tensor::empty({}, logp.dtype(), logp.device());
  ops_detail::backend_of(logp).nll_loss_forward(logp.view(), lab.view(), label_smoothing,
                                                loss.view());
  Shape shape = logp.shape();
  record_op(loss, Op::NllLoss, {logp}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = Tensor::empty(shape, g.dtype(), g.device());
    ops_detail::backend_of(g).nll_loss_backward(lab.view(), label_smoothing, g.view(), gx.view());
    return {gx};
  });
  return loss;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& labels, double label_smoothing) {
  return nll_loss(log_softmax(logits), labels, label_smoothing);
}

Tensor kl_div(const Tensor& log_q, const Tensor& log_p) {
  SHEARS_CHECK_AS(ShapeError, log_q.shape() == log_p.shape() && log_q.dim() == 2,
                  "kl_div: inputs must be (N,C) of equal shape, got ", shape_str(log_q.shape()),
                  " and ", shape_str(log_p.shape()));
  return scale(sum(mul(exp(log_p), sub(log_p, log_q))), 1.0 / static_cast<double>(log_q.size(0)));
}

Tensor mse_loss(const Tensor& a, const Tensor& b) {
  SHEARS_CHECK_AS(ShapeError, a.shape() == b.shape(), "mse_loss: shapes ", shape_str(a.shape()),
                  " and ", shape_str(b.shape()), " differ");
  Tensor d = sub(a, b);
  return mean(mul(d, d));
}

Tensor bce_with_logits(const Tensor& x, const Tensor& target) {
  ops_detail::check_floating("bce_with_logits", x);
  ops_detail::check_same("bce_with_logits", x, {target});
  SHEARS_CHECK_AS(ShapeError, x.shape() == target.shape() && x.numel() > 0,
                  "bce_with_logits: logits ", shape_str(x.shape()), " and target ",
                  shape_str(target.shape()), " must have the same non-empty shape");
  Tensor loss = Tensor::empty({}, x.dtype(), x.device());
  ops_detail::backend_of(x).bce_with_logits_forward(x.view(), target.view(), loss.view());
  Tensor sx = x.detach(), st = target.detach();
  record_op(loss, Op::BceWithLogits, {x}, [sx, st](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = Tensor::empty(sx.shape(), g.dtype(), g.device());
    ops_detail::backend_of(g).bce_with_logits_backward(sx.view(), st.view(), g.view(), gx.view());
    return {gx};
  });
  return loss;
}

}  // namespace shears
