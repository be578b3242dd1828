#include "models/registry.h"

#include <functional>

#include "engine/nn/conv2d.h"
#include "kernels/common/error.h"
#include "models/densenet_cifar.h"
#include "models/googlenet.h"
#include "models/mobilenet_v2.h"
#include "models/resnet_cifar.h"
#include "models/resnet_imagenet.h"
#include "models/vgg_cifar.h"

namespace shears::models {

namespace {

// Our libraries are static, so the table is explicit rather than built by self-registering
// objects a linker could drop.
struct Entry {
  ModelInfo info;
  std::function<Arch(std::int64_t, const Shape&, double)> arch;
  std::function<std::shared_ptr<nn::Module>(const Arch&)> build;
};

const Shape kCifarInput{3, 32, 32};
const Shape kImageNetInput{3, 224, 224};

Entry cifar_resnet(int depth) {
  return {{"resnet" + std::to_string(depth), "resnet_cifar", 10, kCifarInput},
          [depth](std::int64_t nc, const Shape& in, double m) {
            return resnet_cifar_arch(depth, nc, in, m);
          },
          [](const Arch& a) { return std::make_shared<ResNetCifar>(a); }};
}

Entry vgg(int depth) {
  return {{"vgg" + std::to_string(depth), "vgg_cifar", 10, kCifarInput},
          [depth](std::int64_t nc, const Shape& in, double m) {
            return vgg_cifar_arch(depth, nc, in, m);
          },
          [](const Arch& a) { return std::make_shared<VggCifar>(a); }};
}

Entry imagenet_resnet(int depth) {
  return {{"resnet" + std::to_string(depth), "resnet_imagenet", 1000, kImageNetInput},
          [depth](std::int64_t nc, const Shape& in, double m) {
            return resnet_imagenet_arch(depth, nc, in, m);
          },
          [](const Arch& a) { return std::make_shared<ResNetImageNet>(a); }};
}

const std::vector<Entry>& entries() {
  static const std::vector<Entry> table = {
      cifar_resnet(20),
      cifar_resnet(32),
      cifar_resnet(44),
      cifar_resnet(56),
      cifar_resnet(110),
      vgg(16),
      vgg(19),
      imagenet_resnet(18),
      imagenet_resnet(34),
      imagenet_resnet(50),
      {{"mobilenetv2", "mobilenet_v2", 1000, kImageNetInput},
       [](std::int64_t nc, const Shape& in, double m) { return mobilenet_v2_arch(nc, in, m); },
       [](const Arch& a) { return std::make_shared<MobileNetV2>(a); }},
      {{"googlenet", "googlenet", 10, kCifarInput},
       [](std::int64_t nc, const Shape& in, double m) { return googlenet_arch(nc, in, m); },
       [](const Arch& a) { return std::make_shared<GoogLeNet>(a); }},
      {{"densenet40", "densenet_cifar", 10, kCifarInput},
       [](std::int64_t nc, const Shape& in, double m) { return densenet_cifar_arch(nc, in, m); },
       [](const Arch& a) { return std::make_shared<DenseNetCifar>(a); }},
  };
  return table;
}

const Entry& entry(const std::string& name) {
  for (const Entry& e : entries()) {
    if (e.info.name == name) return e;
  }
  std::string known;
  for (const Entry& e : entries()) known += (known.empty() ? "" : ", ") + e.info.name;
  throw ConfigError("unknown model '" + name + "'; known: " + known);
}

}  // namespace

const std::vector<ModelInfo>& model_table() {
  static const std::vector<ModelInfo> table = [] {
    std::vector<ModelInfo> out;
    for (const Entry& e : entries()) out.push_back(e.info);
    return out;
  }();
  return table;
}

std::vector<std::string> model_names() {
  std::vector<std::string> out;
  for (const Entry& e : entries()) out.push_back(e.info.name);
  return out;
}

const ModelInfo& model_info(const std::string& name) { return entry(name).info; }

Arch default_arch(const std::string& name, std::int64_t num_classes, const Shape& input,
                  double width_mult) {
  const Entry& e = entry(name);
  if (num_classes < 1) {
    throw ConfigError("model '" + name + "': num_classes must be >= 1, got " +
                      std::to_string(num_classes));
  }
  if (input.size() != 3 || input[0] < 1 || input[1] < 1 || input[2] < 1) {
    throw ConfigError("model '" + name + "': input must be 3 positive sizes C, H, W, got " +
                      shape_str(input));
  }
  if (!(width_mult > 0.0)) {
    throw ConfigError("model '" + name + "': width_mult must be > 0, got " +
                      std::to_string(width_mult));
  }
  return e.arch(num_classes, input, width_mult);
}

Arch default_arch(const std::string& name) {
  const ModelInfo& info = model_info(name);
  return default_arch(name, info.num_classes, info.input);
}

std::shared_ptr<nn::Module> build_model(const Arch& arch) {
  const Entry& e = entry(arch.name);
  if (arch.num_classes < 1) {
    throw ConfigError("architecture '" + arch.name + "': num_classes must be >= 1");
  }
  if (!arch.removed.empty() && resnet_cifar_depth(arch.name) == 0 && arch.name != "resnet18" &&
      arch.name != "resnet34" && arch.name != "resnet50" && arch.name != "googlenet") {
    throw ConfigError("architecture '" + arch.name +
                      "': removed structures are supported by the ResNets and GoogLeNet only");
  }
  std::shared_ptr<nn::Module> model = e.build(arch);
  for (const std::string& layer : arch.constant_inputs) {
    nn::Module* m = nullptr;
    try {
      m = &model->module_at(layer);
    } catch (const Error&) {
    }
    auto* conv = dynamic_cast<nn::Conv2d*>(m);
    if (conv == nullptr) {
      throw ConfigError("architecture '" + arch.name + "': constant input layer '" + layer +
                        "' is not a convolution of the model");
    }
    const Shape& w = conv->weight.shape();
    conv->set_constant_kernel(Tensor::zeros({w[0], 1, w[2], w[3]}));
  }
  return model;
}

}  // namespace shears::models
