#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/synthetic.h"
#include "data/transforms.h"

namespace shears::data {

enum class DatasetKind { Cifar10, Cifar100, Mnist, FashionMnist, ImageFolder, Synthetic };

/// "cifar10" | "cifar100" | "mnist" | "fashion_mnist" | "imagenet_folder" | "synthetic".
/// Throws ConfigError naming the text and listing the known kinds otherwise.
DatasetKind parse_dataset_kind(const std::string& text);
const char* dataset_kind_name(DatasetKind kind);

/// What the experiment config says about a dataset; make_dataset turns it into a Dataset.
struct DatasetOptions {
  DatasetKind kind = DatasetKind::Synthetic;
  /// The dataset's directory (see CifarOptions, MnistOptions, ImageFolderOptions). For
  /// fashion_mnist an empty root means Debian's /usr/share/datasets/fashion-mnist.
  std::string root;
  Split split = Split::Train;
  /// cifar10/cifar100: the batch files of the split (empty: the official ones).
  /// mnist/fashion_mnist: empty, or {images file, labels file}.
  std::vector<std::string> files;
  /// cifar100: label with the 20 coarse classes.
  bool coarse_labels = false;
  /// imagenet_folder: optional class-index file (e.g. ImageNet's classes.txt).
  std::string class_index_file;
  /// imagenet_folder: see ImageFolderOptions::decode_min_side.
  int decode_min_side = 0;
  /// imagenet_folder: what to do with an undecodable image.
  BadImagePolicy bad_image = BadImagePolicy::Fatal;
  /// synthetic: shape, size and seed. The test split draws samples from a disjoint range of the
  /// same seed's stream (same class patterns, different samples).
  SyntheticOptions synthetic;
};

/// Builds the dataset `options` describe. Throws ConfigError for options that do not fit the
/// kind (files for a synthetic set, a missing root) and DataError from the dataset itself.
std::shared_ptr<Dataset> make_dataset(const DatasetOptions& options);

/// The usual pipeline of a dataset kind and split: CIFAR train random crop 32 (padding 4) +
/// flip; ImageNet train random-resized-crop 224 + flip, test resize 256 + center crop 224; each
/// normalized with the dataset's customary per-channel mean and std (synthetic: 0.5 and 0.25;
/// MNIST-format and synthetic sets: no augmentation).
TransformOptions default_transform(DatasetKind kind, Split split);

}  // namespace shears::data
