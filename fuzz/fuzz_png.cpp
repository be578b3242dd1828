// The PNG decoder on arbitrary bytes.
#include "data/png.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    shears::data::Image image = shears::data::decode_png(data, size, "fuzz.png");
    if (image.pixels.size() != static_cast<std::size_t>(image.height) * image.width * 3) {
      __builtin_trap();
    }
  } catch (const shears::DataError&) {
  }
  return 0;
}
