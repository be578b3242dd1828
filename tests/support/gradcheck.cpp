#include "tests/support/gradcheck.h"

#include <cmath>

#include "engine/autograd/grad_mode.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/rng.h"
#include "tests/support/allclose.h"

namespace shears::testing {

Tensor random_input(const Shape& shape, std::uint64_t seed, double lo, double hi,
                    bool requires_grad) {
  Generator gen(seed);
  Tensor t = rand_uniform(shape, lo, hi, gen, DType::F64);
  if (requires_grad) t.set_requires_grad(true);
  return t;
}

::testing::AssertionResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                     const std::vector<Tensor>& inputs,
                                     const GradCheckOptions& options) {
  for (const Tensor& t : inputs) {
    if (t.defined() && t.dtype() != DType::F64) {
      return ::testing::AssertionFailure() << "gradcheck inputs must be F64";
    }
  }
  Tensor probe;
  {
    NoGrad no_grad;
    probe = f(inputs);
  }
  Generator gen(1234);
  Tensor projection = rand_uniform(probe.shape(), -1.0, 1.0, gen, DType::F64);
  auto objective = [&]() -> double {
    NoGrad no_grad;
    return sum(mul(f(inputs), projection)).item();
  };

  for (const Tensor& t : inputs)
    if (t.defined()) t.zero_grad();
  Tensor out = sum(mul(f(inputs), projection));
  out.backward();

  int checked = 0;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& t = inputs[k];
    if (!t.defined() || !t.requires_grad()) continue;
    Tensor grad = t.grad();
    std::vector<double> analytic =
        grad.defined() ? grad.to_vector<double>()
                       : std::vector<double>(static_cast<std::size_t>(t.numel()), 0.0);
    double* data = t.data<double>();
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      double saved = data[i];
      data[i] = saved + options.step;
      double plus = objective();
      data[i] = saved - options.step;
      double minus = objective();
      data[i] = saved;
      double center = objective();
      double numeric = (plus - minus) / (2 * options.step);
      double right = (plus - center) / options.step, left = (center - minus) / options.step;
      double scale_lr = std::max({std::fabs(right), std::fabs(left), 1.0});
      if (std::fabs(right - left) > options.kink * scale_lr) continue;  // kink: not differentiable
      double a = analytic[static_cast<std::size_t>(i)];
      double scale = std::max({std::fabs(a), std::fabs(numeric), 1.0});
      if (std::fabs(a - numeric) > options.tol * scale) {
        return ::testing::AssertionFailure()
               << "input " << k << " " << shape_str(t.shape()) << " element "
               << index_str(t.shape(), i) << ": analytic " << a << " vs numeric " << numeric;
      }
      ++checked;
    }
  }
  if (checked == 0) return ::testing::AssertionFailure() << "gradcheck checked no element";
  return ::testing::AssertionSuccess() << checked << " elements checked";
}

}  // namespace shears::testing
