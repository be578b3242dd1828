#pragma once

#include <initializer_list>

#include "engine/tensor.h"
#include "kernels/common/backend.h"

namespace shears::ops_detail {

/// The backend of `t`'s device.
Backend& backend_of(const Tensor& t);
/// Throws ShapeError unless every defined tensor is on `ref`'s device with `ref`'s dtype.
void check_same(const char* op, const Tensor& ref, std::initializer_list<Tensor> others);
/// Throws ShapeError unless `t` is floating.
void check_floating(const char* op, const Tensor& t);
/// Throws ShapeError unless `t` has `dims` dimensions.
void check_dim(const char* op, const Tensor& t, int dims, const char* what);
/// `dim` in [-rank, rank) mapped to [0, rank); throws ShapeError naming `t` otherwise (the
/// backends' check, kernels/common/checks.h, so engine and kernels reject a dim with one text).
int normalise_dim(const char* op, const Tensor& t, int dim);
/// A pointer to t's view, or null when t is undefined (optional kernel arguments).
struct OptView {
  explicit OptView(const Tensor& t) : present(t.defined()) {
    if (present) view = t.view();
  }
  const TensorView* get() const { return present ? &view : nullptr; }
  bool present;
  TensorView view;
};

}  // namespace shears::ops_detail
