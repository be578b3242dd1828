#include "models/googlenet.h"

#include <set>

#include "engine/nn/batch_norm2d.h"
#include "engine/nn/conv2d.h"
#include "engine/ops/activation.h"
#include "engine/ops/pooling.h"
#include "engine/ops/shape.h"
#include "kernels/common/error.h"

namespace shears::models {

namespace {

constexpr const char* kNames[] = {"inception_a3", "inception_b3", "inception_a4",
                                  "inception_b4", "inception_c4", "inception_d4",
                                  "inception_e4", "inception_a5", "inception_b5"};
// n1x1, n3x3red, n3x3, n5x5red, n5x5 (middle and output), pool.
constexpr std::int64_t kConfig[9][6] = {
    {64, 96, 128, 16, 32, 32},     {128, 128, 192, 32, 96, 64},   {192, 96, 208, 16, 48, 64},
    {160, 112, 224, 24, 64, 64},   {128, 128, 256, 24, 64, 64},   {112, 144, 288, 32, 64, 64},
    {256, 160, 320, 32, 128, 128}, {256, 160, 320, 32, 128, 128}, {384, 192, 384, 48, 128, 128}};
constexpr const char* kLayers[7] = {"branch1x1.0", "branch3x3.0", "branch3x3.3",  "branch5x5.0",
                                    "branch5x5.3", "branch5x5.6", "branch_pool.1"};
constexpr std::int64_t kStem = 192;
constexpr const char* kBranches[4] = {"branch1x1", "branch3x3", "branch5x5", "branch_pool"};

std::shared_ptr<nn::Conv2d> conv_bias(std::int64_t in, std::int64_t out, int kernel) {
  nn::Conv2dOptions o;
  o.in_channels = in;
  o.out_channels = out;
  o.kernel = kernel;
  o.padding = (kernel - 1) / 2;
  o.bias = true;
  return std::make_shared<nn::Conv2d>(o);
}

// Appends conv-BN-ReLU to `seq`.
void conv_bn_relu(nn::Sequential& seq, std::int64_t in, std::int64_t out, int kernel) {
  seq.push_back(conv_bias(in, out, kernel));
  seq.push_back(detail::bn(out));
  seq.push_back(std::make_shared<nn::ReLU>());
}

std::int64_t out_of(const nn::Sequential& seq, std::size_t index) {
  return static_cast<const nn::Conv2d&>(seq[index]).out_channels();
}

}  // namespace

Inception::Inception(std::int64_t in, const std::array<std::int64_t, 7>& w,
                     const std::array<bool, 4>& removed) {
  if (!removed[0]) {
    branch1x1 = register_module("branch1x1", std::make_shared<nn::Sequential>());
    conv_bn_relu(*branch1x1, in, w[0], 1);
    out_ += w[0];
  }
  if (!removed[1]) {
    branch3x3 = register_module("branch3x3", std::make_shared<nn::Sequential>());
    conv_bn_relu(*branch3x3, in, w[1], 1);
    conv_bn_relu(*branch3x3, w[1], w[2], 3);
    out_ += w[2];
  }
  if (!removed[2]) {
    branch5x5 = register_module("branch5x5", std::make_shared<nn::Sequential>());
    conv_bn_relu(*branch5x5, in, w[3], 1);
    conv_bn_relu(*branch5x5, w[3], w[4], 3);
    conv_bn_relu(*branch5x5, w[4], w[5], 3);
    out_ += w[5];
  }
  if (!removed[3]) {
    branch_pool = register_module("branch_pool", std::make_shared<nn::Sequential>());
    branch_pool->push_back(std::make_shared<nn::MaxPool2d>(3, 1, 1));
    conv_bn_relu(*branch_pool, in, w[6], 1);
    out_ += w[6];
  }
  if (out_ == 0) throw ConfigError("Inception: all four branches removed");
}

Tensor Inception::forward(const Tensor& x) {
  std::vector<Tensor> parts;
  for (const auto* b : {&branch1x1, &branch3x3, &branch5x5, &branch_pool}) {
    if (*b) parts.push_back((*b)->forward(x));
  }
  return parts.size() == 1 ? parts[0] : concat(parts, 1);
}

Arch googlenet_arch(std::int64_t num_classes, const Shape& input, double width_mult) {
  Arch arch;
  arch.name = "googlenet";
  arch.num_classes = num_classes;
  arch.input = input;
  arch.width_mult = width_mult;
  arch.widths.emplace_back("pre_layers.0", detail::scaled(kStem, width_mult));
  for (int i = 0; i < 9; ++i) {
    const auto* c = kConfig[i];
    const std::int64_t w[7] = {c[0], c[1], c[2], c[3], c[4], c[4], c[5]};
    for (int k = 0; k < 7; ++k) {
      arch.widths.emplace_back(std::string(kNames[i]) + "." + kLayers[k],
                               detail::scaled(w[k], width_mult));
    }
  }
  return arch;
}

GoogLeNet::GoogLeNet(const Arch& arch) : base_(arch) {
  if (arch.name != "googlenet") throw ConfigError("'" + arch.name + "' is not googlenet");
  if (arch.input.size() != 3) {
    throw ConfigError("architecture '" + arch.name + "': input must be {C, H, W}");
  }
  detail::check_width_keys(arch, googlenet_arch(arch.num_classes, arch.input));
  std::set<std::string> removed(arch.removed.begin(), arch.removed.end());
  for (const std::string& r : arch.removed) {
    bool found = false;
    for (const char* inc : kNames)
      for (const char* b : kBranches) found = found || r == std::string(inc) + "." + b;
    if (!found) {
      throw ConfigError("architecture '" + arch.name + "': removed entry '" + r +
                        "' names no Inception branch (inception_X.branch1x1 / branch3x3 / "
                        "branch5x5 / branch_pool)");
    }
  }
  pre_layers = register_module("pre_layers", std::make_shared<nn::Sequential>());
  std::int64_t in = arch.width("pre_layers.0");
  conv_bn_relu(*pre_layers, arch.input[0], in, 3);
  for (int i = 0; i < 9; ++i) {
    std::array<std::int64_t, 7> w{};
    for (int k = 0; k < 7; ++k)
      w[static_cast<std::size_t>(k)] = arch.width(std::string(kNames[i]) + "." + kLayers[k]);
    std::array<bool, 4> gone{};
    for (int k = 0; k < 4; ++k)
      gone[static_cast<std::size_t>(k)] =
          removed.count(std::string(kNames[i]) + "." + kBranches[k]) > 0;
    if (gone[0] && gone[1] && gone[2] && gone[3]) {
      throw ConfigError("architecture '" + arch.name + "': all four branches of " + kNames[i] +
                        " are removed (an Inception keeps at least one)");
    }
    inceptions.push_back(register_module(kNames[i], std::make_shared<Inception>(in, w, gone)));
    in = inceptions.back()->out_channels();
  }
  linear = register_module("linear", std::make_shared<nn::Linear>(in, arch.num_classes));
}

Tensor GoogLeNet::forward(const Tensor& x) {
  Tensor h = pre_layers->forward(x);
  for (std::size_t i = 0; i < inceptions.size(); ++i) {
    h = inceptions[i]->forward(h);
    // The two stride-2 pools: after b3 and after e4.
    if (i == 1 || i == 6) h = max_pool2d(h, 3, 2, 1);
  }
  return linear->forward(flatten(global_avg_pool2d(h), 1));
}

Arch GoogLeNet::arch() const {
  Arch a = base_;
  a.widths.clear();
  a.input[0] = static_cast<const nn::Conv2d&>((*pre_layers)[0]).in_channels();
  a.num_classes = linear->out_features();
  a.widths.emplace_back("pre_layers.0", out_of(*pre_layers, 0));
  for (std::size_t i = 0; i < inceptions.size(); ++i) {
    const Inception& inc = *inceptions[i];
    const std::string p = std::string(kNames[i]) + ".";
    // A removed branch's entries stay as the architecture gave them.
    auto add = [&](const std::shared_ptr<nn::Sequential>& b, const char* layer, std::size_t k) {
      const std::string key = p + layer;
      a.widths.emplace_back(key, b ? out_of(*b, k) : base_.width(key));
    };
    add(inc.branch1x1, "branch1x1.0", 0);
    add(inc.branch3x3, "branch3x3.0", 0);
    add(inc.branch3x3, "branch3x3.3", 3);
    add(inc.branch5x5, "branch5x5.0", 0);
    add(inc.branch5x5, "branch5x5.3", 3);
    add(inc.branch5x5, "branch5x5.6", 6);
    add(inc.branch_pool, "branch_pool.1", 1);
  }
  return a;
}

}  // namespace shears::models
