#include "pruning/dependency.h"

#include <algorithm>
#include <functional>
#include <numeric>
#include <set>
#include <sstream>
#include <unordered_map>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/trace.h"

namespace shears::pruning {

bool Group::prunable() const {
  return std::any_of(blocked.begin(), blocked.end(), [](bool b) { return !b; });
}

const Member* Group::member(const std::string& name, int dim) const {
  for (const Member& m : members)
    if (m.name == name && m.dim == dim) return &m;
  return nullptr;
}

namespace {

/// Union-find over integers.
class Dsu {
 public:
  int add() {
    parent_.push_back(static_cast<int>(parent_.size()));
    return parent_.back();
  }
  int find(int x) {
    while (parent_[static_cast<std::size_t>(x)] != x) {
      auto& p = parent_[static_cast<std::size_t>(x)];
      p = parent_[static_cast<std::size_t>(p)];
      x = p;
    }
    return x;
  }
  void unite(int a, int b) { parent_[static_cast<std::size_t>(find(a))] = find(b); }

 private:
  std::vector<int> parent_;
};

enum class Kind { Activation, Param, Input, Output, Constant };

/// A channel dimension of one traced tensor: `size` elements, one per position. Elements are
/// joined individually (a fine union-find: which positions are the same channel) and nodes as a
/// whole (a coarse one: which dimensions belong to one group).
struct DimNode {
  const TensorImpl* tensor = nullptr;
  int dim = 0;
  std::int64_t size = 0;
  int first_element = 0;
  int coarse = 0;
  Kind kind = Kind::Activation;
  std::string name;       // parameter/buffer name
  bool residual = false;  // the output of an add joining two input-dependent tensors
};

class Builder {
 public:
  Builder(const std::map<const TensorImpl*, std::string>& names) : names_(names) {}

  /// The node of (t, dim), created on first use.
  int node(const Tensor& t, int dim) {
    auto key = std::make_pair(t.id(), dim);
    auto it = index_.find(key);
    if (it != index_.end()) return it->second;
    DimNode n;
    n.tensor = t.id();
    n.dim = dim;
    n.size = t.dim() > dim ? t.size(dim) : 1;
    n.first_element = static_cast<int>(elements_count_);
    for (std::int64_t i = 0; i < n.size; ++i) {
      fine_.add();
      ++elements_count_;
      element_node_.push_back(static_cast<int>(nodes_.size()));
    }
    n.coarse = coarse_.add();
    auto name = names_.find(t.id());
    if (name != names_.end()) {
      n.kind = Kind::Param;
      n.name = name->second;
    } else if (!produced_.count(t.id())) {
      n.kind = Kind::Constant;
    }
    nodes_.push_back(n);
    index_[key] = static_cast<int>(nodes_.size()) - 1;
    return static_cast<int>(nodes_.size()) - 1;
  }

  /// Channel dimension of an activation: 1 (NCHW or (N, features)).
  int act(const Tensor& t) { return node(t, t.dim() >= 2 ? 1 : 0); }

  /// Joins element a_pos of node a with element b_pos of node b.
  void link(int a, std::int64_t a_pos, int b, std::int64_t b_pos) {
    fine_.unite(nodes_[static_cast<std::size_t>(a)].first_element + static_cast<int>(a_pos),
                nodes_[static_cast<std::size_t>(b)].first_element + static_cast<int>(b_pos));
    coarse_.unite(nodes_[static_cast<std::size_t>(a)].coarse,
                  nodes_[static_cast<std::size_t>(b)].coarse);
  }
  /// Joins two nodes of equal size position by position.
  void link_all(int a, int b) {
    std::int64_t n = std::min(size(a), size(b));
    for (std::int64_t i = 0; i < n; ++i) link(a, i, b, i);
  }
  std::int64_t size(int n) const { return nodes_[static_cast<std::size_t>(n)].size; }

  void block(int n, const std::string& why) { blocked_nodes_.emplace_back(n, why); }
  void produced(const Tensor& t) { produced_.insert(t.id()); }
  void mark(int n, Kind k) { nodes_[static_cast<std::size_t>(n)].kind = k; }
  void mark_residual(int n) { nodes_[static_cast<std::size_t>(n)].residual = true; }
  /// Whether two nodes already belong to one group.
  bool coupled(int a, int b) {
    return coarse_.find(nodes_[static_cast<std::size_t>(a)].coarse) ==
           coarse_.find(nodes_[static_cast<std::size_t>(b)].coarse);
  }

  std::vector<Group> finish();

 private:
  const std::map<const TensorImpl*, std::string>& names_;
  std::map<std::pair<const TensorImpl*, int>, int> index_;
  std::vector<DimNode> nodes_;
  std::vector<int> element_node_;
  std::int64_t elements_count_ = 0;
  Dsu fine_, coarse_;
  std::set<const TensorImpl*> produced_;
  std::vector<std::pair<int, std::string>> blocked_nodes_;
};

std::vector<Group> Builder::finish() {
  // Coarse components become groups; fine components inside them become channels.
  std::map<int, std::vector<int>> by_group;  // coarse root -> nodes
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    by_group[coarse_.find(nodes_[i].coarse)].push_back(static_cast<int>(i));
  }
  std::map<int, std::string> block_reason;
  for (auto& [n, why] : blocked_nodes_) {
    int root = coarse_.find(nodes_[static_cast<std::size_t>(n)].coarse);
    if (!block_reason.count(root)) block_reason[root] = why;
  }
  std::vector<Group> groups;
  for (auto& [root, node_ids] : by_group) {
    bool has_param = false;
    for (int n : node_ids) has_param |= nodes_[static_cast<std::size_t>(n)].kind == Kind::Param;
    if (!has_param) continue;
    Group g;
    // Channels are numbered in order of first appearance among param members (network order).
    std::map<int, std::int64_t> channel_of;  // fine root -> channel index
    for (int n : node_ids) {
      const DimNode& d = nodes_[static_cast<std::size_t>(n)];
      if (d.kind != Kind::Param) continue;
      for (std::int64_t i = 0; i < d.size; ++i) {
        int r = fine_.find(d.first_element + static_cast<int>(i));
        if (!channel_of.count(r)) {
          std::int64_t k = static_cast<std::int64_t>(channel_of.size());
          channel_of[r] = k;
        }
      }
    }
    g.size = static_cast<std::int64_t>(channel_of.size());
    g.blocked.assign(static_cast<std::size_t>(g.size), false);
    g.constant.assign(static_cast<std::size_t>(g.size), false);
    for (int n : node_ids) g.residual |= nodes_[static_cast<std::size_t>(n)].residual;
    auto it = block_reason.find(root);
    if (it != block_reason.end()) {
      g.blocked.assign(static_cast<std::size_t>(g.size), true);
      g.blocked_reason = it->second;
    }
    for (int n : node_ids) {
      const DimNode& d = nodes_[static_cast<std::size_t>(n)];
      for (std::int64_t i = 0; i < d.size; ++i) {
        int r = fine_.find(d.first_element + static_cast<int>(i));
        auto ch = channel_of.find(r);
        if (ch == channel_of.end()) {
          // A channel without any parameter (e.g. a constant) is not removable on its own.
          continue;
        }
        auto k = static_cast<std::size_t>(ch->second);
        if (d.kind == Kind::Input || d.kind == Kind::Output) {
          g.blocked[k] = true;
          if (g.blocked_reason.empty()) {
            g.blocked_reason = d.kind == Kind::Input ? "network input" : "network output";
          }
        }
        if (d.kind == Kind::Constant) g.constant[k] = true;
      }
      if (d.kind != Kind::Param) continue;
      Member m;
      m.name = d.name;
      m.dim = d.dim;
      m.positions.resize(static_cast<std::size_t>(g.size));
      for (std::int64_t i = 0; i < d.size; ++i) {
        int r = fine_.find(d.first_element + static_cast<int>(i));
        m.positions[static_cast<std::size_t>(channel_of[r])].push_back(i);
      }
      g.members.push_back(std::move(m));
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

std::int64_t attr(const OpRecord& r, const char* key, std::int64_t fallback) {
  for (auto& [k, v] : r.attrs)
    if (k == key) return v;
  return fallback;
}

}  // namespace

OpDependencyRule dependency_rule(Op op) {
  using K = OpDependencyRule::Kind;
  switch (op) {
    case Op::Conv2d:
      return {K::Couples,
              "output channels are the filters (weight and bias dim 0), input channels the "
              "weight's dim 1; a depthwise conv couples its input and output channels; other "
              "grouped convolutions block theirs"};
    case Op::Linear:
      return {K::Couples,
              "output features are the weight's dim 0 and the bias, input features "
              "the weight's dim 1"};
    case Op::BatchNorm:
      return {K::Couples, "input, output and the four per-channel vectors share channels"};
    case Op::Relu:
    case Op::LeakyRelu:
    case Op::Sigmoid:
    case Op::Tanh:
    case Op::Exp:
    case Op::Abs:
    case Op::Sign:
    case Op::Clamp:
    case Op::Clone:
    case Op::Scale:
    case Op::AddScalar:
    case Op::MaxPool2d:
    case Op::AvgPool2d:
    case Op::GlobalAvgPool2d:
      return {K::Couples, "channel-wise: output channel c is made from input channel c only"};
    case Op::Add:
    case Op::Sub:
    case Op::Mul:
    case Op::Div:
      return {K::Couples,
              "broadcast operands share the output's channels; an add or sub of two "
              "uncoupled input-carrying operands is a residual join"};
    case Op::SoftMask:
      return {K::Couples, "the mask's entry c scales channel c"};
    case Op::AllReduceSum:
      return {K::Couples, "a sum over ranks of one tensor: output channel c is input channel c"};
    case Op::Concat:
      return {K::Couples,
              "along the channels each input keeps its channels at its offset; "
              "along another dimension inputs and output share channels"};
    case Op::Narrow:
      return {K::Couples,
              "along the channels output channel c is input channel start + c; along "
              "another dimension input and output share channels"};
    case Op::IndexSelect:
      return {K::Couples,
              "along another dimension than the channels input and output share "
              "channels; along the channels it blocks them (an index may repeat or "
              "reorder channels, so an output channel has no single source)"};
    case Op::Reshape:
      return {K::Couples,
              "keeping (N, C) or flattening (N, C, H, W) to (N, C*H*W) maps channels "
              "through; any other reshape blocks the channels it mixes"};
    case Op::Matmul:
      return {K::Blocks, "a product of two activations has no filters to remove"};
    case Op::Softmax:
    case Op::LogSoftmax:
      return {K::Blocks, "it normalises over the channels, so removing one changes every other"};
    case Op::NllLoss:
    case Op::BceWithLogits:
      return {K::Blocks, "a loss reads the network output, whose channels are the classes"};
    case Op::SumTo:
      return {K::Blocks, "it reduces a broadcast gradient and appears in backward passes only"};
    case Op::Count:
      break;
  }
  return {K::Blocks, "not an op"};
}

DependencyGraph DependencyGraph::build(nn::Module& model, const Shape& input_chw) {
  std::map<const TensorImpl*, std::string> names;
  std::vector<std::string> order;
  for (auto& [name, t] : model.state_dict()) {
    names[t.id()] = name;
    order.push_back(name);
  }
  Device device = Device::cpu();
  for (auto& [name, t] : model.named_parameters()) device = t.device();

  const bool was_training = model.is_training();
  model.eval();
  std::vector<OpRecord> records;
  Tensor input, output;
  {
    NoGrad no_grad;
    TraceScope trace;
    input =
        Tensor::zeros({1, input_chw.at(0), input_chw.at(1), input_chw.at(2)}, DType::F32, device);
    output = model.forward(input);
    records = trace.records();
  }
  model.train(was_training);

  Builder b(names);
  for (const OpRecord& r : records) b.produced(r.output);
  b.mark(b.act(input), Kind::Input);
  // Tensors that depend on the network input (not only on parameters and constants).
  std::set<const TensorImpl*> dependent{input.id()};

  for (const OpRecord& r : records) {
    const std::string& op = r.name;
    const Tensor& out = r.output;
    auto in = [&](std::size_t i) -> const Tensor& { return r.inputs.at(i); };
    for (const Tensor& t : r.inputs)
      if (t.defined() && dependent.count(t.id())) dependent.insert(out.id());
    // Blocks the channels of every tensor the op touches, naming the op and why.
    auto block_all = [&](const std::string& why) {
      const std::string reason = "unsupported op " + op + ": " + why;
      for (const Tensor& t : r.inputs) {
        if (t.defined() && t.dim() >= 1) b.block(b.act(t), reason);
      }
      b.block(b.act(out), reason);
    };

    // One case per op of engine/autograd/op_table.h and no default: an op added to the table
    // without a rule here fails to compile (-Wswitch). dependency_rule() below states each rule.
    switch (r.op) {
      case Op::Conv2d: {
        const Tensor& x = in(0);
        const Tensor& w = in(1);
        std::int64_t groups = attr(r, "groups", 1);
        int o = b.act(out), wo = b.node(w, 0);
        b.link_all(o, wo);
        if (r.inputs.size() > 2 && in(2).defined()) b.link_all(o, b.node(in(2), 0));
        if (groups == 1) {
          b.link_all(b.act(x), b.node(w, 1));
        } else if (groups == x.size(1) && groups == out.size(1) && w.size(1) == 1) {
          b.link_all(b.act(x), o);  // depthwise: input channel c makes output channel c
        } else {
          b.link_all(b.act(x), b.node(w, 1));
          b.block(o, "grouped convolution " + names[w.id()]);
          b.block(b.act(x), "grouped convolution " + names[w.id()]);
        }
        break;
      }
      case Op::Linear: {
        int o = b.act(out);
        b.link_all(o, b.node(in(1), 0));
        if (r.inputs.size() > 2 && in(2).defined()) b.link_all(o, b.node(in(2), 0));
        b.link_all(b.act(in(0)), b.node(in(1), 1));
        break;
      }
      case Op::BatchNorm: {
        int x = b.act(in(0)), o = b.act(out);
        b.link_all(x, o);
        for (std::size_t i = 1; i < r.inputs.size(); ++i) {
          if (in(i).defined()) b.link_all(o, b.node(in(i), 0));
        }
        break;
      }
      case Op::Relu:
      case Op::LeakyRelu:
      case Op::Sigmoid:
      case Op::Tanh:
      case Op::Exp:
      case Op::Abs:
      case Op::Sign:
      case Op::Clamp:
      case Op::Clone:
      case Op::Scale:
      case Op::AddScalar:
      case Op::MaxPool2d:
      case Op::AvgPool2d:
      case Op::GlobalAvgPool2d:
      case Op::AllReduceSum:
        b.link_all(b.act(in(0)), b.act(out));
        break;
      case Op::Add:
      case Op::Sub:
      case Op::Mul:
      case Op::Div: {
        int o = b.act(out);
        // A residual join: an add of operands that carry the input and were not coupled before
        // (a block's output and its shortcut). A constant-input term or a shortcut's zero padding
        // does not carry the input; relu6 = relu(x) - relu(x - 6) joins two views of one tensor.
        std::vector<int> operands, carried;
        for (const Tensor& t : r.inputs) {
          if (!t.defined()) continue;
          // Right-aligned broadcasting: the operand's dimension facing the output's channels.
          int d = t.dim() - (out.dim() - 1);
          if (d < 0 || t.size(d) == 1) continue;
          int n = b.node(t, d);
          operands.push_back(n);
          if ((r.op == Op::Add || r.op == Op::Sub) && dependent.count(t.id())) carried.push_back(n);
        }
        bool join = false;
        for (std::size_t i = 1; i < carried.size(); ++i) join |= !b.coupled(carried[0], carried[i]);
        for (int n : operands) b.link_all(n, o);
        if (join) b.mark_residual(o);
        break;
      }
      case Op::SoftMask: {
        int o = b.act(out);
        b.link_all(b.act(in(0)), o);
        b.link_all(b.node(in(1), 0), o);
        break;
      }
      case Op::Concat:
        if (attr(r, "dim", 0) == 1) {
          int o = b.act(out);
          std::int64_t offset = 0;
          for (const Tensor& t : r.inputs) {
            int n = b.act(t);
            for (std::int64_t c = 0; c < t.size(1); ++c) b.link(n, c, o, offset + c);
            offset += t.size(1);
          }
        } else {
          for (const Tensor& t : r.inputs)
            if (t.defined() && t.dim() == out.dim()) b.link_all(b.act(t), b.act(out));
        }
        break;
      case Op::Narrow:
        if (attr(r, "dim", 1) != 1) {
          for (const Tensor& t : r.inputs)
            if (t.defined() && t.dim() == out.dim()) b.link_all(b.act(t), b.act(out));
        } else {
          int n = b.act(in(0)), o = b.act(out);
          std::int64_t start = attr(r, "start", 0);
          for (std::int64_t c = 0; c < out.size(1); ++c) b.link(n, start + c, o, c);
        }
        break;
      case Op::IndexSelect:
        if (attr(r, "dim", 1) != 1) {
          for (const Tensor& t : r.inputs)
            if (t.defined() && t.dim() == out.dim()) b.link_all(b.act(t), b.act(out));
        } else {
          block_all("along the channels an index may repeat or reorder them");
        }
        break;
      case Op::Reshape: {
        const Tensor& x = in(0);
        if (x.dim() >= 2 && out.dim() >= 2 && x.size(1) == out.size(1) &&
            x.size(0) == out.size(0)) {
          b.link_all(b.act(x), b.act(out));
        } else if (x.dim() == 4 && out.dim() == 2 &&
                   out.size(1) == x.size(1) * x.size(2) * x.size(3)) {
          // flatten: feature f of the output is channel f / (H*W) of the input.
          std::int64_t hw = x.size(2) * x.size(3);
          int n = b.act(x), o = b.act(out);
          for (std::int64_t f = 0; f < out.size(1); ++f) b.link(n, f / hw, o, f);
        } else {
          b.block(b.act(x), "reshape " + shape_str(x.shape()) + " -> " + shape_str(out.shape()));
          b.block(b.act(out), "reshape " + shape_str(x.shape()) + " -> " + shape_str(out.shape()));
        }
        break;
      }
      case Op::Matmul:
      case Op::Softmax:
      case Op::LogSoftmax:
      case Op::NllLoss:
      case Op::BceWithLogits:
      case Op::SumTo:
        block_all(dependency_rule(r.op).rule);
        break;
      case Op::Count:
        SHEARS_CHECK(false, "dependency graph: a trace record without an op (", op, ")");
    }
  }
  b.mark(b.act(output), Kind::Output);

  DependencyGraph graph;
  graph.groups_ = b.finish();
  // Order groups by the first producer's position in the network, members likewise.
  std::map<std::string, std::size_t> rank;
  for (std::size_t i = 0; i < order.size(); ++i) rank[order[i]] = i;
  for (Group& g : graph.groups_) {
    std::stable_sort(g.members.begin(), g.members.end(), [&](const Member& a, const Member& b2) {
      return std::make_pair(rank[a.name], a.dim) < std::make_pair(rank[b2.name], b2.dim);
    });
    for (const Member& m : g.members) {
      bool weight = m.name.size() > 7 && m.name.compare(m.name.size() - 7, 7, ".weight") == 0;
      const Tensor& t = model.tensor_at(m.name);
      if (m.dim == 0 && weight && t.dim() >= 2) g.producers.push_back(m.name);
    }
  }
  std::stable_sort(graph.groups_.begin(), graph.groups_.end(), [&](const Group& a, const Group& c) {
    auto first = [&](const Group& g) {
      return g.members.empty() ? order.size() : rank[g.members.front().name];
    };
    return first(a) < first(c);
  });
  for (std::size_t i = 0; i < graph.groups_.size(); ++i) graph.groups_[i].id = static_cast<int>(i);
  return graph;
}

const Group* DependencyGraph::group_of(const std::string& producer) const {
  for (const Group& g : groups_)
    if (g.member(producer, 0)) return &g;
  return nullptr;
}

std::string DependencyGraph::to_string() const {
  std::ostringstream out;
  for (const Group& g : groups_) {
    std::int64_t blocked = std::count(g.blocked.begin(), g.blocked.end(), true);
    out << "group " << g.id << ": " << g.size << " channels";
    if (g.residual) out << ", residual";
    if (blocked) out << ", " << blocked << " blocked (" << g.blocked_reason << ")";
    out << "\n  producers:";
    for (const auto& p : g.producers) out << " " << p;
    out << "\n  members:";
    for (const Member& m : g.members) out << " " << m.name << "[" << m.dim << "]";
    out << "\n";
  }
  return out.str();
}

KeepMap keep_map(const DependencyGraph& graph, const PrunePlan& plan, const nn::Module& model) {
  (void)model;
  KeepMap keep;
  for (const auto& [gid, removed] : plan) {
    SHEARS_CHECK(gid >= 0 && gid < static_cast<int>(graph.groups().size()), "prune plan: no group ",
                 gid);
    const Group& g = graph.groups()[static_cast<std::size_t>(gid)];
    std::vector<bool> drop(static_cast<std::size_t>(g.size), false);
    for (std::int64_t k : removed) {
      SHEARS_CHECK(k >= 0 && k < g.size, "prune plan: channel ", k, " out of range for group ", gid,
                   " of ", g.size, " channels");
      SHEARS_CHECK(!g.blocked[static_cast<std::size_t>(k)], "prune plan: channel ", k, " of group ",
                   gid, " cannot be removed (", g.blocked_reason, ")");
      drop[static_cast<std::size_t>(k)] = true;
    }
    SHEARS_CHECK(static_cast<std::int64_t>(std::count(drop.begin(), drop.end(), true)) < g.size,
                 "prune plan removes every channel of group ", gid);
    for (const Member& m : g.members) {
      std::set<std::int64_t> dropped;
      std::int64_t extent = 0;
      for (std::size_t k = 0; k < m.positions.size(); ++k) {
        for (std::int64_t p : m.positions[k]) {
          extent = std::max(extent, p + 1);
          if (drop[k]) dropped.insert(p);
        }
      }
      auto& kept = keep[m.name][m.dim];
      SHEARS_CHECK(kept.empty(), "prune plan: ", m.name, " dimension ", m.dim,
                   " belongs to two groups");
      for (std::int64_t p = 0; p < extent; ++p)
        if (!dropped.count(p)) kept.push_back(p);
    }
  }
  return keep;
}

}  // namespace shears::pruning
