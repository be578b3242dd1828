#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace shears::data {

/// Decodes a PNG (any bit depth, palette, grey or colour) to an RGB image (channels 3, HWC u8)
/// through libpng's simplified API; an alpha channel is composited onto black. Throws DataError
/// naming `name` when the stream is not a readable PNG.
Image decode_png(const std::uint8_t* data, std::size_t size, const std::string& name);

/// Compresses an HWC u8 image with 1 (grey) or 3 (RGB) channels into a PNG stream. Throws
/// DataError on failure.
std::vector<std::uint8_t> encode_png(const Image& image);

/// Decodes a JPEG or PNG, recognised by its leading magic bytes, to RGB (see JpegDecoder::decode
/// for `min_side`, which applies to JPEG only). Uses a per-thread JpegDecoder, so it may be
/// called from any thread. Throws DataError naming `name` for any other content.
Image decode_image(const std::uint8_t* data, std::size_t size, const std::string& name,
                   int min_side = 0);

}  // namespace shears::data
