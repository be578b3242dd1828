#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn/batch_norm2d.h"
#include "engine/nn/conv2d.h"
#include "engine/nn/layers.h"
#include "engine/nn/linear.h"
#include "models/model.h"

namespace shears::models {

/// torchvision's BasicBlock: conv3x3(stride)-BN-ReLU-conv3x3-BN, plus the identity or the
/// `downsample` projection (conv1x1(stride) + BN), then ReLU. Widths in → mid → out come from the
/// weights.
class BasicBlock : public nn::Module {
 public:
  BasicBlock(std::int64_t in, std::int64_t mid, std::int64_t out, int stride, bool projection);
  /// x (N,in,H,W) → (N,out,H/stride,W/stride). Throws ShapeError when an identity shortcut meets
  /// a different output width.
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "BasicBlock"; }

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::shared_ptr<nn::Conv2d> conv2;
  std::shared_ptr<nn::BatchNorm2d> bn2;
  std::shared_ptr<nn::Sequential> downsample;  // null for an identity shortcut
};

/// torchvision's Bottleneck (ResNet v1.5: the stride is on the 3x3 conv): conv1x1-BN-ReLU,
/// conv3x3(stride)-BN-ReLU, conv1x1-BN, plus the identity or `downsample`, then ReLU.
class Bottleneck : public nn::Module {
 public:
  Bottleneck(std::int64_t in, std::int64_t mid1, std::int64_t mid2, std::int64_t out, int stride,
             bool projection);
  /// x (N,in,H,W) → (N,out,H/stride,W/stride). Throws ShapeError as BasicBlock does.
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Bottleneck"; }

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::shared_ptr<nn::Conv2d> conv2;
  std::shared_ptr<nn::BatchNorm2d> bn2;
  std::shared_ptr<nn::Conv2d> conv3;
  std::shared_ptr<nn::BatchNorm2d> bn3;
  std::shared_ptr<nn::Sequential> downsample;  // null for an identity shortcut
};

/// What remains of an ImageNet ResNet block whose residual branch was removed (Arch::removed, e.g.
/// by GAL's export of a zero block mask): it computes what the block computes with a zero branch,
/// relu(0 + shortcut(x)). Without a projection that is x itself (every block receives the
/// non-negative output of a ReLU); a block with a projection (the first block of a stage) keeps
/// its `downsample` conv1x1(stride) + BN, under the block's parameter names, and the ReLU after
/// it. Parameter-free except for the projection.
class ResNetShortcutBlock : public nn::Module {
 public:
  ResNetShortcutBlock(std::int64_t in, std::int64_t out, int stride, bool projection);
  /// x (N,in,H,W) → (N,out,H/stride,W/stride).
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ShortcutBlock"; }
  std::string extra_repr() const override;
  std::int64_t out_channels() const { return out_; }

  std::shared_ptr<nn::Sequential> downsample;  // null for an identity shortcut

 private:
  std::int64_t out_;
  int stride_;
};

/// ImageNet ResNet-18/34 (basic blocks 2-2-2-2 / 3-4-6-3) and ResNet-50 (bottlenecks 3-4-6-3)
/// with torchvision's layout and state-dict names: conv1 (7x7, stride 2) + bn1 + ReLU, 3x3
/// max-pool stride 2, layer1..layer4 (stride 2 at the start of layers 2-4), adaptive average
/// pooling to 1x1, fc. A block has `downsample.0` (conv) and `downsample.1` (BN) exactly where
/// torchvision's does (first block of a stage whose stride or standard width changes).
/// Initialisation as torchvision: convs Kaiming normal (fan_out), BN 1/0, fc PyTorch default.
class ResNetImageNet : public Model {
 public:
  /// Builds from `arch` (resnet18, resnet34 or resnet50; widths as arch.h lists). A block named
  /// in arch.removed ("layerS.B") is a ResNetShortcutBlock. Throws ConfigError for another name,
  /// widths that do not match the layers, an identity block whose in and out widths differ, or a
  /// removed entry that names no block.
  explicit ResNetImageNet(const Arch& arch);
  /// x (N,C,H,W) float → logits (N,num_classes).
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ResNet"; }
  std::string extra_repr() const override { return base_.name; }
  Arch arch() const override;
  bool bottleneck() const { return bottleneck_; }

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  /// layer1..layer4; children are BasicBlock, Bottleneck or (removed blocks)
  /// ResNetShortcutBlock.
  std::vector<std::shared_ptr<nn::Sequential>> layers;
  std::shared_ptr<nn::Linear> fc;

 private:
  Arch base_;
  bool bottleneck_;
};

/// Standard widths of resnet18/34/50 (stage widths 64·2^s times width_mult, at least 1;
/// bottleneck outputs 4x). Throws ConfigError for another depth.
Arch resnet_imagenet_arch(int depth, std::int64_t num_classes, const Shape& input,
                          double width_mult = 1.0);

}  // namespace shears::models
