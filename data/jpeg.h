#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace shears::data {

/// The most pixels a decoder allocates for one image (2^27, 134 megapixels, 400 MB as RGB): a
/// header that claims more is rejected before any allocation, so a small damaged or hostile file
/// cannot exhaust memory. Far above any training image (ImageNet's largest is ~50 megapixels).
inline constexpr std::int64_t kMaxImagePixels = std::int64_t{1} << 27;

/// Size and colour layout of a JPEG stream, read from its header only.
struct JpegHeader {
  int width = 0;
  int height = 0;
  int subsampling = 0;  // a TJSAMP value
  int colorspace = 0;   // a TJCS value (RGB, YCbCr, GRAY, CMYK, YCCK)
};

/// The size a scaled decode produces: among the DCT scaling factors 1/2, 1/4 and 1/8 (the ones
/// libjpeg-turbo accelerates), the smallest whose scaled shorter side is still >= `min_side`.
/// `min_side` <= 0, or an image already at most that size, gives the full size. Returned as
/// {height, width}.
std::pair<int, int> jpeg_scaled_size(int height, int width, int min_side);

/// Owns one TurboJPEG decompressor (RAII). A handle is not thread-safe: use one per thread.
class JpegDecoder {
 public:
  /// Throws DataError when TurboJPEG cannot create a decompressor.
  JpegDecoder();
  ~JpegDecoder();
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;
  JpegDecoder(JpegDecoder&& other) noexcept;
  JpegDecoder& operator=(JpegDecoder&& other) noexcept;

  /// Reads the header of the JPEG in `data[0, size)`. `name` (a file path) labels errors.
  /// Throws DataError naming it when the stream is not a readable JPEG.
  JpegHeader header(const std::uint8_t* data, std::size_t size, const std::string& name);

  /// Decodes to an RGB image (channels 3, HWC u8). Greyscale streams are replicated into three
  /// channels; CMYK/YCCK streams (Adobe's inverted convention) are converted with
  /// R = C*K/255 etc., as PIL does. With `min_side` > 0 the decode is scaled down in the DCT
  /// domain to jpeg_scaled_size(…, min_side), much faster for large images. Recoverable
  /// libjpeg warnings (extraneous bytes, a stream cut short in its entropy data) keep the
  /// decoded pixels, as libjpeg itself does. Throws DataError naming `name` otherwise.
  Image decode(const std::uint8_t* data, std::size_t size, const std::string& name,
               int min_side = 0);

 private:
  void* handle_ = nullptr;  // tjhandle
};

/// Compresses an HWC u8 image into a baseline JPEG. `image.channels` is 1 (greyscale JPEG),
/// 3 (RGB, YCbCr with `subsampling` = 444, 422 or 420) or 4 (CMYK pixels, written as a YCCK JPEG
/// in Adobe's inverted convention, which is what decode expects). Throws DataError on failure or
/// an unsupported channel count.
std::vector<std::uint8_t> encode_jpeg(const Image& image, int quality = 90, int subsampling = 444);

}  // namespace shears::data
