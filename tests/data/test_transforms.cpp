#include "data/transforms.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/data/data_test_util.h"
#include "tests/support/expect_error.h"

namespace shears::data {
namespace {

using testing::random_image;

// Every pixel of `out` is either zero padding or the source pixel at (y + dy, x + dx) for one
// offset; returns that offset, or fails.
void expect_shifted_window(const Image& src, const Image& out, int pad) {
  int found = 0;
  for (int dy = -pad; dy <= pad; ++dy) {
    for (int dx = -pad; dx <= pad; ++dx) {
      bool match = true;
      for (int y = 0; y < out.height && match; ++y) {
        for (int x = 0; x < out.width && match; ++x) {
          const int sy = y + dy, sx = x + dx;
          for (int c = 0; c < out.channels; ++c) {
            const bool inside = sy >= 0 && sy < src.height && sx >= 0 && sx < src.width;
            const int expected = inside ? src.at(sy, sx, c) : 0;
            if (out.at(y, x, c) != expected) match = false;
          }
        }
      }
      found += match ? 1 : 0;
    }
  }
  EXPECT_EQ(found, 1);
}

TEST(RandomCrop, StaysInsideThePadding) {
  const Image src = random_image(32, 32, 3, 1);
  SampleRng rng(7);
  bool saw_top_left = false, saw_bottom_right = false;
  for (int t = 0; t < 300; ++t) {
    SampleRng probe = rng;
    const std::int64_t top = probe.randint(0, 8);
    const std::int64_t left = probe.randint(0, 8);
    saw_top_left |= top == 0 && left == 0;
    saw_bottom_right |= top == 8 && left == 8;
    const Image out = random_crop(src, 32, 4, rng);
    ASSERT_EQ(out.height, 32);
    ASSERT_EQ(out.width, 32);
    if (t < 20) expect_shifted_window(src, out, 4);
    // The crop's offset never exceeds the padding: the central 24x24 is always real pixels.
    const int dy = static_cast<int>(top) - 4, dx = static_cast<int>(left) - 4;
    ASSERT_LE(std::abs(dy), 4);
    ASSERT_LE(std::abs(dx), 4);
    for (int y = 4; y < 28; ++y) {
      for (int x = 4; x < 28; ++x) ASSERT_EQ(out.at(y, x, 1), src.at(y + dy, x + dx, 1));
    }
  }
  EXPECT_TRUE(saw_top_left);
  EXPECT_TRUE(saw_bottom_right);
}

TEST(RandomCrop, TooLargeIsAnError) {
  SampleRng rng(1);
  EXPECT_THROW_MSG(random_crop(Image(8, 8, 1), 20, 2, rng), ConfigError,
                   "random crop of 20 from a 8x8 image padded by 2");
}

TEST(HorizontalFlip, IsAnExactMirror) {
  const Image src = random_image(5, 7, 3, 2);
  const Image out = horizontal_flip(src);
  for (int y = 0; y < 5; ++y) {
    for (int x = 0; x < 7; ++x) {
      for (int c = 0; c < 3; ++c) EXPECT_EQ(out.at(y, x, c), src.at(y, 6 - x, c));
    }
  }
  EXPECT_EQ(horizontal_flip(out).pixels, src.pixels);
}

TEST(Normalize, InverseGivesBackTheInput) {
  const Image src = random_image(6, 5, 3, 3);
  Transform plain;
  std::vector<float> chw(3 * 30);
  plain.to_chw(src, chw.data());
  for (int c = 0; c < 3; ++c) {
    EXPECT_FLOAT_EQ(chw[static_cast<std::size_t>(c * 30 + 7)], src.at(1, 2, c) / 255.0f);
  }
  const std::vector<double> mean = {0.485, 0.456, 0.406}, stdev = {0.229, 0.224, 0.225};
  std::vector<float> work = chw;
  normalize(work.data(), 3, 30, mean, stdev);
  EXPECT_NEAR(work[31], (chw[31] - 0.456) / 0.224, 1e-5);
  denormalize(work.data(), 3, 30, mean, stdev);
  for (std::size_t i = 0; i < chw.size(); ++i) EXPECT_NEAR(work[i], chw[i], 1e-6);

  TransformOptions o;
  o.mean = mean;
  o.std = stdev;
  std::vector<float> fused(chw.size());
  Transform(o).to_chw(src, fused.data());
  std::vector<float> manual = chw;
  normalize(manual.data(), 3, 30, mean, stdev);
  for (std::size_t i = 0; i < chw.size(); ++i) EXPECT_NEAR(fused[i], manual[i], 1e-5);
}

TEST(Normalize, ChannelCountMismatchIsAnError) {
  TransformOptions o;
  o.mean = {0.1, 0.2, 0.3};
  o.std = {1, 1, 1};
  std::vector<float> out(4);
  EXPECT_THROW_MSG(Transform(o).to_chw(Image(2, 2, 1), out.data()), ConfigError,
                   "normalize has 3 per-channel values but the image has 1 channels");
}

TEST(Resize, IdentityAndConstant) {
  const Image src = random_image(9, 13, 3, 4);
  EXPECT_EQ(resize(src, 9, 13).pixels, src.pixels);
  Image flat(40, 30, 3);
  std::fill(flat.pixels.begin(), flat.pixels.end(), 77);
  for (auto [h, w] : {std::pair{17, 11}, std::pair{80, 65}, std::pair{3, 3}}) {
    const Image out = resize(flat, h, w);
    for (auto v : out.pixels) ASSERT_EQ(v, 77);
  }
}

TEST(Resize, DownscaleByTwoAveragesPairs) {
  // A 1x4 row [0, 100, 200, 40] downscaled to 1x2: PIL's triangle filter of radius 2 input
  // pixels centred between each pair.
  Image src(1, 4, 1);
  src.pixels = {0, 100, 200, 40};
  const Image out = resize(src, 1, 2);
  // Output 0: centre 1.0, taps at 0.5 (w 0.75), 1.5 (0.75), 2.5 (0.25) ->
  // (0*.75+100*.75+200*.25)/1.75
  EXPECT_EQ(out.pixels[0], static_cast<std::uint8_t>(std::lround((75.0 + 50.0) / 1.75)));
  // Output 1: centre 3.0, taps 1.5 (0.25), 2.5 (0.75), 3.5 (0.75).
  EXPECT_EQ(out.pixels[1], static_cast<std::uint8_t>(std::lround((25.0 + 150.0 + 30.0) / 1.75)));
}

TEST(Resize, ShorterSideAndCenterCrop) {
  const Image src = random_image(300, 400, 3, 5);
  const Image r = resize_shorter(src, 256);
  EXPECT_EQ(r.height, 256);
  EXPECT_EQ(r.width, 341);  // 256 * 400 / 300 truncated
  const Image c = center_crop(r, 224, 224);
  EXPECT_EQ(c.height, 224);
  EXPECT_EQ(c.width, 224);
  EXPECT_EQ(c.at(0, 0, 0), r.at(16, 58, 0));  // top 16, left round(58.5) = 58 (half to even)
  const Image padded = center_crop(Image(2, 2, 1), 4, 4);
  EXPECT_EQ(padded.height, 4);
}

TEST(RandomResizedCrop, BoxesFitAndFollowTheRanges) {
  SampleRng rng(11);
  for (int t = 0; t < 500; ++t) {
    const int h = 100 + t % 300, w = 80 + (t * 7) % 400;
    const CropBox b = random_resized_crop_box(h, w, 0.08, 1.0, 3.0 / 4, 4.0 / 3, rng);
    ASSERT_GE(b.top, 0);
    ASSERT_GE(b.left, 0);
    ASSERT_LE(b.top + b.height, h);
    ASSERT_LE(b.left + b.width, w);
    const double area = static_cast<double>(b.height) * b.width / (static_cast<double>(h) * w);
    ASSERT_LE(area, 1.0);
    ASSERT_GE(area, 0.06);
    const double ratio = static_cast<double>(b.width) / b.height;
    ASSERT_GT(ratio, 0.7);
    ASSERT_LT(ratio, 1.45);
  }
}

TEST(RandomResizedCrop, FallsBackToCentralCrop) {
  // A 10x1000 image can never fit a window of ratio <= 4/3 with area >= 90%: every draw fails
  // and the central crop with the ratio clamped to 4/3 is taken.
  SampleRng rng(3);
  const CropBox b = random_resized_crop_box(10, 1000, 0.9, 1.0, 3.0 / 4, 4.0 / 3, rng);
  EXPECT_EQ(b.height, 10);
  EXPECT_EQ(b.width, 13);
  EXPECT_EQ(b.top, 0);
  EXPECT_EQ(b.left, (1000 - 13) / 2);
}

TEST(TransformPipeline, DeterministicGivenTheStream) {
  TransformOptions o;
  o.random_resized_crop = 24;
  o.horizontal_flip = true;
  const Transform t(o);
  EXPECT_TRUE(t.is_random());
  const Image src = random_image(50, 60, 3, 9);
  SampleRng a = SampleRng::for_sample(5, 2, 17), b = SampleRng::for_sample(5, 2, 17);
  const Image x = t.augment(src, a);
  EXPECT_EQ(x.pixels, t.augment(src, b).pixels);
  EXPECT_EQ(x.height, 24);
  SampleRng c = SampleRng::for_sample(5, 3, 17);
  EXPECT_NE(x.pixels, t.augment(src, c).pixels);
}

TEST(TransformPipeline, BadOptionsAreErrors) {
  TransformOptions o;
  o.scale_min = 0;
  EXPECT_THROW_MSG(Transform{o}, ConfigError, "scale range [0, 1]");
  o = {};
  o.mean = {0.5};
  EXPECT_THROW_MSG(Transform{o}, ConfigError, "normalize has 1 means but 0 standard deviations");
  o = {};
  o.padding = 4;
  EXPECT_THROW_MSG(Transform{o}, ConfigError, "padding 4 needs random_crop");
  o = {};
  o.mean = {0.5};
  o.std = {0};
  EXPECT_THROW_MSG(Transform{o}, ConfigError, "standard deviation 0 must be positive");
}

TEST(SampleRngStreams, RandintCoversItsRange) {
  SampleRng rng(1);
  std::vector<int> seen(5);
  for (int i = 0; i < 1000; ++i) ++seen[static_cast<std::size_t>(rng.randint(2, 6) - 2)];
  for (int s : seen) EXPECT_GT(s, 150);
  EXPECT_EQ(rng.randint(3, 3), 3);
}

}  // namespace
}  // namespace shears::data
