#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace shears::data {

/// Where and how to read an ImageNet-style folder tree.
struct ImageFolderOptions {
  /// Either a tree with `train/<class>/…` and `val/<class>/…` (the split picks one), or a single
  /// `<class>/…` tree, which then serves as whichever split is asked for.
  std::string root;
  /// Train reads `root/train`; Test reads `root/val` (or `root/test` when there is no val).
  Split split = Split::Train;
  /// Optional class-index file of `index wnid [name …] [*]` lines ('#' starts a comment line),
  /// such as ImageNet's 1,000-class list. When given, a folder's label is its listed index,
  /// num_classes is the number of listed classes (folders may cover only some of them), and a
  /// folder not listed is an error. Without it, folders sorted by name get labels 0, 1, … (as
  /// torchvision's ImageFolder).
  std::string class_index_file;
  /// Decode JPEGs scaled down in the DCT domain while the shorter side stays >= this many pixels
  /// (0: full size). Set it to what the transforms need, e.g. 256 for resize 256 + crop 224.
  int decode_min_side = 0;
  /// What get() does with a file that cannot be decoded.
  BadImagePolicy bad_image = BadImagePolicy::Fatal;
};

/// ImageNet-style folder dataset: the file list is scanned once at construction (classes and
/// files sorted by name, recursing into class folders; .jpg/.jpeg/.png files, any case), and
/// images are read and decoded lazily, one per get().
/// Construction throws DataError naming the path for a missing root or split folder, a tree with
/// no class folders, a class folder with no images, a missing or malformed class-index file, or
/// a folder the index does not list.
class ImageFolderDataset : public Dataset {
 public:
  explicit ImageFolderDataset(const ImageFolderOptions& options);

  std::int64_t size() const override { return static_cast<std::int64_t>(files_.size()); }
  int num_classes() const override { return static_cast<int>(class_names_.size()); }
  /// Folder names, or the names from the class-index file when one is given.
  const std::vector<std::string>& class_names() const override { return class_names_; }
  /// Reads and decodes file `index` to RGB (3 channels, any size). Throws DataError naming the
  /// file when it is missing or (BadImagePolicy::Fatal) undecodable; SkippedSampleError for an
  /// undecodable file under BadImagePolicy::Skip.
  Sample get(std::int64_t index) const override;
  std::int64_t label(std::int64_t index) const override;
  std::string describe() const override;

  /// Absolute or root-relative path of sample `index`.
  std::string path(std::int64_t index) const;
  /// The folder the samples were scanned from (root or root/<split>).
  const std::string& directory() const { return directory_; }
  /// The folder names found, sorted.
  const std::vector<std::string>& folder_names() const { return folders_; }
  /// Undecodable files met so far (under BadImagePolicy::Skip; thread-safe).
  std::int64_t skipped_count() const { return skipped_.load(); }

 private:
  ImageFolderOptions options_;
  std::string directory_;
  std::vector<std::string> folders_;
  std::vector<std::string> class_names_;
  std::vector<std::string> files_;  // relative to directory_
  std::vector<std::int32_t> labels_;
  mutable std::atomic<std::int64_t> skipped_{0};
};

/// One line of a class-index file.
struct ClassIndexEntry {
  std::int64_t index = 0;
  std::string wnid;
  std::string name;
};

/// Parses a class-index file (see ImageFolderOptions::class_index_file). Indices must be unique
/// and cover 0..n-1. Throws DataError naming the file and line for anything else.
std::vector<ClassIndexEntry> read_class_index(const std::string& path);

}  // namespace shears::data
