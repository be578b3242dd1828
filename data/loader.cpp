#include "data/loader.h"

#include <algorithm>
#include <cstring>
#include <iostream>

#include "kernels/common/counter_rng.h"

namespace shears::data {

namespace {

constexpr std::uint64_t kShuffleStream = 0x73687566666c65ULL;
constexpr std::uint64_t kSubsetStream = 0x737562736574ULL;

// Fisher-Yates driven by SampleRng rather than std::shuffle, whose algorithm the standard leaves
// to the implementation: the same seed gives the same order with every standard library.
void shuffle_in_place(std::vector<std::int64_t>& v, SampleRng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(rng.randint(0, static_cast<std::int64_t>(i) - 1));
    std::swap(v[i - 1], v[j]);
  }
}

std::vector<std::int64_t> select_subset(const Dataset& dataset, const LoaderOptions& o) {
  const std::int64_t n = dataset.size();
  std::vector<std::int64_t> indices;
  if (o.subset == SubsetMode::All) {
    indices.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) indices[static_cast<std::size_t>(i)] = i;
    return indices;
  }
  SHEARS_CHECK_AS(ConfigError, o.subset_size >= 1, "loader subset size ", o.subset_size,
                  " must be at least 1");
  if (o.subset == SubsetMode::First) {
    SHEARS_CHECK_AS(ConfigError, o.subset_size <= n, "loader subset of the first ", o.subset_size,
                    " samples from ", dataset.describe(), " which has only ", n);
    for (std::int64_t i = 0; i < o.subset_size; ++i) indices.push_back(i);
    return indices;
  }
  std::vector<std::vector<std::int64_t>> by_class(static_cast<std::size_t>(dataset.num_classes()));
  for (std::int64_t i = 0; i < n; ++i) {
    by_class[static_cast<std::size_t>(dataset.label(i))].push_back(i);
  }
  for (std::size_t k = 0; k < by_class.size(); ++k) {
    auto& members = by_class[k];
    SampleRng rng(counter_hash(counter_hash(o.seed, kSubsetStream), k));
    shuffle_in_place(members, rng);
    const auto take =
        std::min<std::size_t>(members.size(), static_cast<std::size_t>(o.subset_size));
    indices.insert(indices.end(), members.begin(), members.begin() + static_cast<long>(take));
  }
  std::sort(indices.begin(), indices.end());
  return indices;
}

}  // namespace

Loader::Loader(std::shared_ptr<const Dataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
  SHEARS_CHECK_AS(ConfigError, dataset_ != nullptr, "loader needs a dataset");
  SHEARS_CHECK_AS(ConfigError, options_.batch_size >= 1, "loader batch size ", options_.batch_size,
                  " must be at least 1");
  SHEARS_CHECK_AS(ConfigError, options_.num_workers >= 0, "loader num_workers ",
                  options_.num_workers, " must be >= 0");
  SHEARS_CHECK_AS(
      ConfigError,
      options_.num_shards >= 1 && options_.shard >= 0 && options_.shard < options_.num_shards,
      "loader shard ", options_.shard, " of ", options_.num_shards, " is not a share");
  SHEARS_CHECK_AS(ConfigError, options_.batch_size >= options_.num_shards, "loader batch size ",
                  options_.batch_size, " is smaller than the ", options_.num_shards,
                  " ranks that share each batch");
  SHEARS_CHECK_AS(ConfigError, options_.prefetch >= 0, "loader prefetch ", options_.prefetch,
                  " must be >= 0");
  transform_ = Transform(options_.transform);
  indices_ = select_subset(*dataset_, options_);
  depth_ = options_.prefetch > 0 ? options_.prefetch : std::max(1, 2 * options_.num_workers);
  for (int i = 0; i < options_.num_workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

Loader::~Loader() { stop_workers(); }

void Loader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  work_cv_.notify_all();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

std::int64_t Loader::num_samples() const {
  const auto n = static_cast<std::int64_t>(indices_.size());
  return std::min(n, batches_per_epoch() * options_.batch_size);
}

std::int64_t Loader::batches_per_epoch() const {
  const auto n = static_cast<std::int64_t>(indices_.size());
  const std::int64_t tail = n % options_.batch_size;
  // A last batch too small to give every rank a share is left out.
  const bool drop_tail = options_.drop_last || (tail > 0 && tail < options_.num_shards);
  return drop_tail ? n / options_.batch_size : (n + options_.batch_size - 1) / options_.batch_size;
}

void Loader::start_epoch(std::int64_t epoch) {
  auto e = std::make_shared<Epoch>();
  e->number = epoch;
  e->order = indices_;
  if (options_.shuffle) {
    SampleRng rng(counter_hash(counter_hash(options_.seed, kShuffleStream),
                               static_cast<std::uint64_t>(epoch)));
    shuffle_in_place(e->order, rng);
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    e->generation = generation_.fetch_add(1) + 1;
    epoch_ = std::move(e);
    ready_.clear();
    next_assign_ = 0;
    next_deliver_ = 0;
    num_batches_ = batches_per_epoch();
    skipped_in_epoch_ = 0;
  }
  work_cv_.notify_all();
}

void Loader::worker_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_cv_.wait(lock, [this] {
      return stop_ || (epoch_ != nullptr && next_assign_ < num_batches_ &&
                       next_assign_ < next_deliver_ + depth_);
    });
    if (stop_) return;
    const std::shared_ptr<const Epoch> epoch = epoch_;
    const std::int64_t index = next_assign_++;
    lock.unlock();
    Result result = build(*epoch, index);
    lock.lock();
    if (epoch->generation == generation_.load() && !stop_) {
      ready_.emplace(index, std::move(result));
      ready_cv_.notify_all();
    }
  }
}

Loader::Result Loader::build(const Epoch& epoch, std::int64_t batch_index) const {
  Result result;
  try {
    const std::int64_t n = static_cast<std::int64_t>(epoch.order.size());
    std::int64_t begin = batch_index * options_.batch_size;
    std::int64_t end = std::min(begin + options_.batch_size, n);
    if (options_.num_shards > 1) {
      const std::int64_t global = end - begin;
      end = begin + global * (options_.shard + 1) / options_.num_shards;
      begin += global * options_.shard / options_.num_shards;
    }
    const std::int64_t count = end - begin;
    std::vector<std::int64_t> labels;
    Tensor images;
    std::int64_t plane_elems = 0;
    int c = 0, h = 0, w = 0;  // the batch's image shape, set by its first sample
    std::int64_t first_index = 0;
    for (std::int64_t k = begin; k < end; ++k) {
      // Abandoned (new epoch or shutdown): stop between samples; the result is discarded.
      if (generation_.load() != epoch.generation) return result;
      const std::int64_t index = epoch.order[static_cast<std::size_t>(k)];
      Sample sample;
      try {
        sample = dataset_->get(index);
      } catch (const SkippedSampleError& e) {
        result.skipped.push_back(e.what());
        continue;
      }
      SampleRng rng = SampleRng::for_sample(options_.seed, epoch.number, index);
      const Image image = transform_.augment(std::move(sample.image), rng);
      if (!images.defined()) {
        images = Tensor::empty({count, image.channels, image.height, image.width}, DType::F32);
        c = image.channels;
        h = image.height;
        w = image.width;
        plane_elems = static_cast<std::int64_t>(c) * h * w;
        first_index = index;
      } else if (image.height != h || image.width != w || image.channels != c) {
        throw DataError(detail::cat(
            "loader: sample ", index, " is ", image.height, "x", image.width, "x", image.channels,
            " after transforms but sample ", first_index, " in the same batch is ", h, "x", w, "x",
            c, " (add a crop or resize transform so every sample has one size)"));
      }
      const auto slot = static_cast<std::int64_t>(labels.size());
      transform_.to_chw(image, images.data<float>() + slot * plane_elems);
      labels.push_back(sample.label);
    }
    if (labels.empty()) return result;
    const auto kept = static_cast<std::int64_t>(labels.size());
    if (kept < count) {
      Tensor trimmed = Tensor::empty({kept, c, h, w}, DType::F32);
      std::memcpy(trimmed.data<float>(), images.data<float>(),
                  static_cast<std::size_t>(kept * plane_elems) * sizeof(float));
      images = trimmed;
    }
    result.batch.images = images;
    result.batch.labels = Tensor::from_vector(labels, {kept});
  } catch (...) {
    result.error = std::current_exception();
  }
  return result;
}

bool Loader::next(Batch& batch) {
  for (;;) {
    Result result;
    std::shared_ptr<const Epoch> inline_epoch;  // set when this thread builds the batch itself
    std::int64_t index = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      SHEARS_CHECK(epoch_ != nullptr, "Loader::next called before start_epoch");
      if (next_deliver_ >= num_batches_) return false;
      index = next_deliver_++;
      if (workers_.empty()) {
        inline_epoch = epoch_;
      } else {
        ready_cv_.wait(lock, [&] { return ready_.count(index) != 0; });
        auto it = ready_.find(index);
        result = std::move(it->second);
        ready_.erase(it);
      }
    }
    if (inline_epoch != nullptr) result = build(*inline_epoch, index);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (result.error) {
        // The epoch ends here: abandon in-flight work so the workers go idle.
        next_deliver_ = num_batches_;
        next_assign_ = num_batches_;
        generation_.fetch_add(1);
        ready_.clear();
      }
    }
    work_cv_.notify_all();
    if (result.error) std::rethrow_exception(result.error);
    skipped_in_epoch_ += static_cast<std::int64_t>(result.skipped.size());
    skipped_total_ += static_cast<std::int64_t>(result.skipped.size());
    for (const auto& message : result.skipped) {
      if (options_.on_skip) {
        options_.on_skip(message);
      } else {
        std::cerr << "shears: warning: skipped sample: " << message << "\n";
      }
    }
    if (!result.batch.images.defined()) {
      if (options_.num_shards > 1) {
        throw DataError("loader: rank " + std::to_string(options_.shard) + "'s share of batch " +
                        std::to_string(index) + " is empty after skipped samples; every rank " +
                        "must take every step (remove the bad images)");
      }
      continue;
    }
    // The device seam: batches are assembled on the host; a CUDA target gets a copy here.
    if (options_.device.is_cpu()) {
      batch = std::move(result.batch);
    } else {
      batch.images = result.batch.images.to(options_.device);
      batch.labels = result.batch.labels.to(options_.device);
    }
    return true;
  }
}

}  // namespace shears::data
