#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn/module.h"
#include "models/arch.h"

namespace shears::models {

/// One entry of the model table.
struct ModelInfo {
  std::string name;          // registry name, as in YAML `model.arch` and `--model`
  std::string family;        // "resnet_cifar", "vgg_cifar", "resnet_imagenet", "mobilenet_v2",
                             // "googlenet", "densenet_cifar"
  std::int64_t num_classes;  // default classifier width (10 for CIFAR models, 1000 for ImageNet)
  Shape input;               // default input {C, H, W} ({3,32,32} or {3,224,224})
};

/// Every model, in a fixed order: resnet20 resnet32 resnet44 resnet56 resnet110 vgg16 vgg19
/// resnet18 resnet34 resnet50 mobilenetv2 googlenet densenet40.
const std::vector<ModelInfo>& model_table();
/// The registry names in table order.
std::vector<std::string> model_names();
/// The table entry for `name`; throws ConfigError "unknown model 'x'; known: resnet20, ..."
/// listing every name.
const ModelInfo& model_info(const std::string& name);

/// The standard architecture of `name` for `num_classes` outputs and `input` {C, H, W}, with
/// default widths scaled by `width_mult` (torchvision's rounding for MobileNetV2, round-to-nearest
/// and at least 1 elsewhere) and the option-A (a) shortcut for CIFAR ResNets. Throws ConfigError
/// for an unknown name (listing the known ones), num_classes < 1, an input that is not 3
/// positive sizes, or width_mult <= 0.
Arch default_arch(const std::string& name, std::int64_t num_classes, const Shape& input,
                  double width_mult = 1.0);
/// default_arch with the table's num_classes and input for `name`.
Arch default_arch(const std::string& name);

/// Builds the network `arch` describes, on the CPU, in training mode, with fresh weights drawn
/// from the default generator (seed it with manual_seed for reproducible weights). The result is
/// a models::Model (arch_of gives its Arch back). Throws ConfigError for an unknown name (listing
/// the known ones) or widths that do not fit the model (every missing or unexpected key named).
std::shared_ptr<nn::Module> build_model(const Arch& arch);

}  // namespace shears::models
