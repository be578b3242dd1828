#include "data/loader.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "data/synthetic.h"
#include "kernels/common/registry.h"
#include "tests/support/expect_error.h"

namespace shears::data {
namespace {

std::shared_ptr<SyntheticDataset> synthetic(std::int64_t n, int side = 12, int classes = 5) {
  SyntheticOptions o;
  o.size = n;
  o.height = side;
  o.width = side;
  o.num_classes = classes;
  o.seed = 21;
  return std::make_shared<SyntheticDataset>(o);
}

struct Epoch {
  std::vector<std::vector<float>> images;
  std::vector<std::vector<std::int64_t>> labels;
};

Epoch run_epoch(Loader& loader, std::int64_t epoch) {
  Epoch e;
  loader.start_epoch(epoch);
  Batch b;
  while (loader.next(b)) {
    EXPECT_EQ(b.images.dtype(), DType::F32);
    EXPECT_EQ(b.labels.dtype(), DType::I64);
    EXPECT_EQ(b.images.size(0), b.labels.size(0));
    e.images.push_back(b.images.to_vector<float>());
    e.labels.push_back(b.labels.to_vector<std::int64_t>());
  }
  return e;
}

LoaderOptions augmenting(int workers) {
  LoaderOptions o;
  o.batch_size = 16;
  o.num_workers = workers;
  o.seed = 99;
  o.transform.random_crop = 12;
  o.transform.padding = 2;
  o.transform.horizontal_flip = true;
  o.transform.mean = {0.5, 0.4, 0.3};
  o.transform.std = {0.2, 0.2, 0.2};
  return o;
}

TEST(Loader, SameSeedSameBatchesWithOneAndFourWorkers) {
  auto ds = synthetic(150);
  Loader one(ds, augmenting(1));
  Loader four(ds, augmenting(4));
  Loader inline_loader(ds, augmenting(0));
  for (std::int64_t epoch : {0, 1}) {
    SCOPED_TRACE(epoch);
    const Epoch a = run_epoch(one, epoch);
    const Epoch b = run_epoch(four, epoch);
    const Epoch c = run_epoch(inline_loader, epoch);
    ASSERT_EQ(a.images.size(), 10u);
    EXPECT_EQ(a.images, b.images);
    EXPECT_EQ(a.labels, b.labels);
    EXPECT_EQ(a.images, c.images);
    EXPECT_EQ(a.labels, c.labels);
  }
  EXPECT_NE(run_epoch(one, 0).labels, run_epoch(one, 1).labels);
}

TEST(Loader, EpochVisitsEverySampleOnceWithMatchingLabels) {
  auto ds = synthetic(37);
  LoaderOptions o;
  o.batch_size = 8;
  o.num_workers = 3;
  o.seed = 5;
  Loader loader(ds, o);
  EXPECT_EQ(loader.batches_per_epoch(), 5);
  EXPECT_EQ(loader.num_samples(), 37);
  EXPECT_EQ(loader.num_classes(), 5);
  loader.start_epoch(3);
  Batch b;
  std::multiset<std::int64_t> labels;
  std::vector<std::int64_t> sizes;
  while (loader.next(b)) {
    EXPECT_EQ(b.images.shape(), (Shape{b.labels.size(0), 3, 12, 12}));
    sizes.push_back(b.labels.size(0));
    const auto l = b.labels.to_vector<std::int64_t>();
    // Without augmentation each image is exactly its dataset sample scaled to [0, 1]: find it.
    const auto px = b.images.to_vector<float>();
    for (std::size_t k = 0; k < l.size(); ++k) {
      labels.insert(l[k]);
      const float first = px[k * 3 * 144];
      bool matched = false;
      for (std::int64_t i = 0; i < ds->size() && !matched; ++i) {
        const Sample s = ds->get(i);
        matched = s.label == l[k] && s.image.pixels[0] / 255.0f == first &&
                  s.image.pixels[1] / 255.0f == px[k * 3 * 144 + 144];
      }
      EXPECT_TRUE(matched) << "batch sample " << k;
    }
  }
  EXPECT_EQ(sizes, (std::vector<std::int64_t>{8, 8, 8, 8, 5}));
  std::multiset<std::int64_t> expected;
  for (std::int64_t i = 0; i < 37; ++i) expected.insert(ds->label(i));
  EXPECT_EQ(labels, expected);
}

TEST(Loader, UnshuffledKeepsDatasetOrder) {
  auto ds = synthetic(10);
  LoaderOptions o;
  o.batch_size = 4;
  o.shuffle = false;
  o.num_workers = 2;
  o.drop_last = true;
  Loader loader(ds, o);
  EXPECT_EQ(loader.batches_per_epoch(), 2);
  EXPECT_EQ(loader.num_samples(), 8);
  const Epoch e = run_epoch(loader, 0);
  ASSERT_EQ(e.labels.size(), 2u);
  EXPECT_EQ(e.labels[0], (std::vector<std::int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(e.labels[1], (std::vector<std::int64_t>{4, 0, 1, 2}));
}

TEST(Loader, SubsetFirstAndPerClass) {
  auto ds = synthetic(100, 8, 4);
  LoaderOptions o;
  o.subset = SubsetMode::First;
  o.subset_size = 10;
  o.num_workers = 0;
  Loader first(ds, o);
  EXPECT_EQ(first.num_samples(), 10);
  EXPECT_EQ(first.indices().back(), 9);

  o.subset = SubsetMode::PerClass;
  o.subset_size = 3;
  o.seed = 8;
  Loader per_class(ds, o);
  ASSERT_EQ(per_class.num_samples(), 12);
  std::vector<int> counts(4);
  for (auto i : per_class.indices()) ++counts[static_cast<std::size_t>(ds->label(i))];
  EXPECT_EQ(counts, (std::vector<int>{3, 3, 3, 3}));
  EXPECT_EQ(Loader(ds, o).indices(), per_class.indices());  // fixed by the seed
  o.seed = 9;
  EXPECT_NE(Loader(ds, o).indices(), per_class.indices());

  o.subset = SubsetMode::First;
  o.subset_size = 101;
  EXPECT_THROW_MSG(Loader(ds, o), ConfigError, "subset of the first 101 samples");
}

// A dataset whose sample `bad` throws, and which counts concurrent get() calls.
class FailingDataset : public Dataset {
 public:
  FailingDataset(std::int64_t n, std::int64_t bad, int delay_ms = 0)
      : inner_(make()), n_(n), bad_(bad), delay_ms_(delay_ms) {}
  std::int64_t size() const override { return n_; }
  int num_classes() const override { return 2; }
  const std::vector<std::string>& class_names() const override { return inner_.class_names(); }
  Sample get(std::int64_t index) const override {
    ++calls;
    if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    if (index == bad_) throw DataError("/data/broken_" + std::to_string(index) + ".bin: bad");
    return inner_.get(index % inner_.size());
  }
  std::int64_t label(std::int64_t index) const override { return index % 2; }
  std::string describe() const override { return "failing"; }
  mutable std::atomic<int> calls{0};

 private:
  static SyntheticDataset make() {
    SyntheticOptions o;
    o.size = 4;
    o.num_classes = 2;
    o.height = o.width = 4;
    return SyntheticDataset(o);
  }
  SyntheticDataset inner_;
  std::int64_t n_, bad_;
  int delay_ms_;
};

TEST(Loader, WorkerExceptionPropagatesToNext) {
  for (int workers : {0, 1, 4}) {
    SCOPED_TRACE(workers);
    auto ds = std::make_shared<FailingDataset>(40, 13);
    LoaderOptions o;
    o.batch_size = 4;
    o.shuffle = false;
    o.num_workers = workers;
    Loader loader(ds, o);
    loader.start_epoch(0);
    Batch b;
    int delivered = 0;
    try {
      while (loader.next(b)) ++delivered;
      ADD_FAILURE() << "no exception";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find("/data/broken_13.bin"), std::string::npos);
    }
    EXPECT_EQ(delivered, 3);
    EXPECT_FALSE(loader.next(b));
    // A new epoch starts cleanly after the failure.
    loader.start_epoch(1);
    EXPECT_TRUE(loader.next(b));
  }
}

TEST(Loader, DestructionMidEpochIsPrompt) {
  auto ds = std::make_shared<FailingDataset>(100000, -1, 2);
  LoaderOptions o;
  o.batch_size = 64;
  o.num_workers = 4;
  o.prefetch = 8;
  const auto start = std::chrono::steady_clock::now();
  {
    Loader loader(ds, o);
    loader.start_epoch(0);
    Batch b;
    ASSERT_TRUE(loader.next(b));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The epoch has 1,563 batches of ~128 ms each: the workers stopped between samples, and the
  // bounded queue let them build at most prefetch + workers batches.
  EXPECT_LT(seconds, 10.0);
  EXPECT_LT(ds->calls.load(), 64 * 14);
}

TEST(Loader, RestartingAnEpochAbandonsTheOldOne) {
  auto ds = synthetic(64);
  LoaderOptions o = augmenting(3);
  Loader loader(ds, o);
  const Epoch full = run_epoch(loader, 4);
  loader.start_epoch(2);
  Batch b;
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(run_epoch(loader, 4).images, full.images);
}

TEST(Loader, MixedImageSizesInABatchAreAnError) {
  class Mixed : public FailingDataset {
   public:
    Mixed() : FailingDataset(4, -1) {}
    Sample get(std::int64_t index) const override {
      Sample s;
      s.image = Image(index == 2 ? 5 : 4, 4, 3);
      s.label = label(index);
      return s;
    }
  };
  LoaderOptions o;
  o.batch_size = 4;
  o.shuffle = false;
  o.num_workers = 1;
  Loader loader(std::make_shared<Mixed>(), o);
  loader.start_epoch(0);
  Batch b;
  EXPECT_THROW_MSG(loader.next(b), DataError,
                   "sample 2 is 5x4x3 after transforms but sample 0 in the same batch is 4x4x3");
}

TEST(Loader, BadOptionsAndMisuse) {
  auto ds = synthetic(10);
  LoaderOptions o;
  o.batch_size = 0;
  EXPECT_THROW_MSG(Loader(ds, o), ConfigError, "batch size 0 must be at least 1");
  o.batch_size = 2;
  o.num_workers = -1;
  EXPECT_THROW_MSG(Loader(ds, o), ConfigError, "num_workers -1");
  o.num_workers = 1;
  Loader loader(ds, o);
  Batch b;
  EXPECT_THROW_MSG(loader.next(b), Error, "before start_epoch");
}

TEST(Loader, DeliversToTheTargetDevice) {
  auto ds = synthetic(8);
  LoaderOptions o;
  o.batch_size = 4;
  o.num_workers = 1;
  o.device = Device::cuda();
  Loader loader(ds, o);
  loader.start_epoch(0);
  Batch b;
  if (cuda_device_count() == 0) {
    // Without a GPU the copy to CUDA fails with the backend's error, not a crash.
    EXPECT_THROW(loader.next(b), Error);
    return;
  }
  ASSERT_TRUE(loader.next(b));
  EXPECT_TRUE(b.images.device().is_cuda());
  EXPECT_TRUE(b.labels.device().is_cuda());
  EXPECT_EQ(b.images.shape(), (Shape{4, 3, 12, 12}));
}

}  // namespace
}  // namespace shears::data
