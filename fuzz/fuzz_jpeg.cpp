// The JPEG decoder (full size and DCT-scaled) on arbitrary bytes.
#include "data/jpeg.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static shears::data::JpegDecoder decoder;
  for (int min_side : {0, 16}) {
    try {
      shears::data::Image image = decoder.decode(data, size, "fuzz.jpg", min_side);
      if (image.pixels.size() != static_cast<std::size_t>(image.height) * image.width * 3) {
        __builtin_trap();
      }
    } catch (const shears::DataError&) {
    }
  }
  return 0;
}
