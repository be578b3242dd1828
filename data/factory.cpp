#include "data/factory.h"

#include "data/cifar.h"
#include "data/image_folder.h"
#include "data/mnist.h"

namespace shears::data {

namespace {
struct KindName {
  DatasetKind kind;
  const char* name;
};
constexpr KindName kKinds[] = {
    {DatasetKind::Cifar10, "cifar10"},
    {DatasetKind::Cifar100, "cifar100"},
    {DatasetKind::Mnist, "mnist"},
    {DatasetKind::FashionMnist, "fashion_mnist"},
    {DatasetKind::ImageFolder, "imagenet_folder"},
    {DatasetKind::Synthetic, "synthetic"},
};
// The test split of a synthetic set starts this far into the seed's sample stream.
constexpr std::int64_t kSyntheticTestOffset = std::int64_t{1} << 40;
}  // namespace

DatasetKind parse_dataset_kind(const std::string& text) {
  std::string known;
  for (const auto& k : kKinds) {
    if (text == k.name) return k.kind;
    known += (known.empty() ? "" : ", ") + std::string(k.name);
  }
  throw ConfigError(detail::cat("unknown dataset kind '", text, "' (known: ", known, ")"));
}

const char* dataset_kind_name(DatasetKind kind) {
  for (const auto& k : kKinds) {
    if (k.kind == kind) return k.name;
  }
  return "unknown";
}

std::shared_ptr<Dataset> make_dataset(const DatasetOptions& o) {
  const char* name = dataset_kind_name(o.kind);
  const bool needs_root = o.kind != DatasetKind::Synthetic && o.kind != DatasetKind::FashionMnist;
  SHEARS_CHECK_AS(ConfigError, !needs_root || !o.root.empty(), "dataset ", name,
                  " needs a root directory");
  const bool takes_files = o.kind == DatasetKind::Cifar10 || o.kind == DatasetKind::Cifar100 ||
                           o.kind == DatasetKind::Mnist || o.kind == DatasetKind::FashionMnist;
  SHEARS_CHECK_AS(ConfigError, takes_files || o.files.empty(), "dataset ", name,
                  " takes no file list");
  SHEARS_CHECK_AS(ConfigError, o.kind == DatasetKind::Cifar100 || !o.coarse_labels, "dataset ",
                  name, " has no coarse labels (a cifar100 option)");
  SHEARS_CHECK_AS(ConfigError, o.kind == DatasetKind::ImageFolder || o.class_index_file.empty(),
                  "dataset ", name, " takes no class-index file (an imagenet_folder option)");
  switch (o.kind) {
    case DatasetKind::Cifar10:
    case DatasetKind::Cifar100: {
      CifarOptions c;
      c.variant = o.kind == DatasetKind::Cifar10 ? CifarVariant::Cifar10 : CifarVariant::Cifar100;
      c.root = o.root;
      c.split = o.split;
      c.files = o.files;
      c.coarse_labels = o.coarse_labels;
      return std::make_shared<CifarDataset>(c);
    }
    case DatasetKind::Mnist:
    case DatasetKind::FashionMnist: {
      MnistOptions m;
      m.root = o.root.empty() ? kFashionMnistSystemDir : o.root;
      m.split = o.split;
      SHEARS_CHECK_AS(ConfigError, o.files.empty() || o.files.size() == 2, "dataset ", name,
                      " files must be {images, labels}, got ", o.files.size(), " names");
      if (o.files.size() == 2) {
        m.images_file = o.files[0];
        m.labels_file = o.files[1];
      }
      if (o.kind == DatasetKind::FashionMnist) m.class_names = fashion_mnist_class_names();
      return std::make_shared<MnistDataset>(m);
    }
    case DatasetKind::ImageFolder: {
      ImageFolderOptions f;
      f.root = o.root;
      f.split = o.split;
      f.class_index_file = o.class_index_file;
      f.decode_min_side = o.decode_min_side;
      f.bad_image = o.bad_image;
      return std::make_shared<ImageFolderDataset>(f);
    }
    case DatasetKind::Synthetic: {
      SyntheticOptions s = o.synthetic;
      if (o.split == Split::Test) s.offset += kSyntheticTestOffset;
      return std::make_shared<SyntheticDataset>(s);
    }
  }
  throw ConfigError("make_dataset: unknown dataset kind");
}

TransformOptions default_transform(DatasetKind kind, Split split) {
  TransformOptions t;
  const bool train = split == Split::Train;
  switch (kind) {
    case DatasetKind::Cifar10:
    case DatasetKind::Cifar100:
      if (train) {
        t.random_crop = 32;
        t.padding = 4;
        t.horizontal_flip = true;
      }
      if (kind == DatasetKind::Cifar10) {
        t.mean = {0.4914, 0.4822, 0.4465};
        t.std = {0.2470, 0.2435, 0.2616};
      } else {
        t.mean = {0.5071, 0.4865, 0.4409};
        t.std = {0.2673, 0.2564, 0.2762};
      }
      break;
    case DatasetKind::Mnist:
      t.mean = {0.1307};
      t.std = {0.3081};
      break;
    case DatasetKind::FashionMnist:
      t.mean = {0.2860};
      t.std = {0.3530};
      break;
    case DatasetKind::ImageFolder:
      if (train) {
        t.random_resized_crop = 224;
        t.horizontal_flip = true;
      } else {
        t.resize = 256;
        t.center_crop = 224;
      }
      t.mean = {0.485, 0.456, 0.406};
      t.std = {0.229, 0.224, 0.225};
      break;
    case DatasetKind::Synthetic:
      // Pixels are uniform-ish over [0, 255]: centre and scale them like a real dataset.
      t.mean = {0.5};
      t.std = {0.25};
      break;
  }
  return t;
}

}  // namespace shears::data
