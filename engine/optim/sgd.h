#pragma once

#include <functional>
#include <map>
#include <string>

#include "engine/nn/module.h"
#include "engine/tensor.h"

namespace shears::optim {

struct SgdOptions {
  double lr = 0.1;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  /// When set, weight decay is skipped for BN parameters and biases (every tensor of <= 1
  /// dimension), a common choice in the pruning papers' training recipes.
  bool no_decay_bn_and_bias = false;
};

/// Stochastic gradient descent with momentum, Nesterov and weight decay, with PyTorch's update
/// rule (see SgdParams in kernels/common/params.h). State is keyed by parameter name, so pruning
/// surgery can slice a parameter's momentum buffer along with the parameter (`rebind` then
/// `set_momentum_buffer`).
class Sgd {
 public:
  Sgd(const TensorList& named_parameters, const SgdOptions& options);

  /// Updates every parameter that has a gradient; parameters without one are left alone.
  void step();
  void zero_grad();
  double lr() const { return options_.lr; }
  void set_lr(double lr) { options_.lr = lr; }
  const SgdOptions& options() const { return options_; }
  /// Per-parameter override of weight decay (e.g. 0 for a mask); unknown names throw.
  void set_weight_decay(const std::string& name, double weight_decay);

  /// The momentum buffer of a parameter (undefined before its first step).
  Tensor momentum_buffer(const std::string& name) const;
  void set_momentum_buffer(const std::string& name, const Tensor& buffer);
  /// Replaces the parameter handles (after surgery replaced tensors). Buffers of names that
  /// remain are kept; their shapes must match the new parameters when next stepped.
  void rebind(const TensorList& named_parameters);
  /// Number of step() calls so far.
  std::int64_t steps() const { return steps_; }

  /// Momentum buffers as "momentum.<name>" tensors, for checkpoints.
  TensorList state_dict() const;
  /// Restores what state_dict wrote; entries for unknown parameters throw CheckpointError.
  void load_state_dict(const TensorList& state, std::int64_t steps);

 private:
  struct Slot {
    std::string name;
    Tensor param;
    Tensor buffer;
    double weight_decay;
  };
  Slot& slot(const std::string& name);
  const Slot* find(const std::string& name) const;

  SgdOptions options_;
  std::vector<Slot> slots_;
  std::int64_t steps_ = 0;
};

}  // namespace shears::optim
