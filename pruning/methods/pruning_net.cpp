#include "pruning/methods/pruning_net.h"

#include "engine/autograd/grad_mode.h"
#include "engine/ops/activation.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/linear.h"
#include "engine/ops/pooling.h"
#include "engine/ops/shape.h"
#include "models/mobilenet_v2.h"
#include "models/resnet_cifar.h"

namespace shears::pruning {

namespace {

/// Throws Error unless `code` has `genes` scale indices, each in [0, kMetaScales).
void check_code(const std::vector<int>& code, std::size_t genes) {
  SHEARS_CHECK(code.size() == genes, "PruningNet: ", code.size(), " genes, the encoding has ",
               genes);
  for (int g : code)
    SHEARS_CHECK(g >= 0 && g < search::kMetaScales, "PruningNet: scale index ", g, " outside [0, ",
                 search::kMetaScales, ")");
}

using search::meta_scale;
using search::meta_width;

std::vector<std::int64_t> bank_widths(std::int64_t max) {
  std::vector<std::int64_t> w;
  for (int i = 0; i < search::kMetaScales; ++i) w.push_back(meta_width(max, i));
  return w;
}

Tensor code_tensor(const std::vector<float>& values, const Device& device) {
  return Tensor::from_vector(values, {1, static_cast<std::int64_t>(values.size())}).to(device);
}

void copy_into(nn::Module& model, const std::string& name, const Tensor& value) {
  Tensor& t = model.tensor_at(name);
  SHEARS_CHECK(t.shape() == value.shape(), "PruningNet export: ", name, " is ",
               shape_str(t.shape()), ", the generated tensor ", shape_str(value.shape()));
  t.copy_(value);
}

void copy_bn(nn::Module& model, const std::string& prefix, nn::BatchNormBank& bank) {
  nn::BatchNorm2d& bn = bank.at(bank.selected());
  copy_into(model, prefix + ".running_mean", bn.running_mean);
  copy_into(model, prefix + ".running_var", bn.running_var);
  model.tensor_at(prefix + ".weight").fill_(1.0);
  model.tensor_at(prefix + ".bias").fill_(0.0);
}

// Selects scale `gene` of a PruningNet's stem (its generated conv and BN bank); returns the
// conv's code, which export_stem needs again.
Tensor select_stem(nn::GeneratedConv2d& conv, nn::BatchNormBank& bn, int gene,
                   const Device& device) {
  Tensor code = code_tensor({static_cast<float>(meta_scale(gene))}, device);
  conv.set_code(code, bn.widths()[static_cast<std::size_t>(gene)]);
  bn.select(gene);
  return code;
}

// Copies the stem's selected conv weight (`conv_weight`) and BN (`bn_prefix`) into `model`;
// returns the stem's width.
std::int64_t export_stem(nn::Module& model, const std::string& conv_weight,
                         const std::string& bn_prefix, nn::GeneratedConv2d& conv,
                         nn::BatchNormBank& bn, const Tensor& code, std::int64_t in_channels) {
  const std::int64_t width = bn.widths()[static_cast<std::size_t>(bn.selected())];
  copy_into(model, conv_weight, conv.weight_for(code, width, in_channels));
  copy_bn(model, bn_prefix, bn);
  return width;
}

/// The registry names of a three-conv block's convs and BNs, after the block's path.
struct ChainNames {
  const char *conv1, *bn1, *conv2, *bn2, *conv3, *bn3;
};

/// Exports a generated conv1 -> bn1 -> conv2 -> bn2 -> conv3 -> bn3 chain at widths in -> mid ->
/// mid -> out (the selected BN of each bank) into the plain block at `path` of `model`.
void export_chain(nn::Module& model, const std::string& path, const ChainNames& names,
                  const Tensor& code, std::int64_t in, std::int64_t mid, std::int64_t out,
                  nn::GeneratedConv2d& conv1, nn::BatchNormBank& bn1, nn::GeneratedConv2d& conv2,
                  nn::BatchNormBank& bn2, nn::GeneratedConv2d& conv3, nn::BatchNormBank& bn3) {
  copy_into(model, path + names.conv1, conv1.weight_for(code, mid, in));
  copy_bn(model, path + names.bn1, bn1);
  copy_into(model, path + names.conv2, conv2.weight_for(code, mid, mid));
  copy_bn(model, path + names.bn2, bn2);
  copy_into(model, path + names.conv3, conv3.weight_for(code, out, mid));
  copy_bn(model, path + names.bn3, bn3);
}

class GenBlock : public nn::Module {
 public:
  GenBlock(std::int64_t in, std::int64_t mid, std::int64_t out, int stride,
           models::Shortcut shortcut, std::int64_t hidden)
      : stride_(stride), shortcut_(shortcut) {
    conv1 =
        register_module("conv1", std::make_shared<nn::GeneratedConv2d>(nn::GeneratedConv2dOptions{
                                     in, mid, 3, stride, 1, false, 3, hidden}));
    bn1 = register_module("bn1", std::make_shared<nn::BatchNormBank>(bank_widths(mid)));
    conv2 =
        register_module("conv2", std::make_shared<nn::GeneratedConv2d>(nn::GeneratedConv2dOptions{
                                     mid, out, 3, 1, 1, false, 3, hidden}));
    bn2 = register_module("bn2", std::make_shared<nn::BatchNormBank>(bank_widths(out)));
  }
  void set(int mid_index, int in_index, int out_index, const Device& device) {
    Tensor code = code_tensor(
        {static_cast<float>(meta_scale(mid_index)), static_cast<float>(meta_scale(in_index)),
         static_cast<float>(meta_scale(out_index))},
        device);
    conv1->set_code(code, bn1->widths()[static_cast<std::size_t>(mid_index)]);
    bn1->select(mid_index);
    conv2->set_code(code, bn2->widths()[static_cast<std::size_t>(out_index)]);
    bn2->select(out_index);
    code_ = code;
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = relu(bn1->forward(conv1->forward(x)));
    h = bn2->forward(conv2->forward(h));
    Tensor identity = (stride_ == 1 && x.size(1) == h.size(1))
                          ? x
                          : models::zero_pad_shortcut(x, h.size(1), stride_, shortcut_);
    return relu(add(h, identity));
  }
  std::string type_name() const override { return "GeneratedBasicBlock"; }
  void export_to(nn::Module& model, const std::string& path, std::int64_t in) {
    const std::int64_t mid = bn1->widths()[static_cast<std::size_t>(bn1->selected())];
    const std::int64_t out = bn2->widths()[static_cast<std::size_t>(bn2->selected())];
    copy_into(model, path + ".conv1.weight", conv1->weight_for(code_, mid, in));
    copy_bn(model, path + ".bn1", *bn1);
    copy_into(model, path + ".conv2.weight", conv2->weight_for(code_, out, mid));
    copy_bn(model, path + ".bn2", *bn2);
  }
  std::int64_t out_width() const {
    return bn2->widths()[static_cast<std::size_t>(bn2->selected())];
  }

  std::shared_ptr<nn::GeneratedConv2d> conv1, conv2;
  std::shared_ptr<nn::BatchNormBank> bn1, bn2;

 private:
  int stride_;
  models::Shortcut shortcut_;
  Tensor code_;
};

class CifarPruningNet : public PruningNet {
 public:
  CifarPruningNet(const search::WidthEncoding& e, std::int64_t hidden) : PruningNet(e) {
    const models::Arch& a = e.base;
    depth_ = models::resnet_cifar_depth(a.name);
    blocks_ = (depth_ - 2) / 6;
    SHEARS_CHECK_AS(ConfigError, a.shortcut != models::Shortcut::Projection,
                    "metapruning: the CIFAR ResNet PruningNet needs an option-A shortcut "
                    "(a-avgpool, a-subsample or a-avgpool2), not b-conv");
    const std::int64_t stem = a.width("conv1");
    conv1 =
        register_module("conv1", std::make_shared<nn::GeneratedConv2d>(nn::GeneratedConv2dOptions{
                                     a.input[0], stem, 3, 1, 1, false, 1, hidden}));
    bn1 = register_module("bn1", std::make_shared<nn::BatchNormBank>(bank_widths(stem)));
    std::int64_t in = stem;
    for (int s = 0; s < 3; ++s) {
      auto stage = std::make_shared<nn::Sequential>();
      for (int b = 0; b < blocks_; ++b) {
        const std::string p = "layer" + std::to_string(s + 1) + "." + std::to_string(b);
        const std::int64_t mid = a.width(p + ".conv1"), out = a.width(p + ".conv2");
        auto blk =
            std::make_shared<GenBlock>(in, mid, out, (s > 0 && b == 0) ? 2 : 1, a.shortcut, hidden);
        stage->push_back(blk);
        blocks.push_back(blk);
        in = out;
      }
      register_module("layer" + std::to_string(s + 1), stage);
    }
    fc = register_module("fc", std::make_shared<nn::Linear>(in, a.num_classes));
    set_code(e.full());
  }

  void set_code(const std::vector<int>& code) override {
    check_code(code, encoding_.genes.size());
    code_ = code;
    const Device device = fc->weight.device();
    stem_code_ = select_stem(*conv1, *bn1, code[0], device);
    int in_index = code[0];
    for (int s = 0; s < 3; ++s)
      for (int b = 0; b < blocks_; ++b) {
        const int mid_index = code[static_cast<std::size_t>(3 + s * blocks_ + b)];
        const int out_index = code[static_cast<std::size_t>(s)];
        blocks[static_cast<std::size_t>(s * blocks_ + b)]->set(mid_index, in_index, out_index,
                                                               device);
        in_index = out_index;
      }
  }

  Tensor forward(const Tensor& x) override {
    Tensor h = relu(bn1->forward(conv1->forward(x)));
    for (auto& b : blocks) h = b->forward(h);
    Tensor pooled = flatten(global_avg_pool2d(h), 1);
    const std::int64_t w = pooled.size(1);
    Tensor weight = w < fc->weight.size(1) ? narrow(fc->weight, 1, 0, w) : fc->weight;
    return linear(pooled, weight, fc->bias);
  }

  void export_weights(nn::Module& model) override {
    NoGrad no_grad;
    std::int64_t in = export_stem(model, "conv1.weight", "bn1", *conv1, *bn1, stem_code_,
                                  encoding_.base.input[0]);
    for (int s = 0; s < 3; ++s)
      for (int b = 0; b < blocks_; ++b) {
        GenBlock& blk = *blocks[static_cast<std::size_t>(s * blocks_ + b)];
        blk.export_to(model, "layer" + std::to_string(s + 1) + "." + std::to_string(b), in);
        in = blk.out_width();
      }
    copy_into(model, "fc.weight", narrow(fc->weight, 1, 0, in));
    copy_into(model, "fc.bias", fc->bias);
  }

  std::string type_name() const override { return "PruningNet"; }

  std::shared_ptr<nn::GeneratedConv2d> conv1;
  std::shared_ptr<nn::BatchNormBank> bn1;
  std::vector<std::shared_ptr<GenBlock>> blocks;
  std::shared_ptr<nn::Linear> fc;

 private:
  Tensor stem_code_;
  int depth_ = 0, blocks_ = 0;
};

/// A generated bottleneck (ResNet-50): conv1 1x1, conv2 3x3 (the stride), conv3 1x1 and, in the
/// first block of a stage, a generated 1x1 projection; all read (mid, input, output scale).
class GenBottleneck : public nn::Module {
 public:
  GenBottleneck(std::int64_t in, std::int64_t mid, std::int64_t out, int stride, bool projection,
                std::int64_t hidden) {
    using O = nn::GeneratedConv2dOptions;
    conv1 = register_module(
        "conv1", std::make_shared<nn::GeneratedConv2d>(O{in, mid, 1, 1, 0, false, 3, hidden}));
    bn1 = register_module("bn1", std::make_shared<nn::BatchNormBank>(bank_widths(mid)));
    conv2 = register_module("conv2", std::make_shared<nn::GeneratedConv2d>(
                                         O{mid, mid, 3, stride, 1, false, 3, hidden}));
    bn2 = register_module("bn2", std::make_shared<nn::BatchNormBank>(bank_widths(mid)));
    conv3 = register_module(
        "conv3", std::make_shared<nn::GeneratedConv2d>(O{mid, out, 1, 1, 0, false, 3, hidden}));
    bn3 = register_module("bn3", std::make_shared<nn::BatchNormBank>(bank_widths(out)));
    if (projection) {
      ds = register_module("downsample", std::make_shared<nn::GeneratedConv2d>(
                                             O{in, out, 1, stride, 0, false, 3, hidden}));
      ds_bn =
          register_module("downsample_bn", std::make_shared<nn::BatchNormBank>(bank_widths(out)));
    }
  }
  void set(int mid_index, int in_index, int out_index, const Device& device) {
    code_ = code_tensor(
        {static_cast<float>(meta_scale(mid_index)), static_cast<float>(meta_scale(in_index)),
         static_cast<float>(meta_scale(out_index))},
        device);
    const std::int64_t mid = bn1->widths()[static_cast<std::size_t>(mid_index)];
    const std::int64_t out = bn3->widths()[static_cast<std::size_t>(out_index)];
    conv1->set_code(code_, mid);
    bn1->select(mid_index);
    conv2->set_code(code_, mid);
    bn2->select(mid_index);
    conv3->set_code(code_, out);
    bn3->select(out_index);
    if (ds) {
      ds->set_code(code_, out);
      ds_bn->select(out_index);
    }
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = relu(bn1->forward(conv1->forward(x)));
    h = relu(bn2->forward(conv2->forward(h)));
    h = bn3->forward(conv3->forward(h));
    Tensor identity = ds ? ds_bn->forward(ds->forward(x)) : x;
    return relu(add(h, identity));
  }
  std::string type_name() const override { return "GeneratedBottleneck"; }
  std::int64_t out_width() const {
    return bn3->widths()[static_cast<std::size_t>(bn3->selected())];
  }
  void export_to(nn::Module& model, const std::string& path, std::int64_t in) {
    const std::int64_t mid = bn1->widths()[static_cast<std::size_t>(bn1->selected())];
    const std::int64_t out = out_width();
    export_chain(model, path,
                 {".conv1.weight", ".bn1", ".conv2.weight", ".bn2", ".conv3.weight", ".bn3"}, code_,
                 in, mid, out, *conv1, *bn1, *conv2, *bn2, *conv3, *bn3);
    if (ds) {
      copy_into(model, path + ".downsample.0.weight", ds->weight_for(code_, out, in));
      copy_bn(model, path + ".downsample.1", *ds_bn);
    }
  }

  std::shared_ptr<nn::GeneratedConv2d> conv1, conv2, conv3, ds;
  std::shared_ptr<nn::BatchNormBank> bn1, bn2, bn3, ds_bn;

 private:
  Tensor code_;
};

/// ResNet-50's PruningNet over the 20-gene encoding (stage 4's output fixed at full width).
class ResNet50PruningNet : public PruningNet {
 public:
  ResNet50PruningNet(const search::WidthEncoding& e, std::int64_t hidden) : PruningNet(e) {
    const models::Arch& a = e.base;
    const std::int64_t stem = a.width("conv1");
    conv1 =
        register_module("conv1", std::make_shared<nn::GeneratedConv2d>(nn::GeneratedConv2dOptions{
                                     a.input[0], stem, 7, 2, 3, false, 1, hidden}));
    bn1 = register_module("bn1", std::make_shared<nn::BatchNormBank>(bank_widths(stem)));
    std::int64_t in = stem;
    for (int s = 0; s < 4; ++s) {
      auto stage = std::make_shared<nn::Sequential>();
      for (int b = 0; b < kBlocks[s]; ++b) {
        const std::string p = "layer" + std::to_string(s + 1) + "." + std::to_string(b);
        const std::int64_t mid = a.width(p + ".conv1"), out = a.width(p + ".conv3");
        auto blk = std::make_shared<GenBottleneck>(in, mid, out, (s > 0 && b == 0) ? 2 : 1, b == 0,
                                                   hidden);
        stage->push_back(blk);
        blocks.push_back(blk);
        in = out;
      }
      register_module("layer" + std::to_string(s + 1), stage);
    }
    fc = register_module("fc", std::make_shared<nn::Linear>(in, a.num_classes));
    set_code(e.full());
  }

  void set_code(const std::vector<int>& code) override {
    check_code(code, encoding_.genes.size());
    code_ = code;
    const Device device = fc->weight.device();
    stem_code_ = select_stem(*conv1, *bn1, code[0], device);
    int in_index = code[0], mid = 4;
    std::size_t k = 0;
    for (int s = 0; s < 4; ++s) {
      const int out_index = s < 3 ? code[static_cast<std::size_t>(1 + s)] : search::kMetaScales - 1;
      for (int b = 0; b < kBlocks[s]; ++b, ++mid, ++k) {
        blocks[k]->set(code[static_cast<std::size_t>(mid)], in_index, out_index, device);
        in_index = out_index;
      }
    }
  }

  Tensor forward(const Tensor& x) override {
    Tensor h = relu(bn1->forward(conv1->forward(x)));
    h = max_pool2d(h, 3, 2, 1);
    for (auto& b : blocks) h = b->forward(h);
    return fc->forward(flatten(global_avg_pool2d(h), 1));
  }

  void export_weights(nn::Module& model) override {
    NoGrad no_grad;
    std::int64_t in = export_stem(model, "conv1.weight", "bn1", *conv1, *bn1, stem_code_,
                                  encoding_.base.input[0]);
    std::size_t k = 0;
    for (int s = 0; s < 4; ++s)
      for (int b = 0; b < kBlocks[s]; ++b, ++k) {
        blocks[k]->export_to(model, "layer" + std::to_string(s + 1) + "." + std::to_string(b), in);
        in = blocks[k]->out_width();
      }
    copy_into(model, "fc.weight", fc->weight);
    copy_into(model, "fc.bias", fc->bias);
  }

  std::string type_name() const override { return "PruningNet"; }

  std::shared_ptr<nn::GeneratedConv2d> conv1;
  std::shared_ptr<nn::BatchNormBank> bn1;
  std::vector<std::shared_ptr<GenBottleneck>> blocks;
  std::shared_ptr<nn::Linear> fc;

 private:
  static constexpr int kBlocks[4] = {3, 4, 6, 3};
  Tensor stem_code_;
};

/// A generated inverted residual (MobileNetV2): expansion 1x1 (mid from the input), depthwise
/// 3x3 (stride) cropped to [:mid], projection 1x1 (output from mid), each generator reading
/// (mid, input, output scale), BN banks after each, ReLU6 after the first two; the input is added
/// back when the block's largest input and output widths are equal (then the stage scale is
/// shared, so the widths in use are equal too).
class GenInvertedResidual : public nn::Module {
 public:
  GenInvertedResidual(std::int64_t in, std::int64_t mid, std::int64_t out, int stride,
                      bool residual, std::int64_t hidden)
      : residual_(residual) {
    using O = nn::GeneratedConv2dOptions;
    conv1 = register_module(
        "conv1", std::make_shared<nn::GeneratedConv2d>(O{in, mid, 1, 1, 0, false, 3, hidden}));
    bn1 = register_module("bn1", std::make_shared<nn::BatchNormBank>(bank_widths(mid)));
    conv2 = register_module(
        "conv2", std::make_shared<nn::GeneratedConv2d>(O{mid, mid, 3, stride, 1, true, 3, hidden}));
    bn2 = register_module("bn2", std::make_shared<nn::BatchNormBank>(bank_widths(mid)));
    conv3 = register_module(
        "conv3", std::make_shared<nn::GeneratedConv2d>(O{mid, out, 1, 1, 0, false, 3, hidden}));
    bn3 = register_module("bn3", std::make_shared<nn::BatchNormBank>(bank_widths(out)));
  }
  void set(int mid_index, int in_index, int out_index, const Device& device) {
    code_ = code_tensor(
        {static_cast<float>(meta_scale(mid_index)), static_cast<float>(meta_scale(in_index)),
         static_cast<float>(meta_scale(out_index))},
        device);
    const std::int64_t mid = bn1->widths()[static_cast<std::size_t>(mid_index)];
    conv1->set_code(code_, mid);
    bn1->select(mid_index);
    conv2->set_code(code_, mid);
    bn2->select(mid_index);
    conv3->set_code(code_, bn3->widths()[static_cast<std::size_t>(out_index)]);
    bn3->select(out_index);
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = models::relu6(bn1->forward(conv1->forward(x)));
    h = models::relu6(bn2->forward(conv2->forward(h)));
    h = bn3->forward(conv3->forward(h));
    return residual_ ? add(x, h) : h;
  }
  std::string type_name() const override { return "GeneratedInvertedResidual"; }
  std::int64_t out_width() const {
    return bn3->widths()[static_cast<std::size_t>(bn3->selected())];
  }
  /// Into the registry block features.N (`path`): conv.0.0 / conv.0.1, conv.1.0 / conv.1.1,
  /// conv.2 / conv.3.
  void export_to(nn::Module& model, const std::string& path, std::int64_t in) {
    const std::int64_t mid = bn1->widths()[static_cast<std::size_t>(bn1->selected())];
    const std::int64_t out = out_width();
    export_chain(model, path,
                 {".conv.0.0.weight", ".conv.0.1", ".conv.1.0.weight", ".conv.1.1",
                  ".conv.2.weight", ".conv.3"},
                 code_, in, mid, out, *conv1, *bn1, *conv2, *bn2, *conv3, *bn3);
  }

  std::shared_ptr<nn::GeneratedConv2d> conv1, conv2, conv3;
  std::shared_ptr<nn::BatchNormBank> bn1, bn2, bn3;

 private:
  bool residual_;
  Tensor code_;
};

/// MobileNetV2's PruningNet over the 25-gene encoding: the stem generator reads the stem scale,
/// each block's generators (mid, input, output scale) with `hidden` units, the last 1x1 (to 1280,
/// fixed) reads its input's scale and keeps one BN per input scale (all of width 1280), as the
/// reference does; the stem's and the last conv's generators have hidden / 2 units (the
/// reference: 32 beside the blocks' 64). The classifier is an ordinary Linear.
class MobileNetV2PruningNet : public PruningNet {
 public:
  MobileNetV2PruningNet(const search::WidthEncoding& e, std::int64_t hidden) : PruningNet(e) {
    const models::Arch& a = e.base;
    using O = nn::GeneratedConv2dOptions;
    const std::int64_t small = std::max<std::int64_t>(1, hidden / 2);
    const std::int64_t stem = a.width("features.0.0");
    conv1 = register_module("conv1", std::make_shared<nn::GeneratedConv2d>(
                                         O{a.input[0], stem, 3, 2, 1, false, 1, small}));
    bn1 = register_module("bn1", std::make_shared<nn::BatchNormBank>(bank_widths(stem)));
    auto features = std::make_shared<nn::Sequential>();
    std::int64_t in = stem;
    int n = 1;
    for (int s = 0; s < search::kMobileNetV2Stages; ++s)
      for (int b = 0; b < search::kMobileNetV2Blocks[s]; ++b, ++n) {
        const std::string p = "features." + std::to_string(n);
        const std::int64_t mid = a.width(p + ".conv.0.0"), out = a.width(p + ".conv.2");
        // torchvision's strides: the first block of stages 2, 3, 4 and 6.
        const int stride = (b == 0 && (s == 1 || s == 2 || s == 3 || s == 5)) ? 2 : 1;
        auto blk = std::make_shared<GenInvertedResidual>(in, mid, out, stride, b > 0, hidden);
        features->push_back(blk);
        blocks.push_back(blk);
        in = out;
      }
    register_module("blocks", features);
    last_ = a.width("features.18.0");
    conv_last = register_module(
        "conv_last", std::make_shared<nn::GeneratedConv2d>(O{in, last_, 1, 1, 0, false, 1, small}));
    bn_last =
        register_module("bn_last", std::make_shared<nn::BatchNormBank>(std::vector<std::int64_t>(
                                       static_cast<std::size_t>(search::kMetaScales), last_)));
    fc = register_module("fc", std::make_shared<nn::Linear>(last_, a.num_classes));
    set_code(e.full());
  }

  void set_code(const std::vector<int>& code) override {
    check_code(code, encoding_.genes.size());
    code_ = code;
    const Device device = fc->weight.device();
    stem_code_ = select_stem(*conv1, *bn1, code[0], device);
    int in_index = code[0];
    std::size_t k = 0;
    for (int s = 0; s < search::kMobileNetV2Stages; ++s) {
      const int out_index = code[static_cast<std::size_t>(1 + s)];
      for (int b = 0; b < search::kMobileNetV2Blocks[s]; ++b, ++k) {
        const int mid_index = code[static_cast<std::size_t>(search::kMobileNetV2Stages + 1) + k];
        blocks[k]->set(mid_index, in_index, out_index, device);
        in_index = out_index;
      }
    }
    last_code_ = code_tensor({static_cast<float>(meta_scale(in_index))}, device);
    conv_last->set_code(last_code_, last_);
    bn_last->select(in_index);
  }

  Tensor forward(const Tensor& x) override {
    Tensor h = models::relu6(bn1->forward(conv1->forward(x)));
    for (auto& b : blocks) h = b->forward(h);
    h = models::relu6(bn_last->forward(conv_last->forward(h)));
    return fc->forward(flatten(global_avg_pool2d(h), 1));
  }

  void export_weights(nn::Module& model) override {
    NoGrad no_grad;
    std::int64_t in = export_stem(model, "features.0.0.weight", "features.0.1", *conv1, *bn1,
                                  stem_code_, encoding_.base.input[0]);
    for (std::size_t k = 0; k < blocks.size(); ++k) {
      blocks[k]->export_to(model, "features." + std::to_string(k + 1), in);
      in = blocks[k]->out_width();
    }
    copy_into(model, "features.18.0.weight", conv_last->weight_for(last_code_, last_, in));
    copy_bn(model, "features.18.1", *bn_last);
    copy_into(model, "classifier.1.weight", fc->weight);
    copy_into(model, "classifier.1.bias", fc->bias);
  }

  std::string type_name() const override { return "PruningNet"; }

  std::shared_ptr<nn::GeneratedConv2d> conv1, conv_last;
  std::shared_ptr<nn::BatchNormBank> bn1, bn_last;
  std::vector<std::shared_ptr<GenInvertedResidual>> blocks;
  std::shared_ptr<nn::Linear> fc;

 private:
  std::int64_t last_ = 0;
  Tensor stem_code_, last_code_;
};

}  // namespace

std::shared_ptr<PruningNet> make_pruning_net(const search::WidthEncoding& encoding,
                                             std::int64_t hidden) {
  if (models::resnet_cifar_depth(encoding.base.name) > 0)
    return std::make_shared<CifarPruningNet>(encoding, hidden);
  if (encoding.base.name == "resnet50")
    return std::make_shared<ResNet50PruningNet>(encoding, hidden);
  if (encoding.base.name == "mobilenetv2")
    return std::make_shared<MobileNetV2PruningNet>(encoding, hidden);
  throw ConfigError("metapruning: no PruningNet for '" + encoding.base.name +
                    "' (built: the CIFAR ResNets resnet20 ... resnet110, resnet50 and "
                    "mobilenetv2)");
}

}  // namespace shears::pruning
