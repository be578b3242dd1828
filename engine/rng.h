#pragma once

#include <cstdint>
#include <random>

#include "engine/tensor.h"

namespace shears {

/// A seeded 64-bit random stream (std::mt19937_64). Parameter initialisation and dropout seeds
/// draw from the default generator, so `manual_seed` makes a run reproducible on the CPU.
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0x5eed) : engine_(seed) {}
  void seed(std::uint64_t seed) { engine_.seed(seed); }
  std::uint64_t next_u64() { return engine_(); }
  /// Uniform in [lo, hi).
  double uniform(double lo = 0.0, double hi = 1.0) {
    return std::uniform_real_distribution<double>(lo, hi)(engine_);
  }
  double normal(double mean = 0.0, double stddev = 1.0) {
    return std::normal_distribution<double>(mean, stddev)(engine_);
  }
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
};

/// The generator used when none is passed: the process-wide one, or on a thread inside a
/// GeneratorScope the scope's generator.
Generator& default_generator();

/// Makes `default_generator()` return `gen` on the calling thread while the scope lives, so work
/// that draws from the default generator (weight initialisation, a trainer's checkpointed RNG
/// state) can run on several threads at once, each reproducibly from its own stream. Scopes nest.
class GeneratorScope {
 public:
  explicit GeneratorScope(Generator& gen);
  ~GeneratorScope();
  GeneratorScope(const GeneratorScope&) = delete;
  GeneratorScope& operator=(const GeneratorScope&) = delete;

 private:
  Generator* previous_;
};
/// Reseeds the default generator.
void manual_seed(std::uint64_t seed);

/// Tensors of i.i.d. draws, generated on the host (reproducible) and copied to `device`.
Tensor rand_uniform(const Shape& shape, double lo, double hi, Generator& gen,
                    DType dtype = DType::F32, Device device = Device::cpu());
Tensor randn(const Shape& shape, Generator& gen, double mean = 0.0, double stddev = 1.0,
             DType dtype = DType::F32, Device device = Device::cpu());

}  // namespace shears
