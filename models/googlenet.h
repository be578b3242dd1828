#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/nn/layers.h"
#include "engine/nn/linear.h"
#include "models/model.h"

namespace shears::models {

/// One Inception module of the CIFAR GoogLeNet: four branches on the same input, joined by a
/// channel concat in the order 1x1, 3x3, 5x5, pool:
///   branch1x1   conv1x1(n1x1)-BN-ReLU                              (indices 0 1 2)
///   branch3x3   conv1x1(n3x3red)-BN-ReLU-conv3x3(n3x3)-BN-ReLU       (0 1 2 3 4 5)
///   branch5x5   conv1x1(n5x5red)-BN-ReLU-conv3x3(n5x5mid)-BN-ReLU-conv3x3(n5x5)-BN-ReLU
///                                                                  (0 1 2 3 4 5 6 7 8)
///   branch_pool maxpool3x3(s1, p1)-conv1x1(pool)-BN-ReLU            (0 1 2 3)
/// The "5x5" branch is two 3x3 convs, as in the network the pruning papers use. Convs have
/// biases (PyTorch-default initialisation); BN weight 1, bias 0.
class Inception : public nn::Module {
 public:
  /// widths: n1x1, n3x3red, n3x3, n5x5red, n5x5mid, n5x5, pool. `removed[k]`: branch k (in the
  /// order 1x1, 3x3, 5x5, pool) is not built and leaves the concat (at least one must stay).
  Inception(std::int64_t in, const std::array<std::int64_t, 7>& widths,
            const std::array<bool, 4>& removed = {});
  /// x (N,in,H,W) → (N, n1x1 + n3x3 + n5x5 + pool, H, W), removed branches left out.
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Inception"; }
  /// Output channels (the kept branches' widths).
  std::int64_t out_channels() const { return out_; }

  /// Null where removed.
  std::shared_ptr<nn::Sequential> branch1x1, branch3x3, branch5x5, branch_pool;

 private:
  std::int64_t out_ = 0;
};

/// GoogLeNet (Inception-v1) for CIFAR as FilterSketch, ABCPruner and GAL use it (the network of
/// kuangliu's pytorch-cifar): `pre_layers` conv3x3(3→192)-BN-ReLU, Inceptions a3, b3, a 3x3
/// stride-2 max-pool (padding 1), a4 b4 c4 d4 e4, a second such pool, a5 b5, global average
/// pooling (the original's AvgPool2d(8) on the 8x8 map of a 32x32 input) and `linear`
/// (1024 → num_classes). About 6.15 M parameters and 1.53 G MACs per 32x32 image.
/// Arch widths: pre_layers.0, and per Inception I (inception_a3 ... inception_b5):
/// I.branch1x1.0, I.branch3x3.0, I.branch3x3.3, I.branch5x5.0, I.branch5x5.3, I.branch5x5.6,
/// I.branch_pool.1. Parameter names match the reference implementation's state dict.
/// arch.removed may name branches "I.branchY" (branch1x1, branch3x3, branch5x5, branch_pool):
/// they are not built, their width entries stay, and the next layer sees fewer channels.
class GoogLeNet : public Model {
 public:
  /// Throws ConfigError for another name, widths that do not match the layers, a removed entry
  /// that names no branch, or an Inception with all four branches removed.
  explicit GoogLeNet(const Arch& arch);
  /// x (N,C,H,W) float, H and W >= 4 → logits (N,num_classes).
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "GoogLeNet"; }
  std::string extra_repr() const override { return "googlenet"; }
  Arch arch() const override;

  std::shared_ptr<nn::Sequential> pre_layers;
  std::vector<std::shared_ptr<Inception>> inceptions;
  std::shared_ptr<nn::Linear> linear;

 private:
  Arch base_;
};

/// The standard widths of the CIFAR GoogLeNet, times width_mult (at least 1).
Arch googlenet_arch(std::int64_t num_classes, const Shape& input, double width_mult = 1.0);

}  // namespace shears::models
