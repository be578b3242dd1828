#include "engine/nn/init.h"

#include <cmath>

namespace shears::nn::init {

namespace {
std::int64_t receptive(const Tensor& w) {
  std::int64_t r = 1;
  for (int d = 2; d < w.dim(); ++d) r *= w.size(d);
  return r;
}
}  // namespace

std::int64_t fan_in(const Tensor& weight) {
  SHEARS_CHECK(weight.dim() >= 2, "fan_in needs a weight with at least 2 dimensions, got ",
               shape_str(weight.shape()));
  return weight.size(1) * receptive(weight);
}

std::int64_t fan_out(const Tensor& weight) {
  SHEARS_CHECK(weight.dim() >= 2, "fan_out needs a weight with at least 2 dimensions, got ",
               shape_str(weight.shape()));
  return weight.size(0) * receptive(weight);
}

void uniform_(const Tensor& t, double lo, double hi, Generator& gen) {
  t.copy_(rand_uniform(t.shape(), lo, hi, gen, t.dtype()));
}

void normal_(const Tensor& t, double mean, double stddev, Generator& gen) {
  t.copy_(randn(t.shape(), gen, mean, stddev, t.dtype()));
}

void kaiming_normal_(const Tensor& weight, bool fan_out_mode, Generator& gen) {
  double fan = static_cast<double>(fan_out_mode ? fan_out(weight) : fan_in(weight));
  normal_(weight, 0.0, std::sqrt(2.0 / std::max(fan, 1.0)), gen);
}

void pytorch_default_(const Tensor& weight, const Tensor& bias, Generator& gen) {
  double bound = 1.0 / std::sqrt(static_cast<double>(std::max<std::int64_t>(fan_in(weight), 1)));
  uniform_(weight, -bound, bound, gen);
  if (bias.defined()) uniform_(bias, -bound, bound, gen);
}

}  // namespace shears::nn::init
