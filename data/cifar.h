#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace shears::data {

enum class CifarVariant { Cifar10, Cifar100 };

/// Where and what to read of CIFAR's official *binary version*.
struct CifarOptions {
  CifarVariant variant = CifarVariant::Cifar10;
  /// The directory holding the .bin files, or its parent holding `cifar-10-batches-bin/` or
  /// `cifar-100-binary/` (the folders the official archives unpack to).
  std::string root;
  Split split = Split::Train;
  /// Batch files making up the split, relative to the resolved directory. Empty: the official
  /// set (CIFAR-10 train data_batch_1..5.bin, test test_batch.bin; CIFAR-100 train.bin,
  /// test.bin). Every listed file must exist: a missing one is an error, never a smaller set.
  std::vector<std::string> files;
  /// CIFAR-100 only: label samples with the 20 coarse superclasses instead of the 100 fine ones.
  bool coarse_labels = false;
};

/// CIFAR-10 / CIFAR-100 held in memory. A CIFAR-10 record is 3,073 bytes: 1 label byte, then
/// the 1,024-byte red, green and blue planes of a 32x32 image, row-major. A CIFAR-100 record is
/// 3,074 bytes: coarse label, fine label, then the same planes. Files have no header.
/// Class names come from batches.meta.txt (CIFAR-10) or fine_label_names.txt /
/// coarse_label_names.txt (CIFAR-100) beside the batches, falling back to the official CIFAR-10
/// names or to the class numbers.
/// Throws DataError naming the file for a missing file, a size that is not a whole number of
/// records, or a label byte out of range (with its record number).
class CifarDataset : public Dataset {
 public:
  explicit CifarDataset(const CifarOptions& options);

  std::int64_t size() const override { return static_cast<std::int64_t>(labels_.size()); }
  int num_classes() const override { return num_classes_; }
  const std::vector<std::string>& class_names() const override { return class_names_; }
  /// A 32x32x3 HWC image and its (fine, or coarse when configured) label.
  Sample get(std::int64_t index) const override;
  std::int64_t label(std::int64_t index) const override;
  std::string describe() const override;

  /// CIFAR-100: the fine label (0..99) and coarse label (0..19) of sample `index`, whichever
  /// `coarse_labels` chose for `label`. CIFAR-10: both equal the label.
  std::int64_t fine_label(std::int64_t index) const;
  std::int64_t coarse_label(std::int64_t index) const;
  /// The directory the batches were read from.
  const std::string& directory() const { return directory_; }

  static constexpr int kSide = 32;
  static constexpr int kPlane = kSide * kSide;
  static constexpr int kImageBytes = 3 * kPlane;

 private:
  CifarOptions options_;
  std::string directory_;
  int num_classes_ = 10;
  std::vector<std::string> class_names_;
  std::vector<std::uint8_t> planes_;  // size() records of kImageBytes, CHW as on disk
  std::vector<std::uint8_t> labels_;
  std::vector<std::uint8_t> coarse_;  // CIFAR-100 only
};

/// The official batch file names of a split: {"data_batch_1.bin", ...} etc.
std::vector<std::string> cifar_default_files(CifarVariant variant, Split split);

}  // namespace shears::data
