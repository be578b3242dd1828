#include "pruning/search/width_encoding.h"

#include <map>

#include "kernels/common/error.h"
#include "models/resnet_cifar.h"
#include "pruning/cost_model.h"

namespace shears::pruning::search {

double meta_scale(int index) { return (10.0 + 3.0 * index) / 100.0; }

std::int64_t meta_width(std::int64_t max, int index) {
  SHEARS_CHECK(index >= 0 && index < kMetaScales, "scale index ", index, " outside [0, ",
               kMetaScales, ")");
  return std::max<std::int64_t>(1, max * (10 + 3 * index) / 100);
}

models::Arch WidthEncoding::arch(const std::vector<int>& code) const {
  SHEARS_CHECK(code.size() == genes.size(), base.name, " encoding: ", code.size(),
               " genes given, the encoding has ", genes.size());
  models::Arch a = base;
  for (std::size_t g = 0; g < genes.size(); ++g) {
    const std::int64_t w = meta_width(genes[g].max, code[g]);
    for (const std::string& layer : genes[g].layers) a.set_width(layer, w);
  }
  return a;
}

std::vector<int> WidthEncoding::full() const {
  return std::vector<int>(genes.size(), kMetaScales - 1);
}

std::vector<std::int64_t> WidthEncoding::widths(const std::vector<int>& code) const {
  SHEARS_CHECK(code.size() == genes.size(), "encoding: wrong number of genes");
  std::vector<std::int64_t> w;
  for (std::size_t g = 0; g < genes.size(); ++g) w.push_back(meta_width(genes[g].max, code[g]));
  return w;
}

namespace {
std::string block(int stage, int b) {
  return "layer" + std::to_string(stage + 1) + "." + std::to_string(b);
}
}  // namespace

WidthEncoding width_encoding(const models::Arch& base) {
  WidthEncoding e;
  e.base = base;
  const int cifar_depth = models::resnet_cifar_depth(base.name);
  if (cifar_depth > 0) {
    const int n = (cifar_depth - 2) / 6;
    for (int s = 0; s < 3; ++s) {
      WidthGene g;
      g.name = "stage" + std::to_string(s + 1);
      g.kind = WidthGene::Kind::Stage;
      if (s == 0) g.layers.push_back("conv1");
      for (int b = 0; b < n; ++b) g.layers.push_back(block(s, b) + ".conv2");
      g.max = base.width(g.layers.back());
      e.genes.push_back(g);
    }
    for (int s = 0; s < 3; ++s)
      for (int b = 0; b < n; ++b) {
        WidthGene g;
        g.name = block(s, b) + ".mid";
        g.kind = WidthGene::Kind::Mid;
        g.layers = {block(s, b) + ".conv1"};
        g.max = base.width(g.layers.front());
        e.genes.push_back(g);
      }
    // Layers: the stem, then per block conv1 (mid from the previous output), conv2 (stage from
    // mid), their BNs, and the classifier's input.
    e.layers.push_back({"conv1", 0, -1});
    e.layers.push_back({"bn1", 0, -1});
    int prev = 0;
    for (int s = 0; s < 3; ++s)
      for (int b = 0; b < n; ++b) {
        const int mid = 3 + s * n + b;
        const std::string p = block(s, b);
        e.layers.push_back({p + ".conv1", mid, prev});
        e.layers.push_back({p + ".bn1", mid, -1});
        e.layers.push_back({p + ".conv2", s, mid});
        e.layers.push_back({p + ".bn2", s, -1});
        e.layers.push_back({p + ".downsample.0", s, prev});
        e.layers.push_back({p + ".downsample.1", s, -1});
        prev = s;
      }
    e.layers.push_back({"fc", -1, 2});
    return e;
  }
  if (base.name == "resnet50") {
    const int blocks[4] = {3, 4, 6, 3};
    WidthGene stem{"stem", WidthGene::Kind::Stage, base.width("conv1"), {"conv1"}};
    e.genes.push_back(stem);
    for (int s = 0; s < 3; ++s) {
      WidthGene g;
      g.name = "stage" + std::to_string(s + 1);
      for (int b = 0; b < blocks[s]; ++b) g.layers.push_back(block(s, b) + ".conv3");
      g.max = base.width(g.layers.front());
      e.genes.push_back(g);
    }
    for (int s = 0; s < 4; ++s)
      for (int b = 0; b < blocks[s]; ++b) {
        WidthGene g;
        g.name = block(s, b) + ".mid";
        g.kind = WidthGene::Kind::Mid;
        g.layers = {block(s, b) + ".conv1", block(s, b) + ".conv2"};
        g.max = base.width(g.layers.front());
        e.genes.push_back(g);
      }
    e.layers.push_back({"conv1", 0, -1});
    e.layers.push_back({"bn1", 0, -1});
    int prev = 0, mid = 4;
    for (int s = 0; s < 4; ++s)
      for (int b = 0; b < blocks[s]; ++b, ++mid) {
        const std::string p = block(s, b);
        const int out = s < 3 ? 1 + s : -1;
        e.layers.push_back({p + ".conv1", mid, prev});
        e.layers.push_back({p + ".bn1", mid, -1});
        e.layers.push_back({p + ".conv2", mid, mid});
        e.layers.push_back({p + ".bn2", mid, -1});
        e.layers.push_back({p + ".conv3", out, mid});
        e.layers.push_back({p + ".bn3", out, -1});
        e.layers.push_back({p + ".downsample.0", out, prev});
        e.layers.push_back({p + ".downsample.1", out, -1});
        prev = out;
      }
    return e;
  }
  throw ConfigError("metapruning: no width encoding for '" + base.name +
                    "' (known: resnet20, resnet32, resnet44, resnet56, resnet110, resnet50)");
}

EncodingCost::EncodingCost(nn::Module& full, const Shape& input_chw, const WidthEncoding& encoding)
    : encoding_(encoding) {
  std::map<std::string, const LayerGenes*> by_path;
  for (const LayerGenes& l : encoding.layers) by_path[l.path] = &l;
  auto scaled_of = [&](const std::string& param, std::int64_t base, int dims) {
    Scaled s;
    s.base = base;
    const auto dot = param.rfind('.');
    auto it = by_path.find(param.substr(0, dot));
    if (it == by_path.end()) return s;
    s.out = it->second->out;
    if (dims >= 2) s.in = it->second->in;
    return s;
  };
  CostReport report = count_cost(full, input_chw);
  for (const LayerCost& l : report.layers) layers_.push_back(scaled_of(l.name, l.macs, 2));
  for (const auto& [name, t] : full.named_parameters()) {
    Scaled s = scaled_of(name, t.numel(), t.dim());
    // A bias follows the output channels only.
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0) s.in = -1;
    // A classifier's output is the class count, never a gene.
    if (t.dim() == 2 || name.rfind("fc.", 0) == 0) s.out = -1;
    params_.push_back(s);
  }
  full_ = cost(encoding.full());
}

std::int64_t EncodingCost::scaled(const Scaled& s, const std::vector<std::int64_t>& widths) const {
  std::int64_t v = s.base;
  if (s.out >= 0)
    v = v / encoding_.genes[static_cast<std::size_t>(s.out)].max *
        widths[static_cast<std::size_t>(s.out)];
  if (s.in >= 0)
    v = v / encoding_.genes[static_cast<std::size_t>(s.in)].max *
        widths[static_cast<std::size_t>(s.in)];
  return v;
}

EncodingCost::Cost EncodingCost::cost(const std::vector<int>& code) const {
  const std::vector<std::int64_t> widths = encoding_.widths(code);
  Cost c;
  for (const Scaled& s : layers_) c.macs += scaled(s, widths);
  for (const Scaled& s : params_) c.params += scaled(s, widths);
  return c;
}

}  // namespace shears::pruning::search
