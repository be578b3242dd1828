#include "engine/autograd/node.h"

#include <cstring>
#include <unordered_map>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/trace.h"
#include "kernels/common/registry.h"

namespace shears {

std::int64_t real_attr(double value) {
  std::int64_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

double attr_real(std::int64_t bits) {
  double value = 0;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

namespace {
thread_local bool t_grad_enabled = true;
thread_local TraceScope* t_trace = nullptr;
thread_local OpObserverScope* t_observer = nullptr;
thread_local GradReadyScope* t_grad_ready = nullptr;

/// The node that accumulates into a leaf's `grad`, created once per leaf and shared by every op
/// that reads the leaf, so that gradients from several uses add up before reaching it.
std::shared_ptr<Node> grad_accumulator(const std::shared_ptr<TensorImpl>& leaf) {
  if (auto existing = leaf->grad_accumulator.lock()) return existing;
  std::weak_ptr<TensorImpl> weak = leaf;
  auto node = std::make_shared<Node>(
      "AccumulateGrad", std::vector<Edge>{}, [weak](const Tensor& grad) -> std::vector<Tensor> {
        auto impl = weak.lock();
        if (!impl) return {};
        Tensor target(impl);
        SHEARS_CHECK_AS(ShapeError, grad.shape() == target.shape(), "gradient of shape ",
                        shape_str(grad.shape()), " does not match tensor '", target.name(),
                        "' of shape ", shape_str(target.shape()));
        Tensor current = target.grad();
        if (!current.defined()) {
          target.set_grad(grad.clone());
        } else {
          backend_for(current.device()).axpby(1.0, grad.view(), 1.0, current.view());
        }
        return {};
      });
  node->set_leaf(leaf);
  leaf->grad_accumulator = node;
  return node;
}
}  // namespace

bool grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool enabled) { t_grad_enabled = enabled; }

TraceScope::TraceScope() {
  SHEARS_CHECK(t_trace == nullptr, "a TraceScope is already open on this thread");
  t_trace = this;
}
TraceScope::~TraceScope() { t_trace = nullptr; }
TraceScope* active_trace() { return t_trace; }

OpObserverScope::OpObserverScope(Observer observer, BackwardObserver backward)
    : observer_(std::move(observer)), backward_(std::move(backward)) {
  SHEARS_CHECK(t_observer == nullptr, "an OpObserverScope is already open on this thread");
  t_observer = this;
}
OpObserverScope::~OpObserverScope() { t_observer = nullptr; }

GradReadyScope::GradReadyScope(Callback fn) : fn_(std::move(fn)) {
  SHEARS_CHECK(t_grad_ready == nullptr, "a GradReadyScope is already open on this thread");
  t_grad_ready = this;
}
GradReadyScope::~GradReadyScope() { t_grad_ready = nullptr; }

std::vector<Tensor> Node::apply(const Tensor& grad_output) {
  SHEARS_CHECK(fn_ != nullptr, "backward through op '", name_,
               "' a second time: its saved tensors were freed (pass retain_graph=true)");
  return fn_(grad_output);
}

bool needs_grad(std::initializer_list<Tensor> inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record_op(const Tensor& output, Op op, const std::vector<Tensor>& inputs, Node::BackwardFn fn,
               OpAttrs attrs) {
  const char* name = op_name(op);
  if (t_trace != nullptr) {
    t_trace->records_.push_back(OpRecord{op, name, inputs, output, attrs});
  }
  std::size_t observed = 0;
  if (t_observer != nullptr) {
    observed = t_observer->seen_++;
    t_observer->observer_(name, inputs, output);
  }
  if (!needs_grad(inputs)) return;
  if (t_observer != nullptr && t_observer->backward_) {
    fn = [inner = std::move(fn), done = t_observer->backward_, observed](const Tensor& g) {
      std::vector<Tensor> grads = inner(g);
      done(observed);
      return grads;
    };
  }
  std::vector<Edge> next;
  next.reserve(inputs.size());
  for (const Tensor& in : inputs) {
    if (!in.defined() || !in.requires_grad()) {
      next.push_back(Edge{nullptr});
    } else if (in.grad_fn()) {
      next.push_back(Edge{in.grad_fn()});
    } else {
      next.push_back(Edge{grad_accumulator(in.impl_ptr())});
    }
  }
  auto node = std::make_shared<Node>(name, std::move(next), std::move(fn));
  node->set_output(output.impl_ptr());
  output.impl_ptr()->grad_fn = node;
  output.impl_ptr()->requires_grad = true;
}

void run_backward(const Tensor& root, const Tensor& grad_root, bool retain_graph) {
  NoGrad no_grad;
  std::shared_ptr<Node> start =
      root.grad_fn() ? root.grad_fn()
                     : (root.requires_grad() ? grad_accumulator(root.impl_ptr()) : nullptr);
  SHEARS_CHECK(start != nullptr,
               "backward() on a tensor that does not require grad and has no grad_fn");

  // Count, for every node reachable from the root, how many edges point at it; a node runs only
  // once all of its consumers have delivered their gradients (Kahn's order). Iterative, so deep
  // graphs cannot overflow the stack.
  std::unordered_map<Node*, int> pending;
  std::vector<Node*> stack{start.get()};
  pending[start.get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges()) {
      if (!e.node) continue;
      auto [it, inserted] = pending.try_emplace(e.node.get(), 0);
      ++it->second;
      if (inserted) stack.push_back(e.node.get());
    }
  }

  std::unordered_map<Node*, Tensor> buffers;
  buffers[start.get()] = grad_root;
  std::vector<std::shared_ptr<Node>> ready{start};
  while (!ready.empty()) {
    std::shared_ptr<Node> node = std::move(ready.back());
    ready.pop_back();
    Tensor grad = std::move(buffers[node.get()]);
    buffers.erase(node.get());
    if (auto out = node->output(); out && out->retains_grad && grad.defined()) {
      Tensor t(out);
      if (t.grad().defined()) {
        backend_for(grad.device()).axpby(1.0, grad.view(), 1.0, t.grad().view());
      } else {
        t.set_grad(grad.clone());
      }
    }
    std::vector<Tensor> input_grads;
    if (grad.defined()) {
      input_grads = node->apply(grad);
      if (t_grad_ready != nullptr) {
        if (auto leaf = node->leaf()) (*t_grad_ready)(Tensor(leaf));
      }
    }
    if (!retain_graph) node->release();
    const auto& edges = node->next_edges();
    for (std::size_t i = 0; i < edges.size(); ++i) {
      const auto& next = edges[i].node;
      if (!next) continue;
      if (i < input_grads.size() && input_grads[i].defined()) {
        Tensor& buf = buffers[next.get()];
        if (!buf.defined()) {
          buf = input_grads[i];
        } else {
          // The buffer may alias a tensor the producer still holds: accumulate into a copy.
          Tensor sum = Tensor::empty(buf.shape(), buf.dtype(), buf.device());
          Backend& be = backend_for(buf.device());
          be.copy(sum.raw_data(), buf.raw_data(), buf.nbytes());
          be.axpby(1.0, input_grads[i].view(), 1.0, sum.view());
          buf = sum;
        }
      }
      if (--pending[next.get()] == 0) ready.push_back(next);
    }
  }
}

}  // namespace shears
