#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace shears::data {

/// Where and what to read of an MNIST-format (idx) dataset.
struct MnistOptions {
  /// The directory holding the idx files.
  std::string root;
  Split split = Split::Train;
  /// Image and label file names (relative to root). Empty: the official names for the split,
  /// `train-images-idx3-ubyte` / `train-labels-idx1-ubyte` or `t10k-…`, each found plain or with
  /// a `.gz` suffix.
  std::string images_file;
  std::string labels_file;
  /// Class names (their count sets num_classes). Empty: the digits "0".."9".
  std::vector<std::string> class_names;
};

/// Fashion-MNIST's ten class names, in label order.
std::vector<std::string> fashion_mnist_class_names();
/// Where Debian's dataset-fashion-mnist package installs the four idx .gz files.
constexpr const char* kFashionMnistSystemDir = "/usr/share/datasets/fashion-mnist";

/// An idx3 image file (magic 0x00000803, dims N, H, W, then N*H*W bytes) and an idx1 label file
/// (magic 0x00000801, dim N, then N bytes) held in memory; plain or gzip-compressed.
/// Throws DataError naming the file for a missing file, a bad magic number, a file shorter than
/// its header says (truncation), trailing bytes, image and label counts that differ, or a label
/// outside [0, num_classes).
class MnistDataset : public Dataset {
 public:
  explicit MnistDataset(const MnistOptions& options);

  std::int64_t size() const override { return static_cast<std::int64_t>(labels_.size()); }
  int num_classes() const override { return static_cast<int>(class_names_.size()); }
  const std::vector<std::string>& class_names() const override { return class_names_; }
  /// A height x width x 1 HWC image and its label.
  Sample get(std::int64_t index) const override;
  std::int64_t label(std::int64_t index) const override;
  std::string describe() const override;

  int height() const { return height_; }
  int width() const { return width_; }
  const std::string& images_path() const { return images_path_; }
  const std::string& labels_path() const { return labels_path_; }

 private:
  std::string images_path_, labels_path_;
  Split split_;
  int height_ = 0, width_ = 0;
  std::vector<std::string> class_names_;
  std::vector<std::uint8_t> pixels_;
  std::vector<std::uint8_t> labels_;
};

}  // namespace shears::data
