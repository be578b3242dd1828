#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/autograd/op_table.h"
#include "engine/tensor.h"

namespace shears {

class Node;

/// Where an input's gradient goes: the node that produced the input (or the accumulator of a
/// leaf). A null node means the input needs no gradient.
struct Edge {
  std::shared_ptr<Node> node;
};

/// Named integer attributes of an op (stride, groups, dim, ...), recorded for tracing. A real
/// attribute (batch-norm eps, a scalar operand) is stored as its double's bit pattern: write it
/// with real_attr and read it back with attr_real.
using OpAttrs = std::vector<std::pair<std::string, std::int64_t>>;

/// The bit pattern of `value`, as an OpAttrs entry holds a real attribute.
std::int64_t real_attr(double value);
/// The double whose bit pattern real_attr stored.
double attr_real(std::int64_t bits);

/// One recorded op of the autograd graph. `apply` maps the gradient of the op's output to one
/// gradient per input (undefined where an input needs none). The closure keeps only what the
/// backward pass reads, and is released after use unless the graph is retained.
class Node {
 public:
  using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

  Node(std::string name, std::vector<Edge> next, BackwardFn fn)
      : name_(std::move(name)), next_(std::move(next)), fn_(std::move(fn)) {}

  const std::string& name() const { return name_; }
  const std::vector<Edge>& next_edges() const { return next_; }
  /// Computes the input gradients; throws when the closure was already released.
  std::vector<Tensor> apply(const Tensor& grad_output);
  /// Frees the closure (and the tensors it saved).
  void release() { fn_ = nullptr; }
  /// The tensor this node produced, if it is still alive (for retain_grad).
  std::shared_ptr<TensorImpl> output() const { return output_.lock(); }
  void set_output(const std::shared_ptr<TensorImpl>& out) { output_ = out; }
  /// The leaf whose gradient this node accumulates (AccumulateGrad nodes only).
  std::shared_ptr<TensorImpl> leaf() const { return leaf_.lock(); }
  void set_leaf(const std::shared_ptr<TensorImpl>& leaf) { leaf_ = leaf; }

 private:
  std::string name_;
  std::vector<Edge> next_;
  BackwardFn fn_;
  std::weak_ptr<TensorImpl> output_;
  std::weak_ptr<TensorImpl> leaf_;
};

/// While alive, every backward pass on this thread calls `fn` with each leaf as soon as the
/// leaf's gradient for that pass is final (its accumulator has run: once per leaf and pass, after
/// every use of the leaf has contributed). Data-parallel training starts a gradient bucket's
/// allreduce from here while the rest of the backward pass goes on. One scope per thread.
class GradReadyScope {
 public:
  using Callback = std::function<void(const Tensor& leaf)>;
  explicit GradReadyScope(Callback fn);
  ~GradReadyScope();
  GradReadyScope(const GradReadyScope&) = delete;
  GradReadyScope& operator=(const GradReadyScope&) = delete;
  void operator()(const Tensor& leaf) const { fn_(leaf); }

 private:
  Callback fn_;
};

/// True when grad mode is on and some input requires a gradient.
bool needs_grad(std::initializer_list<Tensor> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

/// Records that `output` was computed by op `op` (a row of engine/autograd/op_table.h) from
/// `inputs`. Reports the op to an active trace (even under NoGrad) and, when needs_grad(inputs),
/// attaches a node whose closure `fn` returns one gradient per input, in order. `fn` is only built
/// into a node when needed.
void record_op(const Tensor& output, Op op, const std::vector<Tensor>& inputs, Node::BackwardFn fn,
               OpAttrs attrs = {});

/// Runs backward from `root` seeded with `grad_root`; used by Tensor::backward.
void run_backward(const Tensor& root, const Tensor& grad_root, bool retain_graph);

}  // namespace shears
