#include "models/vgg_cifar.h"

#include <vector>

#include "engine/nn/linear.h"
#include "engine/ops/pooling.h"
#include "engine/ops/shape.h"
#include "kernels/common/error.h"

namespace shears::models {

namespace {

constexpr std::int64_t kPool = 0;  // a max-pool in the layer list
constexpr std::int64_t kHidden = 512;

std::vector<std::int64_t> layer_list(int depth) {
  if (depth == 16) {
    return {64,    64,  kPool, 128, 128,   kPool, 256, 256, 256,
            kPool, 512, 512,   512, kPool, 512,   512, 512};
  }
  if (depth == 19) {
    return {64,    64,  kPool, 128, 128, kPool, 256, 256, 256, 256,
            kPool, 512, 512,   512, 512, kPool, 512, 512, 512, 512};
  }
  throw ConfigError("CIFAR VGG depth " + std::to_string(depth) + " is not 16 or 19");
}

int vgg_depth(const std::string& name) {
  if (name == "vgg16") return 16;
  if (name == "vgg19") return 19;
  throw ConfigError("'" + name + "' is not a CIFAR VGG (vgg16, vgg19)");
}

// Visits the layer list with the Sequential index each entry gets: conv, BN and ReLU take three
// slots, a pool one.
template <typename F>
void for_each_layer(int depth, F&& f) {
  std::int64_t index = 0;
  for (std::int64_t v : layer_list(depth)) {
    f(v, index);
    index += v == kPool ? 1 : 3;
  }
}

}  // namespace

Arch vgg_cifar_arch(int depth, std::int64_t num_classes, const Shape& input, double width_mult) {
  Arch arch;
  arch.name = "vgg" + std::to_string(depth);
  arch.num_classes = num_classes;
  arch.input = input;
  arch.width_mult = width_mult;
  for_each_layer(depth, [&](std::int64_t v, std::int64_t index) {
    if (v != kPool) {
      arch.widths.emplace_back("features." + std::to_string(index), detail::scaled(v, width_mult));
    }
  });
  arch.widths.emplace_back("classifier.0", detail::scaled(kHidden, width_mult));
  return arch;
}

VggCifar::VggCifar(const Arch& arch) : base_(arch) {
  const int depth = vgg_depth(arch.name);
  if (arch.input.size() != 3) {
    throw ConfigError("architecture '" + arch.name + "': input must be {C, H, W}");
  }
  detail::check_width_keys(arch, vgg_cifar_arch(depth, arch.num_classes, arch.input));
  features = register_module("features", std::make_shared<nn::Sequential>());
  std::int64_t in = arch.input[0];
  for_each_layer(depth, [&](std::int64_t v, std::int64_t index) {
    if (v == kPool) {
      features->push_back(std::make_shared<nn::MaxPool2d>(2, 2));
      return;
    }
    const std::int64_t out = arch.width("features." + std::to_string(index));
    features->push_back(detail::conv(in, out, 3));
    features->push_back(detail::bn(out));
    features->push_back(std::make_shared<nn::ReLU>());
    in = out;
  });
  const std::int64_t hidden = arch.width("classifier.0");
  classifier = register_module("classifier", std::make_shared<nn::Sequential>());
  classifier->push_back(std::make_shared<nn::Linear>(in, hidden));
  classifier->push_back(detail::bn(hidden));
  classifier->push_back(std::make_shared<nn::ReLU>());
  classifier->push_back(std::make_shared<nn::Linear>(hidden, arch.num_classes));
}

Tensor VggCifar::forward(const Tensor& x) {
  return classifier->forward(flatten(global_avg_pool2d(features->forward(x)), 1));
}

Arch VggCifar::arch() const {
  Arch a = base_;
  a.widths.clear();
  for (std::size_t i = 0; i < features->size(); ++i) {
    if (const auto* c = dynamic_cast<const nn::Conv2d*>(&(*features)[i])) {
      if (i == 0) a.input[0] = c->in_channels();
      a.widths.emplace_back("features." + std::to_string(i), c->out_channels());
    }
  }
  const auto& hidden = static_cast<const nn::Linear&>((*classifier)[0]);
  a.widths.emplace_back("classifier.0", hidden.out_features());
  a.num_classes = static_cast<const nn::Linear&>((*classifier)[3]).out_features();
  return a;
}

}  // namespace shears::models
