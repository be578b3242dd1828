#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace shears::data {

/// A generated dataset of any image shape, for tests and benchmarks.
struct SyntheticOptions {
  std::int64_t size = 1024;
  int num_classes = 10;
  int channels = 3;  // 1 or 3
  int height = 32;
  int width = 32;
  std::uint64_t seed = 0;
  /// Sample i is element offset + i of the seed's endless stream, so two datasets with one seed
  /// and disjoint ranges (a train and a test split) share class patterns but not samples.
  std::int64_t offset = 0;
  /// True: each class has its own smooth pattern (a per-class plane wave and colour per channel)
  /// and a sample is its class pattern plus uniform noise, so a small model can learn it.
  /// False: every pixel is independent uniform noise, unrelated to the label.
  bool learnable = true;
  /// Learnable only: noise amplitude in grey levels (each pixel gets a uniform draw in
  /// [-noise, noise] added before clamping to [0, 255]).
  int noise = 48;
};

/// Samples computed on demand from (seed, index): nothing is stored, every get() of one index
/// returns the same bytes, and labels are balanced (label = (offset + index) mod num_classes).
/// The constructor throws ConfigError for a non-positive size or class count, channels other
/// than 1 or 3, a non-positive image side, a negative offset or noise outside [0, 255].
class SyntheticDataset : public Dataset {
 public:
  explicit SyntheticDataset(const SyntheticOptions& options);

  std::int64_t size() const override { return options_.size; }
  int num_classes() const override { return options_.num_classes; }
  const std::vector<std::string>& class_names() const override { return class_names_; }
  /// A height x width x channels HWC image.
  Sample get(std::int64_t index) const override;
  std::int64_t label(std::int64_t index) const override;
  std::string describe() const override;

  const SyntheticOptions& options() const { return options_; }

 private:
  SyntheticOptions options_;
  std::vector<std::string> class_names_;
  // Learnable pattern of class k, channel c: base + amp * sin(fy*y + fx*x + phase), with the
  // four numbers at [(k * channels + c) * 4 ...].
  std::vector<float> waves_;
};

}  // namespace shears::data
