#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/nn/batch_norm2d.h"
#include "engine/nn/conv2d.h"
#include "engine/nn/module.h"
#include "models/arch.h"

namespace shears::models {

/// Base of every registry network: an nn::Module that can describe itself as an Arch.
class Model : public nn::Module {
 public:
  /// The architecture as the layers are now. Widths are read from the current weights, so after
  /// pruning surgery this describes the smaller network and build_model(arch()) rebuilds it.
  virtual Arch arch() const = 0;
};

/// The Arch of a network built by build_model (after any surgery). Throws shears::Error when
/// `model` is not a models::Model.
Arch arch_of(const nn::Module& model);

namespace detail {

/// A bias-free k x k convolution with padding (k-1)/2, initialised as torchvision does
/// (Kaiming normal, fan_out, gain sqrt(2)).
std::shared_ptr<nn::Conv2d> conv(std::int64_t in, std::int64_t out, int kernel, int stride = 1,
                                 int groups = 1);
/// Batch norm with weight 1, bias 0.
std::shared_ptr<nn::BatchNorm2d> bn(std::int64_t channels);

/// Checks that `arch.widths` holds exactly the keys of `expected` (the default Arch of the same
/// model) and that every width is >= 1. Throws one ConfigError naming every missing and
/// unexpected key.
void check_width_keys(const Arch& arch, const Arch& expected);

/// Throws ConfigError naming `block` when an identity shortcut would join tensors of different
/// widths.
void check_identity(const std::string& arch_name, const std::string& block, std::int64_t in,
                    std::int64_t out);

/// round(base * mult), at least 1: default widths under a width multiplier.
std::int64_t scaled(std::int64_t base, double mult);

}  // namespace detail

}  // namespace shears::models
