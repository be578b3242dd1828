#pragma once

#include "engine/tensor.h"

namespace shears::linalg {

/// A thin singular value decomposition a = u @ diag(s) @ vt.
struct Svd {
  Tensor u;   // (m, k), orthonormal columns
  Tensor s;   // (k), descending, >= 0
  Tensor vt;  // (k, n), orthonormal rows
};

/// The thin SVD of the 2-D floating matrix `a` (m x n, k = min(m, n)), computed on a's device by
/// the backend's vendor routine (LAPACK gesdd on the CPU for F32/F64, cuSOLVER gesvdj on CUDA for
/// F32); the results have a's dtype and device. Not recorded by autograd. Signs are made
/// canonical, so that every backend returns the same vectors for distinct singular values: in
/// each row of vt the entry of largest magnitude (the first such) is positive, and u's column
/// flips with it. Throws ShapeError for a tensor that is not a floating matrix and Error when the
/// decomposition does not converge (NaN or Inf in `a`).
Svd svd(const Tensor& a);

}  // namespace shears::linalg
