#include "pruning/soft_masks.h"

#include <algorithm>
#include <map>
#include <set>

#include "engine/autograd/grad_mode.h"
#include "engine/nn/batch_norm2d.h"
#include "engine/nn/conv2d.h"
#include "engine/nn/layers.h"
#include "engine/nn/linear.h"
#include "engine/ops/activation.h"
#include "engine/ops/channel.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape.h"
#include "engine/rng.h"
#include "kernels/common/error.h"
#include "models/model.h"
#include "models/registry.h"
#include "models/resnet_cifar.h"
#include "pruning/dependency.h"

namespace shears::pruning {

namespace {

bool hookable(const nn::Module& m) {
  return dynamic_cast<const nn::Conv2d*>(&m) || dynamic_cast<const nn::Linear*>(&m) ||
         dynamic_cast<const nn::BatchNorm2d*>(&m) || dynamic_cast<const nn::ReLU*>(&m) ||
         dynamic_cast<const nn::Sequential*>(&m);
}

Tensor apply_mask(const Tensor& y, const Tensor& mask) {
  if (mask.numel() == 1) return mul(y, mask);
  if (y.dim() == 4) return soft_mask(y, mask);
  return mul(y, reshape(mask, {1, mask.numel()}));
}

// The child of `parent` named just before `name`, or null.
nn::Module* previous_sibling(nn::Module& parent, const std::string& name) {
  nn::Module* prev = nullptr;
  for (const auto& [n, child] : parent.children()) {
    if (n == name) return prev;
    prev = child.get();
  }
  return nullptr;
}

std::pair<std::string, std::string> split_path(const std::string& path) {
  const std::size_t dot = path.rfind('.');
  if (dot == std::string::npos) return {"", path};
  return {path.substr(0, dot), path.substr(dot + 1)};
}

nn::Module& parent_of(nn::Module& model, const std::string& path) {
  const std::string parent = split_path(path).first;
  return parent.empty() ? model : model.module_at(parent);
}

std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }

// The batch norm whose output the site sees (itself, the one before its ReLU, the one before
// the ReLU ending its Sequential), its path, and whether a ReLU lies between.
struct SiteBn {
  nn::BatchNorm2d* bn = nullptr;
  std::string bn_path;
  bool after_relu = false;
};

SiteBn site_bn(nn::Module& model, const std::string& site) {
  nn::Module& m = model.module_at(site);
  SiteBn out;
  if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(&m)) {
    out.bn = bn;
    out.bn_path = site;
    return out;
  }
  std::string relu_path;
  if (dynamic_cast<nn::ReLU*>(&m)) {
    relu_path = site;
  } else if (auto* seq = dynamic_cast<nn::Sequential*>(&m)) {
    if (seq->size() >= 2 && dynamic_cast<nn::ReLU*>(&(*seq)[seq->size() - 1])) {
      relu_path = join(site, seq->children().back().first);
    }
  }
  if (!relu_path.empty()) {
    const auto [parent, name] = split_path(relu_path);
    nn::Module* prev = previous_sibling(parent_of(model, relu_path), name);
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(prev)) {
      out.bn = bn;
      nn::Module& p = parent_of(model, relu_path);
      for (const auto& [n, child] : p.children()) {
        if (child.get() == prev) out.bn_path = join(parent, n);
      }
      out.after_relu = true;
      return out;
    }
  }
  throw Error("soft mask site '" + site +
              "': its output does not come from a batch norm (directly or through a ReLU), so "
              "the mask cannot be folded");
}

// The conv or linear layer right before a batch norm (its producer), as a weight name.
std::string producer_of(nn::Module& model, const std::string& bn_path) {
  const auto [parent, name] = split_path(bn_path);
  nn::Module* prev = previous_sibling(parent_of(model, bn_path), name);
  if (dynamic_cast<nn::Conv2d*>(prev) || dynamic_cast<nn::Linear*>(prev)) {
    nn::Module& p = parent_of(model, bn_path);
    for (const auto& [n, child] : p.children()) {
      if (child.get() == prev) return join(parent, n) + ".weight";
    }
  }
  // CIFAR blocks name their layers: bnK follows convK.
  if (name.size() > 2 && name.rfind("bn", 0) == 0) {
    const std::string conv = join(parent, "conv" + name.substr(2));
    try {
      model.module_at(conv);
      return conv + ".weight";
    } catch (const Error&) {
    }
  }
  return "";
}

std::shared_ptr<nn::Module> clone_model(nn::Module& model) {
  const Generator saved = default_generator();
  std::shared_ptr<nn::Module> out = models::build_model(models::arch_of(model));
  default_generator() = saved;
  out->load_state_dict(model.state_dict());
  return out;
}

}  // namespace

SoftMasks::SoftMasks(nn::Module& model, std::vector<MaskSite> sites,
                     const std::function<Tensor(const MaskSite&)>& init, Device device)
    : model_(&model), sites_(std::move(sites)) {
  for (const MaskSite& s : sites_) {
    nn::Module* m = nullptr;
    try {
      m = &model.module_at(s.module);
    } catch (const Error&) {
      throw Error("soft mask site '" + s.module + "' is not a module of the network");
    }
    SHEARS_CHECK(hookable(*m), "soft mask site '", s.module, "' is a ", m->type_name(),
                 ", which has no forward hooks (Conv2d, Linear, BatchNorm2d, ReLU, Sequential do)");
    SHEARS_CHECK(s.size >= 1, "soft mask site '", s.module, "': size must be >= 1");
    Tensor v = init(s).to(DType::F32).to(device).detach().clone();
    SHEARS_CHECK(v.numel() == s.size, "soft mask site '", s.module, "': initial values have ",
                 v.numel(), " entries, expected ", s.size);
    v = reshape(v, {s.size}).clone();
    v.set_requires_grad(true);
    masks_.push_back(v);
  }
  attach();
}

SoftMasks::~SoftMasks() { remove(); }

void SoftMasks::attach() {
  for (std::size_t i = 0; i < sites_.size(); ++i) {
    Tensor mask = masks_[i];
    model_->module_at(sites_[i].module).add_forward_hook([mask](const Tensor& y) {
      return apply_mask(y, mask);
    });
  }
  attached_ = true;
}

void SoftMasks::remove() {
  if (!attached_) return;
  for (const MaskSite& s : sites_) model_->module_at(s.module).clear_forward_hooks();
  attached_ = false;
}

TensorList SoftMasks::named_masks() const {
  TensorList out;
  for (std::size_t i = 0; i < sites_.size(); ++i) out.emplace_back(sites_[i].module, masks_[i]);
  return out;
}

std::int64_t SoftMasks::zeros() const {
  std::int64_t n = 0;
  for (const Tensor& m : masks_) {
    for (float v : m.detach().cpu().to_vector<float>()) n += v == 0.0f ? 1 : 0;
  }
  return n;
}

std::int64_t SoftMasks::total() const {
  std::int64_t n = 0;
  for (const Tensor& m : masks_) n += m.numel();
  return n;
}

Tensor SoftMasks::l1() const {
  Tensor total;
  for (const Tensor& m : masks_) {
    Tensor s = sum(shears::abs(m));
    total = total.defined() ? add(total, s) : s;
  }
  return total;
}

std::vector<MaskSite> gal_mask_sites(const nn::Module& model, bool channels) {
  const models::Arch arch = models::arch_of(model);
  auto& m = const_cast<nn::Module&>(model);
  std::vector<MaskSite> sites;
  if (models::resnet_cifar_depth(arch.name) != 0) {
    for (const auto& [path, mod] : m.named_modules()) {
      if (dynamic_cast<models::CifarBasicBlock*>(mod)) sites.push_back({path + ".bn2", 1});
    }
    return sites;
  }
  if (arch.name == "vgg16" || arch.name == "vgg19") {
    for (const auto& [path, mod] : m.named_modules()) {
      if (path.rfind("features.", 0) != 0 || path.find('.', 9) != std::string::npos) continue;
      if (auto* conv = dynamic_cast<nn::Conv2d*>(mod)) {
        const std::int64_t index = std::stoll(path.substr(9));
        sites.push_back({"features." + std::to_string(index + 2), conv->out_channels()});
      }
    }
    sites.push_back(
        {"classifier.2", static_cast<nn::Linear&>(m.module_at("classifier.0")).out_features()});
    return sites;
  }
  if (arch.name == "densenet40") {
    for (const auto& [path, mod] : m.named_modules()) {
      if (path.rfind("dense", 0) != 0) continue;
      if (auto* conv = dynamic_cast<nn::Conv2d*>(mod))
        sites.push_back({path, conv->out_channels()});
    }
    return sites;
  }
  if (arch.name == "googlenet") {
    for (const auto& [path, mod] : m.named_modules()) {
      if (path.rfind("inception_", 0) != 0) continue;
      const std::size_t dot = path.find('.');
      if (dot == std::string::npos || path.find('.', dot + 1) != std::string::npos) continue;
      if (dynamic_cast<nn::Sequential*>(mod)) sites.push_back({path, 1});
    }
    return sites;
  }
  if (arch.name == "resnet18" || arch.name == "resnet34" || arch.name == "resnet50") {
    const bool bottleneck = arch.name == "resnet50";
    for (const auto& [path, mod] : m.named_modules()) {
      if (path.rfind("layer", 0) != 0) continue;
      const std::size_t dot = path.find('.');
      if (dot == std::string::npos || path.find('.', dot + 1) != std::string::npos) continue;
      if (channels) {
        const auto& c1 = static_cast<nn::BatchNorm2d&>(m.module_at(path + ".bn1"));
        sites.push_back({path + ".bn1", c1.channels()});
        if (bottleneck) {
          const auto& c2 = static_cast<nn::BatchNorm2d&>(m.module_at(path + ".bn2"));
          sites.push_back({path + ".bn2", c2.channels()});
        }
      }
      sites.push_back({path + (bottleneck ? ".bn3" : ".bn2"), 1});
    }
    return sites;
  }
  throw Error("GAL: no mask placement for '" + arch.name +
              "' (CIFAR ResNets, ImageNet ResNets, VGG, GoogLeNet and DenseNet-40 have one)");
}

FoldedExport fold_soft_masks(nn::Module& model, const std::vector<MaskSite>& sites,
                             const std::vector<Tensor>& masks, const Shape& input_chw) {
  SHEARS_CHECK(sites.size() == masks.size(), "fold_soft_masks: ", sites.size(), " sites but ",
               masks.size(), " masks");
  NoGrad no_grad;
  FoldedExport out;
  std::shared_ptr<nn::Module> folded = clone_model(model);
  const bool cifar = models::resnet_cifar_depth(models::arch_of(model).name) != 0;
  std::vector<std::string> blocks;
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> zero_channels;
  for (std::size_t i = 0; i < sites.size(); ++i) {
    const MaskSite& site = sites[i];
    std::vector<float> m = masks[i].detach().cpu().to_vector<float>();
    if (auto* conv = dynamic_cast<nn::Conv2d*>(&folded->module_at(site.module))) {
      // A mask on a conv's output scales its filters (and bias).
      const std::int64_t out_ch = conv->out_channels();
      SHEARS_CHECK(site.size == 1 || site.size == out_ch, "soft mask site '", site.module,
                   "': ", site.size, " mask values for ", out_ch, " channels");
      std::vector<float> scale(static_cast<std::size_t>(out_ch));
      std::vector<std::int64_t> zeros;
      for (std::int64_t c = 0; c < out_ch; ++c) {
        scale[static_cast<std::size_t>(c)] = m[site.size == 1 ? 0 : static_cast<std::size_t>(c)];
        if (scale[static_cast<std::size_t>(c)] == 0.0f) zeros.push_back(c);
      }
      Tensor w = conv->weight.detach();
      Tensor s4 = Tensor::from_vector(scale, {out_ch, 1, 1, 1}, w.device());
      w.copy_(mul(w, s4));
      if (conv->bias.defined()) {
        conv->bias.detach().copy_(
            mul(conv->bias.detach(), Tensor::from_vector(scale, {out_ch}, w.device())));
      }
      if (!zeros.empty()) zero_channels.emplace_back(site.module + ".weight", zeros);
      continue;
    }
    SiteBn sb = site_bn(*folded, site.module);
    if (sb.after_relu) {
      for (float v : m) {
        SHEARS_CHECK(v >= 0.0f, "soft mask site '", site.module,
                     "' follows a ReLU and has a negative mask value (", v,
                     "); only masks >= 0 fold into the batch norm before it");
      }
    }
    const std::int64_t channels = sb.bn->channels();
    SHEARS_CHECK(site.size == 1 || site.size == channels, "soft mask site '", site.module,
                 "': ", site.size, " mask values for ", channels, " channels");
    std::vector<float> scale(static_cast<std::size_t>(channels));
    for (std::int64_t c = 0; c < channels; ++c) {
      scale[static_cast<std::size_t>(c)] = m[site.size == 1 ? 0 : static_cast<std::size_t>(c)];
    }
    Tensor s = Tensor::from_vector(scale, {channels}, sb.bn->weight.device());
    sb.bn->weight.detach().copy_(mul(sb.bn->weight.detach(), s));
    sb.bn->bias.detach().copy_(mul(sb.bn->bias.detach(), s));
    std::vector<std::int64_t> zeros;
    for (std::int64_t c = 0; c < channels; ++c) {
      if (scale[static_cast<std::size_t>(c)] == 0.0f) zeros.push_back(c);
    }
    if (zeros.empty()) continue;
    if (site.size == 1) {
      const auto [parent, name] = split_path(site.module);
      if (cifar && name == "bn2" &&
          dynamic_cast<models::CifarBasicBlock*>(&folded->module_at(parent))) {
        blocks.push_back(parent);
        out.removed_structures.push_back(parent);
        continue;
      }
      // Other structures (an Inception branch, an ImageNet block): their channels, where
      // channel surgery can remove them.
    }
    const std::string producer = producer_of(*folded, sb.bn_path);
    if (producer.empty()) {
      out.kept_zero.push_back(site.module);
      continue;
    }
    zero_channels.emplace_back(producer, zeros);
  }
  std::shared_ptr<nn::Module> net = folded;
  if (!blocks.empty()) {
    models::Arch arch = models::arch_of(*folded);
    std::set<std::string> gone(blocks.begin(), blocks.end());
    for (const std::string& b : arch.removed) gone.insert(b);
    arch.removed.clear();
    for (const auto& [key, w] : arch.widths) {
      const std::string block = key.substr(0, key.rfind('.'));
      if (key.size() > 6 && key.compare(key.size() - 6, 6, ".conv2") == 0 && gone.count(block)) {
        arch.removed.push_back(block);
      }
    }
    for (auto& [key, w] : arch.widths) {
      const std::string block = key.substr(0, key.rfind('.'));
      if (gone.count(block) && key.compare(key.size() - 6, 6, ".conv1") == 0) {
        w = arch.width(block + ".conv2");
      }
    }
    const Generator saved = default_generator();
    net = models::build_model(arch);
    default_generator() = saved;
    std::set<std::string> wanted;
    for (const auto& [name, t] : net->state_dict()) wanted.insert(name);
    TensorList state;
    for (const auto& [name, t] : folded->state_dict()) {
      if (wanted.count(name)) state.emplace_back(name, t);
    }
    net->load_state_dict(state);
  }
  const Device device = [&] {
    TensorList p = model.named_parameters();
    return p.empty() ? Device::cpu() : p.front().second.device();
  }();
  net->to(device);
  net->eval();
  if (zero_channels.empty()) {
    out.surgery = SurgeryResult{net, models::arch_of(*net), {}};
    return out;
  }
  DependencyGraph graph = DependencyGraph::build(*net, input_chw);
  // A group channel is removed when every producer that makes it has it zeroed; a layer keeps at
  // least one of its channels.
  std::map<std::string, std::set<std::int64_t>> zero_of;
  for (const auto& [producer, zeros] : zero_channels) {
    zero_of[producer].insert(zeros.begin(), zeros.end());
  }
  PrunePlan plan;
  std::set<std::string> planned;
  for (const Group& g : graph.groups()) {
    if (g.residual) continue;
    std::vector<std::int64_t> ks;
    std::map<std::string, std::int64_t> left;  // per producer: its channels not removed
    for (const std::string& p : g.producers) left[p] = 0;
    for (std::int64_t k = 0; k < g.size; ++k) {
      bool made = false, zero = !g.blocked[static_cast<std::size_t>(k)];
      for (const std::string& p : g.producers) {
        const auto& pos = g.member(p, 0)->positions[static_cast<std::size_t>(k)];
        if (pos.empty()) continue;
        made = true;
        auto it = zero_of.find(p);
        for (std::int64_t q : pos) zero = zero && it != zero_of.end() && it->second.count(q) > 0;
      }
      if (made && zero) {
        ks.push_back(k);
      } else {
        for (const std::string& p : g.producers) {
          if (!g.member(p, 0)->positions[static_cast<std::size_t>(k)].empty()) ++left[p];
        }
      }
    }
    // Give back one channel to every producer left with none.
    for (const std::string& p : g.producers) {
      if (left[p] > 0) continue;
      for (auto it = ks.begin(); it != ks.end(); ++it) {
        if (!g.member(p, 0)->positions[static_cast<std::size_t>(*it)].empty()) {
          ks.erase(it);
          if (zero_of.count(p)) out.kept_zero.push_back(p + " (one zero channel kept)");
          break;
        }
      }
    }
    if (ks.empty()) continue;
    for (const std::string& p : g.producers) {
      if (zero_of.count(p)) planned.insert(p);
    }
    out.removed_channels += static_cast<std::int64_t>(ks.size());
    plan[g.id] = ks;
  }
  for (const auto& [producer, zeros] : zero_channels) {
    if (!planned.count(producer)) out.kept_zero.push_back(producer);
  }
  if (plan.empty()) {
    out.surgery = SurgeryResult{net, models::arch_of(*net), {}};
    return out;
  }
  // Removed channels are zero where they are made; after a batch norm that follows (a dense
  // block's concat) they carry a constant, folded into the consumers by export_masked.
  Generator probe_gen(97);
  Tensor probe = rand_uniform({2, input_chw[0], input_chw[1], input_chw[2]}, -2.0, 2.0, probe_gen,
                              DType::F32, device);
  MaskedExport me = export_masked(*net, graph, plan, probe);
  std::int64_t not_constant = 0;
  for (const auto& [gid, ks] : me.not_constant)
    not_constant += static_cast<std::int64_t>(ks.size());
  out.removed_channels -= not_constant;
  out.surgery = me.surgery;
  out.surgery.model->eval();
  return out;
}

}  // namespace shears::pruning
