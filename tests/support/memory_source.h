#pragma once

#include <vector>

#include "engine/rng.h"
#include "engine/train/batch_source.h"

namespace shears::testing {

/// A BatchSource over tensors held in memory: images (N,C,H,W), labels (N). Shuffles per epoch
/// from (seed, epoch) when asked, so runs are reproducible and resumable.
class MemorySource : public BatchSource {
 public:
  MemorySource(Tensor images, Tensor labels, std::int64_t batch_size, int num_classes,
               bool shuffle = false, std::uint64_t seed = 1);
  void start_epoch(std::int64_t epoch) override;
  bool next(Batch& batch) override;
  std::int64_t batches_per_epoch() const override;
  std::int64_t num_samples() const override { return images_.size(0); }
  int num_classes() const override { return num_classes_; }

 private:
  Tensor images_, labels_;
  std::int64_t batch_size_;
  int num_classes_;
  bool shuffle_;
  std::uint64_t seed_;
  std::vector<std::int64_t> order_;
  std::int64_t cursor_ = 0;
};

/// Labels (N) of four classes that a network can learn from images (N, C, H, W) with C >= 2:
/// (sum of channel 0 > 0) + 2 (sum of channel 1 > 0).
Tensor two_channel_sign_labels(const Tensor& images);

}  // namespace shears::testing
