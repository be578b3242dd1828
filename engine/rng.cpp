#include "engine/rng.h"

#include <vector>

namespace shears {

namespace {
thread_local Generator* t_scoped = nullptr;
}  // namespace

Generator& default_generator() {
  static Generator gen;
  return t_scoped != nullptr ? *t_scoped : gen;
}

GeneratorScope::GeneratorScope(Generator& gen) : previous_(t_scoped) { t_scoped = &gen; }
GeneratorScope::~GeneratorScope() { t_scoped = previous_; }

void manual_seed(std::uint64_t seed) { default_generator().seed(seed); }

namespace {
template <typename Draw>
Tensor fill_host(const Shape& shape, DType dtype, Device device, Draw draw) {
  std::vector<double> values(static_cast<std::size_t>(shape_numel(shape)));
  for (double& v : values) v = draw();
  return Tensor::from_vector(values, shape).to(dtype).to(device);
}
}  // namespace

// One distribution object per fill: normal_distribution caches its second Box-Muller value, so
// reusing it halves the cost of initialising large layers.
Tensor rand_uniform(const Shape& shape, double lo, double hi, Generator& gen, DType dtype,
                    Device device) {
  std::uniform_real_distribution<double> dist(lo, hi);
  return fill_host(shape, dtype, device, [&] { return dist(gen.engine()); });
}

Tensor randn(const Shape& shape, Generator& gen, double mean, double stddev, DType dtype,
             Device device) {
  std::normal_distribution<double> dist(mean, stddev);
  return fill_host(shape, dtype, device, [&] { return dist(gen.engine()); });
}

}  // namespace shears
