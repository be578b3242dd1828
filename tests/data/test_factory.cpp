#include "data/factory.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "data/cifar.h"
#include "data/file_io.h"
#include "data/mnist.h"
#include "data/synthetic.h"
#include "data/writers.h"
#include "tests/data/data_test_util.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"

namespace shears::data {
namespace {

TEST(Synthetic, DeterministicBalancedAndShaped) {
  SyntheticOptions o;
  o.size = 30;
  o.num_classes = 3;
  o.channels = 1;
  o.height = 7;
  o.width = 9;
  o.seed = 4;
  SyntheticDataset a(o), b(o);
  const Sample s = a.get(5);
  EXPECT_EQ(s.image.height, 7);
  EXPECT_EQ(s.image.width, 9);
  EXPECT_EQ(s.image.channels, 1);
  EXPECT_EQ(s.label, 2);
  EXPECT_EQ(s.image.pixels, b.get(5).image.pixels);
  EXPECT_NE(s.image.pixels, a.get(8).image.pixels);
  o.seed = 5;
  EXPECT_NE(s.image.pixels, SyntheticDataset(o).get(5).image.pixels);
}

// Nearest class mean on raw pixels separates the learnable variant almost perfectly and the
// noise variant not at all.
double nearest_mean_accuracy(bool learnable) {
  DatasetOptions d;
  d.kind = DatasetKind::Synthetic;
  d.synthetic.size = 400;
  d.synthetic.num_classes = 8;
  d.synthetic.seed = 12;
  d.synthetic.learnable = learnable;
  auto train = make_dataset(d);
  d.split = Split::Test;
  auto test = make_dataset(d);
  const std::size_t dim = 32 * 32 * 3;
  std::vector<std::vector<double>> means(8, std::vector<double>(dim));
  std::vector<int> counts(8);
  for (std::int64_t i = 0; i < train->size(); ++i) {
    const Sample s = train->get(i);
    ++counts[static_cast<std::size_t>(s.label)];
    for (std::size_t p = 0; p < dim; ++p)
      means[static_cast<std::size_t>(s.label)][p] += s.image.pixels[p];
  }
  int correct = 0;
  for (std::int64_t i = 0; i < test->size(); ++i) {
    const Sample s = test->get(i);
    EXPECT_NE(s.image.pixels, train->get(i).image.pixels);
    double best = 1e300;
    std::int64_t arg = -1;
    for (std::size_t k = 0; k < 8; ++k) {
      double d2 = 0;
      for (std::size_t p = 0; p < dim; ++p) {
        const double diff = s.image.pixels[p] - means[k][p] / counts[k];
        d2 += diff * diff;
      }
      if (d2 < best) {
        best = d2;
        arg = static_cast<std::int64_t>(k);
      }
    }
    correct += arg == s.label ? 1 : 0;
  }
  return static_cast<double>(correct) / static_cast<double>(test->size());
}

TEST(Synthetic, LearnableVariantIsSeparable) {
  EXPECT_GT(nearest_mean_accuracy(true), 0.95);
  EXPECT_LT(nearest_mean_accuracy(false), 0.4);
}

TEST(Synthetic, BadOptions) {
  SyntheticOptions o;
  o.channels = 2;
  EXPECT_THROW_MSG(SyntheticDataset{o}, ConfigError, "channels 2 (expected 1 or 3)");
  o = {};
  o.size = 0;
  EXPECT_THROW_MSG(SyntheticDataset{o}, ConfigError, "size 0 must be positive");
}

TEST(MakeDataset, KindsAndErrors) {
  EXPECT_EQ(parse_dataset_kind("fashion_mnist"), DatasetKind::FashionMnist);
  EXPECT_EQ(parse_dataset_kind("imagenet_folder"), DatasetKind::ImageFolder);
  EXPECT_THROW_MSG(parse_dataset_kind("svhn"), ConfigError,
                   "unknown dataset kind 'svhn' (known: cifar10, cifar100, mnist, "
                   "fashion_mnist, imagenet_folder, synthetic)");
  EXPECT_THROW_MSG(parse_split("dev"), ConfigError, "unknown dataset split 'dev'");
  EXPECT_EQ(parse_split("val"), Split::Test);
  EXPECT_EQ(parse_bad_image_policy("skip"), BadImagePolicy::Skip);

  DatasetOptions d;
  d.kind = DatasetKind::Cifar10;
  EXPECT_THROW_MSG(make_dataset(d), ConfigError, "dataset cifar10 needs a root directory");
  d.kind = DatasetKind::Synthetic;
  d.files = {"x.bin"};
  EXPECT_THROW_MSG(make_dataset(d), ConfigError, "dataset synthetic takes no file list");
}

TEST(MakeDataset, BuildsCifarAndMnistFromFiles) {
  shears::testing::TempDir dir;
  std::vector<Image> images(3, testing::random_image(32, 32, 3, 1));
  write_cifar10(dir.file("a.bin"), images, {1, 2, 3});
  DatasetOptions d;
  d.kind = DatasetKind::Cifar10;
  d.root = dir.path();
  d.files = {"a.bin"};
  auto cifar = make_dataset(d);
  EXPECT_EQ(cifar->size(), 3);
  EXPECT_EQ(cifar->label(2), 3);
  d.files = {"a.bin", "data_batch_2.bin"};
  EXPECT_THROW_MSG(make_dataset(d), DataError, "missing file: " + dir.file("data_batch_2.bin"));

  std::vector<Image> digits(2, testing::random_image(28, 28, 1, 2));
  write_idx_images(dir.file("imgs.gz"), digits, true);
  write_idx_labels(dir.file("labs.gz"), {4, 9}, true);
  d.kind = DatasetKind::FashionMnist;
  d.files = {"imgs.gz", "labs.gz"};
  auto fashion = make_dataset(d);
  EXPECT_EQ(fashion->size(), 2);
  EXPECT_EQ(fashion->class_names()[9], "Ankle boot");
}

TEST(MakeDataset, FashionMnistFromTheSystemPackage) {
  if (!is_directory(kFashionMnistSystemDir)) {
    GTEST_SKIP() << "Fashion-MNIST not installed at " << kFashionMnistSystemDir;
  }
  DatasetOptions d;
  d.kind = DatasetKind::FashionMnist;
  d.split = Split::Test;
  auto ds = make_dataset(d);
  EXPECT_EQ(ds->size(), 10000);
  EXPECT_EQ(ds->num_classes(), 10);
}

TEST(DefaultTransform, CifarAndImageNetPipelines) {
  const auto cifar = default_transform(DatasetKind::Cifar10, Split::Train);
  EXPECT_EQ(cifar.random_crop, 32);
  EXPECT_EQ(cifar.padding, 4);
  EXPECT_TRUE(cifar.horizontal_flip);
  EXPECT_EQ(cifar.mean.size(), 3u);
  const auto eval = default_transform(DatasetKind::ImageFolder, Split::Test);
  EXPECT_EQ(eval.resize, 256);
  EXPECT_EQ(eval.center_crop, 224);
  EXPECT_FALSE(eval.horizontal_flip);
  EXPECT_EQ(default_transform(DatasetKind::ImageFolder, Split::Train).random_resized_crop, 224);
}

}  // namespace
}  // namespace shears::data
