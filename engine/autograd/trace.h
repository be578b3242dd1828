#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/autograd/node.h"
#include "engine/tensor.h"

namespace shears {

/// One op seen while a TraceScope was open: the op and its traced name (op_name(op)), its input
/// and output tensors (handles, so identities and shapes can be read) and its integer attributes.
struct OpRecord {
  Op op = Op::Count;
  std::string name;
  std::vector<Tensor> inputs;
  Tensor output;
  OpAttrs attrs;
};

/// While alive, every op run on this thread is appended to `records()` (nested scopes are not
/// supported: opening a second throws). Pruning builds its dependency graph from such a trace.
class TraceScope {
 public:
  TraceScope();
  ~TraceScope();
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;

  const std::vector<OpRecord>& records() const { return records_; }

 private:
  friend void record_op(const Tensor&, Op, const std::vector<Tensor>&, Node::BackwardFn, OpAttrs);
  std::vector<OpRecord> records_;
};

/// The active trace of this thread, or null.
TraceScope* active_trace();

/// While alive, `observer` is called on this thread after every op has run, with the op's name,
/// inputs and output (profilers time the gaps between calls). Independent of TraceScope; nested
/// scopes are not supported: opening a second throws. With `backward`, the backward of every op
/// recorded with a gradient node while the scope is open calls `backward(index)` when it has
/// run, `index` counting the ops `observer` saw from 0 (the forward op it belongs to); the
/// callback is copied into the nodes, so what it refers to must outlive their backward pass.
class OpObserverScope {
 public:
  using Observer = std::function<void(const char* name, const std::vector<Tensor>& inputs,
                                      const Tensor& output)>;
  using BackwardObserver = std::function<void(std::size_t index)>;
  explicit OpObserverScope(Observer observer, BackwardObserver backward = nullptr);
  ~OpObserverScope();
  OpObserverScope(const OpObserverScope&) = delete;
  OpObserverScope& operator=(const OpObserverScope&) = delete;

 private:
  friend void record_op(const Tensor&, Op, const std::vector<Tensor>&, Node::BackwardFn, OpAttrs);
  Observer observer_;
  BackwardObserver backward_;
  std::size_t seen_ = 0;
};

}  // namespace shears
