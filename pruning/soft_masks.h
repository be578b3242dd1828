#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/nn/module.h"
#include "engine/tensor.h"
#include "models/arch.h"
#include "pruning/surgery.h"

namespace shears::pruning {

/// Where a learnable soft mask multiplies a layer's output: the module path and the mask's
/// length (1: one scalar for the whole output, e.g. a residual branch or an Inception branch;
/// C: one value per channel of an (N, C, H, W) or (N, C) output).
struct MaskSite {
  std::string module;
  std::int64_t size = 1;
};

/// Soft masks placed on named layers of an existing network without editing it: each site's
/// module gets a forward hook that multiplies its output by the mask (soft_mask per channel, a
/// broadcast product for a scalar). The masks are leaves (requiring grad unless frozen) owned here,
/// not parameters of the network (so the network's optimiser and state dict do not see them). The
/// hooks are removed by remove() and by the destructor.
class SoftMasks {
 public:
  /// `init(site)` returns each mask's initial values (shape {size}). `trainable` false: the masks
  /// do not require grad (frozen multipliers, as in GAL's fine-tuning). Throws Error naming a
  /// site whose module does not exist or is of a kind without hooks.
  SoftMasks(nn::Module& model, std::vector<MaskSite> sites,
            const std::function<Tensor(const MaskSite&)>& init, Device device,
            bool trainable = true);
  ~SoftMasks();
  SoftMasks(const SoftMasks&) = delete;
  SoftMasks& operator=(const SoftMasks&) = delete;

  const std::vector<MaskSite>& sites() const { return sites_; }
  /// (site module path, mask) per site, in site order.
  TensorList named_masks() const;
  const Tensor& mask(std::size_t i) const { return masks_[i]; }
  /// Number of mask entries that are exactly zero, and in total.
  std::int64_t zeros() const;
  std::int64_t total() const;
  /// The L1 norm of every mask, as a recorded (differentiable) scalar.
  Tensor l1() const;
  void remove();

 private:
  void attach();
  nn::Module* model_;
  std::vector<MaskSite> sites_;
  std::vector<Tensor> masks_;
  bool attached_ = false;
};

/// GAL's mask sites (docs/methods.md section 7) of a registry network:
///   CIFAR ResNet   one scalar per residual block, on its branch: layerS.B.bn2
///   ImageNet ResNet one scalar per block on its last BN (layerS.B.bn2 / bn3); with `channels`
///                  also one per channel after conv1/conv2 (the "joint" variant)
///   VGG            per channel after every conv-BN-ReLU (features.I+2) and per unit of the
///                  hidden FC layer (classifier.2)
///   GoogLeNet      one scalar per Inception branch (inception_X.branchY)
///   DenseNet-40    per new channel of every dense layer (denseB.L.conv, the conv's output)
/// Throws Error for another family.
std::vector<MaskSite> gal_mask_sites(const nn::Module& model, bool channels = false);

/// What fold_soft_masks made of a masked network.
struct FoldedExport {
  SurgeryResult surgery;
  /// Structures whose mask was entirely zero and which were removed whole (Arch::removed: a
  /// ResNet block, an Inception branch), and the number of channels removed at the other sites.
  std::vector<std::string> removed_structures;
  std::int64_t removed_channels = 0;
  /// Sites whose zeros could not be removed (left in the network as zero scales).
  std::vector<std::string> kept_zero;
  /// fold_scales false only: every site that stays in the exported network (not inside a
  /// removed structure) and its mask values on the channels that stay, which were not folded.
  /// Applied as masks (SoftMasks) they make the export compute what the masked network did;
  /// fold_soft_masks of the export with them folds them (no zero is left to remove).
  std::vector<MaskSite> scale_sites;
  std::vector<Tensor> scales;
};

/// The plain network that computes what `model` with `masks` applied computes in eval mode:
/// every mask value is folded into the batch norm that produces the site's output (gamma and
/// beta scaled; a site after a ReLU needs masks >= 0, relu(z) m = relu(m z)) or, for a site on a
/// conv, into the conv's filters; then zeroed structures are removed:
///   - a structure whose scalar mask is 0 is removed whole (Arch::removed): a CIFAR ResNet block
///     becomes its shortcut, an ImageNet ResNet block the identity or, with a projection,
///     relu(downsample(x)) (bn3 / bn2 of the block carried the mask); an Inception branch leaves
///     the concat and its consumers' weights lose the branch's input channels (exact: the
///     branch carried zeros). An Inception keeps one branch: when all four are zero, the first
///     stays with one zero channel (in kept_zero). Masks inside a removed structure (the joint
///     variant's channel masks of a removed block) go with it;
///   - zero channels (per-channel sites) are removed by channel surgery where every producer of
///     the channel has it zeroed; a channel that reaches its consumers as a constant through a
///     batch norm (a dense block) has the constant folded into them (export_masked). Every layer
///     keeps at least one channel: a layer with all channels zero keeps one zero channel (listed
///     in kept_zero, as are zeros of residual channels, which are never removed).
/// With `fold_scales` false only the zeros are folded (so the structures and channels are
/// removed the same way) and the other values are returned in scale_sites / scales, for a
/// fine-tuning that keeps them as frozen masks. `model` must have no hooks of its own; it is not
/// changed. The result is a new model on the model's device, in eval mode. Throws Error naming
/// the site for a negative mask after a ReLU or a site without a preceding batch norm.
FoldedExport fold_soft_masks(nn::Module& model, const std::vector<MaskSite>& sites,
                             const std::vector<Tensor>& masks, const Shape& input_chw,
                             bool fold_scales = true);

}  // namespace shears::pruning
