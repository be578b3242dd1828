#include "data/mnist.h"

#include <gtest/gtest.h>

#include <array>

#include "data/file_io.h"
#include "data/writers.h"
#include "tests/data/data_test_util.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"

namespace shears::data {
namespace {

using testing::random_image;

void write_set(const shears::testing::TempDir& dir, const std::string& prefix, int n, bool gzip,
               std::vector<Image>* images = nullptr, std::vector<std::uint8_t>* labels = nullptr) {
  std::vector<Image> imgs;
  std::vector<std::uint8_t> labs;
  for (int i = 0; i < n; ++i) {
    imgs.push_back(random_image(28, 28, 1, static_cast<std::uint64_t>(i) + 17));
    labs.push_back(static_cast<std::uint8_t>((i * 3) % 10));
  }
  const std::string gz = gzip ? ".gz" : "";
  write_idx_images(dir.file(prefix + "-images-idx3-ubyte" + gz), imgs, gzip);
  write_idx_labels(dir.file(prefix + "-labels-idx1-ubyte" + gz), labs, gzip);
  if (images != nullptr) *images = imgs;
  if (labels != nullptr) *labels = labs;
}

void round_trip(bool gzip) {
  shears::testing::TempDir dir;
  std::vector<Image> images;
  std::vector<std::uint8_t> labels;
  write_set(dir, "train", 7, gzip, &images, &labels);
  write_set(dir, "t10k", 3, gzip);
  MnistOptions o;
  o.root = dir.path();
  MnistDataset train(o);
  ASSERT_EQ(train.size(), 7);
  EXPECT_EQ(train.height(), 28);
  EXPECT_EQ(train.num_classes(), 10);
  for (int i = 0; i < 7; ++i) {
    SCOPED_TRACE(i);
    const Sample s = train.get(i);
    EXPECT_EQ(s.image.channels, 1);
    EXPECT_EQ(s.image.pixels, images[static_cast<std::size_t>(i)].pixels);
    EXPECT_EQ(s.label, labels[static_cast<std::size_t>(i)]);
  }
  o.split = Split::Test;
  EXPECT_EQ(MnistDataset(o).size(), 3);
}

TEST(MnistRoundTrip, PlainIdx) { round_trip(false); }
TEST(MnistRoundTrip, GzipIdx) { round_trip(true); }

TEST(MnistRoundTrip, IdxHeaderBytes) {
  shears::testing::TempDir dir;
  write_idx(dir.file("x"), {2, 3}, {1, 2, 3, 4, 5, 6});
  const auto bytes = read_file(dir.file("x"));
  const std::vector<std::uint8_t> expected = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6};
  EXPECT_EQ(bytes, expected);
  write_idx(dir.file("x.gz"), {2, 3}, {1, 2, 3, 4, 5, 6}, true);
  EXPECT_NE(read_file(dir.file("x.gz")), expected);
  EXPECT_EQ(read_maybe_gzip(dir.file("x.gz")), expected);
}

TEST(MnistErrors, BadMagicNamesFile) {
  shears::testing::TempDir dir;
  write_set(dir, "train", 2, false);
  // An idx1 label file where the image file should be.
  write_idx_labels(dir.file("train-images-idx3-ubyte"), {1, 2});
  MnistOptions o;
  o.root = dir.path();
  EXPECT_THROW_MSG(MnistDataset{o}, DataError,
                   dir.file("train-images-idx3-ubyte") + ": bad idx magic number 0x00000801");
}

TEST(MnistErrors, TruncatedNamesFile) {
  shears::testing::TempDir dir;
  write_set(dir, "train", 4, false);
  auto bytes = read_file(dir.file("train-images-idx3-ubyte"));
  bytes.resize(bytes.size() - 100);
  write_file(dir.file("train-images-idx3-ubyte"), bytes);
  MnistOptions o;
  o.root = dir.path();
  EXPECT_THROW_MSG(MnistDataset{o}, DataError,
                   dir.file("train-images-idx3-ubyte") + ": truncated: header promises 3152");
}

TEST(MnistErrors, HeaderDimensionsThatOverflowAreRejected) {
  // 4 x 2^31 x 2^31 = 2^66 bytes: wrapped to a small count, this once passed the size check.
  shears::testing::TempDir dir;
  write_set(dir, "train", 4, false);
  std::vector<std::uint8_t> bytes = {0, 0, 8, 3, 0, 0, 0, 4, 0x80, 0, 0, 0, 0x80, 0, 0, 0};
  write_file(dir.file("train-images-idx3-ubyte"), bytes);
  MnistOptions o;
  o.root = dir.path();
  EXPECT_THROW_MSG(MnistDataset{o}, DataError,
                   dir.file("train-images-idx3-ubyte") +
                       ": idx header dimensions 4 x 2147483648 x 2147483648 overflow");
  // Large but representable claims are checked against the file's size.
  bytes = {0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0xea, 0x60, 0, 0, 0xea, 0x60};
  write_file(dir.file("train-images-idx3-ubyte"), bytes);
  EXPECT_THROW_MSG(MnistDataset{o}, DataError,
                   dir.file("train-images-idx3-ubyte") + ": truncated: header promises");
}

TEST(MnistErrors, TruncatedGzipNamesFile) {
  shears::testing::TempDir dir;
  write_set(dir, "train", 4, true);
  auto bytes = read_file(dir.file("train-labels-idx1-ubyte.gz"));
  bytes.resize(bytes.size() / 2);
  write_file(dir.file("train-labels-idx1-ubyte.gz"), bytes);
  MnistOptions o;
  o.root = dir.path();
  EXPECT_THROW_MSG(MnistDataset{o}, DataError, dir.file("train-labels-idx1-ubyte.gz"));
}

TEST(MnistErrors, CountMismatch) {
  shears::testing::TempDir dir;
  write_set(dir, "train", 4, false);
  write_idx_labels(dir.file("train-labels-idx1-ubyte"), {1, 2, 3});
  MnistOptions o;
  o.root = dir.path();
  EXPECT_THROW_MSG(MnistDataset{o}, DataError, "holds 4 images but");
}

TEST(MnistErrors, MissingFileNamed) {
  shears::testing::TempDir dir;
  MnistOptions o;
  o.root = dir.path();
  EXPECT_THROW_MSG(MnistDataset{o}, DataError,
                   "missing file: " + dir.file("train-images-idx3-ubyte"));
}

TEST(MnistErrors, LabelOutOfRange) {
  shears::testing::TempDir dir;
  write_set(dir, "train", 3, false);
  write_idx_labels(dir.file("train-labels-idx1-ubyte"), {1, 12, 3});
  MnistOptions o;
  o.root = dir.path();
  EXPECT_THROW_MSG(MnistDataset{o}, DataError, "record 1 has label 12");
}

// ---- Fashion-MNIST from Debian's dataset-fashion-mnist --------------------------------------

void check_fashion(Split split, std::int64_t total, int per_class) {
  if (!is_directory(kFashionMnistSystemDir)) {
    GTEST_SKIP() << "Fashion-MNIST not installed at " << kFashionMnistSystemDir
                 << " (apt-get install dataset-fashion-mnist)";
  }
  MnistOptions o;
  o.root = kFashionMnistSystemDir;
  o.split = split;
  o.class_names = fashion_mnist_class_names();
  MnistDataset ds(o);
  ASSERT_EQ(ds.size(), total);
  EXPECT_EQ(ds.height(), 28);
  EXPECT_EQ(ds.width(), 28);
  EXPECT_EQ(ds.class_names()[9], "Ankle boot");
  std::array<int, 10> counts{};
  for (std::int64_t i = 0; i < ds.size(); ++i) ++counts[static_cast<std::size_t>(ds.label(i))];
  for (int c : counts) EXPECT_EQ(c, per_class);
}

TEST(FashionMnistReal, TrainCounts) { check_fashion(Split::Train, 60000, 6000); }
TEST(FashionMnistReal, TestCounts) { check_fashion(Split::Test, 10000, 1000); }

}  // namespace
}  // namespace shears::data
