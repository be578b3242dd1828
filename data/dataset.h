#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/common/error.h"

namespace shears::data {

/// An 8-bit image in HWC layout (row-major rows, channels interleaved): pixel (y, x) channel c is
/// `pixels[(y * width + x) * channels + c]`. Channels are 1 (grey) or 3 (RGB).
struct Image {
  int height = 0;
  int width = 0;
  int channels = 0;
  std::vector<std::uint8_t> pixels;

  Image() = default;
  /// A zero-filled image of the given size.
  Image(int height, int width, int channels)
      : height(height),
        width(width),
        channels(channels),
        pixels(static_cast<std::size_t>(height) * static_cast<std::size_t>(width) *
               static_cast<std::size_t>(channels)) {}

  std::size_t index(int y, int x, int c) const {
    return (static_cast<std::size_t>(y) * static_cast<std::size_t>(width) +
            static_cast<std::size_t>(x)) *
               static_cast<std::size_t>(channels) +
           static_cast<std::size_t>(c);
  }
  std::uint8_t& at(int y, int x, int c) { return pixels[index(y, x, c)]; }
  std::uint8_t at(int y, int x, int c) const { return pixels[index(y, x, c)]; }
  bool empty() const { return pixels.empty(); }
};

/// One labelled example as a dataset returns it, before any transform.
struct Sample {
  Image image;
  std::int64_t label = 0;
};

/// Which half of a dataset to read.
enum class Split { Train, Test };

/// "train" -> Train; "test" or "val" -> Test. Throws ConfigError naming the text otherwise.
Split parse_split(const std::string& text);
const char* split_name(Split split);

/// What to do with an image file that cannot be decoded.
enum class BadImagePolicy {
  Fatal,  // get() throws DataError naming the file; the loader propagates it
  Skip,   // get() throws SkippedSampleError; the loader drops the sample and counts it
};

/// "fatal" | "skip"; throws ConfigError naming the text otherwise.
BadImagePolicy parse_bad_image_policy(const std::string& text);

/// Thrown by Dataset::get for a sample that the dataset's policy says to skip (an undecodable
/// image under BadImagePolicy::Skip). The message names the file and what was wrong. The loader
/// catches exactly this type: it leaves the sample out of its batch and counts it.
class SkippedSampleError : public DataError {
 public:
  using DataError::DataError;
};

/// A random-access collection of labelled images. Implementations are immutable after
/// construction, so `get` and `label` may be called concurrently from any number of threads.
class Dataset {
 public:
  virtual ~Dataset() = default;
  /// Number of samples.
  virtual std::int64_t size() const = 0;
  /// Number of label values: labels lie in [0, num_classes()).
  virtual int num_classes() const = 0;
  /// One name per class index (size num_classes()).
  virtual const std::vector<std::string>& class_names() const = 0;
  /// The sample at `index` in [0, size()): an HWC u8 image and its label. May read and decode
  /// a file; throws DataError naming the file when it cannot (SkippedSampleError under a skip
  /// policy), and std::out_of_range for a bad index.
  virtual Sample get(std::int64_t index) const = 0;
  /// The label of sample `index`, without reading its image.
  virtual std::int64_t label(std::int64_t index) const = 0;
  /// A one-line description for logs, e.g. "CIFAR-10 train (10000 images) from <dir>".
  virtual std::string describe() const = 0;
};

/// Throws std::out_of_range naming `dataset` unless 0 <= index < size.
void check_sample_index(std::int64_t index, std::int64_t size, const char* dataset);

}  // namespace shears::data
