#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "kernels/common/counter_rng.h"

namespace shears::data {

/// A cheap, counter-based random stream (SplitMix64 of (seed, counter)). The loader gives every
/// sample its own stream derived from (seed, epoch, sample index), so augmentation does not
/// depend on which worker runs it or when.
class SampleRng {
 public:
  explicit SampleRng(std::uint64_t seed) : seed_(seed) {}
  /// The stream of sample `index` in epoch `epoch` of a run seeded with `seed`.
  static SampleRng for_sample(std::uint64_t seed, std::int64_t epoch, std::int64_t index) {
    return SampleRng(counter_hash(counter_hash(seed, static_cast<std::uint64_t>(epoch)),
                                  static_cast<std::uint64_t>(index)));
  }
  std::uint64_t next_u64() { return counter_hash(seed_, counter_++); }
  /// Uniform in [0, 1).
  double uniform() { return counter_uniform(seed_, counter_++); }
  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Uniform integer in [lo, hi] (inclusive); lo when hi <= lo.
  std::int64_t randint(std::int64_t lo, std::int64_t hi);
  /// True with probability p.
  bool bernoulli(double p) { return uniform() < p; }

 private:
  std::uint64_t seed_;
  std::uint64_t counter_ = 0;
};

/// The augmentation and conversion pipeline of a loader. Stages run in this fixed order, each
/// only when enabled: resize -> center crop -> random crop (after zero padding) ->
/// random-resized-crop -> horizontal flip -> scale to [0, 1] and normalize per channel.
struct TransformOptions {
  /// Resize so the shorter side has this many pixels, keeping the aspect ratio (the longer side
  /// is truncated as torchvision does); bilinear with antialiasing. 0: off.
  int resize = 0;
  /// Square center crop of this side (zero-padded when the image is smaller). 0: off.
  int center_crop = 0;
  /// Square random crop of this side, taken after `padding` zero pixels on every edge (CIFAR:
  /// 32 with padding 4). 0: off.
  int random_crop = 0;
  int padding = 0;
  /// Random-resized-crop to a square of this side (torchvision's RandomResizedCrop). 0: off.
  int random_resized_crop = 0;
  double scale_min = 0.08;
  double scale_max = 1.0;
  double ratio_min = 3.0 / 4.0;
  double ratio_max = 4.0 / 3.0;
  /// Mirror left-right with probability flip_probability.
  bool horizontal_flip = false;
  double flip_probability = 0.5;
  /// Per-channel mean and standard deviation in [0, 1] units: out = (x / 255 - mean) / std.
  /// Empty: no normalisation. One value applies to every channel.
  std::vector<double> mean;
  std::vector<double> std;
};

/// An axis-aligned crop window in pixel coordinates of the source image.
struct CropBox {
  int top = 0;
  int left = 0;
  int height = 0;
  int width = 0;
};

/// A validated TransformOptions, applied per sample.
class Transform {
 public:
  /// The identity geometry with scaling to [0, 1].
  Transform();
  /// Throws ConfigError for negative sizes or padding, a scale range outside (0, 1] or reversed,
  /// a ratio range that is not positive and ordered, mean/std of different lengths, or a
  /// non-positive std.
  explicit Transform(const TransformOptions& options);

  /// Runs the geometric and flip stages on `image`, drawing from `rng` in a fixed order.
  Image augment(Image image, SampleRng& rng) const;
  /// Writes `image` as CHW float (channels x height x width, row-major) to `out`, scaled to
  /// [0, 1] and normalized. Throws ConfigError when mean/std have a length other than 1 or the
  /// image's channel count.
  void to_chw(const Image& image, float* out) const;
  /// Whether any stage draws random numbers.
  bool is_random() const;
  const TransformOptions& options() const { return options_; }

 private:
  TransformOptions options_;
  // (v / 255 - mean[c]) / std[c] for v = 0..255, per channel (one table when mean has at most
  // one entry).
  std::vector<std::vector<float>> tables_;
};

// ---- the stages, for direct use and tests ---------------------------------------------------

/// The window [top, top + height) x [left, left + width) of `image`, where coordinates may lie
/// outside the image (those pixels are zero): a crop of the zero-padded image.
Image crop(const Image& image, const CropBox& box);
/// A random size x size crop of `image` padded by `padding` zeros on every side; top and left
/// are uniform over every position that fits in the padded image. Throws ConfigError when the
/// padded image is smaller than `size`.
Image random_crop(const Image& image, int size, int padding, SampleRng& rng);
/// The left-right mirror image.
Image horizontal_flip(const Image& image);
/// Mirrors `image` left-right in place.
void horizontal_flip_in_place(Image& image);
/// Resamples `box` of `image` (which must lie inside it) to out_height x out_width with a
/// triangle (bilinear) filter whose support widens by the downscale factor, as PIL's bilinear
/// resize does, so downscaling antialiases. Pixels outside `box` but inside the image may
/// contribute near its edges, as in PIL.
Image resized_crop(const Image& image, const CropBox& box, int out_height, int out_width);
/// The whole image resampled to out_height x out_width (see resized_crop).
Image resize(const Image& image, int out_height, int out_width);
/// Resized so its shorter side is `side` (aspect kept, longer side truncated).
Image resize_shorter(const Image& image, int side);
/// A height x width crop centred as torchvision's CenterCrop (zero-padded if the image is
/// smaller).
Image center_crop(const Image& image, int height, int width);
/// torchvision's RandomResizedCrop window: up to ten draws of (area fraction in [scale_min,
/// scale_max], log-uniform aspect ratio in [ratio_min, ratio_max]) that fit the image, then the
/// central crop with the aspect clamped to the ratio range.
CropBox random_resized_crop_box(int height, int width, double scale_min, double scale_max,
                                double ratio_min, double ratio_max, SampleRng& rng);

/// In place on CHW floats already scaled to [0, 1]: x = (x - mean[c]) / stdev[c]. mean and
/// stdev have 1 or `channels` entries.
void normalize(float* chw, int channels, std::int64_t plane, const std::vector<double>& mean,
               const std::vector<double>& stdev);
/// The inverse of normalize: x = x * stdev[c] + mean[c].
void denormalize(float* chw, int channels, std::int64_t plane, const std::vector<double>& mean,
                 const std::vector<double>& stdev);

}  // namespace shears::data
