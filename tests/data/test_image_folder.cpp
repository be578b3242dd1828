#include "data/image_folder.h"

#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "data/file_io.h"
#include "data/jpeg.h"
#include "data/loader.h"
#include "data/writers.h"
#include "tests/data/data_test_util.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"

namespace shears::data {
namespace {

namespace fs = std::filesystem;
using testing::shared_data_dir;
using testing::smooth_image;

// root/<split>/<class>/img<i>.<ext> with `per_class` images per class.
void make_tree(const std::string& root, const std::vector<std::string>& classes, int per_class,
               const std::string& ext = "JPEG") {
  for (const auto& c : classes) {
    fs::create_directories(join_path(root, c));
    for (int i = 0; i < per_class; ++i) {
      write_image(join_path(root, c + "/img" + std::to_string(i) + "." + ext),
                  smooth_image(20 + i, 24, 3));
    }
  }
}

TEST(ImageFolder, SingleTreeClassesSortedAndLabelled) {
  shears::testing::TempDir dir;
  make_tree(dir.path(), {"zebra", "apple", "mango"}, 2);
  write_image(dir.file("mango/extra.png"), smooth_image(10, 10, 3));
  write_file(dir.file("mango/notes.txt"), {'x'});
  ImageFolderOptions o;
  o.root = dir.path();
  ImageFolderDataset ds(o);
  EXPECT_EQ(ds.num_classes(), 3);
  EXPECT_EQ(ds.class_names(), (std::vector<std::string>{"apple", "mango", "zebra"}));
  ASSERT_EQ(ds.size(), 7);
  const std::vector<std::int64_t> labels = {0, 0, 1, 1, 1, 2, 2};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(ds.label(i), labels[static_cast<std::size_t>(i)]);
  EXPECT_EQ(ds.path(2), dir.file("mango/extra.png"));
  const Sample s = ds.get(3);
  EXPECT_EQ(s.label, 1);
  EXPECT_EQ(s.image.channels, 3);
  EXPECT_EQ(s.image.height, 20);
  // A single tree serves either split.
  o.split = Split::Test;
  EXPECT_EQ(ImageFolderDataset(o).size(), 7);
}

TEST(ImageFolder, TrainAndValSplits) {
  shears::testing::TempDir dir;
  make_tree(dir.file("train"), {"a", "b"}, 3);
  make_tree(dir.file("val"), {"a", "b"}, 1);
  ImageFolderOptions o;
  o.root = dir.path();
  EXPECT_EQ(ImageFolderDataset(o).size(), 6);
  o.split = Split::Test;
  ImageFolderDataset val(o);
  EXPECT_EQ(val.size(), 2);
  EXPECT_EQ(val.directory(), dir.file("val"));
}

TEST(ImageFolder, MissingSplitFolderNamed) {
  shears::testing::TempDir dir;
  make_tree(dir.file("train"), {"a"}, 1);
  ImageFolderOptions o;
  o.root = dir.path();
  o.split = Split::Test;
  EXPECT_THROW_MSG(ImageFolderDataset{o}, DataError, "missing directory: " + dir.file("val"));
}

TEST(ImageFolder, EmptyClassFolderNamed) {
  shears::testing::TempDir dir;
  make_tree(dir.path(), {"a"}, 1);
  fs::create_directories(dir.file("b"));
  write_file(dir.file("b/readme.txt"), {'x'});
  ImageFolderOptions o;
  o.root = dir.path();
  EXPECT_THROW_MSG(ImageFolderDataset{o}, DataError,
                   "class folder " + dir.file("b") + " has no images");
}

TEST(ImageFolder, NoClassFolders) {
  shears::testing::TempDir dir;
  ImageFolderOptions o;
  o.root = dir.path();
  EXPECT_THROW_MSG(ImageFolderDataset{o}, DataError, "no class folders in " + dir.path());
}

TEST(ImageFolder, ClassIndexFileFixesLabels) {
  shears::testing::TempDir dir;
  make_tree(dir.file("tree"), {"n02", "n00"}, 1);
  write_lines(dir.file("classes.txt"),
              {"# index wnid name", "0 n00 first thing *", "1 n01 second", "2 n02 third *"});
  ImageFolderOptions o;
  o.root = dir.file("tree");
  o.class_index_file = dir.file("classes.txt");
  ImageFolderDataset ds(o);
  EXPECT_EQ(ds.num_classes(), 3);
  EXPECT_EQ(ds.class_names(), (std::vector<std::string>{"first thing", "second", "third"}));
  ASSERT_EQ(ds.size(), 2);
  EXPECT_EQ(ds.label(0), 0);
  EXPECT_EQ(ds.label(1), 2);
}

TEST(ImageFolder, ClassIndexErrors) {
  shears::testing::TempDir dir;
  make_tree(dir.file("tree"), {"n00", "n09"}, 1);
  ImageFolderOptions o;
  o.root = dir.file("tree");
  o.class_index_file = dir.file("classes.txt");
  EXPECT_THROW_MSG(ImageFolderDataset{o}, DataError,
                   "missing class-index file: " + dir.file("classes.txt"));
  write_lines(dir.file("classes.txt"), {"0 n00 a", "1 n01 b"});
  EXPECT_THROW_MSG(
      ImageFolderDataset{o}, DataError,
      "class folder " + dir.file("tree/n09") + " is not listed in " + dir.file("classes.txt"));
  write_lines(dir.file("classes.txt"), {"0 n00 a", "0 n09 b"});
  EXPECT_THROW_MSG(read_class_index(dir.file("classes.txt")), DataError,
                   dir.file("classes.txt") + ":2: class index 0 already given on line 1");
  write_lines(dir.file("classes.txt"), {"0 n00 a", "x n09 b"});
  EXPECT_THROW_MSG(read_class_index(dir.file("classes.txt")), DataError,
                   dir.file("classes.txt") + ":2: expected 'index wnid [name]'");
  write_lines(dir.file("classes.txt"), {"0 n00 a", "2 n09 b"});
  EXPECT_THROW_MSG(read_class_index(dir.file("classes.txt")), DataError, "1 is missing");
}

TEST(ImageFolder, UndecodableFatalNamesFile) {
  shears::testing::TempDir dir;
  make_tree(dir.path(), {"a"}, 2);
  write_file(dir.file("a/img1.JPEG"), {0xFF, 0xD8, 0xFF, 0xE0, 0, 3, 9, 9});
  ImageFolderOptions o;
  o.root = dir.path();
  ImageFolderDataset ds(o);
  EXPECT_THROW_MSG(ds.get(1), DataError, dir.file("a/img1.JPEG") + ": not a decodable JPEG");
}

TEST(ImageFolder, UndecodableSkippedAndCountedByLoader) {
  shears::testing::TempDir dir;
  make_tree(dir.path(), {"a", "b"}, 3);
  write_file(dir.file("b/img1.JPEG"), {1, 2, 3, 4});
  ImageFolderOptions o;
  o.root = dir.path();
  o.bad_image = BadImagePolicy::Skip;
  auto ds = std::make_shared<ImageFolderDataset>(o);
  EXPECT_THROW_MSG(ds->get(4), SkippedSampleError, dir.file("b/img1.JPEG"));

  LoaderOptions lo;
  lo.batch_size = 4;
  lo.num_workers = 2;
  lo.shuffle = false;
  lo.transform.center_crop = 16;
  std::vector<std::string> warnings;
  lo.on_skip = [&](const std::string& m) { warnings.push_back(m); };
  Loader loader(ds, lo);
  loader.start_epoch(0);
  Batch batch;
  std::vector<std::int64_t> sizes;
  while (loader.next(batch)) sizes.push_back(batch.images.size(0));
  EXPECT_EQ(sizes, (std::vector<std::int64_t>{4, 1}));
  EXPECT_EQ(loader.skipped_in_epoch(), 1);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find(dir.file("b/img1.JPEG")), std::string::npos);
}

TEST(ImageFolder, UndecodableFatalPropagatesThroughLoader) {
  shears::testing::TempDir dir;
  make_tree(dir.path(), {"a", "b"}, 3);
  write_file(dir.file("b/img2.JPEG"), {0xFF, 0xD8, 7, 7});
  ImageFolderOptions o;
  o.root = dir.path();
  LoaderOptions lo;
  lo.batch_size = 2;
  lo.num_workers = 3;
  lo.transform.center_crop = 16;
  Loader loader(std::make_shared<ImageFolderDataset>(o), lo);
  loader.start_epoch(0);
  Batch batch;
  EXPECT_THROW_MSG(while (loader.next(batch)){}, DataError, dir.file("b/img2.JPEG"));
  EXPECT_FALSE(loader.next(batch));
}

// ---- the real ImageNet sample in ../shared/data -------------------------------------------

std::string sample_dir() {
  const std::string shared = shared_data_dir();
  if (shared.empty()) return {};
  const std::string dir = join_path(shared, "imagenet-sample");
  return is_directory(dir) ? dir : std::string();
}

TEST(ImageNetSample, EveryImageDecodesToThreeChannels) {
  const std::string root = sample_dir();
  if (root.empty()) GTEST_SKIP() << "ImageNet sample not found (set SHEARS_SHARED_DATA)";
  ImageFolderOptions o;
  o.root = root;
  ImageFolderDataset ds(o);
  ASSERT_EQ(ds.size(), 122);
  EXPECT_EQ(ds.num_classes(), 122);
  JpegDecoder dec;
  int grayscale = 0;
  for (std::int64_t i = 0; i < ds.size(); ++i) {
    SCOPED_TRACE(ds.path(i));
    const auto bytes = read_file(ds.path(i));
    if (dec.header(bytes.data(), bytes.size(), ds.path(i)).colorspace == TJCS_GRAY) ++grayscale;
    const Sample s = ds.get(i);
    EXPECT_EQ(s.image.channels, 3);
    EXPECT_GE(s.image.width, 106);
    EXPECT_LE(s.image.width, 1152);
    EXPECT_GE(s.image.height, 150);
    EXPECT_LE(s.image.height, 1094);
  }
  EXPECT_EQ(grayscale, 23);
}

TEST(ImageNetSample, ClassesTxtGivesImageNetIndices) {
  const std::string root = sample_dir();
  if (root.empty()) GTEST_SKIP() << "ImageNet sample not found (set SHEARS_SHARED_DATA)";
  const auto entries = read_class_index(join_path(root, "classes.txt"));
  ASSERT_EQ(entries.size(), 1000u);
  EXPECT_EQ(entries[0].wnid, "n01440764");
  EXPECT_EQ(entries[0].name, "tench");
  ImageFolderOptions o;
  o.root = root;
  o.class_index_file = join_path(root, "classes.txt");
  ImageFolderDataset ds(o);
  EXPECT_EQ(ds.num_classes(), 1000);
  ASSERT_EQ(ds.size(), 122);
  std::map<std::string, std::int64_t> wnid_index;
  for (const auto& e : entries) wnid_index[e.wnid] = e.index;
  for (std::int64_t i = 0; i < ds.size(); ++i) {
    const std::string wnid = fs::path(ds.path(i)).parent_path().filename().string();
    EXPECT_EQ(ds.label(i), wnid_index.at(wnid)) << wnid;
  }
  EXPECT_EQ(ds.label(0), 0);   // n01440764 tench
  EXPECT_EQ(ds.label(1), 10);  // n01530575 brambling
  EXPECT_EQ(ds.class_names()[10], "brambling");
}

TEST(ImageNetSample, ScaledDecodeAndEvalPipeline) {
  const std::string root = sample_dir();
  if (root.empty()) GTEST_SKIP() << "ImageNet sample not found (set SHEARS_SHARED_DATA)";
  ImageFolderOptions o;
  o.root = root;
  o.decode_min_side = 256;
  auto ds = std::make_shared<ImageFolderDataset>(o);
  JpegDecoder dec;
  int scaled = 0;
  for (std::int64_t i = 0; i < ds->size(); ++i) {
    SCOPED_TRACE(ds->path(i));
    const auto bytes = read_file(ds->path(i));
    const JpegHeader h = dec.header(bytes.data(), bytes.size(), ds->path(i));
    const Sample s = ds->get(i);
    EXPECT_LE(s.image.height, h.height);
    EXPECT_GE(std::min(s.image.height, s.image.width), std::min({h.height, h.width, 256}));
    if (s.image.height < h.height) ++scaled;
  }
  EXPECT_GT(scaled, 0);
  LoaderOptions lo;
  lo.batch_size = 61;
  lo.num_workers = 2;
  lo.transform.resize = 256;
  lo.transform.center_crop = 224;
  Loader loader(ds, lo);
  loader.start_epoch(0);
  Batch batch;
  int batches = 0;
  while (loader.next(batch)) {
    ++batches;
    EXPECT_EQ(batch.images.shape(), (Shape{61, 3, 224, 224}));
  }
  EXPECT_EQ(batches, 2);
}

}  // namespace
}  // namespace shears::data
