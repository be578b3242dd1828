#include "data/png.h"

#include <png.h>

#include <cstring>

#include "data/jpeg.h"

namespace shears::data {

Image decode_png(const std::uint8_t* data, std::size_t size, const std::string& name) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (png_image_begin_read_from_memory(&img, data, size) == 0) {
    const std::string message = img.message;
    png_image_free(&img);
    throw DataError(detail::cat(name, ": not a decodable PNG: ", message));
  }
  img.format = PNG_FORMAT_RGB;
  // Deflate expands at most ~1032:1 and a 1-bit grey pixel becomes 3 output bytes, so an honest
  // stream of `size` bytes decodes to well under 2^15 * size output bytes; a header that claims
  // more (or more than kMaxImagePixels) is damaged or hostile and is rejected before allocating.
  const std::uint64_t pixels = std::uint64_t{img.width} * std::uint64_t{img.height};
  if (pixels > static_cast<std::uint64_t>(kMaxImagePixels) ||
      3 * pixels > (std::uint64_t{1} << 15) * static_cast<std::uint64_t>(size)) {
    png_image_free(&img);
    throw DataError(detail::cat(name, ": PNG header claims ", img.width, "x", img.height,
                                " pixels, more than its ", size,
                                " bytes can hold or a decode may allocate (damaged header?)"));
  }
  // The zero-filled buffer is the compositing background for images with alpha.
  Image out(static_cast<int>(img.height), static_cast<int>(img.width), 3);
  if (png_image_finish_read(&img, nullptr, out.pixels.data(), 0, nullptr) == 0) {
    const std::string message = img.message;
    png_image_free(&img);
    throw DataError(detail::cat(name, ": PNG decode failed: ", message));
  }
  return out;
}

std::vector<std::uint8_t> encode_png(const Image& image) {
  SHEARS_CHECK_AS(DataError, image.channels == 1 || image.channels == 3,
                  "encode_png: ", image.channels, " channels (expected 1 or 3)");
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(image.width);
  img.height = static_cast<png_uint_32>(image.height);
  img.format = image.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  png_alloc_size_t length = 0;
  if (png_image_write_to_memory(&img, nullptr, &length, 0, image.pixels.data(), 0, nullptr) == 0) {
    throw DataError(detail::cat("PNG encode failed: ", img.message));
  }
  std::vector<std::uint8_t> bytes(length);
  if (png_image_write_to_memory(&img, bytes.data(), &length, 0, image.pixels.data(), 0, nullptr) ==
      0) {
    throw DataError(detail::cat("PNG encode failed: ", img.message));
  }
  bytes.resize(length);
  return bytes;
}

Image decode_image(const std::uint8_t* data, std::size_t size, const std::string& name,
                   int min_side) {
  static const std::uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 2 && data[0] == 0xFF && data[1] == 0xD8) {
    thread_local JpegDecoder decoder;
    return decoder.decode(data, size, name, min_side);
  }
  if (size >= 8 && std::memcmp(data, kPngMagic, 8) == 0) return decode_png(data, size, name);
  throw DataError(detail::cat(name, ": not a JPEG or PNG image (", size, " bytes, unknown magic)"));
}

}  // namespace shears::data
