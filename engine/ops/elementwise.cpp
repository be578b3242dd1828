#include "engine/ops/elementwise.h"

#include <algorithm>

#include "engine/autograd/node.h"
#include "engine/ops/common.h"
#include "engine/ops/reduce.h"

namespace shears {

using ops_detail::backend_of;

Shape broadcast_shape(const Shape& a, const Shape& b) {
  std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    std::int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    SHEARS_CHECK_AS(ShapeError, da == db || da == 1 || db == 1, "shapes ", shape_str(a), " and ",
                    shape_str(b), " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace {

Tensor binary_raw(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* names[] = {"add", "sub", "mul", "div"};
  const char* name = names[static_cast<int>(op)];
  ops_detail::check_floating(name, a);
  ops_detail::check_same(name, a, {b});
  Tensor out = Tensor::empty(broadcast_shape(a.shape(), b.shape()), a.dtype(), a.device());
  if (out.numel() > 0) backend_of(a).binary(op, a.view(), b.view(), out.view());
  return out;
}

/// Reduces a gradient of the broadcast shape back to an operand's shape.
Tensor reduce_grad(const Tensor& g, const Shape& shape) {
  return g.shape() == shape ? g : sum_to(g, shape);
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::Add, a, b);
  Shape sa = a.shape(), sb = b.shape();
  record_op(out, Op::Add, {a, b}, [sa, sb](const Tensor& g) -> std::vector<Tensor> {
    return {reduce_grad(g, sa), reduce_grad(g, sb)};
  });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::Sub, a, b);
  Shape sa = a.shape(), sb = b.shape();
  record_op(out, Op::Sub, {a, b}, [sa, sb](const Tensor& g) -> std::vector<Tensor> {
    return {reduce_grad(g, sa), reduce_grad(scale(g, -1.0), sb)};
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::Mul, a, b);
  bool ga = a.defined() && a.requires_grad(), gb = b.defined() && b.requires_grad();
  if (needs_grad({a, b})) {
    // Keep each operand only when the other one's gradient needs it.
    Tensor keep_a = gb ? a.detach() : Tensor(), keep_b = ga ? b.detach() : Tensor();
    Shape sa = a.shape(), sb = b.shape();
    record_op(out, Op::Mul, {a, b}, [keep_a, keep_b, sa, sb, ga, gb](const Tensor& g) {
      return std::vector<Tensor>{
          ga ? reduce_grad(binary_raw(BinaryOp::Mul, g, keep_b), sa) : Tensor(),
          gb ? reduce_grad(binary_raw(BinaryOp::Mul, g, keep_a), sb) : Tensor()};
    });
  } else {
    record_op(out, Op::Mul, {a, b}, nullptr);
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_raw(BinaryOp::Div, a, b);
  if (needs_grad({a, b})) {
    Tensor keep_b = b.detach(), keep_out = out.detach();
    Shape sa = a.shape(), sb = b.shape();
    record_op(out, Op::Div, {a, b}, [keep_b, keep_out, sa, sb](const Tensor& g) {
      Tensor ga = binary_raw(BinaryOp::Div, g, keep_b);
      // d(a/b)/db = -(a/b)/b
      Tensor gb = scale(binary_raw(BinaryOp::Mul, ga, keep_out), -1.0);
      return std::vector<Tensor>{reduce_grad(ga, sa), reduce_grad(gb, sb)};
    });
  } else {
    record_op(out, Op::Div, {a, b}, nullptr);
  }
  return out;
}

Tensor scale(const Tensor& x, double alpha) {
  ops_detail::check_floating("scale", x);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (out.numel() > 0) backend_of(x).axpby(alpha, x.view(), 0.0, out.view());
  record_op(out, Op::Scale, {x},
            [alpha](const Tensor& g) -> std::vector<Tensor> { return {scale(g, alpha)}; },
            {{"value", real_attr(alpha)}});
  return out;
}

Tensor add_scalar(const Tensor& x, double value) {
  ops_detail::check_floating("add_scalar", x);
  Tensor out = Tensor::full(x.shape(), value, x.dtype(), x.device());
  if (out.numel() > 0) backend_of(x).axpby(1.0, x.view(), 1.0, out.view());
  record_op(out, Op::AddScalar, {x}, [](const Tensor& g) -> std::vector<Tensor> { return {g}; },
            {{"value", real_attr(value)}});
  return out;
}

}  // namespace shears
