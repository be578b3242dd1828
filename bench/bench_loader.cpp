// Loader throughput in images/s: CIFAR batches with the standard augmentation, and ImageNet-style
// JPEG decode + random-resized-crop 224 (and the eval pipeline with scaled decode) on the shared
// ImageNet sample, each with 1 and 2 workers. The ImageNet cases also report their rate per
// worker as a fraction of single-threaded raw TurboJPEG decoding of the same files
// ("per_worker_vs_raw_decode"; the goal is >= 0.8).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "data/cifar.h"
#include "data/factory.h"
#include "data/file_io.h"
#include "data/image_folder.h"
#include "data/jpeg.h"
#include "data/loader.h"
#include "data/synthetic.h"

namespace {

using namespace shears::data;

std::string shared_data_dir() {
  const char* env = std::getenv("SHEARS_SHARED_DATA");
  if (env != nullptr && *env != '\0') return env;
  // ../shared/data beside the checkout; CMake compiles this file by its absolute path.
  return (std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "shared" /
          "data")
      .string();
}

// Serves `inner` `times` over, so an epoch is long enough that epoch boundaries do not dominate.
class Repeated : public Dataset {
 public:
  Repeated(std::shared_ptr<const Dataset> inner, int times)
      : inner_(std::move(inner)), times_(times) {}
  std::int64_t size() const override { return inner_->size() * times_; }
  int num_classes() const override { return inner_->num_classes(); }
  const std::vector<std::string>& class_names() const override { return inner_->class_names(); }
  Sample get(std::int64_t i) const override { return inner_->get(i % inner_->size()); }
  std::int64_t label(std::int64_t i) const override { return inner_->label(i % inner_->size()); }
  std::string describe() const override { return inner_->describe(); }

 private:
  std::shared_ptr<const Dataset> inner_;
  int times_;
};

// Pulls batches, restarting epochs as needed, and counts images.
void drive(benchmark::State& state, Loader& loader) {
  std::int64_t epoch = 0;
  std::int64_t images = 0;
  loader.start_epoch(epoch);
  shears::Batch batch;
  for (auto _ : state) {
    if (!loader.next(batch)) {
      loader.start_epoch(++epoch);
      loader.next(batch);
    }
    images += batch.images.size(0);
    benchmark::DoNotOptimize(batch.images.raw_data());
  }
  state.SetItemsProcessed(images);
}

void BM_CifarAugment(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  std::shared_ptr<Dataset> ds;
  const std::string cifar = shared_data_dir() + "/cifar10/cifar-10-batches-bin";
  if (is_file(cifar + "/test_batch.bin")) {
    CifarOptions o;
    o.root = cifar;
    o.split = Split::Test;
    ds = std::make_shared<CifarDataset>(o);
    state.SetLabel("real CIFAR-10 test batch");
  } else {
    SyntheticOptions o;
    o.size = 10000;
    ds = std::make_shared<SyntheticDataset>(o);
    state.SetLabel("synthetic 32x32 (real CIFAR-10 absent)");
  }
  LoaderOptions lo;
  lo.batch_size = 128;
  lo.num_workers = workers;
  lo.transform = default_transform(DatasetKind::Cifar10, Split::Train);
  Loader loader(ds, lo);
  drive(state, loader);
}
BENCHMARK(BM_CifarAugment)->ArgName("workers")->Arg(1)->Arg(2)->UseRealTime()->MinTime(2.0);

// Single-threaded TurboJPEG decode of every sample file from memory, in images/s.
double raw_decode_rate(const ImageFolderDataset& ds, int min_side) {
  std::vector<std::vector<std::uint8_t>> files;
  for (std::int64_t i = 0; i < ds.size(); ++i) files.push_back(read_file(ds.path(i)));
  JpegDecoder decoder;
  std::int64_t decoded = 0;
  const auto start = std::chrono::steady_clock::now();
  double seconds = 0;
  do {
    for (const auto& f : files) {
      benchmark::DoNotOptimize(decoder.decode(f.data(), f.size(), "bench", min_side).pixels.data());
      ++decoded;
    }
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (seconds < 0.5);
  return static_cast<double>(decoded) / seconds;
}

void imagenet_case(benchmark::State& state, bool train) {
  const int workers = static_cast<int>(state.range(0));
  const std::string root = shared_data_dir() + "/imagenet-sample";
  if (!is_directory(root)) {
    state.SkipWithError("ImageNet sample not found (set SHEARS_SHARED_DATA)");
    for (auto _ : state) {
    }
    return;
  }
  ImageFolderOptions o;
  o.root = root;
  o.decode_min_side = train ? 0 : 256;
  auto folder = std::make_shared<ImageFolderDataset>(o);
  const double raw = raw_decode_rate(*folder, o.decode_min_side);
  LoaderOptions lo;
  lo.batch_size = 32;
  lo.num_workers = workers;
  lo.transform = default_transform(DatasetKind::ImageFolder, train ? Split::Train : Split::Test);
  Loader loader(std::make_shared<Repeated>(folder, 8), lo);
  const auto start = std::chrono::steady_clock::now();
  drive(state, loader);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double rate = static_cast<double>(state.items_processed()) / seconds;
  state.counters["raw_decode_per_s"] = raw;
  state.counters["per_worker_vs_raw_decode"] = rate / workers / raw;
}

void BM_ImageFolderRandomResizedCrop224(benchmark::State& state) { imagenet_case(state, true); }
BENCHMARK(BM_ImageFolderRandomResizedCrop224)
    ->ArgName("workers")
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->MinTime(3.0)
    ->Unit(benchmark::kMillisecond);

void BM_ImageFolderScaledDecodeResize256Crop224(benchmark::State& state) {
  imagenet_case(state, false);
}
BENCHMARK(BM_ImageFolderScaledDecodeResize256Crop224)
    ->ArgName("workers")
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->MinTime(3.0)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
