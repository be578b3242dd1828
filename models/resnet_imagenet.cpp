#include "models/resnet_imagenet.h"

#include <set>

#include "engine/ops/activation.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/pooling.h"
#include "engine/ops/shape.h"
#include "kernels/common/error.h"

namespace shears::models {

namespace {

struct Spec {
  bool bottleneck;
  int blocks[4];
};

Spec spec_of(int depth) {
  switch (depth) {
    case 18:
      return {false, {2, 2, 2, 2}};
    case 34:
      return {false, {3, 4, 6, 3}};
    case 50:
      return {true, {3, 4, 6, 3}};
    default:
      throw ConfigError("ImageNet ResNet depth " + std::to_string(depth) + " is not 18, 34 or 50");
  }
}

int imagenet_depth(const std::string& name) {
  if (name == "resnet18") return 18;
  if (name == "resnet34") return 34;
  if (name == "resnet50") return 50;
  throw ConfigError("'" + name + "' is not an ImageNet ResNet (resnet18, resnet34, resnet50)");
}

std::string block_path(int stage, int block) {
  return "layer" + std::to_string(stage + 1) + "." + std::to_string(block);
}

std::shared_ptr<nn::Sequential> projection(std::int64_t in, std::int64_t out, int stride) {
  auto ds = std::make_shared<nn::Sequential>();
  ds->push_back(detail::conv(in, out, 1, stride));
  ds->push_back(detail::bn(out));
  return ds;
}

Tensor join(const Tensor& out, const Tensor& x, const std::shared_ptr<nn::Sequential>& ds,
            const char* block) {
  Tensor identity = ds ? ds->forward(x) : x;
  if (identity.size(1) != out.size(1)) {
    throw ShapeError(std::string(block) + ": identity shortcut joins " +
                     std::to_string(identity.size(1)) + " input channels to " +
                     std::to_string(out.size(1)) + " output channels");
  }
  return relu(add(out, identity));
}

}  // namespace

BasicBlock::BasicBlock(std::int64_t in, std::int64_t mid, std::int64_t out, int stride,
                       bool with_projection) {
  conv1 = register_module("conv1", detail::conv(in, mid, 3, stride));
  bn1 = register_module("bn1", detail::bn(mid));
  conv2 = register_module("conv2", detail::conv(mid, out, 3));
  bn2 = register_module("bn2", detail::bn(out));
  if (with_projection) downsample = register_module("downsample", projection(in, out, stride));
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = relu(bn1->forward(conv1->forward(x)));
  out = bn2->forward(conv2->forward(out));
  return join(out, x, downsample, "BasicBlock");
}

Bottleneck::Bottleneck(std::int64_t in, std::int64_t mid1, std::int64_t mid2, std::int64_t out,
                       int stride, bool with_projection) {
  conv1 = register_module("conv1", detail::conv(in, mid1, 1));
  bn1 = register_module("bn1", detail::bn(mid1));
  conv2 = register_module("conv2", detail::conv(mid1, mid2, 3, stride));
  bn2 = register_module("bn2", detail::bn(mid2));
  conv3 = register_module("conv3", detail::conv(mid2, out, 1));
  bn3 = register_module("bn3", detail::bn(out));
  if (with_projection) downsample = register_module("downsample", projection(in, out, stride));
}

Tensor Bottleneck::forward(const Tensor& x) {
  Tensor out = relu(bn1->forward(conv1->forward(x)));
  out = relu(bn2->forward(conv2->forward(out)));
  out = bn3->forward(conv3->forward(out));
  return join(out, x, downsample, "Bottleneck");
}

ResNetShortcutBlock::ResNetShortcutBlock(std::int64_t in, std::int64_t out, int stride,
                                         bool with_projection)
    : out_(out), stride_(stride) {
  if (with_projection) downsample = register_module("downsample", projection(in, out, stride));
}

Tensor ResNetShortcutBlock::forward(const Tensor& x) {
  // relu(0 + x) == x for the non-negative input every block receives; the projection's BN
  // output can be negative, so it keeps the ReLU.
  if (downsample) return relu(downsample->forward(x));
  if (x.size(1) != out_) {
    throw ShapeError("ShortcutBlock: identity shortcut joins " + std::to_string(x.size(1)) +
                     " input channels to " + std::to_string(out_) + " output channels");
  }
  return x;
}

std::string ResNetShortcutBlock::extra_repr() const {
  return "out=" + std::to_string(out_) + ", stride=" + std::to_string(stride_) +
         (downsample ? ", projection" : ", identity");
}

Arch resnet_imagenet_arch(int depth, std::int64_t num_classes, const Shape& input,
                          double width_mult) {
  const Spec spec = spec_of(depth);
  Arch arch;
  arch.name = "resnet" + std::to_string(depth);
  arch.num_classes = num_classes;
  arch.input = input;
  arch.width_mult = width_mult;
  arch.widths.emplace_back("conv1", detail::scaled(64, width_mult));
  for (int s = 0; s < 4; ++s) {
    const std::int64_t planes = detail::scaled(64 << s, width_mult);
    for (int b = 0; b < spec.blocks[s]; ++b) {
      const std::string path = block_path(s, b);
      arch.widths.emplace_back(path + ".conv1", planes);
      if (spec.bottleneck) {
        arch.widths.emplace_back(path + ".conv2", planes);
        arch.widths.emplace_back(path + ".conv3", planes * 4);
      } else {
        arch.widths.emplace_back(path + ".conv2", planes);
      }
    }
  }
  return arch;
}

ResNetImageNet::ResNetImageNet(const Arch& arch) : base_(arch) {
  const int depth = imagenet_depth(arch.name);
  const Spec spec = spec_of(depth);
  bottleneck_ = spec.bottleneck;
  if (arch.input.size() != 3) {
    throw ConfigError("architecture '" + arch.name + "': input must be {C, H, W}");
  }
  detail::check_width_keys(arch, resnet_imagenet_arch(depth, arch.num_classes, arch.input));
  std::set<std::string> removed(arch.removed.begin(), arch.removed.end());
  for (const std::string& r : arch.removed) {
    bool found = false;
    for (int s = 0; s < 4; ++s)
      for (int b = 0; b < spec.blocks[s]; ++b) found = found || r == block_path(s, b);
    if (!found) {
      throw ConfigError("architecture '" + arch.name + "': removed entry '" + r +
                        "' names no block (layerS.B)");
    }
  }
  conv1 = register_module("conv1", detail::conv(arch.input[0], arch.width("conv1"), 7, 2));
  bn1 = register_module("bn1", detail::bn(arch.width("conv1")));
  std::int64_t in = arch.width("conv1");
  for (int s = 0; s < 4; ++s) {
    auto stage = std::make_shared<nn::Sequential>();
    for (int b = 0; b < spec.blocks[s]; ++b) {
      const std::string path = block_path(s, b);
      const int stride = (s > 0 && b == 0) ? 2 : 1;
      // torchvision adds a projection where stride != 1 or the standard input width differs
      // from the block's output width: the first block of every stage but ResNet-18/34's first.
      const bool with_projection = b == 0 && (s > 0 || spec.bottleneck);
      if (removed.count(path)) {
        const std::int64_t out = arch.width(path + (spec.bottleneck ? ".conv3" : ".conv2"));
        if (!with_projection) detail::check_identity(arch.name, path, in, out);
        stage->push_back(std::make_shared<ResNetShortcutBlock>(in, out, stride, with_projection));
        in = out;
      } else if (spec.bottleneck) {
        const std::int64_t out = arch.width(path + ".conv3");
        if (!with_projection) detail::check_identity(arch.name, path, in, out);
        stage->push_back(std::make_shared<Bottleneck>(in, arch.width(path + ".conv1"),
                                                      arch.width(path + ".conv2"), out, stride,
                                                      with_projection));
        in = out;
      } else {
        const std::int64_t out = arch.width(path + ".conv2");
        if (!with_projection) detail::check_identity(arch.name, path, in, out);
        stage->push_back(std::make_shared<BasicBlock>(in, arch.width(path + ".conv1"), out, stride,
                                                      with_projection));
        in = out;
      }
    }
    layers.push_back(register_module("layer" + std::to_string(s + 1), stage));
  }
  fc = register_module("fc", std::make_shared<nn::Linear>(in, arch.num_classes));
}

Tensor ResNetImageNet::forward(const Tensor& x) {
  Tensor h = relu(bn1->forward(conv1->forward(x)));
  h = max_pool2d(h, 3, 2, 1);
  for (auto& stage : layers) h = stage->forward(h);
  return fc->forward(flatten(global_avg_pool2d(h), 1));
}

Arch ResNetImageNet::arch() const {
  Arch a = base_;
  a.widths.clear();
  a.removed.clear();
  a.input[0] = conv1->in_channels();
  a.num_classes = fc->out_features();
  a.widths.emplace_back("conv1", conv1->out_channels());
  for (std::size_t s = 0; s < layers.size(); ++s) {
    for (std::size_t b = 0; b < layers[s]->size(); ++b) {
      const std::string path = block_path(static_cast<int>(s), static_cast<int>(b));
      if (const auto* cut = dynamic_cast<const ResNetShortcutBlock*>(&(*layers[s])[b])) {
        // A removed block's entries all equal its output width (arch.h).
        a.widths.emplace_back(path + ".conv1", cut->out_channels());
        a.widths.emplace_back(path + ".conv2", cut->out_channels());
        if (bottleneck_) a.widths.emplace_back(path + ".conv3", cut->out_channels());
        a.removed.push_back(path);
        continue;
      }
      if (bottleneck_) {
        const auto& block = static_cast<const Bottleneck&>((*layers[s])[b]);
        a.widths.emplace_back(path + ".conv1", block.conv1->out_channels());
        a.widths.emplace_back(path + ".conv2", block.conv2->out_channels());
        a.widths.emplace_back(path + ".conv3", block.conv3->out_channels());
      } else {
        const auto& block = static_cast<const BasicBlock&>((*layers[s])[b]);
        a.widths.emplace_back(path + ".conv1", block.conv1->out_channels());
        a.widths.emplace_back(path + ".conv2", block.conv2->out_channels());
      }
    }
  }
  return a;
}

}  // namespace shears::models
