#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace shears {
using TensorList = std::vector<std::pair<std::string, Tensor>>;
}

namespace shears::nn {

/// Base of every layer and network. A module owns named parameters (trainable tensors),
/// buffers (state such as BN running statistics) and children, and names them with dotted paths
/// as PyTorch does (`layer1.0.conv1.weight`). Registration stores the address of the member
/// Tensor, so replacing a parameter (pruning surgery, loading) updates the layer itself.
/// Modules are neither copyable nor movable.
class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// The layer's computation. Input and output layouts are documented by each subclass.
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
  /// "Conv2d", "BatchNorm2d", ...
  virtual std::string type_name() const = 0;
  /// One line describing the layer's configuration, e.g. "16, 32, kernel=3, stride=1".
  virtual std::string extra_repr() const { return ""; }

  /// (dotted name, tensor) of every parameter, depth-first in registration order.
  TensorList named_parameters() const;
  TensorList named_buffers() const;
  std::vector<Tensor> parameters() const;
  /// Every module below (and including) this one with its dotted path ("" for this one).
  std::vector<std::pair<std::string, Module*>> named_modules() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }
  /// The module at a dotted path ("layer1.0.conv1"); throws naming the path when absent.
  Module& module_at(const std::string& path);
  /// The member tensor behind a dotted parameter or buffer name; throws when absent.
  Tensor& tensor_at(const std::string& name);

  /// Training mode (dropout on, BN batch statistics) or evaluation mode, recursively.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  /// Moves every parameter and buffer to `device` (parameters stay leaves requiring grad), except
  /// host buffers (register_host_buffer), which stay in host memory.
  void to(const Device& device);
  /// Drops every parameter's gradient.
  void zero_grad();

  /// Parameters then buffers of every module, depth-first (PyTorch's state-dict names).
  TensorList state_dict() const;
  /// Copies tensors into this module's parameters and buffers. With `strict`, every missing,
  /// unexpected or mis-shaped entry is listed in one CheckpointError. When `resize` is set, a
  /// tensor of another shape replaces the member instead (loading a pruned architecture).
  void load_state_dict(const TensorList& state, bool strict = true, bool resize = false);
  /// Multi-line description of the tree, PyTorch-style.
  std::string to_string() const;

  /// A function of a layer's output that replaces it (a soft mask, a probe). Conv2d, Linear,
  /// BatchNorm2d, ReLU and Sequential apply their hooks, in registration order, at the end of
  /// forward, so a network can be changed at a named layer without editing the network.
  using ForwardHook = std::function<Tensor(const Tensor& output)>;
  void add_forward_hook(ForwardHook hook) { forward_hooks_.push_back(std::move(hook)); }
  void clear_forward_hooks() { forward_hooks_.clear(); }
  bool has_forward_hooks() const { return !forward_hooks_.empty(); }

 protected:
  /// Registers `member` as a parameter (it becomes a leaf requiring grad). Returns it.
  Tensor& register_parameter(const std::string& name, Tensor& member);
  Tensor& register_buffer(const std::string& name, Tensor& member);
  /// A buffer that stays in host memory whatever device the module moves to: one the module
  /// updates from the host every step (BN's num_batches_tracked), where a device copy would
  /// cost a host-device round trip per step. It is in the state dict like any buffer.
  Tensor& register_host_buffer(const std::string& name, Tensor& member);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    children_.emplace_back(name, child);
    return child;
  }
  /// `output` passed through the forward hooks (itself when there are none).
  Tensor apply_forward_hooks(const Tensor& output) const;

 private:
  void collect(const std::string& prefix, bool params, TensorList& out) const;
  void collect_refs(const std::string& prefix, bool params,
                    std::vector<std::pair<std::string, Tensor*>>& out);
  std::vector<std::pair<std::string, Tensor*>> parameters_;
  std::vector<std::pair<std::string, Tensor*>> buffers_;
  std::vector<const Tensor*> host_buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::vector<ForwardHook> forward_hooks_;
  bool training_ = true;

  friend class Sequential;
};

using ModulePtr = std::shared_ptr<Module>;

}  // namespace shears::nn
