#include "pruning/surgery.h"

#include <algorithm>
#include <set>

#include "engine/autograd/grad_mode.h"
#include "engine/ops/channel.h"
#include "models/model.h"
#include "models/registry.h"

namespace shears::pruning {

namespace {
std::string strip_suffix(const std::string& name, const std::string& suffix) {
  if (name.size() > suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return name.substr(0, name.size() - suffix.size());
  }
  return "";
}
}  // namespace

Tensor slice_tensor(const Tensor& t, const std::map<int, std::vector<std::int64_t>>& keep) {
  Tensor out = t;
  for (const auto& [dim, kept] : keep) {
    if (dim >= out.dim() || static_cast<std::int64_t>(kept.size()) == out.size(dim)) continue;
    out = channel_gather(out, dim, kept);
  }
  return out;
}

SurgeryResult apply_surgery(nn::Module& model, const DependencyGraph& graph,
                            const PrunePlan& plan) {
  NoGrad no_grad;
  SurgeryResult result;
  result.keep = keep_map(graph, plan, model);
  models::Arch arch = models::arch_of(model);

  // New widths: every producer whose output channels are an Arch width loses the removed ones.
  for (const auto& [gid, removed] : plan) {
    if (removed.empty()) continue;
    const Group& g = graph.groups()[static_cast<std::size_t>(gid)];
    for (const std::string& producer : g.producers) {
      std::string layer = strip_suffix(producer, ".weight");
      if (!layer.empty() && arch.has_width(layer)) {
        const auto& kept = result.keep.at(producer).at(0);
        arch.set_width(layer, static_cast<std::int64_t>(kept.size()));
      }
    }
  }
  // Option-A (b) shortcuts pad zeros on both sides: record how many leading zero channels of
  // each widening block survive, since they no longer split evenly.
  if (arch.shortcut == models::Shortcut::SubsamplePad) {
    models::Arch before = models::arch_of(model);
    std::vector<std::pair<std::string, std::int64_t>> pads;
    for (const auto& [key, width] : before.widths) {
      std::string block = strip_suffix(key, ".conv2");
      if (block.empty()) continue;
      auto kept_it = result.keep.find(key + ".weight");
      if (kept_it == result.keep.end() || !kept_it->second.count(0)) continue;
      // The block's input width is the previous stream width: the conv1 input channels.
      Tensor w1 = model.tensor_at(block + ".conv1.weight");
      std::int64_t in = w1.size(1), out = width;
      if (in == out) continue;
      std::int64_t front = (out - in) / 2;
      for (const auto& [b, f] : before.pad_front)
        if (b == block) front = f;
      std::int64_t kept_front = 0;
      for (std::int64_t p : kept_it->second.at(0))
        if (p < front) ++kept_front;
      pads.emplace_back(block, kept_front);
    }
    for (const auto& [block, f] : pads) {
      bool found = false;
      for (auto& [b, v] : arch.pad_front)
        if (b == block) v = f, found = true;
      if (!found) arch.pad_front.emplace_back(block, f);
    }
  }

  std::shared_ptr<nn::Module> pruned = models::build_model(arch);
  Device device = Device::cpu();
  for (auto& [name, t] : model.named_parameters()) device = t.device();
  pruned->to(device);
  for (auto& [name, t] : model.state_dict()) {
    Tensor sliced = t;
    auto it = result.keep.find(name);
    if (it != result.keep.end()) sliced = slice_tensor(t, it->second);
    Tensor& target = pruned->tensor_at(name);
    SHEARS_CHECK(target.shape() == sliced.shape(), "surgery: '", name, "' sliced to ",
                 shape_str(sliced.shape()), " but the pruned architecture has ",
                 shape_str(target.shape()));
    target.copy_(sliced);
  }
  pruned->train(model.is_training());
  result.model = pruned;
  result.arch = arch;
  return result;
}

SurgeryResult apply_replacement(nn::Module& model, const DependencyGraph& graph,
                                const ReplacementPlan& plan) {
  NoGrad no_grad;
  PrunePlan removal;
  for (const auto& [gid, width] : plan.widths) {
    SHEARS_CHECK(gid >= 0 && gid < static_cast<int>(graph.groups().size()),
                 "replacement: no group ", gid);
    const Group& g = graph.groups()[static_cast<std::size_t>(gid)];
    SHEARS_CHECK(width >= 1 && width <= g.size, "replacement: group ", gid, " (",
                 g.producers.empty() ? std::string("no producer") : g.producers.front(), ") has ",
                 g.size, " channels; width ", width, " is outside [1, ", g.size, "]");
    std::vector<std::int64_t> removed;
    for (std::int64_t k = g.size - 1;
         k >= 0 && g.size - static_cast<std::int64_t>(removed.size()) > width; --k) {
      if (!g.blocked[static_cast<std::size_t>(k)]) removed.push_back(k);
    }
    SHEARS_CHECK(g.size - static_cast<std::int64_t>(removed.size()) == width, "replacement: group ",
                 gid, " cannot shrink to ", width, " channels: ",
                 g.blocked_reason.empty() ? std::string("too many are blocked") : g.blocked_reason);
    std::sort(removed.begin(), removed.end());
    if (!removed.empty()) removal[gid] = removed;
  }
  SurgeryResult result = apply_surgery(model, graph, removal);

  // Batch norms among the replaced groups' members start afresh; everything else must be given.
  std::map<std::string, double> reset;  // tensor name -> value it is filled with
  for (const auto& [gid, width] : plan.widths) {
    const Group& g = graph.groups()[static_cast<std::size_t>(gid)];
    std::set<std::string> bn_layers;
    for (const Member& m : g.members) {
      std::string layer = strip_suffix(m.name, ".running_mean");
      if (!layer.empty()) bn_layers.insert(layer);
    }
    for (const Member& m : g.members) {
      if (plan.tensors.count(m.name)) continue;
      const auto dot = m.name.rfind('.');
      const std::string layer = m.name.substr(0, dot), leaf = m.name.substr(dot + 1);
      SHEARS_CHECK(bn_layers.count(layer), "replacement: group ", gid, " member '", m.name,
                   "' (dim ", m.dim, ") has no new values; supply it in the plan's tensors");
      reset[m.name] = (leaf == "weight" || leaf == "running_var") ? 1.0 : 0.0;
      reset[layer + ".num_batches_tracked"] = 0.0;
    }
  }
  std::map<std::string, Tensor> state;
  for (auto& [name, t] : result.model->state_dict()) state[name] = t;
  for (const auto& [name, value] : reset) {
    auto it = state.find(name);
    if (it != state.end()) it->second.fill_(value);
  }
  for (const auto& [name, t] : plan.tensors) {
    auto it = state.find(name);
    SHEARS_CHECK(it != state.end(), "replacement: the network has no tensor '", name, "'");
    SHEARS_CHECK(it->second.shape() == t.shape(), "replacement: '", name, "' is ",
                 shape_str(t.shape()), " but the pruned network has ",
                 shape_str(it->second.shape()));
    it->second.copy_(t);
  }
  return result;
}

void slice_optimizer(optim::Sgd& optimizer, const SurgeryResult& result) {
  std::vector<std::pair<std::string, Tensor>> buffers;
  for (auto& [name, t] : result.model->named_parameters()) {
    Tensor buf;
    try {
      buf = optimizer.momentum_buffer(name);
    } catch (const Error&) {
      continue;
    }
    if (!buf.defined()) continue;
    auto it = result.keep.find(name);
    buffers.emplace_back(name, it == result.keep.end() ? buf : slice_tensor(buf, it->second));
  }
  optimizer.rebind(result.model->named_parameters());
  for (auto& [name, buf] : buffers) optimizer.set_momentum_buffer(name, buf);
}

}  // namespace shears::pruning
