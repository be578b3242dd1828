#include "data/cifar.h"

#include <gtest/gtest.h>

#include <array>
#include <filesystem>

#include "data/file_io.h"
#include "data/writers.h"
#include "tests/data/data_test_util.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"

namespace shears::data {
namespace {

using testing::random_image;
using testing::shared_data_dir;

struct Records {
  std::vector<Image> images;
  std::vector<std::uint8_t> labels;
  std::vector<std::uint8_t> coarse;
};

Records make_records(int n, int classes, std::uint64_t seed) {
  Records r;
  for (int i = 0; i < n; ++i) {
    r.images.push_back(random_image(32, 32, 3, seed + static_cast<std::uint64_t>(i)));
    r.labels.push_back(static_cast<std::uint8_t>((i * 7 + 3) % classes));
    r.coarse.push_back(static_cast<std::uint8_t>(i % 20));
  }
  return r;
}

TEST(CifarRoundTrip, Cifar10BatchesInOrder) {
  shears::testing::TempDir dir;
  const Records a = make_records(5, 10, 1);
  const Records b = make_records(3, 10, 100);
  write_cifar10(dir.file("data_batch_1.bin"), a.images, a.labels);
  write_cifar10(dir.file("data_batch_2.bin"), b.images, b.labels);
  CifarOptions o;
  o.root = dir.path();
  o.files = {"data_batch_1.bin", "data_batch_2.bin"};
  CifarDataset ds(o);
  ASSERT_EQ(ds.size(), 8);
  EXPECT_EQ(ds.num_classes(), 10);
  EXPECT_EQ(ds.class_names()[0], "airplane");
  for (int i = 0; i < 8; ++i) {
    SCOPED_TRACE(i);
    const Records& src = i < 5 ? a : b;
    const int j = i < 5 ? i : i - 5;
    const Sample s = ds.get(i);
    EXPECT_EQ(s.label, src.labels[static_cast<std::size_t>(j)]);
    EXPECT_EQ(ds.label(i), s.label);
    EXPECT_EQ(s.image.height, 32);
    EXPECT_EQ(s.image.channels, 3);
    EXPECT_EQ(s.image.pixels, src.images[static_cast<std::size_t>(j)].pixels);
  }
}

TEST(CifarRoundTrip, FileLayoutIsLabelThenPlanes) {
  shears::testing::TempDir dir;
  Image img(32, 32, 3);
  img.at(0, 1, 0) = 11;  // red plane, pixel 1
  img.at(2, 0, 1) = 22;  // green plane, pixel 64
  img.at(31, 31, 2) = 33;
  write_cifar10(dir.file("b.bin"), {img}, {7});
  const auto bytes = read_file(dir.file("b.bin"));
  ASSERT_EQ(bytes.size(), 3073u);
  EXPECT_EQ(bytes[0], 7);
  EXPECT_EQ(bytes[1 + 1], 11);
  EXPECT_EQ(bytes[1 + 1024 + 64], 22);
  EXPECT_EQ(bytes[3072], 33);
}

TEST(CifarRoundTrip, Cifar100FineAndCoarseWithNames) {
  shears::testing::TempDir dir;
  const Records r = make_records(6, 100, 5);
  write_cifar100(dir.file("train.bin"), r.images, r.coarse, r.labels);
  std::vector<std::string> fine, coarse;
  for (int i = 0; i < 100; ++i) fine.push_back("fine" + std::to_string(i));
  for (int i = 0; i < 20; ++i) coarse.push_back("coarse" + std::to_string(i));
  write_lines(dir.file("fine_label_names.txt"), fine);
  write_lines(dir.file("coarse_label_names.txt"), coarse);

  CifarOptions o;
  o.variant = CifarVariant::Cifar100;
  o.root = dir.path();
  CifarDataset ds(o);
  ASSERT_EQ(ds.size(), 6);
  EXPECT_EQ(ds.num_classes(), 100);
  EXPECT_EQ(ds.class_names()[42], "fine42");
  o.coarse_labels = true;
  CifarDataset coarse_ds(o);
  EXPECT_EQ(coarse_ds.num_classes(), 20);
  EXPECT_EQ(coarse_ds.class_names()[3], "coarse3");
  for (int i = 0; i < 6; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(ds.label(i), r.labels[static_cast<std::size_t>(i)]);
    EXPECT_EQ(ds.coarse_label(i), r.coarse[static_cast<std::size_t>(i)]);
    EXPECT_EQ(coarse_ds.label(i), r.coarse[static_cast<std::size_t>(i)]);
    EXPECT_EQ(coarse_ds.fine_label(i), r.labels[static_cast<std::size_t>(i)]);
    EXPECT_EQ(ds.get(i).image.pixels, r.images[static_cast<std::size_t>(i)].pixels);
  }
}

TEST(CifarRoundTrip, FindsOfficialSubfolder) {
  shears::testing::TempDir dir;
  std::filesystem::create_directory(dir.file("cifar-10-batches-bin"));
  const Records r = make_records(2, 10, 9);
  write_cifar10(dir.file("cifar-10-batches-bin/test_batch.bin"), r.images, r.labels);
  CifarOptions o;
  o.root = dir.path();
  o.split = Split::Test;
  CifarDataset ds(o);
  EXPECT_EQ(ds.size(), 2);
  EXPECT_EQ(ds.directory(), dir.file("cifar-10-batches-bin"));
}

TEST(CifarErrors, ListedButMissingBatchIsNamed) {
  shears::testing::TempDir dir;
  const Records r = make_records(2, 10, 1);
  write_cifar10(dir.file("data_batch_1.bin"), r.images, r.labels);
  CifarOptions o;
  o.root = dir.path();  // default train split lists data_batch_1..5
  EXPECT_THROW_MSG(CifarDataset{o}, DataError, "missing file: " + dir.file("data_batch_2.bin"));
}

TEST(CifarErrors, SizeNotWholeRecords) {
  shears::testing::TempDir dir;
  write_file(dir.file("bad.bin"), std::vector<std::uint8_t>(3073 * 2 + 5, 0));
  CifarOptions o;
  o.root = dir.path();
  o.files = {"bad.bin"};
  EXPECT_THROW_MSG(CifarDataset{o}, DataError,
                   dir.file("bad.bin") + ": size 6151 bytes is not a whole number of 3073");
}

TEST(CifarErrors, LabelOutOfRangeNamesRecord) {
  shears::testing::TempDir dir;
  std::vector<std::uint8_t> bytes(3073 * 3, 0);
  bytes[3073 * 2] = 10;
  write_file(dir.file("b.bin"), bytes);
  CifarOptions o;
  o.root = dir.path();
  o.files = {"b.bin"};
  EXPECT_THROW_MSG(CifarDataset{o}, DataError, "record 2 has label 10");
}

TEST(CifarErrors, MissingRootAndBadIndex) {
  CifarOptions o;
  o.root = "/nonexistent/shears-cifar";
  EXPECT_THROW_MSG(CifarDataset{o}, DataError, "missing directory: /nonexistent/shears-cifar");
  shears::testing::TempDir dir;
  const Records r = make_records(1, 10, 1);
  write_cifar10(dir.file("b.bin"), r.images, r.labels);
  o.root = dir.path();
  o.files = {"b.bin"};
  CifarDataset ds(o);
  EXPECT_THROW_MSG(ds.get(1), std::out_of_range, "sample index 1 out of range [0, 1)");
}

TEST(CifarErrors, WriterRejectsWrongShape) {
  shears::testing::TempDir dir;
  EXPECT_THROW_MSG(write_cifar10(dir.file("b.bin"), {Image(28, 28, 1)}, {0}), DataError,
                   "CIFAR needs 32x32x3");
}

// ---- the real CIFAR-10 files in ../shared/data (values from its README) ----------------------

std::string real_cifar_dir() {
  const std::string shared = shared_data_dir();
  if (shared.empty()) return {};
  const std::string dir = join_path(shared, "cifar10/cifar-10-batches-bin");
  return is_directory(dir) ? dir : std::string();
}

TEST(CifarReal, TrainBatchOneLabelsAndCounts) {
  const std::string dir = real_cifar_dir();
  if (dir.empty()) GTEST_SKIP() << "real CIFAR-10 not found (set SHEARS_SHARED_DATA)";
  CifarOptions o;
  o.root = join_path(shared_data_dir(), "cifar10");
  o.files = {"data_batch_1.bin"};
  CifarDataset ds(o);
  ASSERT_EQ(ds.size(), 10000);
  const std::array<int, 10> first = {6, 9, 9, 4, 1, 1, 2, 7, 8, 3};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(ds.label(i), first[static_cast<std::size_t>(i)]);
  std::array<int, 10> counts{};
  for (std::int64_t i = 0; i < ds.size(); ++i) ++counts[static_cast<std::size_t>(ds.label(i))];
  EXPECT_EQ(counts, (std::array<int, 10>{1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981}));
  EXPECT_EQ(ds.class_names().size(), 10u);
  EXPECT_EQ(ds.class_names()[0], "airplane");
  EXPECT_EQ(ds.class_names()[9], "truck");
}

TEST(CifarReal, TestBatchLabelsAndCounts) {
  const std::string dir = real_cifar_dir();
  if (dir.empty()) GTEST_SKIP() << "real CIFAR-10 not found (set SHEARS_SHARED_DATA)";
  CifarOptions o;
  o.root = dir;
  o.split = Split::Test;
  CifarDataset ds(o);
  ASSERT_EQ(ds.size(), 10000);
  const std::array<int, 20> first = {3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6};
  for (int i = 0; i < 20; ++i) EXPECT_EQ(ds.label(i), first[static_cast<std::size_t>(i)]);
  std::array<int, 10> counts{};
  for (std::int64_t i = 0; i < ds.size(); ++i) ++counts[static_cast<std::size_t>(ds.label(i))];
  for (int c : counts) EXPECT_EQ(c, 1000);
}

TEST(CifarReal, DefaultTrainSplitNamesMissingSecondBatch) {
  const std::string dir = real_cifar_dir();
  if (dir.empty()) GTEST_SKIP() << "real CIFAR-10 not found (set SHEARS_SHARED_DATA)";
  CifarOptions o;
  o.root = dir;
  EXPECT_THROW_MSG(CifarDataset{o}, DataError, "missing file: " + dir + "/data_batch_2.bin");
}

}  // namespace
}  // namespace shears::data
