#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/graph/recording.h"
#include "engine/tensor.h"
#include "kernels/common/backend.h"

namespace shears {

/// A training step (forward, backward, optimiser) recorded once per input shape into a device
/// graph (a CUDA graph) and replayed for every later batch of that shape, so the host issues one
/// launch per step instead of hundreds. Results equal the eager step's: the replay runs the same
/// kernels on the same addresses.
///
/// A shape is recorded the second time it is seen: the first step of each shape runs eagerly, so
/// that what a step creates once (momentum buffers, the device learning rate, cached indices,
/// cuDNN plans timed with cudnnFind) exists before recording. A step runs eagerly instead, for
/// good for its shape, when:
/// - the device cannot record (the CPU; CUDA with the caching cudaMalloc fallback);
/// - the step's host code waits for the device while recording (a loss read with item(), a host
///   validation of indices) or refuses recording (dropout's host-side seed, BN's cumulative
///   average: graph::require_eager); the recording is then discarded and the step run eagerly;
/// - the recorded step keeps device memory alive that is neither an output nor a parameter's
///   gradient (a cache first filled while recording): the graph runs once, then is dropped;
/// - max_graphs shapes have been recorded already.
/// The host-side effects the step registered (graph::host_effect, graph::before_launch) run
/// around every launch.
class StepGraph {
 public:
  /// One step on (images, labels), both on the device; returns what the caller reads afterwards
  /// (detached outputs: logits, loss), valid until the next run.
  using Step = std::function<std::vector<Tensor>(const Tensor& images, const Tensor& labels)>;

  /// `params`: the parameters whose gradients the step sets (they stay the graph's between
  /// replays). `enabled` false: every step eager.
  StepGraph(std::vector<Tensor> params, Step step, bool enabled, int max_graphs = 2);
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  /// Runs the step on a batch (device tensors), replaying or recording where it can.
  std::vector<Tensor> run(const Tensor& images, const Tensor& labels);

  std::int64_t eager_steps() const { return eager_steps_; }
  std::int64_t replays() const { return replays_; }
  std::int64_t graphs() const { return graphs_; }
  /// Why the last step that could not be recorded ran eagerly ("" when none).
  const std::string& fallback_reason() const { return fallback_reason_; }

 private:
  struct Entry {
    int seen = 0;
    bool eager_only = false;
    Tensor images, labels;  // the recorded inputs: every replay copies its batch here
    std::unique_ptr<DeviceGraph> graph;
    std::vector<Tensor> outputs, grads;
    graph::Effects effects;
  };
  std::vector<Tensor> eager(const Tensor& images, const Tensor& labels);
  std::vector<Tensor> record(Entry& e, const Tensor& images, const Tensor& labels);
  std::vector<Tensor> replay(Entry& e, const Tensor& images, const Tensor& labels);
  void fall_back(Entry& e, const Shape& shape, const std::string& why);

  std::vector<Tensor> params_;
  Step step_;
  bool enabled_;
  int max_graphs_;
  std::map<std::string, Entry> entries_;
  std::int64_t eager_steps_ = 0, replays_ = 0, graphs_ = 0;
  std::string fallback_reason_;
};

}  // namespace shears
