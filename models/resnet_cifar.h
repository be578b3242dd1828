#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/nn/batch_norm2d.h"
#include "engine/nn/conv2d.h"
#include "engine/nn/layers.h"
#include "engine/nn/linear.h"
#include "models/model.h"

namespace shears::models {

/// The parameter-free option-A shortcut of a CIFAR ResNet block, written with recorded ops so a
/// trace sees it. x (N,Cin,H,W) → (N,out_channels,Ho,Wo) with Ho = ceil(H/stride):
///   AvgPoolZeros  avg_pool2d(kernel 1, stride) (SFP's nn.AvgPool2d(1, stride): every stride-th
///                 pixel), then concat([pooled, zeros(out - Cin)]) along channels
///   SubsamplePad  index_select of rows then columns 0, stride, 2*stride, ... (GAL's
///                 x[:, :, ::2, ::2]), then concat([zeros(f), sub, zeros(out - Cin - f)]) with
///                 f = pad_front, or (out - Cin) / 2 when pad_front is empty
///   AvgPool2Zeros avg_pool2d(kernel stride, stride) (Rethinking's nn.AvgPool2d(2, 2): the mean of
///                 each 2x2 patch), then concat([pooled, zeros(out - Cin)]) along channels
/// With stride 1 the spatial step is skipped. When out < Cin the first out channels are kept
/// (narrow). The zero tensors are constants (no gradient) on x's device and dtype.
/// Throws ShapeError for a 4-D mismatch, stride < 1, a shortcut kind other than the three option-A
/// variants, or a pad_front outside [0, out - Cin].
Tensor zero_pad_shortcut(const Tensor& x, std::int64_t out_channels, int stride, Shortcut variant,
                         std::optional<std::int64_t> pad_front = std::nullopt);

/// The CIFAR basic block: conv3x3(stride)-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU.
/// Widths in → mid → out are read from the weights. The shortcut is the identity when stride is
/// 1 and in == out; otherwise option A (zero_pad_shortcut) or, with Shortcut::Projection, the
/// `downsample` child (conv1x1(stride) + BN), which exists only where the standard network has
/// one (first block of stages 2 and 3).
class CifarBasicBlock : public nn::Module {
 public:
  CifarBasicBlock(std::int64_t in, std::int64_t mid, std::int64_t out, int stride,
                  Shortcut shortcut, bool projection);
  /// x (N,in,H,W) → (N,out,H/stride,W/stride).
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "BasicBlock"; }
  std::string extra_repr() const override;

  int stride() const { return stride_; }
  Shortcut shortcut() const { return shortcut_; }

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::shared_ptr<nn::Conv2d> conv2;
  std::shared_ptr<nn::BatchNorm2d> bn2;
  /// Option B projection, or null.
  std::shared_ptr<nn::Sequential> downsample;
  /// SubsamplePad only: leading zero channels of the padded shortcut; empty means an even split.
  /// Surgery that prunes zero channels unevenly sets it.
  std::optional<std::int64_t> pad_front;

 private:
  int stride_;
  Shortcut shortcut_;
};

/// A CIFAR block whose residual branch was removed (Arch::removed): only the shortcut is left,
/// so it computes what a CifarBasicBlock with a zero branch computes on its (non-negative,
/// post-ReLU) input: x itself with stride 1 and equal widths, the zero-pad shortcut otherwise,
/// or the projection (`downsample`, option B). Parameter-free except for the projection.
class CifarShortcutBlock : public nn::Module {
 public:
  CifarShortcutBlock(std::int64_t in, std::int64_t out, int stride, Shortcut shortcut,
                     bool projection);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ShortcutBlock"; }
  std::string extra_repr() const override;
  std::int64_t out_channels() const { return out_; }

  std::shared_ptr<nn::Sequential> downsample;
  std::optional<std::int64_t> pad_front;

 private:
  std::int64_t out_;
  int stride_;
  Shortcut shortcut_;
};

/// ResNet-(6n+2) for CIFAR (He et al. 2016, section 4.2): conv3x3 stem (16) + BN + ReLU, three
/// stages of n basic blocks (16, 32, 64 wide; stride 2 at the start of stages 2 and 3), global
/// average pooling, fc. Parameter names: conv1.weight, bn1.*, layerS.B.conv1.weight,
/// layerS.B.bn1.*, layerS.B.conv2.weight, layerS.B.bn2.*, layerS.0.downsample.{0,1}.* (option B),
/// fc.weight, fc.bias. Convs have no bias and Kaiming-normal (fan_out) weights; BN starts at 1/0.
class ResNetCifar : public Model {
 public:
  /// Builds from `arch` (name resnet20/32/44/56/110; widths as arch.h lists). Throws ConfigError
  /// for an unknown depth, widths that do not match the layers (each missing or unexpected key
  /// named), option B identity blocks whose in and out widths differ, or pad_front entries that
  /// name no padded SubsamplePad block, or removed entries that name no block.
  explicit ResNetCifar(const Arch& arch);
  /// x (N,C,H,W) float → logits (N,num_classes).
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ResNetCifar"; }
  std::string extra_repr() const override;
  Arch arch() const override;

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  /// layer1..layer3; each child is a CifarBasicBlock, or a CifarShortcutBlock for a block in
  /// Arch::removed.
  std::vector<std::shared_ptr<nn::Sequential>> layers;
  std::shared_ptr<nn::Linear> fc;

 private:
  Arch base_;
};

/// Depth of a CIFAR ResNet registry name (resnet56 → 56); 0 when `name` is not one.
int resnet_cifar_depth(const std::string& name);
/// Standard widths (16·m, 32·m, 64·m for width multiplier m, at least 1) of resnet<depth>.
/// Throws ConfigError unless depth is 20, 32, 44, 56 or 110.
Arch resnet_cifar_arch(int depth, std::int64_t num_classes, const Shape& input,
                       double width_mult = 1.0);

}  // namespace shears::models
