#include "models/mobilenet_v2.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "engine/nn/batch_norm2d.h"
#include "engine/nn/conv2d.h"
#include "engine/nn/init.h"
#include "engine/nn/linear.h"
#include "engine/ops/activation.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/pooling.h"
#include "engine/ops/shape.h"
#include "kernels/common/error.h"

namespace shears::models {

namespace {

struct Stage {
  int t, c, n, s;
};
constexpr Stage kStages[] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                             {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
constexpr int kNumBlocks = 17;
constexpr int kLastIndex = kNumBlocks + 1;

// One block of the standard network: its features index, stride, expansion and whether it
// adds its input back (stride 1 and standard in == out, i.e. not the first of its stage).
struct BlockSpec {
  int index, stride, t;
  bool residual;
};

std::vector<BlockSpec> block_specs() {
  std::vector<BlockSpec> out;
  int index = 1;
  for (const Stage& st : kStages) {
    for (int i = 0; i < st.n; ++i) out.push_back({index++, i == 0 ? st.s : 1, st.t, i > 0});
  }
  return out;
}

std::string key(int index, const std::string& rest) {
  return "features." + std::to_string(index) + "." + rest;
}

// Whether block `b` has the 1x1 expansion conv: every block with t != 1, and the first block
// when the Arch lists a width for features.1.conv.0.0 (the variant with an expansion there).
bool expands(const BlockSpec& b, bool first_expands) {
  return b.t != 1 || (b.index == 1 && first_expands);
}

std::string project_key(const BlockSpec& b, bool expand) {
  return key(b.index, expand ? "conv.2" : "conv.1");
}

// Conv-BN-ReLU6 as torchvision's Conv2dNormActivation: children 0, 1, 2.
std::shared_ptr<nn::Sequential> conv_bn_relu6(std::int64_t in, std::int64_t out, int kernel,
                                              int stride, int groups = 1) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(detail::conv(in, out, kernel, stride, groups));
  seq->push_back(detail::bn(out));
  seq->push_back(std::make_shared<ReLU6>());
  return seq;
}

}  // namespace

Tensor relu6(const Tensor& x) { return sub(relu(x), relu(add_scalar(x, -6.0))); }

InvertedResidual::InvertedResidual(std::int64_t in, std::int64_t hidden, std::int64_t out,
                                   int stride, bool expand, bool residual)
    : residual_(residual) {
  conv = register_module("conv", std::make_shared<nn::Sequential>());
  if (expand) conv->push_back(conv_bn_relu6(in, hidden, 1, 1));
  conv->push_back(conv_bn_relu6(hidden, hidden, 3, stride, static_cast<int>(hidden)));
  conv->push_back(detail::conv(hidden, out, 1));
  conv->push_back(detail::bn(out));
}

Tensor InvertedResidual::forward(const Tensor& x) {
  Tensor y = conv->forward(x);
  if (!residual_) return y;
  if (y.size(1) != x.size(1)) {
    throw ShapeError("InvertedResidual: residual add joins " + std::to_string(x.size(1)) +
                     " input channels to " + std::to_string(y.size(1)) + " output channels");
  }
  return add(x, y);
}

std::string InvertedResidual::extra_repr() const { return residual_ ? "residual" : ""; }

std::int64_t make_divisible(double v, std::int64_t divisor) {
  const auto d = static_cast<double>(divisor);
  auto nv = static_cast<std::int64_t>(v + d / 2.0) / divisor * divisor;
  nv = std::max(divisor, nv);
  if (static_cast<double>(nv) < 0.9 * v) nv += divisor;
  return nv;
}

Arch mobilenet_v2_arch(std::int64_t num_classes, const Shape& input, double width_mult) {
  Arch arch;
  arch.name = "mobilenetv2";
  arch.num_classes = num_classes;
  arch.input = input;
  arch.width_mult = width_mult;
  std::int64_t in = make_divisible(32 * width_mult);
  arch.widths.emplace_back("features.0.0", in);
  const auto specs = block_specs();
  std::size_t next = 0;
  for (const Stage& st : kStages) {
    const std::int64_t out = make_divisible(st.c * width_mult);
    for (int i = 0; i < st.n; ++i, ++next) {
      const BlockSpec& b = specs[next];
      if (b.t != 1) {
        arch.widths.emplace_back(key(b.index, "conv.0.0"),
                                 std::llround(static_cast<double>(in) * b.t));
      }
      arch.widths.emplace_back(project_key(b, b.t != 1), out);
      in = out;
    }
  }
  arch.widths.emplace_back(key(kLastIndex, "0"), make_divisible(1280 * std::max(1.0, width_mult)));
  return arch;
}

MobileNetV2::MobileNetV2(const Arch& arch) : base_(arch) {
  if (arch.name != "mobilenetv2") throw ConfigError("'" + arch.name + "' is not mobilenetv2");
  if (arch.input.size() != 3) {
    throw ConfigError("architecture '" + arch.name + "': input must be {C, H, W}");
  }
  const bool first_expands = arch.has_width(key(1, "conv.0.0"));
  Arch expected = mobilenet_v2_arch(arch.num_classes, arch.input);
  if (first_expands) {
    for (auto& [k, w] : expected.widths)
      if (k == key(1, "conv.1")) k = key(1, "conv.2");
    expected.widths.insert(expected.widths.begin() + 1, {key(1, "conv.0.0"), 0});
  }
  detail::check_width_keys(arch, expected);
  features = register_module("features", std::make_shared<nn::Sequential>());
  std::int64_t in = arch.width("features.0.0");
  features->push_back(conv_bn_relu6(arch.input[0], in, 3, 2));
  for (const BlockSpec& b : block_specs()) {
    const bool expand = expands(b, first_expands);
    const std::int64_t hidden = expand ? arch.width(key(b.index, "conv.0.0")) : in;
    const std::int64_t out = arch.width(project_key(b, expand));
    if (b.residual) {
      detail::check_identity(arch.name, "features." + std::to_string(b.index), in, out);
    }
    features->push_back(
        std::make_shared<InvertedResidual>(in, hidden, out, b.stride, expand, b.residual));
    in = out;
  }
  const std::int64_t last = arch.width(key(kLastIndex, "0"));
  features->push_back(conv_bn_relu6(in, last, 1, 1));
  classifier = register_module("classifier", std::make_shared<nn::Sequential>());
  classifier->push_back(std::make_shared<nn::Dropout>(0.2));
  auto fc = std::make_shared<nn::Linear>(last, arch.num_classes);
  nn::init::normal_(fc->weight, 0.0, 0.01);
  fc->bias.fill_(0.0);
  classifier->push_back(fc);
}

Tensor MobileNetV2::forward(const Tensor& x) {
  return classifier->forward(flatten(global_avg_pool2d(features->forward(x)), 1));
}

std::string MobileNetV2::extra_repr() const {
  return "width_mult=" + std::to_string(base_.width_mult);
}

Arch MobileNetV2::arch() const {
  std::map<std::string, const nn::Module*> modules;
  for (const auto& [path, m] : named_modules()) modules[path] = m;
  auto conv_at = [&](const std::string& path) -> const nn::Conv2d& {
    return static_cast<const nn::Conv2d&>(*modules.at(path));
  };
  Arch a = base_;
  a.widths.clear();
  a.input[0] = conv_at("features.0.0").in_channels();
  a.widths.emplace_back("features.0.0", conv_at("features.0.0").out_channels());
  // The first block expands when its Sequential has four children (expand, depthwise, project,
  // BN) instead of three.
  const bool first_expands = modules.count(key(1, "conv.3")) > 0;
  for (const BlockSpec& b : block_specs()) {
    const bool expand = expands(b, first_expands);
    if (expand) {
      const std::string k = key(b.index, "conv.0.0");
      a.widths.emplace_back(k, conv_at(k).out_channels());
    }
    a.widths.emplace_back(project_key(b, expand), conv_at(project_key(b, expand)).out_channels());
  }
  const std::string last = key(kLastIndex, "0");
  a.widths.emplace_back(last, conv_at(last).out_channels());
  a.num_classes = static_cast<const nn::Linear&>((*classifier)[1]).out_features();
  return a;
}

}  // namespace shears::models
