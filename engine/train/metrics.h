#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace shears {

namespace dist {
class Communicator;
}

/// Running top-1/top-5 accuracy and mean loss over batches.
class AccuracyMeter {
 public:
  /// Adds a batch: logits (N,C) on any device, labels (N) I64, and its mean loss.
  void add(const Tensor& logits, const Tensor& labels, double mean_loss);
  std::int64_t count() const { return count_; }
  /// Percentages in [0, 100]; 0 before any batch.
  double top1() const { return count_ ? 100.0 * static_cast<double>(correct1_) / count_ : 0.0; }
  double top5() const { return count_ ? 100.0 * static_cast<double>(correct5_) / count_ : 0.0; }
  double loss() const { return count_ ? loss_sum_ / static_cast<double>(count_) : 0.0; }
  /// Sums the counts and losses of every rank's meter (distributed training and evaluation).
  void allreduce(dist::Communicator& comm);

 private:
  std::int64_t count_ = 0, correct1_ = 0, correct5_ = 0;
  double loss_sum_ = 0.0;
};

/// Number of rows of logits (N,C) whose label is among the k largest entries (ties broken
/// towards the lower class index, as a stable sort would).
std::int64_t count_topk_correct(const Tensor& logits, const Tensor& labels, int k);

}  // namespace shears
