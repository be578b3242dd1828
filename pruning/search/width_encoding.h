#pragma once

// MetaPruning's network encodings (docs/methods.md §6): a vector of scale indices, 31 scales
// 0.10, 0.13, ..., 1.00, width = int(max · scale). Stage genes set the width shared by every
// layer of a residual stage (so the residual stream is pruned, one width per stage); mid genes
// set the inner width of one block.

#include <cstdint>
#include <string>
#include <vector>

#include "engine/nn/module.h"
#include "models/arch.h"
#include "pruning/methods/method.h"

namespace shears::pruning::search {

constexpr int kMetaScales = 31;
/// 0.10 + 0.03 · index, index in [0, 31).
double meta_scale(int index);
/// int(max · scale) computed exactly, (max · (10 + 3 · index)) / 100, at least 1. (The
/// reference computes it in floating point, where a product that should be whole can land just
/// below it; this keeps the exact value.) Throws Error for an index outside [0, 31).
std::int64_t meta_width(std::int64_t max, int index);

struct WidthGene {
  enum class Kind { Stage, Mid };
  std::string name;  // "stage1", "layer1.0.mid", "stem"
  Kind kind = Kind::Stage;
  std::int64_t max = 0;  // the width at scale 1.00
  /// The architecture layers (Arch width keys) whose output width this gene sets.
  std::vector<std::string> layers;
};

/// Which genes set the output and input widths of one layer (module path): a conv, linear or BN
/// layer; -1: that dimension is fixed.
struct LayerGenes {
  std::string path;
  int out = -1;
  int in = -1;
};

/// The encoding of a registry network: its genes, in order, and the architecture at full width.
struct WidthEncoding {
  models::Arch base;
  std::vector<WidthGene> genes;
  /// Every conv, BN and linear layer whose width some gene sets.
  std::vector<LayerGenes> layers;
  /// The architecture of `genes` (one scale index per gene). Throws Error for a wrong length or
  /// an index outside [0, 31).
  models::Arch arch(const std::vector<int>& code) const;
  /// Every gene at full width (index 30).
  std::vector<int> full() const;
  /// The widths of a code by gene name (reports).
  std::vector<std::int64_t> widths(const std::vector<int>& code) const;
};

/// The encoding of `base` (its widths are the maxima):
///   CIFAR ResNet-(6n+2)  genes stage1..stage3 (stage1 includes the stem conv1; stage S sets
///                        every layerS.B.conv2), then layerS.B.mid for every block (its conv1):
///                        3 + 3n genes (ResNet-20: 12, ResNet-56: 30). Our CPU-sized encoding.
///   ResNet-50            gene 0 stem (conv1), genes 1-3 stage1..stage3 (every layerS.B.conv3 of
///                        the stage; the projection follows the block output), stage 4 fixed,
///                        genes 4-19 the mid width of each of the 16 bottlenecks (conv1 and conv2
///                        share it): 20 genes, as docs/methods.md gives them.
///   MobileNetV2          always the reference's 1.4x supernet (mobilenetv2_supernet_arch; the
///                        widths of `base` are not used, its classes and input are): gene 0 the
///                        stem, genes 1-7 the output width of stages 1-7 (16, 24, 32, 64, 96,
///                        160, 320 at 1.0x; shared by every block of the stage, so a residual
///                        add always meets equal widths), genes 8-24 the mid (expansion) width of
///                        blocks features.1..17 (its depthwise conv follows it); the last 1x1
///                        (1280) and the classifier are fixed: 25 genes. The reference writes
///                        the same code as 18 per-layer stage ids plus 17 mid ids.
/// Throws ConfigError naming the model for another network.
WidthEncoding width_encoding(const models::Arch& base);

/// MobileNetV2's stages (torchvision's t, c, n, s table without the stem): blocks per stage and
/// the supernet's stage output widths.
constexpr int kMobileNetV2Stages = 7;
constexpr int kMobileNetV2Blocks[kMobileNetV2Stages] = {1, 2, 3, 4, 3, 3, 1};
constexpr std::int64_t kMobileNetV2StageWidths[kMobileNetV2Stages] = {22,  33,  44, 88,
                                                                      132, 224, 448};
/// MetaPruning's MobileNetV2 supernet (docs/methods.md §6): stem 44, stage outputs 22, 33, 44,
/// 88, 132, 224, 448 (about 1.4x the standard network), every block with an expansion 1x1 —
/// the first one at 1x its input (44), the others at 6x — and the last 1x1 at 1280. A plain
/// registry mobilenetv2 Arch (the first block's expansion listed as features.1.conv.0.0).
models::Arch mobilenetv2_supernet_arch(std::int64_t num_classes, const Shape& input);

/// MACs and parameters of any code of an encoding, from one trace of the full-width network: a
/// layer's MACs and a parameter's size scale with the kept fraction of the dimensions the
/// encoding's genes set (output and input channels of each layer). Equal to count_cost of the
/// built network of the code (tested), without building it; unlike ArchCost's channel groups it
/// follows a residual stream pruned through zero-padded shortcuts.
class EncodingCost {
 public:
  EncodingCost(nn::Module& full, const Shape& input_chw, const WidthEncoding& encoding);
  struct Cost {
    std::int64_t macs = 0;
    std::int64_t params = 0;
  };
  Cost cost(const std::vector<int>& code) const;
  Cost full() const { return full_; }
  /// The conv and linear layers of the network of `code`, in trace order, as a latency table
  /// keys them, at batch `batch` (a depthwise conv keeps one group per channel).
  std::vector<LayerShape> layer_shapes(const std::vector<int>& code, std::int64_t batch) const;

 private:
  struct Traced {
    std::string op;
    Shape weight, input;
    int stride = 1, padding = 0;
    std::int64_t groups = 1;
    int out = -1, in = -1;
  };
  std::vector<Traced> traced_;
  struct Scaled {
    std::int64_t base = 0;
    int out = -1, in = -1;  // genes scaling dims 0 and 1
  };
  std::int64_t scaled(const Scaled& s, const std::vector<std::int64_t>& widths) const;
  const WidthEncoding& encoding_;
  std::vector<Scaled> layers_, params_;
  Cost full_;
};

}  // namespace shears::pruning::search
