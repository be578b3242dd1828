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
  /// The same with the mean loss as a tensor (shape {}). On the CPU exactly
  /// add(logits, labels, mean_loss.item()). On a GPU the correct counts and the loss sum stay on
  /// the device, queued without waiting, until top1/top5/loss are read: one host round trip per
  /// read (a log line) instead of one per batch. A fault the device found meanwhile (an
  /// out-of-range label) is thrown by that read.
  void add(const Tensor& logits, const Tensor& labels, const Tensor& mean_loss);
  std::int64_t count() const { return count_; }
  /// Percentages in [0, 100]; 0 before any batch.
  double top1() const;
  double top5() const;
  double loss() const;
  /// Sums the counts and losses of every rank's meter (distributed training and evaluation).
  void allreduce(dist::Communicator& comm);

 private:
  /// Moves the device-side sums into the host counters.
  void flush() const;
  std::int64_t count_ = 0;
  mutable std::int64_t correct1_ = 0, correct5_ = 0;
  mutable double loss_sum_ = 0.0;
  mutable Tensor device_counts_, device_loss_;  // I64 [2] and F32 {} on the device
  mutable bool pending_ = false;
};

/// Number of rows of logits (N,C) whose label is among the k largest entries (ties broken
/// towards the lower class index, as a stable sort would).
std::int64_t count_topk_correct(const Tensor& logits, const Tensor& labels, int k);

}  // namespace shears
