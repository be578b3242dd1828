#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kernels/common/view.h"

namespace shears::models {

/// How a CIFAR ResNet block joins its input to its output when the two differ in resolution or
/// width (docs/methods.md, common conventions). Other families ignore it.
enum class Shortcut {
  /// Option A, variant (a) of SFP/FPGM: average-pool with kernel 1 and the block stride, then
  /// zero channels appended after the input's channels. Parameter-free.
  AvgPoolZeros,
  /// Option A, variant (b) of GAL/FilterSketch/ABCPruner: every second pixel, then zero channels
  /// on both sides (C/4 each for a width-doubling block). Parameter-free.
  SubsamplePad,
  /// Option B: a 1x1 convolution with the block stride followed by batch norm ("downsample").
  Projection,
  /// Option A as Rethinking the Value of Network Pruning (Liu et al., ICLR 2019) writes it for
  /// its L1 ResNets: AvgPool2d(2, 2) (a true 2x2 average for a stride-2 block), then zero
  /// channels appended. Parameter-free.
  AvgPool2Zeros,
};

/// "a-avgpool", "a-subsample", "b-conv" or "a-avgpool2".
std::string shortcut_name(Shortcut shortcut);
/// Inverse of shortcut_name; throws ConfigError listing the accepted names.
Shortcut parse_shortcut(const std::string& name);

/// A network described without its weights: which registry model it is, what it sees and emits,
/// and the channel count of every layer whose width is a free choice. A pruned network is the
/// same Arch with other counts, so it can be rebuilt (and its checkpoint reloaded) from the Arch
/// alone. Widths are keyed by the module path of the layer whose output channels they count:
///   CIFAR ResNet    conv1 (the stem, width of stage 1's residual stream at its start),
///                   layerS.B.conv1 (block mid width), layerS.B.conv2 (block output width);
///                   an option-B projection takes its block's output width
///   ImageNet ResNet conv1, layerS.B.conv1, layerS.B.conv2 and, for bottlenecks,
///                   layerS.B.conv3 (the block output); downsample follows the block output
///   VGG             features.I for every conv, classifier.0 for the hidden FC layer
///   MobileNetV2     features.0.0 (stem), features.N.conv.0.0 (expansion 1x1 of blocks with
///                   expansion, its depthwise conv keeps the width), features.N.conv.K for the
///                   projection 1x1 (K = 2 with expansion, 1 without), features.18.0 (last 1x1);
///                   block 1 has no expansion unless features.1.conv.0.0 is listed
///   GoogLeNet       pre_layers.0, and per Inception I.branch1x1.0, I.branch3x3.0 / .3,
///                   I.branch5x5.0 / .3 / .6, I.branch_pool.1 (see googlenet.h)
/// The classifier's output is num_classes. Entries keep the order of the layers in the network.
struct Arch {
  /// Registry name: resnet20 ... mobilenetv2 (see registry.h).
  std::string name;
  std::int64_t num_classes = 10;
  /// Input image shape {C, H, W}; C is the stem's input channels, H and W are nominal (the
  /// networks pool globally and accept other sizes large enough for their strides).
  Shape input{3, 32, 32};
  /// Width multiplier the default widths were derived with (recorded for reports; the widths
  /// below are what is built).
  double width_mult = 1.0;
  /// CIFAR ResNet shortcut kind (option A (a) by default, as in the pruning papers).
  Shortcut shortcut = Shortcut::AvgPoolZeros;
  /// (layer path, output channels) in network order.
  std::vector<std::pair<std::string, std::int64_t>> widths;
  /// CIFAR ResNet with Shortcut::SubsamplePad only: (block path "layerS.B", number of leading
  /// zero channels of its padded shortcut). A block not listed splits its padding evenly, the
  /// extra channel (odd padding) going after the input; an entry is needed only when a pruned
  /// shortcut keeps uneven zero channels on the two sides.
  std::vector<std::pair<std::string, std::int64_t>> pad_front;
  /// Conv layer paths that carry a constant-input term (nn::Conv2d::set_constant_kernel): the
  /// exact contribution of removed input channels that were constant. Empty for every network
  /// as built; pruning export of masked channels (SFP, FPGM) adds entries.
  std::vector<std::string> constant_inputs;
  /// Structures removed whole, in network order. Empty as built; GAL's export of zeroed masks
  /// adds entries.
  ///   CIFAR ResNet     block paths "layerS.B" whose residual branch is gone; the block keeps only
  ///                    its shortcut (the identity, or for the first block of a stage its zero-pad
  ///                    or projection shortcut). Its width entries stay: .conv2 is the block's
  ///                    output width, .conv1 equals it.
  ///   ImageNet ResNet  block paths "layerS.B" likewise: the identity, or for a block with a
  ///                    projection relu(downsample(x)) (its 1x1 conv and BN stay). All its width
  ///                    entries equal its output width (.conv3 for bottlenecks, .conv2 else).
  ///   GoogLeNet        branch paths "inception_X.branchY" (branch1x1, branch3x3, branch5x5,
  ///                    branch_pool): the branch is gone and the Inception's concat, so its
  ///                    consumers' inputs, are narrower by the branch's width. Its width entries
  ///                    stay as they were. An Inception keeps at least one branch.
  std::vector<std::string> removed;

  /// Width of `layer`; throws ConfigError naming the layer and the architecture when absent.
  std::int64_t width(const std::string& layer) const;
  /// Sets the width of an existing entry (>= 1); throws ConfigError when absent or < 1.
  void set_width(const std::string& layer, std::int64_t channels);
  bool has_width(const std::string& layer) const;

  bool operator==(const Arch& other) const;
  bool operator!=(const Arch& other) const { return !(*this == other); }
};

/// One JSON object, for checkpoint metadata and reports:
///   {"name": "resnet56", "num_classes": 10, "input": [3, 32, 32], "width_mult": 1.0,
///    "shortcut": "a-avgpool", "widths": {"conv1": 16, "layer1.0.conv1": 16, ...},
///    "pad_front": {"layer2.0": 8}, "constant_inputs": ["layer1.0.conv2"],
///    "removed": ["layer1.3"]}
///   (pad_front, constant_inputs and removed only when non-empty)
/// Object keys keep the Arch's order.
std::string arch_to_json(const Arch& arch);
/// Inverse of arch_to_json. Throws CheckpointError naming the field for text that is not such
/// an object, a missing or mistyped field, an unknown field or a width < 1. Whether the widths
/// fit the named model is checked by build_model.
Arch arch_from_json(const std::string& json);

}  // namespace shears::models
