// Frequent Directions for FilterSketch (Lin et al., "Toward Compact ConvNets via
// Structure-Sparsity Regularized Filter Pruning"/"FilterSketch", 2020; docs/methods.md section 4).
// The bookkeeping (row copies, shrinking) is a few thousand values per layer and runs on the
// host; every SVD runs on the weight's device through linalg::svd.
#include "pruning/criteria/frequent_directions.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/autograd/grad_mode.h"
#include "engine/linalg/svd.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/shape.h"

namespace shears::pruning {
namespace {

template <typename T>
Tensor run_fd(const Tensor& a, std::int64_t l, bool early_stop) {
  const std::int64_t n = a.size(0), d = a.size(1);
  const std::vector<T> rows = a.to_vector<T>();
  std::vector<T> b(static_cast<std::size_t>(l * d), T(0));
  const std::int64_t half = l / 2;
  std::int64_t filled = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (filled >= l) {
      if (early_stop && n - i < half) break;
      linalg::Svd f = linalg::svd(Tensor::from_vector(b, {l, d}, a.device()));
      const std::vector<T> s = f.s.to_vector<T>();
      const std::vector<T> vt = f.vt.to_vector<T>();
      const std::int64_t k = static_cast<std::int64_t>(s.size());  // min(l, d)
      const T delta =
          half < k ? s[static_cast<std::size_t>(half)] * s[static_cast<std::size_t>(half)] : T(0);
      std::fill(b.begin(), b.end(), T(0));
      for (std::int64_t j = 0; j < k; ++j) {
        const T sj = s[static_cast<std::size_t>(j)];
        const T shrunk = sj * sj - delta;
        if (!(shrunk > T(0))) continue;
        const T scale = std::sqrt(shrunk);
        for (std::int64_t c = 0; c < d; ++c) {
          b[static_cast<std::size_t>(j * d + c)] = scale * vt[static_cast<std::size_t>(j * d + c)];
        }
      }
      filled = half;
    }
    std::copy(rows.begin() + i * d, rows.begin() + (i + 1) * d, b.begin() + filled * d);
    ++filled;
  }
  return Tensor::from_vector(b, {l, d}, a.device());
}

}  // namespace

Tensor frequent_directions(const Tensor& a, std::int64_t l, bool early_stop) {
  SHEARS_CHECK_AS(ShapeError, a.defined() && a.dim() == 2,
                  "frequent_directions: input must be a 2-D matrix, got ",
                  a.defined() ? shape_str(a.shape()) : std::string("an undefined tensor"));
  SHEARS_CHECK_AS(ShapeError, a.dtype() == DType::F32 || a.dtype() == DType::F64,
                  "frequent_directions: input must be F32 or F64, got ", dtype_name(a.dtype()));
  SHEARS_CHECK_AS(ShapeError, l >= 1, "frequent_directions: sketch size l = ", l,
                  " must be at least 1 for a ", shape_str(a.shape()), " matrix");
  NoGrad no_grad;
  return a.dtype() == DType::F32 ? run_fd<float>(a.detach(), l, early_stop)
                                 : run_fd<double>(a.detach(), l, early_stop);
}

Tensor l2_normalise(const Tensor& t) {
  NoGrad no_grad;
  double sq = 0;
  for (double v : t.to_vector<double>()) sq += v * v;
  if (sq == 0) return t.detach();
  return scale(t.detach(), 1.0 / std::sqrt(sq));
}

Tensor sketch_filters(const Tensor& weight, std::int64_t l) {
  SHEARS_CHECK_AS(ShapeError, weight.defined() && weight.dim() == 4,
                  "sketch_filters: a conv weight (C_out, C_in, K, K) is needed, got ",
                  weight.defined() ? shape_str(weight.shape()) : std::string("none"));
  NoGrad no_grad;
  const Shape& s = weight.shape();
  Tensor b = frequent_directions(reshape(weight.detach(), {s[0], s[1] * s[2] * s[3]}), l);
  return l2_normalise(reshape(b, {l, s[1], s[2], s[3]}));
}

Tensor sketch_channels(const Tensor& weight, std::int64_t l, bool faithful) {
  SHEARS_CHECK_AS(ShapeError, weight.defined() && weight.dim() == 4,
                  "sketch_channels: a conv weight (C_out, C_in, K, K) is needed, got ",
                  weight.defined() ? shape_str(weight.shape()) : std::string("none"));
  NoGrad no_grad;
  const Shape& s = weight.shape();
  const std::int64_t cout = s[0], cin = s[1], kk = s[2] * s[3];
  if (faithful) {
    Tensor b = frequent_directions(reshape(weight.detach(), {cin, cout * kk}), l);
    return l2_normalise(reshape(b, {cout, l, s[2], s[3]}));
  }
  // rows[c] = W[:, c, :, :] flattened (o, kh, kw).
  const std::vector<double> w = weight.to_vector<double>();
  std::vector<double> rows(w.size());
  for (std::int64_t o = 0; o < cout; ++o)
    for (std::int64_t c = 0; c < cin; ++c)
      for (std::int64_t k = 0; k < kk; ++k)
        rows[static_cast<std::size_t>((c * cout + o) * kk + k)] =
            w[static_cast<std::size_t>((o * cin + c) * kk + k)];
  Tensor a = Tensor::from_vector(rows, {cin, cout * kk}, weight.device()).to(weight.dtype());
  const std::vector<double> b = frequent_directions(a, l).to_vector<double>();
  std::vector<double> out(static_cast<std::size_t>(cout * l * kk));
  for (std::int64_t o = 0; o < cout; ++o)
    for (std::int64_t c = 0; c < l; ++c)
      for (std::int64_t k = 0; k < kk; ++k)
        out[static_cast<std::size_t>((o * l + c) * kk + k)] =
            b[static_cast<std::size_t>((c * cout + o) * kk + k)];
  return l2_normalise(
      Tensor::from_vector(out, {cout, l, s[2], s[3]}, weight.device()).to(weight.dtype()));
}

}  // namespace shears::pruning
