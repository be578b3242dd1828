#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "kernels/common/error.h"
#include "pruning/criteria/criterion.h"

namespace shears::pruning {

namespace {

/// Uniform in [0, bound) from raw 64-bit draws by rejection, so a seed gives the same indices
/// with every standard library (std::uniform_int_distribution is implementation-defined).
std::uint64_t below(std::uint64_t bound, Generator& gen) {
  const std::uint64_t limit =
      std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % bound;
  std::uint64_t x = gen.next_u64();
  while (x >= limit) x = gen.next_u64();
  return x % bound;
}

}  // namespace

std::vector<std::int64_t> random_choice(std::int64_t n, std::int64_t k, Generator& gen) {
  SHEARS_CHECK(n >= 0 && k >= 0 && k <= n, "random_choice: cannot draw ", k,
               " distinct indices from [0, ", n, ")");
  // Partial Fisher-Yates: the first k slots end up a uniform k-subset in random order.
  std::vector<std::int64_t> pool(static_cast<std::size_t>(n));
  std::iota(pool.begin(), pool.end(), std::int64_t{0});
  for (std::int64_t i = 0; i < k; ++i) {
    const auto j = i + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(n - i), gen));
    std::swap(pool[static_cast<std::size_t>(i)], pool[static_cast<std::size_t>(j)]);
  }
  pool.resize(static_cast<std::size_t>(k));
  std::sort(pool.begin(), pool.end());
  return pool;
}

}  // namespace shears::pruning
