#include "engine/ops/dropout.h"

#include "engine/autograd/node.h"
#include "engine/graph/recording.h"
#include "engine/ops/common.h"
#include "engine/ops/elementwise.h"
#include "engine/rng.h"

namespace shears {

Tensor dropout(const Tensor& x, double p, bool training, std::uint64_t seed) {
  SHEARS_CHECK(p >= 0.0 && p < 1.0, "dropout: probability must be in [0, 1), got ", p);
  if (!training || p == 0.0) return x;
  ops_detail::check_floating("dropout", x);
  if (seed == 0) {
    graph::require_eager("dropout draws the seed of its mask on the host every step");
    seed = default_generator().next_u64();
  }
  Tensor mask = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (mask.numel() > 0) ops_detail::backend_of(x).dropout_mask(mask.view(), p, seed);
  return mul(x, mask);
}

}  // namespace shears
