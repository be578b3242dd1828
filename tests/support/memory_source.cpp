#include "tests/support/memory_source.h"

#include <algorithm>
#include <numeric>

#include "engine/ops/shape.h"

namespace shears::testing {

MemorySource::MemorySource(Tensor images, Tensor labels, std::int64_t batch_size, int num_classes,
                           bool shuffle, std::uint64_t seed)
    : images_(std::move(images)),
      labels_(std::move(labels)),
      batch_size_(batch_size),
      num_classes_(num_classes),
      shuffle_(shuffle),
      seed_(seed) {
  start_epoch(0);
}

void MemorySource::start_epoch(std::int64_t epoch) {
  order_.resize(static_cast<std::size_t>(images_.size(0)));
  std::iota(order_.begin(), order_.end(), 0);
  if (shuffle_) {
    Generator gen(seed_ * 1000003 + static_cast<std::uint64_t>(epoch));
    std::shuffle(order_.begin(), order_.end(), gen.engine());
  }
  cursor_ = 0;
}

bool MemorySource::next(Batch& batch) {
  const std::int64_t n = images_.size(0);
  if (cursor_ >= n) return false;
  std::int64_t len = std::min(batch_size_, n - cursor_);
  std::vector<std::int64_t> idx(order_.begin() + cursor_, order_.begin() + cursor_ + len);
  Tensor index = Tensor::from_vector(idx, {len});
  batch.images = index_select(images_, 0, index);
  batch.labels = index_select(labels_.to(DType::F64), 0, index).to(DType::I64);
  cursor_ += len;
  return true;
}

std::int64_t MemorySource::batches_per_epoch() const {
  return (images_.size(0) + batch_size_ - 1) / batch_size_;
}

Tensor two_channel_sign_labels(const Tensor& images) {
  const std::int64_t n = images.size(0);
  const auto plane = static_cast<std::size_t>(images.size(2) * images.size(3));
  const auto image = static_cast<std::size_t>(images.size(1)) * plane;
  const std::vector<float> v = images.to_vector<float>();
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    double a = 0, b = 0;
    for (std::size_t k = 0; k < plane; ++k) {
      a += v[i * image + k];
      b += v[i * image + plane + k];
    }
    labels[i] = (a > 0 ? 1 : 0) + (b > 0 ? 2 : 0);
  }
  return Tensor::from_vector(labels, {n});
}

}  // namespace shears::testing
