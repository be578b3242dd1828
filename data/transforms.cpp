#include "data/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace shears::data {

std::int64_t SampleRng::randint(std::int64_t lo, std::int64_t hi) {
  if (hi <= lo) return lo;
  const double span = static_cast<double>(hi - lo + 1);
  const auto offset = static_cast<std::int64_t>(uniform() * span);
  return std::min(lo + offset, hi);
}

namespace {

// Python's round(): half to even, which the default floating-point rounding mode gives.
int round_half_even(double v) { return static_cast<int>(std::nearbyint(v)); }

void check_options(const TransformOptions& o) {
  SHEARS_CHECK_AS(ConfigError,
                  o.resize >= 0 && o.center_crop >= 0 && o.random_crop >= 0 && o.padding >= 0 &&
                      o.random_resized_crop >= 0,
                  "transform sizes and padding must be >= 0 (resize ", o.resize, ", center_crop ",
                  o.center_crop, ", random_crop ", o.random_crop, ", padding ", o.padding,
                  ", random_resized_crop ", o.random_resized_crop, ")");
  SHEARS_CHECK_AS(ConfigError, o.padding == 0 || o.random_crop > 0, "transform padding ", o.padding,
                  " needs random_crop");
  SHEARS_CHECK_AS(ConfigError, 0 < o.scale_min && o.scale_min <= o.scale_max && o.scale_max <= 1,
                  "random_resized_crop scale range [", o.scale_min, ", ", o.scale_max,
                  "] must satisfy 0 < min <= max <= 1");
  SHEARS_CHECK_AS(ConfigError, 0 < o.ratio_min && o.ratio_min <= o.ratio_max,
                  "random_resized_crop ratio range [", o.ratio_min, ", ", o.ratio_max,
                  "] must satisfy 0 < min <= max");
  SHEARS_CHECK_AS(ConfigError, 0 <= o.flip_probability && o.flip_probability <= 1,
                  "flip probability ", o.flip_probability, " outside [0, 1]");
  SHEARS_CHECK_AS(ConfigError, o.mean.size() == o.std.size(), "normalize has ", o.mean.size(),
                  " means but ", o.std.size(), " standard deviations");
  for (double s : o.std) {
    SHEARS_CHECK_AS(ConfigError, s > 0, "normalize standard deviation ", s, " must be positive");
  }
}

void check_channels(std::size_t count, int channels) {
  SHEARS_CHECK_AS(ConfigError, count <= 1 || count == static_cast<std::size_t>(channels),
                  "normalize has ", count, " per-channel values but the image has ", channels,
                  " channels");
}

// Resampling taps of one axis: output o reads inputs [start[o], start[o] + count[o]) with
// weights[o * max_taps + k]. The window follows PIL: a triangle filter of radius 1 in output
// pixels, widened by the downscale factor so every input pixel contributes (antialiasing).
struct Taps {
  std::vector<int> start, count;
  std::vector<float> weights;
  int max_taps = 0;
};

Taps make_taps(int in_size, double box_start, double box_len, int out_size) {
  const double scale = box_len / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = filter_scale;
  Taps t;
  t.max_taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.start.resize(static_cast<std::size_t>(out_size));
  t.count.resize(static_cast<std::size_t>(out_size));
  t.weights.assign(static_cast<std::size_t>(out_size) * static_cast<std::size_t>(t.max_taps), 0);
  for (int o = 0; o < out_size; ++o) {
    const double center = box_start + (o + 0.5) * scale;
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
    const int n = std::min(std::max(hi - lo, 1), t.max_taps);
    float* w = &t.weights[static_cast<std::size_t>(o) * static_cast<std::size_t>(t.max_taps)];
    double sum = 0;
    for (int k = 0; k < n; ++k) {
      const double x = (k + lo - center + 0.5) / filter_scale;
      const double v = std::max(0.0, 1.0 - std::abs(x));
      w[k] = static_cast<float>(v);
      sum += v;
    }
    if (sum > 0) {
      for (int k = 0; k < n; ++k) w[k] = static_cast<float>(w[k] / sum);
    } else {
      w[0] = 1;
    }
    t.start[static_cast<std::size_t>(o)] = std::min(lo, in_size - 1);
    t.count[static_cast<std::size_t>(o)] =
        std::min(n, in_size - t.start[static_cast<std::size_t>(o)]);
  }
  return t;
}

}  // namespace

Transform::Transform() : Transform(TransformOptions()) {}

Transform::Transform(const TransformOptions& options) : options_(options) {
  check_options(options_);
  const auto& mean = options_.mean;
  const auto& stdev = options_.std;
  const std::size_t tables = std::max<std::size_t>(mean.size(), 1);
  for (std::size_t c = 0; c < tables; ++c) {
    const double m = mean.empty() ? 0.0 : mean[c];
    const double s = stdev.empty() ? 1.0 : stdev[c];
    std::vector<float> table(256);
    for (int v = 0; v < 256; ++v)
      table[static_cast<std::size_t>(v)] = static_cast<float>((v / 255.0 - m) / s);
    tables_.push_back(std::move(table));
  }
}

bool Transform::is_random() const {
  return options_.random_crop > 0 || options_.random_resized_crop > 0 ||
         (options_.horizontal_flip && options_.flip_probability > 0);
}

Image Transform::augment(Image img, SampleRng& rng) const {
  const auto& o = options_;
  if (o.resize > 0) img = resize_shorter(img, o.resize);
  if (o.center_crop > 0) img = center_crop(img, o.center_crop, o.center_crop);
  if (o.random_crop > 0) img = random_crop(img, o.random_crop, o.padding, rng);
  if (o.random_resized_crop > 0) {
    const CropBox box = random_resized_crop_box(img.height, img.width, o.scale_min, o.scale_max,
                                                o.ratio_min, o.ratio_max, rng);
    img = resized_crop(img, box, o.random_resized_crop, o.random_resized_crop);
  }
  if (o.horizontal_flip && rng.bernoulli(o.flip_probability)) horizontal_flip_in_place(img);
  return img;
}

void Transform::to_chw(const Image& image, float* out) const {
  check_channels(options_.mean.size(), image.channels);
  const std::size_t plane =
      static_cast<std::size_t>(image.height) * static_cast<std::size_t>(image.width);
  const std::size_t channels = static_cast<std::size_t>(image.channels);
  // One table lookup per pixel instead of a subtraction and a division.
  for (std::size_t c = 0; c < channels; ++c) {
    const float* lut = tables_[tables_.size() == 1 ? 0 : c].data();
    const std::uint8_t* src = image.pixels.data() + c;
    float* dst = out + c * plane;
    for (std::size_t p = 0; p < plane; ++p) dst[p] = lut[src[p * channels]];
  }
}

Image crop(const Image& image, const CropBox& box) {
  SHEARS_CHECK_AS(ConfigError, box.height > 0 && box.width > 0, "crop of size ", box.height, "x",
                  box.width);
  Image out(box.height, box.width, image.channels);
  const int y0 = std::max(box.top, 0);
  const int y1 = std::min(box.top + box.height, image.height);
  const int x0 = std::max(box.left, 0);
  const int x1 = std::min(box.left + box.width, image.width);
  if (x1 <= x0) return out;
  const std::size_t row_bytes =
      static_cast<std::size_t>(x1 - x0) * static_cast<std::size_t>(image.channels);
  for (int y = y0; y < y1; ++y) {
    std::memcpy(&out.pixels[out.index(y - box.top, x0 - box.left, 0)],
                &image.pixels[image.index(y, x0, 0)], row_bytes);
  }
  return out;
}

Image random_crop(const Image& image, int size, int padding, SampleRng& rng) {
  const int padded_h = image.height + 2 * padding;
  const int padded_w = image.width + 2 * padding;
  SHEARS_CHECK_AS(ConfigError, size <= padded_h && size <= padded_w, "random crop of ", size,
                  " from a ", image.height, "x", image.width, " image padded by ", padding);
  const int top = static_cast<int>(rng.randint(0, padded_h - size));
  const int left = static_cast<int>(rng.randint(0, padded_w - size));
  return crop(image, {top - padding, left - padding, size, size});
}

void horizontal_flip_in_place(Image& image) {
  const int c = image.channels;
  for (int y = 0; y < image.height; ++y) {
    std::uint8_t* left = &image.pixels[image.index(y, 0, 0)];
    std::uint8_t* right = left + static_cast<std::ptrdiff_t>(image.width - 1) * c;
    if (c == 3) {
      for (; left < right; left += 3, right -= 3) {
        std::swap(left[0], right[0]);
        std::swap(left[1], right[1]);
        std::swap(left[2], right[2]);
      }
      continue;
    }
    for (; left < right; left += c, right -= c) {
      for (int ch = 0; ch < c; ++ch) std::swap(left[ch], right[ch]);
    }
  }
}

Image horizontal_flip(const Image& image) {
  Image out = image;
  horizontal_flip_in_place(out);
  return out;
}

Image resized_crop(const Image& image, const CropBox& box, int out_height, int out_width) {
  SHEARS_CHECK_AS(ConfigError, out_height > 0 && out_width > 0, "resize to ", out_height, "x",
                  out_width);
  SHEARS_CHECK_AS(ConfigError,
                  box.top >= 0 && box.left >= 0 && box.height > 0 && box.width > 0 &&
                      box.top + box.height <= image.height && box.left + box.width <= image.width,
                  "resize window ", box.height, "x", box.width, " at (", box.top, ", ", box.left,
                  ") does not lie inside the ", image.height, "x", image.width, " image");
  const Taps tx = make_taps(image.width, box.left, box.width, out_width);
  const Taps ty = make_taps(image.height, box.top, box.height, out_height);
  const int c = image.channels;
  int col0 = image.width, col1 = 0;
  for (std::size_t x = 0; x < tx.start.size(); ++x) {
    col0 = std::min(col0, tx.start[x]);
    col1 = std::max(col1, tx.start[x] + tx.count[x]);
  }
  // Vertical pass first, over just the columns the horizontal taps read: it runs along whole
  // rows (contiguous, vectorisable), and when downscaling it leaves the gathering horizontal pass
  // only out_height rows instead of every row of the window.
  const std::size_t span = static_cast<std::size_t>(col1 - col0) * static_cast<std::size_t>(c);
  std::vector<float> rows(static_cast<std::size_t>(out_height) * span, 0.0f);
  for (int y = 0; y < out_height; ++y) {
    float* dst = &rows[static_cast<std::size_t>(y) * span];
    const int start = ty.start[static_cast<std::size_t>(y)];
    const float* w =
        &ty.weights[static_cast<std::size_t>(y) * static_cast<std::size_t>(ty.max_taps)];
    for (int k = 0; k < ty.count[static_cast<std::size_t>(y)]; ++k) {
      const std::uint8_t* src = &image.pixels[image.index(start + k, col0, 0)];
      const float wk = w[k];
      for (std::size_t i = 0; i < span; ++i) dst[i] += wk * static_cast<float>(src[i]);
    }
  }
  Image out(out_height, out_width, c);
  for (int y = 0; y < out_height; ++y) {
    const float* row = &rows[static_cast<std::size_t>(y) * span];
    std::uint8_t* dst = &out.pixels[out.index(y, 0, 0)];
    for (int x = 0; x < out_width; ++x) {
      const int n = tx.count[static_cast<std::size_t>(x)];
      const float* w =
          &tx.weights[static_cast<std::size_t>(x) * static_cast<std::size_t>(tx.max_taps)];
      const float* src =
          row + static_cast<std::size_t>(tx.start[static_cast<std::size_t>(x)] - col0) *
                    static_cast<std::size_t>(c);
      if (c == 3) {
        // RGB is the hot case (ImageNet): all three channels in one sweep over the taps.
        float r = 0.5f, g = 0.5f, b = 0.5f;  // +0.5 rounds to nearest on truncation below
        for (int k = 0; k < n; ++k) {
          r += w[k] * src[3 * k];
          g += w[k] * src[3 * k + 1];
          b += w[k] * src[3 * k + 2];
        }
        dst[3 * x] = static_cast<std::uint8_t>(std::clamp(r, 0.0f, 255.0f));
        dst[3 * x + 1] = static_cast<std::uint8_t>(std::clamp(g, 0.0f, 255.0f));
        dst[3 * x + 2] = static_cast<std::uint8_t>(std::clamp(b, 0.0f, 255.0f));
        continue;
      }
      for (int ch = 0; ch < c; ++ch) {
        float acc = 0.5f;
        for (int k = 0; k < n; ++k) acc += w[k] * src[k * c + ch];
        dst[x * c + ch] = static_cast<std::uint8_t>(std::clamp(acc, 0.0f, 255.0f));
      }
    }
  }
  return out;
}

Image resize(const Image& image, int out_height, int out_width) {
  return resized_crop(image, {0, 0, image.height, image.width}, out_height, out_width);
}

Image resize_shorter(const Image& image, int side) {
  SHEARS_CHECK_AS(ConfigError, side > 0, "resize to shorter side ", side);
  if (image.height <= image.width) {
    const int w = static_cast<int>(static_cast<std::int64_t>(side) * image.width / image.height);
    if (image.height == side && image.width == w) return image;
    return resize(image, side, w);
  }
  const int h = static_cast<int>(static_cast<std::int64_t>(side) * image.height / image.width);
  if (image.width == side && image.height == h) return image;
  return resize(image, h, side);
}

Image center_crop(const Image& image, int height, int width) {
  auto start = [](int size, int crop_size) {
    if (crop_size > size) return -((crop_size - size) / 2);
    return round_half_even((size - crop_size) / 2.0);
  };
  return crop(image, {start(image.height, height), start(image.width, width), height, width});
}

CropBox random_resized_crop_box(int height, int width, double scale_min, double scale_max,
                                double ratio_min, double ratio_max, SampleRng& rng) {
  const double area = static_cast<double>(height) * width;
  const double log_lo = std::log(ratio_min);
  const double log_hi = std::log(ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * rng.uniform(scale_min, scale_max);
    const double aspect = std::exp(rng.uniform(log_lo, log_hi));
    const int w = round_half_even(std::sqrt(target * aspect));
    const int h = round_half_even(std::sqrt(target / aspect));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const int top = static_cast<int>(rng.randint(0, height - h));
      const int left = static_cast<int>(rng.randint(0, width - w));
      return {top, left, h, w};
    }
  }
  const double in_ratio = static_cast<double>(width) / height;
  int w = width, h = height;
  if (in_ratio < ratio_min) {
    h = std::max(1, round_half_even(w / ratio_min));
  } else if (in_ratio > ratio_max) {
    w = std::max(1, round_half_even(h * ratio_max));
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

void normalize(float* chw, int channels, std::int64_t plane, const std::vector<double>& mean,
               const std::vector<double>& stdev) {
  check_channels(mean.size(), channels);
  check_channels(stdev.size(), channels);
  for (int c = 0; c < channels; ++c) {
    const auto m = static_cast<float>(mean.empty() ? 0.0 : mean[mean.size() == 1 ? 0 : c]);
    const auto s = static_cast<float>(stdev.empty() ? 1.0 : stdev[stdev.size() == 1 ? 0 : c]);
    float* p = chw + c * plane;
    for (std::int64_t i = 0; i < plane; ++i) p[i] = (p[i] - m) / s;
  }
}

void denormalize(float* chw, int channels, std::int64_t plane, const std::vector<double>& mean,
                 const std::vector<double>& stdev) {
  check_channels(mean.size(), channels);
  check_channels(stdev.size(), channels);
  for (int c = 0; c < channels; ++c) {
    const auto m = static_cast<float>(mean.empty() ? 0.0 : mean[mean.size() == 1 ? 0 : c]);
    const auto s = static_cast<float>(stdev.empty() ? 1.0 : stdev[stdev.size() == 1 ? 0 : c]);
    float* p = chw + c * plane;
    for (std::int64_t i = 0; i < plane; ++i) p[i] = p[i] * s + m;
  }
}

}  // namespace shears::data
