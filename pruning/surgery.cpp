#include "pruning/surgery.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/trace.h"
#include "engine/nn/conv2d.h"
#include "engine/ops/channel.h"
#include "engine/ops/elementwise.h"
#include "engine/rng.h"
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

  // Initial weights are overwritten below; the draws must not move the default generator, or
  // the same seed would train differently depending on how many candidates were built.
  const Generator saved = default_generator();
  std::shared_ptr<nn::Module> pruned = models::build_model(arch);
  default_generator() = saved;
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

namespace {

bool is_weight(const std::string& name) {
  return name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
}

/// The values of tensor `x` (N, C, ...) at channel `c`, as doubles.
std::vector<double> channel_values(const std::vector<float>& x, const Shape& shape,
                                   std::int64_t c) {
  std::int64_t n = shape[0], channels = shape[1], inner = 1;
  for (std::size_t d = 2; d < shape.size(); ++d) inner *= shape[d];
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(n * inner));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < inner; ++j)
      out.push_back(x[static_cast<std::size_t>((i * channels + c) * inner + j)]);
  return out;
}

/// The common value of `v`, or NaN when the entries differ (beyond float rounding).
double constant_of(const std::vector<double>& v) {
  if (v.empty()) return std::nan("");
  for (double x : v) {
    if (!(std::fabs(x - v.front()) <= 1e-6 * std::max(1.0, std::fabs(v.front())))) {
      return std::nan("");
    }
  }
  return v.front();
}

}  // namespace

MaskedExport export_masked(nn::Module& model, const DependencyGraph& graph, const PrunePlan& plan,
                           const Tensor& probe) {
  NoGrad no_grad;
  MaskedExport out;
  // What every conv and linear layer sees, in eval mode.
  std::map<const TensorImpl*, std::string> names;
  for (auto& [name, t] : model.state_dict()) names[t.id()] = name;
  auto has_tensor = [&](const std::string& name) {
    for (const auto& [id, n] : names)
      if (n == name) return true;
    return false;
  };
  std::map<std::string, Tensor> input_of;  // consumer weight name -> its input
  {
    const bool was_training = model.is_training();
    model.eval();
    std::vector<OpRecord> records;
    {
      TraceScope trace;
      model.forward(probe);
      records = trace.records();
    }
    model.train(was_training);
    for (const OpRecord& r : records) {
      if (r.op != Op::Conv2d && r.op != Op::Linear) continue;
      auto it = names.find(r.inputs.at(1).id());
      if (it != names.end()) input_of[it->second] = r.inputs.at(0).to(Device::cpu());
    }
  }
  std::map<std::string, std::vector<float>> input_values;
  auto values_of = [&](const std::string& w) -> const std::vector<float>& {
    auto it = input_values.find(w);
    if (it == input_values.end()) {
      it = input_values.emplace(w, input_of.at(w).to_vector<float>()).first;
    }
    return it->second;
  };
  // Consumers: dim-1 members that are conv or linear weights.
  auto consumers = [&](const Group& g) {
    std::vector<const Member*> cs;
    for (const Member& m : g.members) {
      if (m.dim != 1 || !is_weight(m.name)) continue;
      const Tensor& w = model.tensor_at(m.name);
      if (w.dim() == 4 || w.dim() == 2) cs.push_back(&m);
    }
    return cs;
  };
  // Per consumer weight: the constant carried at each removed position.
  std::map<std::string, std::vector<std::pair<std::int64_t, double>>> constants;
  for (const auto& [gid, channels] : plan) {
    const Group& g = graph.groups().at(static_cast<std::size_t>(gid));
    std::vector<const Member*> cs = consumers(g);
    std::vector<std::int64_t> removed, kept;
    std::map<std::string, std::vector<std::pair<std::int64_t, double>>> group_constants;
    for (std::int64_t k : channels) {
      bool constant = true;
      std::map<std::string, std::vector<std::pair<std::int64_t, double>>> found;
      for (const Member* m : cs) {
        const std::string layer = m->name.substr(0, m->name.size() - 7);
        bool linear = model.tensor_at(m->name).dim() == 2;
        if (!input_of.count(m->name) || (linear && !has_tensor(layer + ".bias"))) {
          constant = false;
          break;
        }
        const Tensor& x = input_of.at(m->name);
        for (std::int64_t p : m->positions.at(static_cast<std::size_t>(k))) {
          double a = constant_of(channel_values(values_of(m->name), x.shape(), p));
          if (std::isnan(a)) {
            constant = false;
            break;
          }
          if (a != 0.0) found[m->name].emplace_back(p, a);
        }
        if (!constant) break;
      }
      if (!constant) {
        kept.push_back(k);
        continue;
      }
      removed.push_back(k);
      for (auto& [name, list] : found)
        group_constants[name].insert(group_constants[name].end(), list.begin(), list.end());
    }
    if (!removed.empty()) out.removed[gid] = removed;
    if (!kept.empty()) out.not_constant[gid] = kept;
    for (auto& [name, list] : group_constants)
      constants[name].insert(constants[name].end(), list.begin(), list.end());
  }
  // Contributions of the removed constants, from the original weights, per output channel.
  std::map<std::string, Tensor> contribution;  // conv: (Cout, 1, K, K); linear: (Cout)
  for (const auto& [name, list] : constants) {
    Tensor w = model.tensor_at(name).to(Device::cpu());
    std::vector<float> wv = w.to_vector<float>();
    const Shape& s = w.shape();
    std::int64_t cout = s[0], cin = s[1], kk = w.dim() == 4 ? s[2] * s[3] : 1;
    std::vector<double> acc(static_cast<std::size_t>(cout * kk), 0.0);
    for (const auto& [p, a] : list)
      for (std::int64_t o = 0; o < cout; ++o)
        for (std::int64_t j = 0; j < kk; ++j)
          acc[static_cast<std::size_t>(o * kk + j)] +=
              a * wv[static_cast<std::size_t>((o * cin + p) * kk + j)];
    std::vector<float> accf(acc.begin(), acc.end());
    contribution[name] = w.dim() == 4 ? Tensor::from_vector(accf, {cout, 1, s[2], s[3]})
                                      : Tensor::from_vector(accf, {cout});
  }
  out.surgery = apply_surgery(model, graph, out.removed);
  nn::Module& pruned = *out.surgery.model;
  for (auto& [name, c] : contribution) {
    const std::string layer = name.substr(0, name.size() - 7);
    auto keep = out.surgery.keep.find(name);
    if (keep != out.surgery.keep.end() && keep->second.count(0)) {
      c = slice_tensor(c, {{0, keep->second.at(0)}});
    }
    if (c.dim() == 4) {
      auto* conv = dynamic_cast<nn::Conv2d*>(&pruned.module_at(layer));
      SHEARS_CHECK(conv != nullptr, "export: '", layer, "' is not a convolution");
      Tensor total = c.to(conv->weight.device());
      if (conv->constant_kernel.defined()) total = add(conv->constant_kernel, total);
      conv->set_constant_kernel(total);
    } else {
      Tensor& bias = pruned.tensor_at(layer + ".bias");
      bias.copy_(add(bias, c.to(bias.device())));
    }
    out.folded.push_back(layer);
  }
  out.surgery.arch = models::arch_of(pruned);
  return out;
}

}  // namespace shears::pruning
