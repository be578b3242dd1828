#include "engine/linalg/svd.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/autograd/grad_mode.h"
#include "engine/ops/common.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/shape.h"

namespace shears::linalg {

Svd svd(const Tensor& a) {
  ops_detail::check_floating("svd", a);
  ops_detail::check_dim("svd", a, 2, "matrix");
  NoGrad no_grad;
  const std::int64_t m = a.size(0), n = a.size(1), k = std::min(m, n);
  Svd out;
  out.u = Tensor::empty({m, k}, a.dtype(), a.device());
  out.s = Tensor::empty({k}, a.dtype(), a.device());
  out.vt = Tensor::empty({k, n}, a.dtype(), a.device());
  if (k == 0) return out;
  ops_detail::backend_of(a).svd(a.detach().view(), out.u.view(), out.s.view(), out.vt.view());

  // Sign convention, decided on the host (k x n values) and applied on the device.
  const std::vector<double> vt = out.vt.to_vector<double>();
  std::vector<double> sign(static_cast<std::size_t>(k), 1.0);
  bool any_flip = false;
  for (std::int64_t j = 0; j < k; ++j) {
    const double* row = vt.data() + j * n;
    std::int64_t best = 0;
    for (std::int64_t c = 1; c < n; ++c) {
      if (std::abs(row[c]) > std::abs(row[best])) best = c;
    }
    if (row[best] < 0) {
      sign[static_cast<std::size_t>(j)] = -1.0;
      any_flip = true;
    }
  }
  if (any_flip) {
    Tensor flip = Tensor::from_vector(sign, {k}, a.device()).to(a.dtype());
    out.u = mul(out.u, reshape(flip, {1, k}));
    out.vt = mul(out.vt, reshape(flip, {k, 1}));
  }
  return out;
}

}  // namespace shears::linalg
