#pragma once

#include <cstddef>
#include <unordered_map>
#include <vector>

#include "engine/dist/communicator.h"
#include "engine/tensor.h"

namespace shears::dist {

/// The per-step gradient allreduce of data-parallel training, in buckets. The parameters are
/// cut into buckets of at most `bucket_bytes` (the first at most kFirstBucketBytes) in reverse
/// order (the order in which backward
/// finishes their gradients: last layers first), a bucket holding one device and dtype. With
/// `overlap`, a bucket's allreduce starts (non-blocking) during backward as soon as every
/// gradient in it is final (gradient_ready, from a GradReadyScope) and every earlier bucket has
/// started, so communication runs while backward computes the remaining layers; without, every
/// bucket starts after backward. Both make the same collectives on the same buffers in the same
/// order, so their results are identical. The last bucket (the first layers) always starts in
/// finish(), and carries the caller's extra values (share size, interrupt flag). Gradients
/// undefined when their bucket starts are left out of it (every rank has the same graph).
class GradientReducer {
 public:
  /// The first bucket holds at most this much (or bucket_bytes when smaller), as PyTorch's DDP.
  static constexpr std::size_t kFirstBucketBytes = std::size_t{1} << 20;
  GradientReducer(Communicator& comm, const std::vector<Tensor>& params, std::size_t bucket_bytes,
                  bool overlap);

  /// Before each backward pass.
  void begin_step();
  /// `leaf`'s gradient is final for this backward pass (others than the parameters: ignored).
  void gradient_ready(const Tensor& leaf);
  /// After backward: starts what has not started (the extra values ride in the last bucket)
  /// and waits for every bucket; returns the extra values summed over ranks.
  std::vector<float> finish(const std::vector<float>& extra);
  /// After finish(): every gradient becomes its sum over ranks times `factor`.
  void write_back(double factor);

  bool overlap() const { return overlap_; }
  std::size_t buckets() const { return buckets_.size(); }
  /// Buckets started during the last backward pass (before finish()).
  std::size_t started_in_backward() const { return started_in_backward_; }

 private:
  struct Bucket {
    std::vector<std::size_t> members;  // indices into params_
    std::size_t pending = 0;           // gradients not final yet in this step
    bool started = false;
    std::vector<std::size_t> packed;  // members whose gradient went into the buffer
    Tensor buffer;                    // the flat bucket (or the one gradient itself)
    Communicator::Request request;
  };
  void start(std::size_t b);

  Communicator& comm_;
  std::vector<Tensor> params_;
  std::unordered_map<const TensorImpl*, std::size_t> bucket_of_;
  std::vector<Bucket> buckets_;
  bool overlap_;
  std::size_t next_start_ = 0, started_in_backward_ = 0;
  bool in_backward_ = false;
  std::vector<float> extra_;
  bool extra_in_bucket_ = false;
  Tensor extra_tensor_;  // the extra values, inside the last bucket's buffer or on their own
  Communicator::Request extra_request_;
};

/// For an auxiliary network trained beside the model (GAL's discriminator): after each rank's
/// backward of `local_count` times its share's mean loss, sums the gradients of `params` and
/// the share sizes over ranks and divides by the global count, so every rank holds the gradient
/// of the global batch's mean loss (the model's step does the same in the trainer).
void average_gradients(Communicator& comm, const std::vector<Tensor>& params, double local_count);

}  // namespace shears::dist
