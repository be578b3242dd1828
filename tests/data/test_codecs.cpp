#include <gtest/gtest.h>

#include <cstdlib>

#include "data/file_io.h"
#include "data/jpeg.h"
#include "data/png.h"
#include "data/writers.h"
#include "tests/data/data_test_util.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"

namespace shears::data {
namespace {

using testing::random_image;
using testing::smooth_image;

double mean_abs_diff(const Image& a, const Image& b) {
  EXPECT_EQ(a.pixels.size(), b.pixels.size());
  double sum = 0;
  for (std::size_t i = 0; i < a.pixels.size() && i < b.pixels.size(); ++i) {
    sum += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
  }
  return sum / static_cast<double>(a.pixels.size());
}

TEST(Jpeg, RgbRoundTripIsClose) {
  const Image src = smooth_image(40, 56, 3);
  const auto bytes = encode_jpeg(src, 95);
  JpegDecoder dec;
  const JpegHeader h = dec.header(bytes.data(), bytes.size(), "mem");
  EXPECT_EQ(h.width, 56);
  EXPECT_EQ(h.height, 40);
  const Image out = dec.decode(bytes.data(), bytes.size(), "mem");
  ASSERT_EQ(out.height, 40);
  ASSERT_EQ(out.width, 56);
  ASSERT_EQ(out.channels, 3);
  EXPECT_LT(mean_abs_diff(src, out), 2.0);
}

TEST(Jpeg, GrayscaleDecodesToThreeEqualChannels) {
  const Image src = smooth_image(20, 30, 1);
  const auto bytes = encode_jpeg(src, 95);
  JpegDecoder dec;
  EXPECT_EQ(dec.header(bytes.data(), bytes.size(), "g").colorspace, 2);  // TJCS_GRAY
  const Image out = dec.decode(bytes.data(), bytes.size(), "g");
  ASSERT_EQ(out.channels, 3);
  double diff = 0;
  for (int y = 0; y < 20; ++y) {
    for (int x = 0; x < 30; ++x) {
      EXPECT_EQ(out.at(y, x, 0), out.at(y, x, 1));
      EXPECT_EQ(out.at(y, x, 0), out.at(y, x, 2));
      diff += std::abs(int(out.at(y, x, 0)) - int(src.at(y, x, 0)));
    }
  }
  EXPECT_LT(diff / 600.0, 2.0);
}

TEST(Jpeg, CmykConvertsToRgb) {
  // Adobe-inverted CMYK: 255 means no ink. Left half white, right half pure red (full magenta
  // and yellow ink).
  Image cmyk(16, 16, 4);
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 16; ++x) {
      const bool red = x >= 8;
      cmyk.at(y, x, 0) = 255;
      cmyk.at(y, x, 1) = red ? 0 : 255;
      cmyk.at(y, x, 2) = red ? 0 : 255;
      cmyk.at(y, x, 3) = 255;
    }
  }
  const auto bytes = encode_jpeg(cmyk, 100);
  JpegDecoder dec;
  const Image out = dec.decode(bytes.data(), bytes.size(), "cmyk");
  ASSERT_EQ(out.channels, 3);
  EXPECT_NEAR(out.at(4, 2, 0), 255, 6);
  EXPECT_NEAR(out.at(4, 2, 1), 255, 6);
  EXPECT_NEAR(out.at(4, 2, 2), 255, 6);
  EXPECT_NEAR(out.at(4, 13, 0), 255, 6);
  EXPECT_NEAR(out.at(4, 13, 1), 0, 6);
  EXPECT_NEAR(out.at(4, 13, 2), 0, 6);
}

TEST(Jpeg, ScaledDecodeKeepsShorterSideAtLeastTarget) {
  EXPECT_EQ(jpeg_scaled_size(400, 600, 0), std::make_pair(400, 600));
  EXPECT_EQ(jpeg_scaled_size(400, 600, 500), std::make_pair(400, 600));
  EXPECT_EQ(jpeg_scaled_size(400, 600, 200), std::make_pair(200, 300));
  EXPECT_EQ(jpeg_scaled_size(400, 600, 100), std::make_pair(100, 150));
  EXPECT_EQ(jpeg_scaled_size(1000, 750, 224), std::make_pair(500, 375));
  EXPECT_EQ(jpeg_scaled_size(500, 375, 224), std::make_pair(500, 375));   // 1/2 is too small
  EXPECT_EQ(jpeg_scaled_size(4000, 3000, 10), std::make_pair(500, 375));  // at most 1/8

  const Image src = smooth_image(400, 600, 3);
  const auto bytes = encode_jpeg(src, 90, 420);
  JpegDecoder dec;
  const Image out = dec.decode(bytes.data(), bytes.size(), "big", 200);
  EXPECT_EQ(out.height, 200);
  EXPECT_EQ(out.width, 300);
}

TEST(Jpeg, UndecodableNamesFile) {
  JpegDecoder dec;
  std::vector<std::uint8_t> junk = {0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3, 4, 5};
  EXPECT_THROW_MSG(dec.decode(junk.data(), junk.size(), "/x/broken.JPEG"), DataError,
                   "/x/broken.JPEG: not a decodable JPEG");
  EXPECT_THROW_MSG(decode_image(junk.data(), 1, "/x/one.jpg"), DataError,
                   "/x/one.jpg: not a JPEG or PNG image");
}

TEST(Png, RoundTripIsExact) {
  shears::testing::TempDir dir;
  const Image rgb = random_image(13, 17, 3, 5);
  write_image(dir.file("a.png"), rgb);
  const auto bytes = read_file(dir.file("a.png"));
  EXPECT_EQ(decode_image(bytes.data(), bytes.size(), "a.png").pixels, rgb.pixels);

  const Image gray = random_image(9, 11, 1, 6);
  const auto gbytes = encode_png(gray);
  const Image out = decode_png(gbytes.data(), gbytes.size(), "g.png");
  ASSERT_EQ(out.channels, 3);
  for (int y = 0; y < 9; ++y) {
    for (int x = 0; x < 11; ++x) EXPECT_EQ(out.at(y, x, 1), gray.at(y, x, 0));
  }
}

TEST(Png, CorruptNamesFile) {
  auto bytes = encode_png(random_image(8, 8, 3, 1));
  bytes.resize(40);
  EXPECT_THROW_MSG(decode_image(bytes.data(), bytes.size(), "/y/cut.png"), DataError, "/y/cut.png");
}

}  // namespace
}  // namespace shears::data
