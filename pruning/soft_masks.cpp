#include "pruning/soft_masks.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

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
#include "models/googlenet.h"
#include "models/model.h"
#include "models/registry.h"
#include "models/resnet_cifar.h"
#include "models/resnet_imagenet.h"
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
                     const std::function<Tensor(const MaskSite&)>& init, Device device,
                     bool trainable)
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
    v.set_requires_grad(trainable);
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

namespace {

// The structure a site's all-zero scalar mask removes whole, or "": a CIFAR ResNet block (its
// branch's bn2), an ImageNet ResNet block (bn3 of a bottleneck, bn2 of a basic block), a
// GoogLeNet Inception branch.
std::string removable_structure(nn::Module& model, const MaskSite& site) {
  const auto [parent, name] = split_path(site.module);
  if (parent.empty()) return "";
  nn::Module& p = model.module_at(parent);
  if (name == "bn2" &&
      (dynamic_cast<models::CifarBasicBlock*>(&p) || dynamic_cast<models::BasicBlock*>(&p))) {
    return parent;
  }
  if (name == "bn3" && dynamic_cast<models::Bottleneck*>(&p)) return parent;
  if (dynamic_cast<models::Inception*>(&p)) return site.module;
  return "";
}

bool inside(const std::string& path, const std::set<std::string>& structures) {
  for (const std::string& s : structures) {
    if (path == s || path.rfind(s + ".", 0) == 0) return true;
  }
  return false;
}

// `folded` rebuilt without the structures `gone` (plus those its architecture already lacks);
// the weights of everything that stays are copied, and a GoogLeNet consumer of an Inception
// that lost branches keeps only the input channels of the branches that stay (the removed ones
// carry exact zeros, so the logits do not change).
std::shared_ptr<nn::Module> remove_structures(nn::Module& folded,
                                              const std::set<std::string>& gone) {
  models::Arch arch = models::arch_of(folded);
  std::set<std::string> all(gone.begin(), gone.end());
  all.insert(arch.removed.begin(), arch.removed.end());
  // Network order: the position of the structure's first width entry.
  auto position = [&](const std::string& path) {
    for (std::size_t i = 0; i < arch.widths.size(); ++i) {
      if (arch.widths[i].first.rfind(path + ".", 0) == 0) return i;
    }
    return arch.widths.size();
  };
  arch.removed.assign(all.begin(), all.end());
  std::stable_sort(
      arch.removed.begin(), arch.removed.end(),
      [&](const std::string& a, const std::string& b) { return position(a) < position(b); });
  const bool cifar = models::resnet_cifar_depth(arch.name) != 0;
  const bool imagenet_resnet =
      arch.name == "resnet18" || arch.name == "resnet34" || arch.name == "resnet50";
  if (cifar || imagenet_resnet) {
    // A removed block's entries equal its output width (arch.h).
    const std::string out_layer = arch.name == "resnet50" ? ".conv3" : ".conv2";
    for (const std::string& b : gone) {
      const std::int64_t out = arch.width(b + out_layer);
      for (auto& [key, w] : arch.widths) {
        if (key.rfind(b + ".", 0) == 0) w = out;
      }
    }
  }
  // GoogLeNet: per consumer tensor, the input channels that stay.
  std::map<std::string, std::vector<std::int64_t>> consumer_keep;
  if (dynamic_cast<models::GoogLeNet*>(&folded)) {
    std::vector<std::pair<std::string, models::Inception*>> incs;
    for (const auto& [n, child] : folded.children()) {
      if (auto* inc = dynamic_cast<models::Inception*>(child.get())) incs.emplace_back(n, inc);
    }
    for (std::size_t i = 0; i < incs.size(); ++i) {
      const auto& [path, inc] = incs[i];
      // Each branch's last conv gives its slot of the concat, in branch order.
      const std::tuple<const char*, nn::Sequential*, std::size_t> branches[4] = {
          {"branch1x1", inc->branch1x1.get(), 0},
          {"branch3x3", inc->branch3x3.get(), 3},
          {"branch5x5", inc->branch5x5.get(), 6},
          {"branch_pool", inc->branch_pool.get(), 1}};
      std::vector<std::int64_t> keep;
      std::int64_t offset = 0;
      bool dropped = false;
      for (const auto& [bname, seq, last] : branches) {
        if (seq == nullptr) continue;
        const std::int64_t w = static_cast<nn::Conv2d&>((*seq)[last]).out_channels();
        if (gone.count(path + "." + bname)) {
          dropped = true;
        } else {
          for (std::int64_t c = 0; c < w; ++c) keep.push_back(offset + c);
        }
        offset += w;
      }
      if (!dropped) continue;
      if (i + 1 < incs.size()) {
        const std::string next = incs[i + 1].first;
        for (const char* c : {".branch1x1.0.weight", ".branch3x3.0.weight", ".branch5x5.0.weight",
                              ".branch_pool.1.weight"}) {
          consumer_keep[next + c] = keep;
        }
      } else {
        consumer_keep["linear.weight"] = keep;
      }
    }
  }
  const Generator saved = default_generator();
  std::shared_ptr<nn::Module> net = models::build_model(arch);
  default_generator() = saved;
  std::set<std::string> wanted;
  for (const auto& [name, t] : net->state_dict()) wanted.insert(name);
  TensorList state;
  for (const auto& [name, t] : folded.state_dict()) {
    if (!wanted.count(name)) continue;
    auto it = consumer_keep.find(name);
    state.emplace_back(name, it == consumer_keep.end() ? t : channel_gather(t, 1, it->second));
  }
  net->load_state_dict(state);
  return net;
}

}  // namespace

FoldedExport fold_soft_masks(nn::Module& model, const std::vector<MaskSite>& sites,
                             const std::vector<Tensor>& masks, const Shape& input_chw,
                             bool fold_scales) {
  SHEARS_CHECK(sites.size() == masks.size(), "fold_soft_masks: ", sites.size(), " sites but ",
               masks.size(), " masks");
  NoGrad no_grad;
  FoldedExport out;
  std::shared_ptr<nn::Module> folded = clone_model(model);
  std::vector<std::vector<float>> values;
  for (const Tensor& m : masks) values.push_back(m.detach().cpu().to_vector<float>());

  // Structures removed whole: all-zero masks on a block's branch or an Inception branch. An
  // Inception keeps at least one branch: when all its branches are zero, the first stays, and
  // its channels go the per-channel way (one zero channel kept).
  std::vector<std::pair<std::size_t, std::string>> candidates;
  std::map<std::string, std::int64_t> zero_branches;  // Inception path → zero branches
  for (std::size_t i = 0; i < sites.size(); ++i) {
    const bool all_zero =
        std::all_of(values[i].begin(), values[i].end(), [](float v) { return v == 0.0f; });
    if (!all_zero) continue;
    const std::string structure = removable_structure(*folded, sites[i]);
    if (structure.empty()) continue;
    candidates.emplace_back(i, structure);
    if (dynamic_cast<models::Inception*>(&parent_of(*folded, sites[i].module))) {
      ++zero_branches[split_path(sites[i].module).first];
    }
  }
  std::set<std::string> gone;
  std::set<std::string> full_inceptions;  // Inceptions whose first zero branch stays
  for (const auto& [i, structure] : candidates) {
    if (dynamic_cast<models::Inception*>(&parent_of(*folded, sites[i].module))) {
      const std::string inc = split_path(sites[i].module).first;
      const auto present = static_cast<std::int64_t>(folded->module_at(inc).children().size());
      if (zero_branches[inc] == present && !full_inceptions.count(inc)) {
        full_inceptions.insert(inc);
        continue;
      }
    }
    gone.insert(structure);
    out.removed_structures.push_back(structure);
  }

  std::vector<std::pair<std::string, std::vector<std::int64_t>>> zero_channels;
  // Unfolded sites (fold_scales false): site index and the tensor whose dim 0 its channels are.
  std::vector<std::pair<std::size_t, std::string>> unfolded;
  for (std::size_t i = 0; i < sites.size(); ++i) {
    const MaskSite& site = sites[i];
    if (inside(site.module, gone)) continue;
    const std::vector<float>& m = values[i];
    // The scale folded: the mask, or (fold_scales false) only its zeros.
    auto scale_of = [&](std::size_t k) {
      const float v = m[site.size == 1 ? 0 : k];
      return fold_scales || v == 0.0f ? v : 1.0f;
    };
    if (auto* conv = dynamic_cast<nn::Conv2d*>(&folded->module_at(site.module))) {
      // A mask on a conv's output scales its filters (and bias).
      const std::int64_t out_ch = conv->out_channels();
      SHEARS_CHECK(site.size == 1 || site.size == out_ch, "soft mask site '", site.module,
                   "': ", site.size, " mask values for ", out_ch, " channels");
      std::vector<float> scale(static_cast<std::size_t>(out_ch));
      std::vector<std::int64_t> zeros;
      for (std::int64_t c = 0; c < out_ch; ++c) {
        scale[static_cast<std::size_t>(c)] = scale_of(static_cast<std::size_t>(c));
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
      if (!fold_scales) unfolded.emplace_back(i, site.module + ".weight");
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
      scale[static_cast<std::size_t>(c)] = scale_of(static_cast<std::size_t>(c));
    }
    Tensor s = Tensor::from_vector(scale, {channels}, sb.bn->weight.device());
    sb.bn->weight.detach().copy_(mul(sb.bn->weight.detach(), s));
    sb.bn->bias.detach().copy_(mul(sb.bn->bias.detach(), s));
    if (!fold_scales) unfolded.emplace_back(i, sb.bn_path + ".weight");
    std::vector<std::int64_t> zeros;
    for (std::int64_t c = 0; c < channels; ++c) {
      if (scale[static_cast<std::size_t>(c)] == 0.0f) zeros.push_back(c);
    }
    if (zeros.empty()) continue;
    // Channels of a structure that is not removed whole (a per-channel site, an ImageNet block
    // joint site, an Inception's last zero branch): removed where channel surgery can.
    const std::string producer = producer_of(*folded, sb.bn_path);
    if (producer.empty()) {
      out.kept_zero.push_back(site.module);
      continue;
    }
    zero_channels.emplace_back(producer, zeros);
  }
  std::shared_ptr<nn::Module> net = folded;
  if (!gone.empty()) net = remove_structures(*folded, gone);
  const Device device = [&] {
    TensorList p = model.named_parameters();
    return p.empty() ? Device::cpu() : p.front().second.device();
  }();
  net->to(device);
  net->eval();
  // The unfolded masks on what stays of their channels (the surgery's keep map).
  auto finish = [&]() {
    for (const auto& [i, tensor] : unfolded) {
      const MaskSite& site = sites[i];
      std::vector<float> kept;
      auto it = out.surgery.keep.find(tensor);
      if (site.size == 1 || it == out.surgery.keep.end() || !it->second.count(0)) {
        kept = values[i];
      } else {
        for (std::int64_t c : it->second.at(0))
          kept.push_back(values[i][static_cast<std::size_t>(c)]);
      }
      const auto n = static_cast<std::int64_t>(kept.size());
      out.scale_sites.push_back({site.module, n});
      out.scales.push_back(Tensor::from_vector(kept, {n}, device));
    }
    return out;
  };
  if (zero_channels.empty()) {
    out.surgery = SurgeryResult{net, models::arch_of(*net), {}};
    return finish();
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
    return finish();
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
  return finish();
}

}  // namespace shears::pruning
