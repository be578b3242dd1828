#pragma once

#include <cstdint>

#include "engine/nn/module.h"
#include "engine/train/batch_source.h"

namespace shears {

/// Recomputes the running statistics of every BatchNorm2d in `model` without changing a weight:
/// resets them (mean 0, variance 1), then forwards the first `batches` batches of one epoch of
/// `source` (0: the whole epoch) in train mode under NoGrad with cumulative averaging, so each BN
/// ends with the mean of the batch means and of the (unbiased) batch variances it saw. The
/// model's training mode and the BNs' momentum are restored. Batches are moved to `device`.
/// Returns the number of batches forwarded; throws Error when the source gives none.
std::int64_t recalibrate_bn(nn::Module& model, BatchSource& source, std::int64_t batches,
                            const Device& device = Device::cpu());

}  // namespace shears
