#include "models/resnet_cifar.h"

#include <map>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/ops/activation.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/pooling.h"
#include "engine/ops/shape.h"
#include "kernels/common/error.h"

namespace shears::models {

namespace {

constexpr int kDepths[] = {20, 32, 44, 56, 110};
constexpr std::int64_t kStageWidths[] = {16, 32, 64};

std::string block_path(int stage, int block) {
  return "layer" + std::to_string(stage + 1) + "." + std::to_string(block);
}

// The index 0, stride, 2*stride, ... below `size` on `device`, built once per (device, size,
// stride) and kept: a GPU forward then uploads nothing. Index tensors are never written, so one
// copy serves every call; the cache is per thread, as tensors of a device are used by one
// training thread at a time.
const Tensor& every_nth_index(const Device& device, std::int64_t size, int stride) {
  thread_local std::map<std::tuple<int, int, std::int64_t, int>, Tensor> cache;
  const auto key = std::make_tuple(device.is_cpu() ? 0 : 1, device.index, size, stride);
  auto found = cache.find(key);
  if (found == cache.end()) {
    std::vector<std::int64_t> idx;
    for (std::int64_t i = 0; i < size; i += stride) idx.push_back(i);
    const auto n = static_cast<std::int64_t>(idx.size());
    found = cache.emplace(key, Tensor::from_vector(idx, {n}, device)).first;
  }
  return found->second;
}

// Rows (dim 2) or columns (dim 3) 0, stride, 2*stride, ... of x, as a recorded index_select.
Tensor every_nth(const Tensor& x, int dim, int stride) {
  return index_select(x, dim, every_nth_index(x.device(), x.size(dim), stride));
}

Tensor zeros_like_channels(const Tensor& x, std::int64_t channels) {
  return Tensor::zeros({x.size(0), channels, x.size(2), x.size(3)}, x.dtype(), x.device());
}

}  // namespace

Tensor zero_pad_shortcut(const Tensor& x, std::int64_t out_channels, int stride, Shortcut variant,
                         std::optional<std::int64_t> pad_front) {
  if (x.dim() != 4) {
    throw ShapeError("zero_pad_shortcut: input must be (N,C,H,W), got " + shape_str(x.shape()));
  }
  if (stride < 1 || out_channels < 1) {
    throw ShapeError("zero_pad_shortcut: stride " + std::to_string(stride) + " and width " +
                     std::to_string(out_channels) + " must be >= 1");
  }
  if (variant == Shortcut::Projection) {
    throw ShapeError("zero_pad_shortcut: option B (b-conv) has no zero-pad shortcut");
  }
  // Both variants sample the same pixels (kernel-1 pooling == strided slicing); they are kept as
  // the ops of their reference code so that a trace shows which one a network uses.
  Tensor h = x;
  if (stride > 1) {
    if (variant == Shortcut::AvgPoolZeros) {
      h = avg_pool2d(x, 1, stride);
    } else if (variant == Shortcut::AvgPool2Zeros) {
      h = avg_pool2d(x, stride, stride);
    } else {
      h = every_nth(every_nth(x, 2, stride), 3, stride);
    }
  }
  const std::int64_t in = x.size(1);
  const std::int64_t extra = out_channels - in;
  if (extra < 0) return narrow(h, 1, 0, out_channels);
  if (extra == 0) return h;
  if (variant == Shortcut::AvgPoolZeros || variant == Shortcut::AvgPool2Zeros) {
    return concat({h, zeros_like_channels(h, extra)}, 1);
  }
  const std::int64_t front = pad_front.value_or(extra / 2);
  if (front < 0 || front > extra) {
    throw ShapeError("zero_pad_shortcut: pad_front " + std::to_string(front) + " is outside [0, " +
                     std::to_string(extra) + "] for " + std::to_string(in) + " -> " +
                     std::to_string(out_channels) + " channels");
  }
  std::vector<Tensor> parts;
  if (front > 0) parts.push_back(zeros_like_channels(h, front));
  parts.push_back(h);
  if (extra - front > 0) parts.push_back(zeros_like_channels(h, extra - front));
  return concat(parts, 1);
}

CifarBasicBlock::CifarBasicBlock(std::int64_t in, std::int64_t mid, std::int64_t out, int stride,
                                 Shortcut shortcut, bool projection)
    : stride_(stride), shortcut_(shortcut) {
  conv1 = register_module("conv1", detail::conv(in, mid, 3, stride));
  bn1 = register_module("bn1", detail::bn(mid));
  conv2 = register_module("conv2", detail::conv(mid, out, 3));
  bn2 = register_module("bn2", detail::bn(out));
  if (projection) {
    auto ds = std::make_shared<nn::Sequential>();
    ds->push_back(detail::conv(in, out, 1, stride));
    ds->push_back(detail::bn(out));
    downsample = register_module("downsample", ds);
  }
}

Tensor CifarBasicBlock::forward(const Tensor& x) {
  Tensor out = relu(bn1->forward(conv1->forward(x)));
  out = bn2->forward(conv2->forward(out));
  Tensor identity;
  if (downsample) {
    identity = downsample->forward(x);
  } else if (stride_ == 1 && x.size(1) == out.size(1)) {
    identity = x;
  } else if (shortcut_ == Shortcut::Projection) {
    throw ShapeError("BasicBlock: identity shortcut joins " + std::to_string(x.size(1)) +
                     " input channels to " + std::to_string(out.size(1)) + " output channels");
  } else {
    identity = zero_pad_shortcut(x, out.size(1), stride_, shortcut_, pad_front);
  }
  // A recorded add, so the dependency graph couples the block output with its shortcut.
  return relu(add(out, identity));
}

std::string CifarBasicBlock::extra_repr() const {
  std::string s = "stride=" + std::to_string(stride_) + ", shortcut=" + shortcut_name(shortcut_);
  if (pad_front) s += ", pad_front=" + std::to_string(*pad_front);
  return s;
}

CifarShortcutBlock::CifarShortcutBlock(std::int64_t in, std::int64_t out, int stride,
                                       Shortcut shortcut, bool projection)
    : out_(out), stride_(stride), shortcut_(shortcut) {
  if (projection) {
    auto ds = std::make_shared<nn::Sequential>();
    ds->push_back(detail::conv(in, out, 1, stride));
    ds->push_back(detail::bn(out));
    downsample = register_module("downsample", ds);
  }
}

Tensor CifarShortcutBlock::forward(const Tensor& x) {
  // relu(0 + shortcut(x)) == shortcut(x) for the non-negative input every block receives; the
  // projection's BN output can be negative, so only it keeps the ReLU.
  if (downsample) return relu(downsample->forward(x));
  if (stride_ == 1 && x.size(1) == out_) return x;
  if (shortcut_ == Shortcut::Projection) {
    throw ShapeError("ShortcutBlock: identity shortcut joins " + std::to_string(x.size(1)) +
                     " input channels to " + std::to_string(out_) + " output channels");
  }
  return zero_pad_shortcut(x, out_, stride_, shortcut_, pad_front);
}

std::string CifarShortcutBlock::extra_repr() const {
  return "out=" + std::to_string(out_) + ", stride=" + std::to_string(stride_) +
         ", shortcut=" + shortcut_name(shortcut_);
}

int resnet_cifar_depth(const std::string& name) {
  for (int d : kDepths) {
    if (name == "resnet" + std::to_string(d)) return d;
  }
  return 0;
}

Arch resnet_cifar_arch(int depth, std::int64_t num_classes, const Shape& input, double width_mult) {
  bool known = false;
  for (int d : kDepths) known = known || d == depth;
  if (!known) {
    throw ConfigError("CIFAR ResNet depth " + std::to_string(depth) +
                      " is not one of 20, 32, 44, 56, 110");
  }
  Arch arch;
  arch.name = "resnet" + std::to_string(depth);
  arch.num_classes = num_classes;
  arch.input = input;
  arch.width_mult = width_mult;
  const int blocks = (depth - 2) / 6;
  arch.widths.emplace_back("conv1", detail::scaled(kStageWidths[0], width_mult));
  for (int s = 0; s < 3; ++s) {
    const std::int64_t w = detail::scaled(kStageWidths[s], width_mult);
    for (int b = 0; b < blocks; ++b) {
      arch.widths.emplace_back(block_path(s, b) + ".conv1", w);
      arch.widths.emplace_back(block_path(s, b) + ".conv2", w);
    }
  }
  return arch;
}

ResNetCifar::ResNetCifar(const Arch& arch) : base_(arch) {
  const int depth = resnet_cifar_depth(arch.name);
  if (depth == 0) throw ConfigError("'" + arch.name + "' is not a CIFAR ResNet");
  if (arch.input.size() != 3) {
    throw ConfigError("architecture '" + arch.name + "': input must be {C, H, W}");
  }
  detail::check_width_keys(arch, resnet_cifar_arch(depth, arch.num_classes, arch.input));
  std::set<std::string> padded_blocks;
  const int blocks = (depth - 2) / 6;
  std::set<std::string> removed(arch.removed.begin(), arch.removed.end());
  for (const std::string& r : arch.removed) {
    bool found = false;
    for (int s = 0; s < 3; ++s)
      for (int b = 0; b < blocks; ++b) found = found || r == block_path(s, b);
    if (!found) {
      throw ConfigError("architecture '" + arch.name + "': removed entry '" + r +
                        "' names no block (layerS.B)");
    }
  }

  conv1 = register_module("conv1", detail::conv(arch.input[0], arch.width("conv1"), 3));
  bn1 = register_module("bn1", detail::bn(arch.width("conv1")));
  std::int64_t in = arch.width("conv1");
  for (int s = 0; s < 3; ++s) {
    auto stage = std::make_shared<nn::Sequential>();
    for (int b = 0; b < blocks; ++b) {
      const std::string path = block_path(s, b);
      const int stride = (s > 0 && b == 0) ? 2 : 1;
      const std::int64_t mid = arch.width(path + ".conv1");
      const std::int64_t out = arch.width(path + ".conv2");
      // The projection is structural (where the standard network changes shape), so a pruned
      // option-B network keeps the same layers as the one it came from.
      const bool projection = arch.shortcut == Shortcut::Projection && stride != 1;
      if (arch.shortcut == Shortcut::Projection && !projection) {
        detail::check_identity(arch.name, path, in, out);
      }
      if (arch.shortcut == Shortcut::SubsamplePad && (stride != 1 || in != out)) {
        padded_blocks.insert(path);
      }
      std::optional<std::int64_t> front;
      for (const auto& [key, f] : arch.pad_front) {
        if (key == path) front = f;
      }
      if (removed.count(path)) {
        auto block =
            std::make_shared<CifarShortcutBlock>(in, out, stride, arch.shortcut, projection);
        block->pad_front = front;
        stage->push_back(block);
      } else {
        auto block =
            std::make_shared<CifarBasicBlock>(in, mid, out, stride, arch.shortcut, projection);
        block->pad_front = front;
        stage->push_back(block);
      }
      in = out;
    }
    layers.push_back(register_module("layer" + std::to_string(s + 1), stage));
  }
  for (const auto& [key, front] : arch.pad_front) {
    if (!padded_blocks.count(key)) {
      throw ConfigError("architecture '" + arch.name + "': pad_front entry '" + key +
                        "' names no block with a subsample-and-pad (a-subsample) shortcut");
    }
  }
  fc = register_module("fc", std::make_shared<nn::Linear>(in, arch.num_classes));
}

Tensor ResNetCifar::forward(const Tensor& x) {
  Tensor h = relu(bn1->forward(conv1->forward(x)));
  for (auto& stage : layers) h = stage->forward(h);
  // Global average pooling equals the original AvgPool2d(8) on 32x32 inputs and also serves
  // other input sizes.
  return fc->forward(flatten(global_avg_pool2d(h), 1));
}

std::string ResNetCifar::extra_repr() const {
  return base_.name + ", shortcut=" + shortcut_name(base_.shortcut);
}

Arch ResNetCifar::arch() const {
  Arch a = base_;
  a.widths.clear();
  a.pad_front.clear();
  a.removed.clear();
  a.input[0] = conv1->in_channels();
  a.num_classes = fc->out_features();
  a.widths.emplace_back("conv1", conv1->out_channels());
  for (std::size_t s = 0; s < layers.size(); ++s) {
    for (std::size_t b = 0; b < layers[s]->size(); ++b) {
      const std::string path = block_path(static_cast<int>(s), static_cast<int>(b));
      if (const auto* cut = dynamic_cast<const CifarShortcutBlock*>(&(*layers[s])[b])) {
        a.widths.emplace_back(path + ".conv1", cut->out_channels());
        a.widths.emplace_back(path + ".conv2", cut->out_channels());
        if (cut->pad_front) a.pad_front.emplace_back(path, *cut->pad_front);
        a.removed.push_back(path);
        continue;
      }
      const auto& block = static_cast<const CifarBasicBlock&>((*layers[s])[b]);
      a.widths.emplace_back(path + ".conv1", block.conv1->out_channels());
      a.widths.emplace_back(path + ".conv2", block.conv2->out_channels());
      if (block.pad_front) a.pad_front.emplace_back(path, *block.pad_front);
    }
  }
  return a;
}

}  // namespace shears::models
