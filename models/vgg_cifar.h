#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/nn/layers.h"
#include "models/model.h"

namespace shears::models {

/// VGG-16/19 with batch norm as the CIFAR pruning papers use it (Li et al. 2017, docs/methods.md
/// §1; the network of the "rethinking network pruning" code): `features` is conv3x3(pad 1, no
/// bias)-BN-ReLU per conv, with 2x2 max-pools after convs 2, 4, 7, 10 (VGG-16) or 2, 4, 8, 12
/// (VGG-19) and none after the last conv; then global average pooling (the original's
/// AvgPool2d(2) on the 2x2 map of a 32x32 input), flatten and `classifier` = Linear(C, 512) →
/// BatchNorm1d(512) → ReLU → Linear(512, num_classes). Parameter names: features.I.weight for
/// each conv at Sequential index I, features.(I+1).* for its BN, classifier.0.*, classifier.1.*
/// (BN1d), classifier.3.*. Convs: Kaiming normal (fan_out); BN 1/0; linear layers PyTorch
/// defaults.
class VggCifar : public Model {
 public:
  /// Builds from `arch` (vgg16 or vgg19; widths keyed features.I and classifier.0). Throws
  /// ConfigError for another name or widths that do not match the layers.
  explicit VggCifar(const Arch& arch);
  /// x (N,C,H,W) float, H and W >= 16 → logits (N,num_classes).
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "VggCifar"; }
  std::string extra_repr() const override { return base_.name; }
  Arch arch() const override;

  std::shared_ptr<nn::Sequential> features;
  std::shared_ptr<nn::Sequential> classifier;

 private:
  Arch base_;
};

/// Standard widths (64 ... 512, and 512 hidden units, times width_mult, at least 1) of vgg16 or
/// vgg19. Throws ConfigError for another depth.
Arch vgg_cifar_arch(int depth, std::int64_t num_classes, const Shape& input,
                    double width_mult = 1.0);

}  // namespace shears::models
