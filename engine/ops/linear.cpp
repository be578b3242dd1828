#include "engine/ops/linear.h"

#include "engine/autograd/node.h"
#include "engine/ops/common.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"

namespace shears {

namespace {
/// op(a) @ op(b) without recording.
Tensor gemm(const Tensor& a, bool ta, const Tensor& b, bool tb) {
  std::int64_t m = ta ? a.size(1) : a.size(0);
  std::int64_t n = tb ? b.size(0) : b.size(1);
  Tensor c = Tensor::empty({m, n}, a.dtype(), a.device());
  if (c.numel() > 0) {
    if ((ta ? a.size(0) : a.size(1)) == 0) {
      c.fill_(0.0);
    } else {
      ops_detail::backend_of(a).gemm(ta, tb, 1.0, a.view(), b.view(), 0.0, c.view());
    }
  }
  return c;
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  ops_detail::check_floating("matmul", a);
  ops_detail::check_same("matmul", a, {b});
  ops_detail::check_dim("matmul", a, 2, "first operand");
  ops_detail::check_dim("matmul", b, 2, "second operand");
  SHEARS_CHECK_AS(ShapeError, a.size(1) == b.size(0), "matmul: shapes ", shape_str(a.shape()),
                  " and ", shape_str(b.shape()), " do not chain");
  Tensor c = gemm(a, false, b, false);
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  Tensor sa = gb ? a.detach() : Tensor(), sb = ga ? b.detach() : Tensor();
  record_op(c, Op::Matmul, {a, b}, [=](const Tensor& g) -> std::vector<Tensor> {
    return {ga ? gemm(g, false, sb, true) : Tensor(), gb ? gemm(sa, true, g, false) : Tensor()};
  });
  return c;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  ops_detail::check_floating("linear", x);
  ops_detail::check_same("linear", x, {weight, bias});
  ops_detail::check_dim("linear", x, 2, "input");
  ops_detail::check_dim("linear", weight, 2, "weight");
  SHEARS_CHECK_AS(ShapeError, x.size(1) == weight.size(1), "linear: input ", shape_str(x.shape()),
                  " has ", x.size(1), " features but weight ", shape_str(weight.shape()),
                  " expects ", weight.size(1));
  if (bias.defined()) {
    SHEARS_CHECK_AS(ShapeError, bias.dim() == 1 && bias.size(0) == weight.size(0), "linear: bias ",
                    shape_str(bias.shape()), " does not match weight ", shape_str(weight.shape()));
  }
  Tensor y = gemm(x, false, weight, true);
  if (bias.defined() && y.numel() > 0) {
    ops_detail::backend_of(x).binary(BinaryOp::Add, y.view(), bias.view(), y.view());
  }
  const bool gx = x.requires_grad(), gw = weight.requires_grad();
  const bool gb = bias.defined() && bias.requires_grad();
  Tensor sx = gw ? x.detach() : Tensor(), sw = gx ? weight.detach() : Tensor();
  std::int64_t out_features = weight.size(0);
  record_op(y, Op::Linear, {x, weight, bias}, [=](const Tensor& g) -> std::vector<Tensor> {
    return {gx ? gemm(g, false, sw, false) : Tensor(), gw ? gemm(g, true, sx, false) : Tensor(),
            gb ? sum_to(g, {out_features}) : Tensor()};
  });
  return y;
}

}  // namespace shears
