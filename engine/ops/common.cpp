#include "engine/ops/common.h"

#include "kernels/common/checks.h"
#include "kernels/common/registry.h"

namespace shears::ops_detail {

Backend& backend_of(const Tensor& t) { return backend_for(t.device()); }

void check_same(const char* op, const Tensor& ref, std::initializer_list<Tensor> others) {
  for (const Tensor& t : others) {
    if (!t.defined()) continue;
    SHEARS_CHECK_AS(ShapeError, t.device() == ref.device(), op, ": tensors on ", ref.device().str(),
                    " and ", t.device().str(), " (shapes ", shape_str(ref.shape()), ", ",
                    shape_str(t.shape()), ")");
    SHEARS_CHECK_AS(ShapeError, t.dtype() == ref.dtype(), op, ": dtypes ", dtype_name(ref.dtype()),
                    " and ", dtype_name(t.dtype()), " (shapes ", shape_str(ref.shape()), ", ",
                    shape_str(t.shape()), ")");
  }
}

void check_floating(const char* op, const Tensor& t) {
  SHEARS_CHECK_AS(ShapeError, is_floating(t.dtype()), op, ": needs a floating tensor, got ",
                  dtype_name(t.dtype()), " of shape ", shape_str(t.shape()));
}

void check_dim(const char* op, const Tensor& t, int dims, const char* what) {
  SHEARS_CHECK_AS(ShapeError, t.dim() == dims, op, ": ", what, " must have ", dims,
                  " dimensions, got shape ", shape_str(t.shape()));
}

int normalise_dim(const char* op, const Tensor& t, int dim) {
  return kernels::normalise_dim(op, t.view(), dim);
}

}  // namespace shears::ops_detail
