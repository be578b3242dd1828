#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace shears {

/// A batch of images (N,C,H,W) F32 and labels (N) I64, on the device the source delivers to.
struct Batch {
  Tensor images;
  Tensor labels;
};

/// What the trainer reads batches from. data::Loader implements it; so can tests and methods
/// (a fixed in-memory set, a subset for candidate evaluation). One epoch: start_epoch(e), then
/// next() until it returns false.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  /// Begins epoch `epoch` (reshuffles deterministically from the seed and the epoch number).
  virtual void start_epoch(std::int64_t epoch) = 0;
  /// Fills `batch` with the next batch of the epoch; false when the epoch is exhausted.
  virtual bool next(Batch& batch) = 0;
  /// Batches in one epoch.
  virtual std::int64_t batches_per_epoch() const = 0;
  /// Samples in one epoch (after subset and drop-last).
  virtual std::int64_t num_samples() const = 0;
  virtual int num_classes() const = 0;
};

}  // namespace shears
