#pragma once

#include <cstdint>

// Compiled by both g++ and nvcc: the same counter-based generator on every backend, so dropout
// masks and other random draws are bit-identical on CPU and CUDA.
#if defined(__CUDACC__)
#define SHEARS_HOST_DEVICE __host__ __device__
#else
#define SHEARS_HOST_DEVICE
#endif

namespace shears {

/// SplitMix64 finaliser of (seed, counter): a stateless 64-bit hash with good avalanche.
SHEARS_HOST_DEVICE inline std::uint64_t counter_hash(std::uint64_t seed, std::uint64_t counter) {
  std::uint64_t z = seed + (counter + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// Uniform double in [0, 1) from the top 53 bits of counter_hash(seed, counter).
SHEARS_HOST_DEVICE inline double counter_uniform(std::uint64_t seed, std::uint64_t counter) {
  return static_cast<double>(counter_hash(seed, counter) >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace shears
