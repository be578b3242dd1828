#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/autograd/op_table.h"
#include "engine/nn/module.h"

namespace shears::pruning {

/// One dimension of a parameter or buffer that a group's channels run along, and which of its
/// positions belong to each of the group's channels.
struct Member {
  std::string name;  // parameter/buffer name, e.g. "layer1.0.bn1.running_mean"
  int dim = 0;       // 0: output channels (filters, BN vectors); 1: input channels / features
  /// positions[k]: the indices along `dim` that carry the group's channel k (usually one; a
  /// linear layer after a flatten of HxW maps carries H*W features per channel).
  std::vector<std::vector<std::int64_t>> positions;
};

/// A set of coupled channel dimensions: removing channel k of a group removes positions[k] of
/// every member at once, and nothing else has to change for the network to stay consistent.
/// Found by tracing (conv/BN/activation chains, residual adds, concat offsets, depthwise convs,
/// the next layer's input channels, a linear layer after flatten or global pooling).
struct Group {
  int id = 0;
  std::int64_t size = 0;  // number of channels
  std::vector<Member> members;
  /// Members along dim 0 of conv/linear weights: the layers whose filters make the channels.
  std::vector<std::string> producers;  // weight names, network order
  /// Channels joined by a residual add: the traced forward adds two or more tensors that both
  /// depend on the network input along these channels (a block's output and its shortcut). A
  /// depthwise conv's group (expansion and depthwise filters, two producers, no add) is not
  /// residual.
  bool residual = false;
  /// Channels k that cannot be removed: they reach the network input or output, or pass
  /// through an op the tracer cannot follow (reason in `blocked_reason`).
  std::vector<bool> blocked;
  std::string blocked_reason;
  /// Channels that are constant zeros on some path (option-A shortcut padding).
  std::vector<bool> constant;

  bool prunable() const;  // some channel can be removed
  /// The member for (name, dim), or null.
  const Member* member(const std::string& name, int dim) const;
};

/// How DependencyGraph::build treats one op of the vocabulary (engine/autograd/op_table.h).
struct OpDependencyRule {
  enum class Kind {
    Couples,  // channels flow through the op by the rule stated
    Blocks,   // the op's tensors' channels are never removable, for the reason stated
  };
  Kind kind = Kind::Blocks;
  const char* rule = "";  // the rule, or why the op blocks
};

/// The rule for `op` (every op of the table has one; tests/pruning/test_op_coverage.cpp checks).
OpDependencyRule dependency_rule(Op op);

/// The dependency graph of a model: its groups, from one traced forward pass in eval mode on an
/// input of shape (1, C, H, W) (no grad; the model is left in the mode it had).
class DependencyGraph {
 public:
  static DependencyGraph build(nn::Module& model, const Shape& input_chw);

  const std::vector<Group>& groups() const { return groups_; }
  /// The group whose members include weight `producer` along dim 0, or null.
  const Group* group_of(const std::string& producer) const;
  /// A readable listing: one line per group with size, flags, producers and members.
  std::string to_string() const;

 private:
  std::vector<Group> groups_;
};

/// Channels to remove, per group id (channel indices within the group).
using PrunePlan = std::map<int, std::vector<std::int64_t>>;

/// For each (parameter/buffer name, dim): the positions that survive a plan, sorted.
using KeepMap = std::map<std::string, std::map<int, std::vector<std::int64_t>>>;

/// The kept positions of every member dimension touched by `plan`. Throws Error naming the group
/// when a plan removes a blocked channel, an index out of range, or every channel of a group.
KeepMap keep_map(const DependencyGraph& graph, const PrunePlan& plan, const nn::Module& model);

}  // namespace shears::pruning
