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
/// Throws ConfigError naming the model for another network.
WidthEncoding width_encoding(const models::Arch& base);

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

 private:
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
