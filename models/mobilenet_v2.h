#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/nn/layers.h"
#include "models/model.h"

namespace shears::models {

/// min(max(x, 0), 6), written as relu(x) - relu(x - 6) because the engine has no clamp
/// primitive: exact for x <= 12 (x - 6 is then exact), within half an ulp of x above; gradient
/// 1 on (0, 6), 0 elsewhere. Any shape, floating dtype; differentiable.
Tensor relu6(const Tensor& x);

/// Module form of relu6 (torchvision's nn.ReLU6 slots).
class ReLU6 : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override { return relu6(x); }
  std::string type_name() const override { return "ReLU6"; }
};

/// torchvision's InvertedResidual: [conv1x1 expand-BN-ReLU6] (only when expand_ratio != 1),
/// depthwise conv3x3(stride)-BN-ReLU6, conv1x1 project-BN, all in the Sequential `conv`; the
/// input is added back when `residual` (torchvision: stride 1 and standard in == out).
class InvertedResidual : public nn::Module {
 public:
  /// `hidden` is the expansion width (== in when !expand).
  InvertedResidual(std::int64_t in, std::int64_t hidden, std::int64_t out, int stride, bool expand,
                   bool residual);
  /// x (N,in,H,W) → (N,out,H/stride,W/stride). Throws ShapeError when the residual add meets
  /// different widths.
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "InvertedResidual"; }
  std::string extra_repr() const override;
  bool residual() const { return residual_; }

  std::shared_ptr<nn::Sequential> conv;

 private:
  bool residual_;
};

/// MobileNetV2 (Sandler et al. 2018) with torchvision's layout and state-dict names:
/// features.0 = conv3x3(stride 2)-BN-ReLU6 (features.0.0, features.0.1), features.1..17 the
/// inverted residual blocks (t, c, n, s) = (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2)
/// (6,96,3,1) (6,160,3,2) (6,320,1,1) — the first block also has an expansion 1x1 when the Arch
/// gives features.1.conv.0.0 a width (MetaPruning's supernet layout; its projection is then
/// features.1.conv.2) — features.18 = conv1x1-BN-ReLU6 to the last width (1280),
/// adaptive average pooling, classifier = Dropout(0.2) (classifier.0) + Linear (classifier.1).
/// Initialisation as torchvision: convs Kaiming normal (fan_out), BN 1/0, Linear N(0, 0.01) with
/// zero bias.
class MobileNetV2 : public Model {
 public:
  /// Builds from `arch` (mobilenetv2; widths as arch.h lists). Throws ConfigError for widths
  /// that do not match the layers or residual blocks whose in and out widths differ.
  explicit MobileNetV2(const Arch& arch);
  /// x (N,C,H,W) float → logits (N,num_classes).
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "MobileNetV2"; }
  std::string extra_repr() const override;
  Arch arch() const override;

  std::shared_ptr<nn::Sequential> features;
  std::shared_ptr<nn::Sequential> classifier;

 private:
  Arch base_;
};

/// torchvision's _make_divisible: v rounded to the nearest multiple of `divisor` (at least
/// divisor), bumped up by one divisor when rounding lost more than 10 %.
std::int64_t make_divisible(double v, std::int64_t divisor = 8);

/// Standard widths of MobileNetV2 under `width_mult` as torchvision computes them: stem
/// make_divisible(32·m), stage outputs make_divisible(c·m), expansion round(in·t), last
/// make_divisible(1280·max(1, m)).
Arch mobilenet_v2_arch(std::int64_t num_classes, const Shape& input, double width_mult = 1.0);

}  // namespace shears::models
