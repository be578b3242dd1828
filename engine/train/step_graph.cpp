#include "engine/train/step_graph.h"

#include <exception>
#include <set>
#include <utility>

#include "engine/log.h"
#include "kernels/common/registry.h"

namespace shears {

namespace {

std::string key_of(const Tensor& images, const Tensor& labels) {
  return shape_str(images.shape()) + dtype_name(images.dtype()) + "|" + shape_str(labels.shape()) +
         dtype_name(labels.dtype()) + "@" + images.device().str();
}

}  // namespace

StepGraph::StepGraph(std::vector<Tensor> params, Step step, bool enabled, int max_graphs)
    : params_(std::move(params)),
      step_(std::move(step)),
      enabled_(enabled),
      max_graphs_(max_graphs) {}

StepGraph::~StepGraph() = default;

std::vector<Tensor> StepGraph::eager(const Tensor& images, const Tensor& labels) {
  ++eager_steps_;
  return step_(images, labels);
}

void StepGraph::fall_back(Entry& e, const Shape& shape, const std::string& why) {
  e.eager_only = true;
  fallback_reason_ = why;
  log_info("step graph: the " + shape_str(shape) + " step runs eagerly: " + why);
}

std::vector<Tensor> StepGraph::run(const Tensor& images, const Tensor& labels) {
  if (!enabled_ || images.device().is_cpu()) return eager(images, labels);
  Entry& e = entries_[key_of(images, labels)];
  if (e.graph) return replay(e, images, labels);
  if (e.eager_only || ++e.seen < 2) return eager(images, labels);
  if (graphs_ >= max_graphs_) {
    fall_back(e, images.shape(), std::to_string(max_graphs_) + " step shapes are recorded already");
    return eager(images, labels);
  }
  return record(e, images, labels);
}

std::vector<Tensor> StepGraph::record(Entry& e, const Tensor& images, const Tensor& labels) {
  Backend& be = backend_for(images.device());
  e.images = Tensor::empty(images.shape(), images.dtype(), images.device());
  e.labels = Tensor::empty(labels.shape(), labels.dtype(), labels.device());
  e.images.copy_(images);
  e.labels.copy_(labels);
  const std::string unsupported = be.graph_unsupported_reason();
  if (!unsupported.empty()) {
    enabled_ = false;
    fall_back(e, images.shape(), unsupported);
    return eager(images, labels);
  }
  std::vector<Tensor> outputs;
  std::unique_ptr<DeviceGraph> graph;
  graph::Effects effects;
  std::string failure;
  try {
    be.begin_capture();
  } catch (const std::exception& ex) {
    fall_back(e, images.shape(), ex.what());
    return eager(images, labels);
  }
  try {
    graph::Recording recording;
    outputs = step_(e.images, e.labels);
    effects = recording.take();
  } catch (const std::exception& ex) {
    failure = ex.what();
  }
  if (failure.empty()) {
    try {
      graph = be.end_capture();
    } catch (const std::exception& ex) {
      failure = ex.what();
    }
  } else {
    be.abort_capture();
  }
  if (!failure.empty()) {
    // Nothing recorded ran; gradients set while recording point at discarded memory.
    outputs.clear();
    for (const Tensor& p : params_) p.zero_grad();
    fall_back(e, images.shape(), failure);
    return eager(images, labels);
  }
  std::vector<Tensor> grads;
  std::set<const void*> owned;
  for (const Tensor& t : outputs) {
    if (t.defined()) owned.insert(t.storage()->data());
  }
  for (const Tensor& p : params_) {
    Tensor g = p.grad();
    if (g.defined()) owned.insert(g.storage()->data());
    grads.push_back(g);
  }
  bool clean = true;
  for (const void* ptr : graph->escaped()) clean = clean && owned.count(ptr) != 0;
  // The recording did not run the step: this launch does.
  effects.run_before();
  graph->launch();
  effects.run_after();
  ++graphs_;
  if (!clean) {
    // Memory the graph left allocated stays valid after the graph is gone.
    graph.reset();
    fall_back(e, images.shape(),
              "the recorded step keeps device memory alive that is neither an output nor a "
              "gradient (a cache first filled while recording)");
    return outputs;
  }
  e.graph = std::move(graph);
  e.outputs = outputs;
  e.grads = std::move(grads);
  e.effects = std::move(effects);
  return outputs;
}

std::vector<Tensor> StepGraph::replay(Entry& e, const Tensor& images, const Tensor& labels) {
  e.images.copy_(images);
  e.labels.copy_(labels);
  // Gradients are the graph's between replays (an eager step of another shape, or zero_grad,
  // may have replaced them on the parameters).
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& g = e.grads[i];
    if (!g.defined()) {
      params_[i].zero_grad();
    } else if (!params_[i].grad().defined() || params_[i].grad().storage() != g.storage()) {
      params_[i].set_grad(g);
    }
  }
  e.effects.run_before();
  e.graph->launch();
  e.effects.run_after();
  ++replays_;
  return e.outputs;
}

}  // namespace shears
