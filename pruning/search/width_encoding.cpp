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
  if (base.name == "mobilenetv2") {
    e.base = mobilenetv2_supernet_arch(base.num_classes, base.input);
    const models::Arch& a = e.base;
    WidthGene stem{"stem", WidthGene::Kind::Stage, a.width("features.0.0"), {"features.0.0"}};
    e.genes.push_back(stem);
    int n = 1;
    for (int s = 0; s < kMobileNetV2Stages; ++s) {
      WidthGene g;
      g.name = "stage" + std::to_string(s + 1);
      for (int b = 0; b < kMobileNetV2Blocks[s]; ++b, ++n)
        g.layers.push_back("features." + std::to_string(n) + ".conv.2");
      g.max = a.width(g.layers.front());
      e.genes.push_back(g);
    }
    for (n = 1; n <= 17; ++n) {
      const std::string p = "features." + std::to_string(n);
      WidthGene g{p + ".mid", WidthGene::Kind::Mid, a.width(p + ".conv.0.0"), {p + ".conv.0.0"}};
      e.genes.push_back(g);
    }
    e.layers.push_back({"features.0.0", 0, -1});
    e.layers.push_back({"features.0.1", 0, -1});
    int prev = 0;
    n = 1;
    for (int s = 0; s < kMobileNetV2Stages; ++s)
      for (int b = 0; b < kMobileNetV2Blocks[s]; ++b, ++n) {
        const std::string p = "features." + std::to_string(n) + ".conv.";
        const int mid = kMobileNetV2Stages + n, out = 1 + s;
        e.layers.push_back({p + "0.0", mid, prev});
        e.layers.push_back({p + "0.1", mid, -1});
        e.layers.push_back({p + "1.0", mid, -1});  // depthwise: (mid, 1, 3, 3)
        e.layers.push_back({p + "1.1", mid, -1});
        e.layers.push_back({p + "2", out, mid});
        e.layers.push_back({p + "3", out, -1});
        prev = out;
      }
    e.layers.push_back({"features.18.0", -1, prev});
    return e;
  }
  throw ConfigError("metapruning: no width encoding for '" + base.name +
                    "' (known: resnet20, resnet32, resnet44, resnet56, resnet110, resnet50, "
                    "mobilenetv2)");
}

models::Arch mobilenetv2_supernet_arch(std::int64_t num_classes, const Shape& input) {
  models::Arch a;
  a.name = "mobilenetv2";
  a.num_classes = num_classes;
  a.input = input;
  a.width_mult = 1.4;
  a.widths.emplace_back("features.0.0", 44);
  std::int64_t in = 44;
  int n = 1;
  for (int s = 0; s < kMobileNetV2Stages; ++s)
    for (int b = 0; b < kMobileNetV2Blocks[s]; ++b, ++n) {
      const std::string p = "features." + std::to_string(n);
      a.widths.emplace_back(p + ".conv.0.0", n == 1 ? in : 6 * in);
      a.widths.emplace_back(p + ".conv.2", kMobileNetV2StageWidths[s]);
      in = kMobileNetV2StageWidths[s];
    }
  a.widths.emplace_back("features.18.0", 1280);
  return a;
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
  for (std::size_t i = 0; i < report.layers.size(); ++i) {
    const LayerCost& l = report.layers[i];
    const LayerGeometry& g = report.geometry[i];
    layers_.push_back(scaled_of(l.name, l.macs, 2));
    Traced t{l.op,      l.weight_shape, g.input_shape,      g.stride,
             g.padding, g.groups,       layers_.back().out, layers_.back().in};
    // A depthwise conv's weight (C, 1, K, K) has no input dimension to scale.
    if (g.groups > 1) t.in = -1;
    traced_.push_back(t);
  }
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

std::vector<LayerShape> EncodingCost::layer_shapes(const std::vector<int>& code,
                                                   std::int64_t batch) const {
  const std::vector<std::int64_t> widths = encoding_.widths(code);
  auto width = [&](int gene, std::int64_t fixed) {
    return gene >= 0 ? widths[static_cast<std::size_t>(gene)] : fixed;
  };
  std::vector<LayerShape> out;
  for (const Traced& t : traced_) {
    LayerShape s;
    s.op = t.op;
    s.batch = batch;
    s.out_channels = width(t.out, t.weight[0]);
    if (t.op == "linear") {
      s.in_channels = width(t.in, t.weight[1]);
    } else {
      s.kernel = static_cast<int>(t.weight[2]);
      s.stride = t.stride;
      s.padding = t.padding;
      s.height = t.input[1];
      s.width = t.input[2];
      if (t.groups > 1 && t.weight[1] == 1) {  // depthwise: one group per channel
        s.groups = s.out_channels;
        s.in_channels = s.out_channels;
      } else {
        SHEARS_CHECK(t.groups == 1, "encoding cost: grouped conv with ", t.groups,
                     " groups is not depthwise");
        s.in_channels = width(t.in, t.weight[1]);
      }
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace shears::pruning::search
