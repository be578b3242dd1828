#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/file_io.h"
#include "kernels/common/counter_rng.h"
#include "tests/support/real_data.h"

namespace shears::data::testing {

/// The shared real-data directory (SHEARS_SHARED_DATA, else the build's default), or "" when it
/// does not exist on this machine.
inline std::string shared_data_dir() {
  std::string dir = ::shears::testing::shared_data_dir();
  return is_directory(dir) ? dir : std::string();
}

/// A reproducible pseudo-random image.
inline Image random_image(int height, int width, int channels, std::uint64_t seed) {
  Image img(height, width, channels);
  for (std::size_t i = 0; i < img.pixels.size(); ++i) {
    img.pixels[i] = static_cast<std::uint8_t>(counter_hash(seed, i) & 0xFF);
  }
  return img;
}

/// A smooth image (gradients), which survives JPEG compression nearly unchanged.
inline Image smooth_image(int height, int width, int channels) {
  Image img(height, width, channels);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < channels; ++c) {
        img.at(y, x, c) =
            static_cast<std::uint8_t>(30 + 150 * y / height + 50 * x / width + 10 * c);
      }
    }
  }
  return img;
}

}  // namespace shears::data::testing
