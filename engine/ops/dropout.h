#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace shears {

/// In training, zeroes each element with probability p and scales the rest by 1/(1-p); the
/// identity in eval or when p == 0. The mask comes from a counter-based generator seeded by
/// `seed` (drawn from the default generator when 0), identical on every device.
Tensor dropout(const Tensor& x, double p, bool training, std::uint64_t seed = 0);

}  // namespace shears
