#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"
#include "engine/train/batch_source.h"

namespace shears::data {

/// Which samples of the dataset a loader serves.
enum class SubsetMode {
  All,       // every sample
  First,     // samples 0 .. subset_size-1
  PerClass,  // a fixed random subset_size samples of each class (all of a smaller class),
             // drawn once from the loader's seed and kept for every epoch
};

struct LoaderOptions {
  std::int64_t batch_size = 128;
  /// Reshuffle every epoch (from seed and epoch number); false keeps dataset order.
  bool shuffle = true;
  /// Seeds shuffling, the per-class subset and every sample's augmentation stream.
  std::uint64_t seed = 0;
  /// Leave out the last, smaller batch of an epoch.
  bool drop_last = false;
  /// Worker threads building batches. 0: batches are built on the thread calling next().
  int num_workers = 2;
  /// Batches being built or waiting ahead of the consumer (the bounded queue's depth).
  /// 0: twice the number of workers.
  int prefetch = 0;
  SubsetMode subset = SubsetMode::All;
  /// First: the number of samples; PerClass: the number per class.
  std::int64_t subset_size = 0;
  /// Where batches are delivered. Batches are assembled on the host and copied with
  /// Tensor::to on the thread that calls next().
  Device device = Device::cpu();
  /// Distributed sampling: this loader serves share `shard` of `num_shards` of every global
  /// batch (contiguous, sizes differing by at most one), so that the ranks of a job together see
  /// exactly the batches one process would, every sample once per epoch, in the same order for
  /// any number of ranks. A last global batch smaller than num_shards is left out, and a share
  /// left empty by skipped samples is an error (every rank must take every step).
  int shard = 0;
  int num_shards = 1;
  /// Augmentation and normalisation applied to every sample.
  TransformOptions transform;
  /// Receives one message per sample skipped under BadImagePolicy::Skip, on the thread calling
  /// next(). Unset: the message goes to std::cerr prefixed "shears: warning: ".
  std::function<void(const std::string&)> on_skip;
};

/// Serves a Dataset as shuffled batches: images (N, C, H, W) F32, labels (N) I64, on
/// options.device. Worker threads build batches ahead of the consumer, at most `prefetch` at a
/// time, and batches are delivered in order. Every sample's augmentation draws from
/// SampleRng::for_sample(seed, epoch, dataset index), so the batches of an epoch are
/// bit-identical for any number of workers and any timing.
/// A sample that the dataset skips (SkippedSampleError) is left out of its batch and counted;
/// a batch left empty is passed over. Any other exception thrown while building a batch (a
/// DataError naming a file, mismatched image sizes within a batch) is rethrown by the next()
/// that would have returned that batch, which ends the epoch.
/// Destroying the loader, or starting a new epoch, stops the workers' current work promptly
/// (between samples), even mid-epoch.
class Loader : public BatchSource {
 public:
  /// Throws ConfigError for a batch size < 1, negative workers or prefetch, a subset size < 1
  /// (First/PerClass), a First subset larger than the dataset, or invalid transform options.
  Loader(std::shared_ptr<const Dataset> dataset, LoaderOptions options);
  ~Loader() override;
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  /// Begins epoch `epoch`: reshuffles (when shuffling) from (seed, epoch) and abandons whatever
  /// the previous epoch had in flight.
  void start_epoch(std::int64_t epoch) override;
  /// The next batch of the epoch; false once it is exhausted. Throws shears::Error when no
  /// epoch was started, and rethrows a worker's exception (see the class comment).
  bool next(Batch& batch) override;
  std::int64_t batches_per_epoch() const override;
  /// Samples per epoch after subset and drop_last (before any skipped).
  std::int64_t num_samples() const override;
  int num_classes() const override { return dataset_->num_classes(); }

  /// Samples skipped in the current epoch so far, and over the loader's life.
  std::int64_t skipped_in_epoch() const { return skipped_in_epoch_; }
  std::int64_t skipped_total() const { return skipped_total_; }
  /// The dataset indices served (the subset), in dataset order.
  const std::vector<std::int64_t>& indices() const { return indices_; }
  const Dataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return options_; }

 private:
  // One built batch: images/labels on the host, or the error that stopped it.
  struct Result {
    Batch batch;
    std::vector<std::string> skipped;
    std::exception_ptr error;
  };
  // What the workers need to build batches of one epoch; immutable once published.
  struct Epoch {
    std::int64_t number = 0;
    std::uint64_t generation = 0;
    std::vector<std::int64_t> order;
  };

  Result build(const Epoch& epoch, std::int64_t batch_index) const;
  void worker_loop();
  void stop_workers();

  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions options_;
  Transform transform_;
  std::vector<std::int64_t> indices_;
  int depth_ = 1;

  std::mutex mutex_;
  std::condition_variable work_cv_;           // workers wait for a batch to build
  std::condition_variable ready_cv_;          // the consumer waits for the next batch
  std::atomic<std::uint64_t> generation_{0};  // bumped to abandon in-flight work
  std::shared_ptr<const Epoch> epoch_;
  std::int64_t next_assign_ = 0;   // next batch a worker may take
  std::int64_t next_deliver_ = 0;  // next batch next() returns
  std::int64_t num_batches_ = 0;
  std::map<std::int64_t, Result> ready_;
  bool stop_ = false;
  std::vector<std::thread> workers_;

  std::int64_t skipped_in_epoch_ = 0;
  std::int64_t skipped_total_ = 0;
};

}  // namespace shears::data
