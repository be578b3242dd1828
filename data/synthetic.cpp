#include "data/synthetic.h"

#include <algorithm>
#include <cmath>

#include "kernels/common/counter_rng.h"

namespace shears::data {

namespace {
constexpr std::uint64_t kPatternStream = 0x7061747465726eULL;
constexpr std::uint64_t kPixelStream = 0x706978656cULL;
}  // namespace

SyntheticDataset::SyntheticDataset(const SyntheticOptions& options) : options_(options) {
  SHEARS_CHECK_AS(ConfigError, options.size > 0, "synthetic dataset: size ", options.size,
                  " must be positive");
  SHEARS_CHECK_AS(ConfigError, options.num_classes > 0, "synthetic dataset: num_classes ",
                  options.num_classes, " must be positive");
  SHEARS_CHECK_AS(ConfigError, options.channels == 1 || options.channels == 3,
                  "synthetic dataset: channels ", options.channels, " (expected 1 or 3)");
  SHEARS_CHECK_AS(ConfigError, options.height > 0 && options.width > 0,
                  "synthetic dataset: image size ", options.height, "x", options.width,
                  " must be positive");
  SHEARS_CHECK_AS(ConfigError, options.offset >= 0, "synthetic dataset: offset ", options.offset,
                  " is negative");
  SHEARS_CHECK_AS(ConfigError, options.noise >= 0 && options.noise <= 255,
                  "synthetic dataset: noise ", options.noise, " outside [0, 255]");
  for (int k = 0; k < options.num_classes; ++k) {
    class_names_.push_back("class" + std::to_string(k));
  }
  const std::uint64_t pattern_seed = counter_hash(options.seed, kPatternStream);
  const double kPi = 3.14159265358979323846;
  std::uint64_t counter = 0;
  auto draw = [&] { return counter_uniform(pattern_seed, counter++); };
  for (int k = 0; k < options.num_classes; ++k) {
    for (int c = 0; c < options.channels; ++c) {
      // Frequencies of 1 to 4 cycles across the image, in a random direction: visible after
      // the random crops and flips the training tests apply.
      const double angle = 2 * kPi * draw();
      const double cycles = 1.0 + 3.0 * draw();
      waves_.push_back(static_cast<float>(2 * kPi * cycles * std::sin(angle) / options.height));
      waves_.push_back(static_cast<float>(2 * kPi * cycles * std::cos(angle) / options.width));
      waves_.push_back(static_cast<float>(2 * kPi * draw()));
      waves_.push_back(static_cast<float>(64 + 128 * draw()));
    }
  }
}

Sample SyntheticDataset::get(std::int64_t index) const {
  check_sample_index(index, options_.size, "synthetic dataset");
  const auto& o = options_;
  Sample s;
  s.label = label(index);
  s.image = Image(o.height, o.width, o.channels);
  const std::uint64_t stream = counter_hash(counter_hash(o.seed, kPixelStream),
                                            static_cast<std::uint64_t>(o.offset + index));
  std::uint64_t counter = 0;
  for (int y = 0; y < o.height; ++y) {
    for (int x = 0; x < o.width; ++x) {
      for (int c = 0; c < o.channels; ++c) {
        const double u = counter_uniform(stream, counter++);
        double v;
        if (o.learnable) {
          const float* w =
              &waves_[(static_cast<std::size_t>(s.label) * static_cast<std::size_t>(o.channels) +
                       static_cast<std::size_t>(c)) *
                      4];
          v = w[3] + 60.0 * std::sin(w[0] * y + w[1] * x + w[2]) + o.noise * (2 * u - 1);
        } else {
          v = 256 * u;
        }
        s.image.at(y, x, c) = static_cast<std::uint8_t>(std::clamp(v, 0.0, 255.0));
      }
    }
  }
  return s;
}

std::int64_t SyntheticDataset::label(std::int64_t index) const {
  check_sample_index(index, options_.size, "synthetic dataset");
  return (options_.offset + index) % options_.num_classes;
}

std::string SyntheticDataset::describe() const {
  return detail::cat("synthetic ", options_.learnable ? "learnable" : "noise", " (", options_.size,
                     " images ", options_.height, "x", options_.width, "x", options_.channels, ", ",
                     options_.num_classes, " classes, seed ", options_.seed, ")");
}

}  // namespace shears::data
