#include "data/writers.h"

#include <algorithm>
#include <cctype>
#include <fstream>

#include "data/file_io.h"
#include "data/jpeg.h"
#include "data/png.h"

namespace shears::data {

namespace {

constexpr int kCifarSide = 32;
constexpr std::size_t kCifarPlane = kCifarSide * kCifarSide;

void append_planes(std::vector<std::uint8_t>& out, const Image& image, const std::string& path,
                   std::size_t i) {
  SHEARS_CHECK_AS(DataError,
                  image.height == kCifarSide && image.width == kCifarSide && image.channels == 3,
                  path, ": image ", i, " is ", image.height, "x", image.width, "x", image.channels,
                  ", CIFAR needs 32x32x3");
  const std::size_t base = out.size();
  out.resize(base + 3 * kCifarPlane);
  for (std::size_t p = 0; p < kCifarPlane; ++p) {
    for (std::size_t c = 0; c < 3; ++c) out[base + c * kCifarPlane + p] = image.pixels[3 * p + c];
  }
}

void append_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 24));
  out.push_back(static_cast<std::uint8_t>(v >> 16));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

}  // namespace

void write_cifar10(const std::string& path, const std::vector<Image>& images,
                   const std::vector<std::uint8_t>& labels) {
  SHEARS_CHECK_AS(DataError, images.size() == labels.size(), path, ": ", images.size(),
                  " images but ", labels.size(), " labels");
  std::vector<std::uint8_t> bytes;
  bytes.reserve(images.size() * (1 + 3 * kCifarPlane));
  for (std::size_t i = 0; i < images.size(); ++i) {
    SHEARS_CHECK_AS(DataError, labels[i] < 10, path, ": label ", static_cast<int>(labels[i]),
                    " of image ", i, " is outside [0, 10)");
    bytes.push_back(labels[i]);
    append_planes(bytes, images[i], path, i);
  }
  write_file(path, bytes);
}

void write_cifar100(const std::string& path, const std::vector<Image>& images,
                    const std::vector<std::uint8_t>& coarse_labels,
                    const std::vector<std::uint8_t>& fine_labels) {
  SHEARS_CHECK_AS(DataError,
                  images.size() == coarse_labels.size() && images.size() == fine_labels.size(),
                  path, ": ", images.size(), " images, ", coarse_labels.size(),
                  " coarse labels and ", fine_labels.size(), " fine labels");
  std::vector<std::uint8_t> bytes;
  bytes.reserve(images.size() * (2 + 3 * kCifarPlane));
  for (std::size_t i = 0; i < images.size(); ++i) {
    SHEARS_CHECK_AS(DataError, coarse_labels[i] < 20 && fine_labels[i] < 100, path, ": labels (",
                    static_cast<int>(coarse_labels[i]), ", ", static_cast<int>(fine_labels[i]),
                    ") of image ", i, " are outside [0, 20) x [0, 100)");
    bytes.push_back(coarse_labels[i]);
    bytes.push_back(fine_labels[i]);
    append_planes(bytes, images[i], path, i);
  }
  write_file(path, bytes);
}

void write_idx(const std::string& path, const std::vector<std::uint32_t>& dims,
               const std::vector<std::uint8_t>& bytes, bool gzip) {
  SHEARS_CHECK_AS(DataError, !dims.empty() && dims.size() <= 9, path, ": idx rank ", dims.size(),
                  " (expected 1..9)");
  std::uint64_t count = 1;
  for (auto d : dims) count *= d;
  SHEARS_CHECK_AS(DataError, count == bytes.size(), path, ": dims promise ", count, " bytes but ",
                  bytes.size(), " were given");
  std::vector<std::uint8_t> out;
  out.reserve(4 + 4 * dims.size() + bytes.size());
  append_be32(out, 0x00000800u | static_cast<std::uint32_t>(dims.size()));
  for (auto d : dims) append_be32(out, d);
  out.insert(out.end(), bytes.begin(), bytes.end());
  write_file(path, out, gzip);
}

void write_idx_images(const std::string& path, const std::vector<Image>& images, bool gzip) {
  const int h = images.empty() ? 0 : images.front().height;
  const int w = images.empty() ? 0 : images.front().width;
  std::vector<std::uint8_t> bytes;
  bytes.reserve(images.size() * static_cast<std::size_t>(h) * static_cast<std::size_t>(w));
  for (std::size_t i = 0; i < images.size(); ++i) {
    const Image& img = images[i];
    SHEARS_CHECK_AS(DataError, img.height == h && img.width == w && img.channels == 1, path,
                    ": image ", i, " is ", img.height, "x", img.width, "x", img.channels,
                    ", expected ", h, "x", w, "x1 like image 0");
    bytes.insert(bytes.end(), img.pixels.begin(), img.pixels.end());
  }
  write_idx(path,
            {static_cast<std::uint32_t>(images.size()), static_cast<std::uint32_t>(h),
             static_cast<std::uint32_t>(w)},
            bytes, gzip);
}

void write_idx_labels(const std::string& path, const std::vector<std::uint8_t>& labels, bool gzip) {
  write_idx(path, {static_cast<std::uint32_t>(labels.size())}, labels, gzip);
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  write_file(path, std::vector<std::uint8_t>(text.begin(), text.end()));
}

void write_image(const std::string& path, const Image& image, int quality) {
  const auto dot = path.rfind('.');
  std::string ext = dot == std::string::npos ? "" : path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (ext == "jpg" || ext == "jpeg") {
    write_file(path, encode_jpeg(image, quality));
  } else if (ext == "png") {
    write_file(path, encode_png(image));
  } else {
    throw DataError(detail::cat(path, ": unknown image extension (expected .jpg, .jpeg, .png)"));
  }
}

}  // namespace shears::data
