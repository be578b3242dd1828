#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/nn/batch_norm2d.h"
#include "engine/nn/conv2d.h"
#include "engine/nn/layers.h"
#include "engine/nn/linear.h"
#include "models/model.h"

namespace shears::models {

/// One layer of a dense block (pre-activation, no bottleneck): y = concat([x, conv(relu(bn(x)))])
/// along channels; conv is 3x3, stride 1, no bias, with `growth` output channels.
class DenseLayer : public nn::Module {
 public:
  DenseLayer(std::int64_t in, std::int64_t growth);
  /// x (N,in,H,W) → (N,in+growth,H,W).
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "DenseLayer"; }

  std::shared_ptr<nn::BatchNorm2d> bn;
  std::shared_ptr<nn::Conv2d> conv;
};

/// Transition between dense blocks: avg_pool2d(conv1x1(relu(bn(x))), 2).
class DenseTransition : public nn::Module {
 public:
  DenseTransition(std::int64_t in, std::int64_t out);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "DenseTransition"; }

  std::shared_ptr<nn::BatchNorm2d> bn;
  std::shared_ptr<nn::Conv2d> conv;
};

/// DenseNet-40 for CIFAR (Huang et al., CVPR 2017; growth rate 12, no bottleneck, no
/// compression), as the GAL and ABCPruner papers prune it: conv3x3 stem (24), three dense blocks
/// of 12 layers (each adding 12 channels: 168, 312, 456 at the ends of the blocks), 1x1
/// transitions keeping the width with 2x2 average pooling after blocks 1 and 2, then BN, ReLU,
/// global average pooling and fc. About 1.06 M parameters and 283 M MACs per 32x32 image.
/// Arch widths: conv1 (stem), denseB.L.conv (B = 1..3, L = 0..11: the layer's new channels),
/// transB.conv (B = 1, 2: transition outputs). Module paths: conv1, dense1.0.bn, dense1.0.conv,
/// ..., trans1.bn, trans1.conv, ..., bn, fc. Every new channel runs, through the concatenations,
/// into every later layer of its block, the next transition or the final BN and fc: the dependency
/// graph follows the concat offsets (as for GoogLeNet).
class DenseNetCifar : public Model {
 public:
  explicit DenseNetCifar(const Arch& arch);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "DenseNet"; }
  Arch arch() const override;

  std::shared_ptr<nn::Conv2d> conv1;
  std::vector<std::shared_ptr<nn::Sequential>> blocks;        // dense1..dense3 of DenseLayers
  std::vector<std::shared_ptr<DenseTransition>> transitions;  // trans1, trans2
  std::shared_ptr<nn::BatchNorm2d> bn;
  std::shared_ptr<nn::Linear> fc;

 private:
  Arch base_;
};

/// The standard widths of densenet40 (growth 12·m, stem 24·m, transitions keeping the width).
Arch densenet_cifar_arch(std::int64_t num_classes, const Shape& input, double width_mult = 1.0);

}  // namespace shears::models
