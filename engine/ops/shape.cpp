#include "engine/ops/shape.h"

#include "engine/autograd/node.h"
#include "engine/ops/common.h"

namespace shears {

Tensor reshape(const Tensor& x, const Shape& shape_in) {
  Shape shape = shape_in;
  int infer = -1;
  std::int64_t known = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      SHEARS_CHECK_AS(ShapeError, infer < 0, "reshape: more than one -1 in ", shape_str(shape_in));
      infer = static_cast<int>(i);
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    SHEARS_CHECK_AS(ShapeError, known > 0 && x.numel() % known == 0, "reshape: cannot reshape ",
                    shape_str(x.shape()), " into ", shape_str(shape_in));
    shape[static_cast<std::size_t>(infer)] = x.numel() / known;
  }
  SHEARS_CHECK_AS(ShapeError, shape_numel(shape) == x.numel(), "reshape: cannot reshape ",
                  shape_str(x.shape()), " (", x.numel(), " elements) into ", shape_str(shape_in));
  Tensor y = Tensor::from_storage(x.storage(), shape, x.dtype());
  Shape x_shape = x.shape();
  record_op(y, "reshape", {x}, [x_shape](const Tensor& g) -> std::vector<Tensor> {
    return {Tensor::from_storage(g.storage(), x_shape, g.dtype())};
  });
  return y;
}

Tensor flatten(const Tensor& x, int start_dim) {
  int d = ops_detail::normalise_dim("flatten", x, start_dim);
  Shape shape(x.shape().begin(), x.shape().begin() + d);
  std::int64_t rest = 1;
  for (int i = d; i < x.dim(); ++i) rest *= x.size(i);
  shape.push_back(rest);
  return reshape(x, shape);
}

Tensor concat(const std::vector<Tensor>& xs, int dim_in) {
  SHEARS_CHECK_AS(ShapeError, !xs.empty(), "concat: no tensors");
  const Tensor& first = xs.front();
  int dim = ops_detail::normalise_dim("concat", first, dim_in);
  Shape shape = first.shape();
  shape[static_cast<std::size_t>(dim)] = 0;
  std::vector<std::int64_t> sizes;
  for (const Tensor& t : xs) {
    ops_detail::check_same("concat", first, {t});
    bool ok = t.dim() == first.dim();
    for (int i = 0; ok && i < t.dim(); ++i) ok = i == dim || t.size(i) == first.size(i);
    SHEARS_CHECK_AS(ShapeError, ok, "concat: shapes ", shape_str(first.shape()), " and ",
                    shape_str(t.shape()), " differ outside dimension ", dim);
    sizes.push_back(t.size(dim));
    shape[static_cast<std::size_t>(dim)] += t.size(dim);
  }
  Tensor y = Tensor::empty(shape, first.dtype(), first.device());
  Backend& be = ops_detail::backend_of(first);
  std::int64_t offset = 0;
  for (const Tensor& t : xs) {
    if (t.numel() > 0) be.slice_copy(t.view(), dim, 0, y.view(), offset, t.size(dim));
    offset += t.size(dim);
  }
  std::vector<Shape> shapes;
  for (const Tensor& t : xs) shapes.push_back(t.shape());
  record_op(y, "concat", xs,
            [dim, shapes, sizes](const Tensor& g) -> std::vector<Tensor> {
              std::vector<Tensor> grads;
              std::int64_t off = 0;
              for (std::size_t i = 0; i < shapes.size(); ++i) {
                Tensor gi = Tensor::empty(shapes[i], g.dtype(), g.device());
                if (gi.numel() > 0) {
                  ops_detail::backend_of(g).slice_copy(g.view(), dim, off, gi.view(), 0, sizes[i]);
                }
                off += sizes[i];
                grads.push_back(gi);
              }
              return grads;
            },
            {{"dim", dim}});
  return y;
}

Tensor narrow(const Tensor& x, int dim_in, std::int64_t start, std::int64_t length) {
  int dim = ops_detail::normalise_dim("narrow", x, dim_in);
  SHEARS_CHECK_AS(ShapeError, start >= 0 && length >= 0 && start + length <= x.size(dim),
                  "narrow: range [", start, ", ", start + length, ") outside dimension ", dim,
                  " of size ", x.size(dim), " in ", shape_str(x.shape()));
  Shape shape = x.shape();
  shape[static_cast<std::size_t>(dim)] = length;
  Tensor y = Tensor::empty(shape, x.dtype(), x.device());
  if (y.numel() > 0)
    ops_detail::backend_of(x).slice_copy(x.view(), dim, start, y.view(), 0, length);
  Shape x_shape = x.shape();
  record_op(y, "narrow", {x},
            [=](const Tensor& g) -> std::vector<Tensor> {
              Tensor gx = Tensor::zeros(x_shape, g.dtype(), g.device());
              if (g.numel() > 0)
                ops_detail::backend_of(g).slice_copy(g.view(), dim, 0, gx.view(), start, length);
              return {gx};
            },
            {{"dim", dim}, {"start", start}, {"length", length}});
  return y;
}

Tensor index_select(const Tensor& x, int dim_in, const Tensor& index) {
  int dim = ops_detail::normalise_dim("index_select", x, dim_in);
  SHEARS_CHECK_AS(ShapeError, index.dim() == 1 && index.dtype() == DType::I64,
                  "index_select: index must be a 1-D I64 tensor, got ", dtype_name(index.dtype()),
                  " ", shape_str(index.shape()));
  SHEARS_CHECK_AS(ShapeError, index.device() == x.device(), "index_select: index on ",
                  index.device().str(), " but input on ", x.device().str());
  Shape shape = x.shape();
  shape[static_cast<std::size_t>(dim)] = index.size(0);
  Tensor y = Tensor::empty(shape, x.dtype(), x.device());
  if (y.numel() > 0 || index.numel() > 0) {
    ops_detail::backend_of(x).index_select(x.view(), dim, index.view(), y.view());
  }
  Shape x_shape = x.shape();
  record_op(y, "index_select", {x},
            [=](const Tensor& g) -> std::vector<Tensor> {
              Tensor gx = Tensor::zeros(x_shape, g.dtype(), g.device());
              if (g.numel() > 0)
                ops_detail::backend_of(g).index_add(g.view(), dim, index.view(), gx.view());
              return {gx};
            },
            {{"dim", dim}});
  return y;
}

}  // namespace shears
