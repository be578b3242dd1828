#pragma once

#include <functional>
#include <map>
#include <string>

#include "engine/nn/module.h"
#include "engine/optim/lr_schedule.h"
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

/// A set of parameters with their own hyper-parameters: `options` (lr, momentum, dampening,
/// weight decay, Nesterov, no-decay for BN/bias) and optionally their own LR schedule (not
/// owned; it must outlive the optimiser). A group without a schedule keeps options.lr.
struct ParamGroup {
  std::string name;
  std::vector<std::string> params;
  SgdOptions options;
  const LrSchedule* schedule = nullptr;
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
  /// LR and options of the default group (every parameter not moved into another group).
  double lr() const { return groups_[0].options.lr; }
  void set_lr(double lr) { groups_[0].options.lr = lr; }
  const SgdOptions& options() const { return groups_[0].options; }

  /// Moves the named parameters (each must be in the default group) into a new group with its
  /// own options and schedule; returns the group's index (the default group is 0). Throws Error
  /// naming an unknown, repeated or already grouped parameter or a duplicate group name.
  int add_group(const ParamGroup& group);
  /// Stops updating the named parameters (they stay untouched by step and zero_grad); unknown
  /// names throw.
  void exclude(const std::vector<std::string>& names);
  /// Number of groups, the default one included.
  int num_groups() const { return static_cast<int>(groups_.size()); }
  /// The group's current options (lr as set by set_lr / set_epoch) and name ("default" for 0).
  const SgdOptions& group_options(int group) const;
  const std::string& group_name(int group) const;
  void set_group_lr(int group, double lr);
  /// Sets the LR of every group that has its own schedule from it at (fractional) `epoch`; the
  /// trainer calls it every iteration after set_lr.
  void set_epoch(double epoch);
  /// The group a parameter is in; unknown names throw.
  int group_of(const std::string& name) const;
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
    int group = 0;
  };
  struct Group {
    std::string name;
    SgdOptions options;
    const LrSchedule* schedule = nullptr;
  };
  Slot& slot(const std::string& name);
  const Slot* find(const std::string& name) const;

  std::vector<Group> groups_;
  /// Per group, on the parameters' device (CUDA): the LR as one f32, which a graph-recorded step
  /// reads when it runs (written before every launch). Allocated by the first eager step.
  std::vector<Tensor> lr_device_;
  std::vector<Slot> slots_;
  /// Excluded parameter names: rebind leaves them out.
  std::vector<std::string> excluded_;
  std::int64_t steps_ = 0;
};

}  // namespace shears::optim
