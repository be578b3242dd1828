#include "data/jpeg.h"

#include <turbojpeg.h>

#include <algorithm>
#include <climits>
#include <utility>

namespace shears::data {

namespace {

std::string tj_error(tjhandle handle) { return tjGetErrorStr2(handle); }

const tjscalingfactor* scaling_factors(int& count) {
  static int n = 0;
  static const tjscalingfactor* factors = tjGetScalingFactors(&n);
  count = factors == nullptr ? 0 : n;
  return factors;
}

}  // namespace

std::pair<int, int> jpeg_scaled_size(int height, int width, int min_side) {
  const int shorter = std::min(height, width);
  if (min_side <= 0 || shorter <= min_side) return {height, width};
  int count = 0;
  const tjscalingfactor* factors = scaling_factors(count);
  std::pair<int, int> best{height, width};
  int best_shorter = shorter;
  for (int i = 0; i < count; ++i) {
    const tjscalingfactor f = factors[i];
    // Only 1/2, 1/4 and 1/8 have SIMD inverse DCTs in libjpeg-turbo; the other k/8 factors
    // decode slower than full size, so they are never worth taking.
    if (f.num != 1 || f.denom > 8) continue;
    const int h = TJSCALED(height, f);
    const int w = TJSCALED(width, f);
    const int s = std::min(h, w);
    if (s >= min_side && s < best_shorter) {
      best = {h, w};
      best_shorter = s;
    }
  }
  return best;
}

JpegDecoder::JpegDecoder() : handle_(tjInitDecompress()) {
  SHEARS_CHECK_AS(DataError, handle_ != nullptr,
                  "cannot create a TurboJPEG decompressor: ", tjGetErrorStr2(nullptr));
}

JpegDecoder::~JpegDecoder() {
  if (handle_ != nullptr) tjDestroy(static_cast<tjhandle>(handle_));
}

JpegDecoder::JpegDecoder(JpegDecoder&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)) {}

JpegDecoder& JpegDecoder::operator=(JpegDecoder&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) tjDestroy(static_cast<tjhandle>(handle_));
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

JpegHeader JpegDecoder::header(const std::uint8_t* data, std::size_t size,
                               const std::string& name) {
  auto h = static_cast<tjhandle>(handle_);
  SHEARS_CHECK_AS(DataError, size > 0 && size <= ULONG_MAX, name, ": empty or oversized JPEG (",
                  size, " bytes)");
  JpegHeader hdr;
  if (tjDecompressHeader3(h, data, static_cast<unsigned long>(size), &hdr.width, &hdr.height,
                          &hdr.subsampling, &hdr.colorspace) != 0) {
    throw DataError(detail::cat(name, ": not a decodable JPEG: ", tj_error(h)));
  }
  // A stream cut off before its frame header can pass with a warning and a 0x0 size.
  SHEARS_CHECK_AS(DataError, hdr.width > 0 && hdr.height > 0, name,
                  ": not a decodable JPEG: header gives size ", hdr.width, "x", hdr.height);
  return hdr;
}

Image JpegDecoder::decode(const std::uint8_t* data, std::size_t size, const std::string& name,
                          int min_side) {
  auto h = static_cast<tjhandle>(handle_);
  const JpegHeader hdr = header(data, size, name);
  SHEARS_CHECK_AS(DataError, std::int64_t{hdr.width} * std::int64_t{hdr.height} <= kMaxImagePixels,
                  name, ": JPEG header claims ", hdr.width, "x", hdr.height,
                  " pixels, more than the ", kMaxImagePixels,
                  " a decode may allocate (damaged header?)");
  const auto [out_h, out_w] = jpeg_scaled_size(hdr.height, hdr.width, min_side);
  const bool cmyk = hdr.colorspace == TJCS_CMYK || hdr.colorspace == TJCS_YCCK;
  // libjpeg-turbo converts greyscale to RGB itself; CMYK it can only hand out as CMYK.
  const int format = cmyk ? TJPF_CMYK : TJPF_RGB;
  const int channels = cmyk ? 4 : 3;
  Image out(out_h, out_w, channels);
  const int rc = tjDecompress2(h, data, static_cast<unsigned long>(size), out.pixels.data(), out_w,
                               out_w * channels, out_h, format, TJFLAG_ACCURATEDCT);
  if (rc != 0 && tjGetErrorCode(h) != TJERR_WARNING) {
    throw DataError(detail::cat(name, ": JPEG decode failed: ", tj_error(h)));
  }
  if (!cmyk) return out;
  Image rgb(out_h, out_w, 3);
  const std::size_t pixels = static_cast<std::size_t>(out_h) * static_cast<std::size_t>(out_w);
  for (std::size_t p = 0; p < pixels; ++p) {
    const unsigned k = out.pixels[4 * p + 3];
    for (int c = 0; c < 3; ++c) {
      rgb.pixels[3 * p + static_cast<std::size_t>(c)] = static_cast<std::uint8_t>(
          (out.pixels[4 * p + static_cast<std::size_t>(c)] * k + 127) / 255);
    }
  }
  return rgb;
}

std::vector<std::uint8_t> encode_jpeg(const Image& image, int quality, int subsampling) {
  SHEARS_CHECK_AS(DataError, image.channels == 1 || image.channels == 3 || image.channels == 4,
                  "encode_jpeg: ", image.channels, " channels (expected 1, 3 or 4)");
  SHEARS_CHECK_AS(DataError, image.width > 0 && image.height > 0, "encode_jpeg: empty image");
  int samp = TJSAMP_444;
  if (image.channels == 1) {
    samp = TJSAMP_GRAY;
  } else if (subsampling == 420) {
    samp = TJSAMP_420;
  } else if (subsampling == 422) {
    samp = TJSAMP_422;
  } else {
    SHEARS_CHECK_AS(DataError, subsampling == 444, "encode_jpeg: subsampling ", subsampling,
                    " (expected 444, 422 or 420)");
  }
  const int format = image.channels == 1 ? TJPF_GRAY : image.channels == 3 ? TJPF_RGB : TJPF_CMYK;
  tjhandle h = tjInitCompress();
  SHEARS_CHECK_AS(DataError, h != nullptr, "cannot create a TurboJPEG compressor");
  unsigned char* buffer = nullptr;
  unsigned long length = 0;
  const int rc =
      tjCompress2(h, image.pixels.data(), image.width, image.width * image.channels, image.height,
                  format, &buffer, &length, samp, quality, TJFLAG_ACCURATEDCT);
  std::string error = rc != 0 ? tj_error(h) : std::string();
  std::vector<std::uint8_t> bytes;
  if (rc == 0) bytes.assign(buffer, buffer + length);
  tjFree(buffer);
  tjDestroy(h);
  SHEARS_CHECK_AS(DataError, rc == 0, "JPEG encode failed: ", error);
  return bytes;
}

}  // namespace shears::data
