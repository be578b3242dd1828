#include "data/mnist.h"

#include <cstdio>
#include <cstring>

#include "data/file_io.h"

namespace shears::data {

namespace {

constexpr std::uint32_t kImagesMagic = 0x00000803;
constexpr std::uint32_t kLabelsMagic = 0x00000801;

std::uint32_t read_be32(const std::uint8_t* p) {
  return (static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
         (static_cast<std::uint32_t>(p[2]) << 8) | static_cast<std::uint32_t>(p[3]);
}

// `name` as given when it exists, else `name`.gz; errors name the plain path and the .gz one.
std::string find_idx(const std::string& root, const std::string& name) {
  const std::string plain = join_path(root, name);
  if (is_file(plain)) return plain;
  if (is_file(plain + ".gz")) return plain + ".gz";
  throw DataError(detail::cat("MNIST: missing file: ", plain, " (nor ", plain, ".gz)"));
}

// Parses an idx header with `rank` dimensions and checks the payload length against it.
std::vector<std::uint32_t> parse_idx(const std::vector<std::uint8_t>& bytes,
                                     const std::string& path, std::uint32_t magic, int rank) {
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(rank);
  SHEARS_CHECK_AS(DataError, bytes.size() >= 4, path, ": truncated idx file (", bytes.size(),
                  " bytes, no magic number)");
  const std::uint32_t got = read_be32(bytes.data());
  if (got != magic) {
    char expected[16], found[16];
    std::snprintf(expected, sizeof expected, "0x%08x", magic);
    std::snprintf(found, sizeof found, "0x%08x", got);
    throw DataError(detail::cat(path, ": bad idx magic number ", found, " (expected ", expected,
                                " for idx", rank, " unsigned bytes)"));
  }
  SHEARS_CHECK_AS(DataError, bytes.size() >= header, path, ": truncated idx header (", bytes.size(),
                  " of ", header, " bytes)");
  std::vector<std::uint32_t> dims;
  std::uint64_t payload = 1;
  bool overflow = false;
  for (int d = 0; d < rank; ++d) {
    dims.push_back(read_be32(bytes.data() + 4 + 4 * d));
    overflow |= __builtin_mul_overflow(payload, std::uint64_t{dims.back()}, &payload);
  }
  std::uint64_t expected = 0;
  overflow |= __builtin_add_overflow(payload, std::uint64_t{header}, &expected);
  if (overflow) {
    std::string shape;
    for (std::uint32_t d : dims) shape += (shape.empty() ? "" : " x ") + std::to_string(d);
    throw DataError(detail::cat(path, ": idx header dimensions ", shape,
                                " overflow a 64-bit byte count (damaged header)"));
  }
  // Each image's side must fit the int the dataset stores it in.
  for (int d = 1; d < rank; ++d) {
    SHEARS_CHECK_AS(DataError, dims[static_cast<std::size_t>(d)] <= 65536, path, ": idx dimension ",
                    d, " is ", dims[static_cast<std::size_t>(d)],
                    ", more than 65536 (damaged header)");
  }
  SHEARS_CHECK_AS(DataError, bytes.size() >= expected, path, ": truncated: header promises ",
                  expected, " bytes, file has ", bytes.size());
  SHEARS_CHECK_AS(DataError, bytes.size() == expected, path, ": ", bytes.size() - expected,
                  " unexpected trailing bytes after the ", expected, " the header promises");
  return dims;
}

}  // namespace

std::vector<std::string> fashion_mnist_class_names() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
}

MnistDataset::MnistDataset(const MnistOptions& options) : split_(options.split) {
  SHEARS_CHECK_AS(DataError, !options.root.empty(), "MNIST: no root directory given");
  SHEARS_CHECK_AS(DataError, is_directory(options.root),
                  "MNIST: missing directory: ", options.root);
  const std::string prefix = options.split == Split::Train ? "train" : "t10k";
  images_path_ = options.images_file.empty() ? find_idx(options.root, prefix + "-images-idx3-ubyte")
                                             : join_path(options.root, options.images_file);
  labels_path_ = options.labels_file.empty() ? find_idx(options.root, prefix + "-labels-idx1-ubyte")
                                             : join_path(options.root, options.labels_file);
  class_names_ = options.class_names;
  if (class_names_.empty()) {
    for (int i = 0; i < 10; ++i) class_names_.push_back(std::to_string(i));
  }

  const auto image_bytes = read_maybe_gzip(images_path_);
  const auto image_dims = parse_idx(image_bytes, images_path_, kImagesMagic, 3);
  const auto label_bytes = read_maybe_gzip(labels_path_);
  const auto label_dims = parse_idx(label_bytes, labels_path_, kLabelsMagic, 1);
  SHEARS_CHECK_AS(DataError, image_dims[0] == label_dims[0], images_path_, " holds ", image_dims[0],
                  " images but ", labels_path_, " holds ", label_dims[0], " labels");
  height_ = static_cast<int>(image_dims[1]);
  width_ = static_cast<int>(image_dims[2]);
  pixels_.assign(image_bytes.begin() + 16, image_bytes.end());
  labels_.assign(label_bytes.begin() + 8, label_bytes.end());
  for (std::size_t i = 0; i < labels_.size(); ++i) {
    SHEARS_CHECK_AS(DataError, labels_[i] < class_names_.size(), labels_path_, ": record ", i,
                    " has label ", static_cast<int>(labels_[i]), ", outside [0, ",
                    class_names_.size(), ")");
  }
}

Sample MnistDataset::get(std::int64_t index) const {
  check_sample_index(index, size(), "MNIST");
  Sample s;
  s.image = Image(height_, width_, 1);
  const std::size_t n = s.image.pixels.size();
  std::memcpy(s.image.pixels.data(), pixels_.data() + static_cast<std::size_t>(index) * n, n);
  s.label = labels_[static_cast<std::size_t>(index)];
  return s;
}

std::int64_t MnistDataset::label(std::int64_t index) const {
  check_sample_index(index, size(), "MNIST");
  return labels_[static_cast<std::size_t>(index)];
}

std::string MnistDataset::describe() const {
  return detail::cat("MNIST-format ", split_name(split_), " (", size(), " images ", height_, "x",
                     width_, ", ", num_classes(), " classes) from ", images_path_);
}

}  // namespace shears::data
