#include "engine/rng.h"

#include <vector>

namespace shears {

Generator& default_generator() {
  static Generator gen;
  return gen;
}

void manual_seed(std::uint64_t seed) { default_generator().seed(seed); }

namespace {
template <typename Draw>
Tensor fill_host(const Shape& shape, DType dtype, Device device, Draw draw) {
  std::vector<double> values(static_cast<std::size_t>(shape_numel(shape)));
  for (double& v : values) v = draw();
  return Tensor::from_vector(values, shape).to(dtype).to(device);
}
}  // namespace

Tensor rand_uniform(const Shape& shape, double lo, double hi, Generator& gen, DType dtype,
                    Device device) {
  return fill_host(shape, dtype, device, [&] { return gen.uniform(lo, hi); });
}

Tensor randn(const Shape& shape, Generator& gen, double mean, double stddev, DType dtype,
             Device device) {
  return fill_host(shape, dtype, device, [&] { return gen.normal(mean, stddev); });
}

}  // namespace shears
