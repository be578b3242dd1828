#include "engine/dist/grad_reducer.h"

#include <algorithm>
#include <string>
#include <utility>

#include "engine/autograd/grad_mode.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/shape.h"
#include "kernels/common/error.h"

namespace shears::dist {

GradientReducer::GradientReducer(Communicator& comm, const std::vector<Tensor>& params,
                                 std::size_t bucket_bytes, bool overlap)
    : comm_(comm), overlap_(overlap) {
  for (const Tensor& p : params) {
    if (p.defined() && p.requires_grad() && p.numel() > 0) params_.push_back(p);
  }
  // Reverse order: backward finishes the last layers' gradients first.
  std::string key;
  std::size_t bytes = 0;
  for (std::size_t k = params_.size(); k-- > 0;) {
    const Tensor& p = params_[k];
    const std::string k_key = p.device().str() + "/" + std::to_string(static_cast<int>(p.dtype()));
    const std::size_t b = p.nbytes();
    // The first bucket (the last layers) is small, so that communication starts early.
    const std::size_t cap =
        buckets_.size() == 1 ? std::min(bucket_bytes, kFirstBucketBytes) : bucket_bytes;
    if (buckets_.empty() || k_key != key || bytes + b > cap) {
      buckets_.emplace_back();
      key = k_key;
      bytes = 0;
    }
    buckets_.back().members.push_back(k);
    bytes += b;
    bucket_of_[p.id()] = buckets_.size() - 1;
  }
}

void GradientReducer::begin_step() {
  for (Bucket& b : buckets_) {
    b.pending = b.members.size();
    b.started = false;
    b.packed.clear();
    b.buffer = Tensor();
    b.request = Communicator::Request{};
  }
  next_start_ = 0;
  started_in_backward_ = 0;
  in_backward_ = true;
  extra_.clear();
  extra_tensor_ = Tensor();
  extra_in_bucket_ = false;
  extra_request_ = Communicator::Request{};
}

void GradientReducer::gradient_ready(const Tensor& leaf) {
  if (!overlap_ || !in_backward_) return;
  auto it = bucket_of_.find(leaf.id());
  if (it == bucket_of_.end()) return;
  Bucket& bucket = buckets_[it->second];
  if (bucket.pending > 0) --bucket.pending;
  // Buckets start in order (the same collectives in the same order on every rank); the last
  // one waits for finish(), which knows the extra values.
  while (next_start_ + 1 < buckets_.size() && buckets_[next_start_].pending == 0) {
    start(next_start_++);
    ++started_in_backward_;
  }
  // Open MPI's non-blocking collectives progress only inside MPI calls.
  for (std::size_t b = 0; b < next_start_; ++b) {
    if (!comm_.test(buckets_[b].request)) break;
  }
}

void GradientReducer::start(std::size_t index) {
  NoGrad no_grad;
  Bucket& bucket = buckets_[index];
  bucket.started = true;
  std::vector<Tensor> flat;
  for (std::size_t k : bucket.members) {
    Tensor g = params_[k].grad();
    if (!g.defined()) continue;
    bucket.packed.push_back(k);
    flat.push_back(reshape(g.detach(), {g.numel()}));
  }
  const bool last = index + 1 == buckets_.size();
  bool extra_here = false;
  if (last && !extra_.empty() && !flat.empty() && flat.front().dtype() == DType::F32) {
    extra_tensor_ = Tensor::from_vector(extra_, {static_cast<std::int64_t>(extra_.size())})
                        .to(flat.front().device());
    flat.push_back(extra_tensor_);
    extra_here = true;
  }
  extra_in_bucket_ = extra_in_bucket_ || extra_here;
  if (flat.size() == 1 && !extra_here) {
    bucket.buffer = params_[bucket.packed.front()].grad();  // one gradient: reduced in place
  } else if (!flat.empty()) {
    bucket.buffer = concat(flat, 0);
  }
  if (bucket.buffer.defined()) bucket.request = comm_.allreduce_start_(bucket.buffer);
  if (last && !extra_.empty() && !extra_here) {
    extra_tensor_ = Tensor::from_vector(extra_, {static_cast<std::int64_t>(extra_.size())});
    extra_request_ = comm_.allreduce_start_(extra_tensor_);
  }
}

std::vector<float> GradientReducer::finish(const std::vector<float>& extra) {
  in_backward_ = false;
  extra_ = extra;
  while (next_start_ < buckets_.size()) start(next_start_++);
  if (buckets_.empty() && !extra_.empty()) {
    extra_tensor_ = Tensor::from_vector(extra_, {static_cast<std::int64_t>(extra_.size())});
    extra_request_ = comm_.allreduce_start_(extra_tensor_);
  }
  for (Bucket& b : buckets_) comm_.wait(b.request);
  comm_.wait(extra_request_);
  std::vector<float> summed = extra_;
  if (extra_in_bucket_) {
    // Inside the last bucket's buffer, the summed values are its tail.
    const Tensor& buf = buckets_.back().buffer;
    const auto n = static_cast<std::int64_t>(extra_.size());
    summed = narrow(buf, 0, buf.numel() - n, n).to_vector<float>();
  } else if (extra_tensor_.defined()) {
    summed = extra_tensor_.to_vector<float>();
  }
  return summed;
}

void GradientReducer::write_back(double factor) {
  NoGrad no_grad;
  for (Bucket& bucket : buckets_) {
    if (!bucket.buffer.defined()) continue;
    if (bucket.packed.size() == 1 && bucket.buffer.id() == params_[bucket.packed[0]].grad().id()) {
      const Tensor& g = bucket.buffer;
      g.copy_(scale(g, factor));
      continue;
    }
    std::int64_t offset = 0;
    for (std::size_t k : bucket.packed) {
      const Tensor g = params_[k].grad();
      g.copy_(reshape(scale(narrow(bucket.buffer, 0, offset, g.numel()), factor), g.shape()));
      offset += g.numel();
    }
  }
}

void average_gradients(Communicator& comm, const std::vector<Tensor>& params, double local_count) {
  if (comm.size() == 1) return;
  GradientReducer reducer(comm, params, std::size_t{25} << 20, /*overlap=*/false);
  reducer.begin_step();
  const std::vector<float> total = reducer.finish({static_cast<float>(local_count)});
  reducer.write_back(1.0 / total[0]);
}

}  // namespace shears::dist
