#pragma once

#include <string>
#include <vector>

#include "pruning/methods/method.h"
#include "pruning/surgery.h"

namespace shears::pruning {

/// How FilterSketch initialises a consumer's remaining input channels (docs/methods.md section 4).
enum class SketchMode {
  Faithful,   // the reference's channel sketch over a reshape (not a transpose) of the weight
  Corrected,  // the channel sketch over the input channels (rows = W[:, c, :, :])
};

/// The layers FilterSketch sketches in a model, as units: each unit is the producer layers that
/// share one keep rate (docs/methods.md section 4):
///   CIFAR ResNets         layerS.B.conv1 of every block (ResNet-56: 27 units, ResNet-110: 54)
///   ImageNet ResNets      bottlenecks: layerS.B.conv1 and conv2 together (ResNet-50: 16 units);
///                         basic blocks: layerS.B.conv1
///   GoogLeNet (CIFAR)     per Inception: branch3x3.0, and branch5x5.0 with branch5x5.3 (9 units)
/// Throws ConfigError naming the model for another family.
std::vector<std::vector<std::string>> sketch_units(const nn::Module& model);

/// What a sketch plan did to each producer layer.
struct SketchLayer {
  std::string layer;
  std::int64_t filters = 0;  // N
  std::int64_t width = 0;    // l = int(N * rate) (N when copied)
  bool copied = false;       // l >= d = C_in*K*K: weights copied, layer left at full width
};

/// The replacement plan of FilterSketch for `model` traced into `graph`: every unit's producers
/// get l = int(N * rate) FD-sketched, l2-normalised filters (zero biases), where l < d; the BN
/// after each is re-initialised by the replacement surgery; each consumer of a sketched layer has
/// its input channels channel-sketched in `mode` (a conv both sketched and consuming a sketched
/// layer is filter-sketched first, then channel-sketched, as the reference does). `rates` holds
/// one keep rate per unit (or one for all). `layers` receives what happened to each producer.
/// Throws ConfigError for a rate count that does not match the units or a rate outside (0, 1],
/// and Error when a unit's layer is residual-coupled or not a conv.
ReplacementPlan sketch_plan(const nn::Module& model, const DependencyGraph& graph,
                            const std::vector<double>& rates, SketchMode mode,
                            std::vector<SketchLayer>* layers = nullptr);

/// Parses `sketch_rates` as FilterSketch writes it: a number, a YAML list, or the reference's
/// string form "[0.9]*3+[0.4]*24+[0.3]*24+[0.9]*3" (terms "[r, ...]" optionally "*n", joined
/// by "+"). Throws ConfigError naming `where` for anything else.
std::vector<double> parse_sketch_rates(const std::string& text, const std::string& where);

/// FilterSketch (Lin et al., 2020): replaces the selected layers' filters by their Frequent
/// Directions sketch (no ranking; new filters), then fine-tunes with the experiment's recipe.
/// Keys: `sketch_rates` (keep rates: scalar, list or "[r]*n+..." string; required), `mode`
/// (faithful | corrected, default faithful).
class FilterSketchMethod : public Method {
 public:
  explicit FilterSketchMethod(const Config& section);
  std::string name() const override { return "filtersketch"; }
  PruneResult run(PruneContext& context) override;

 private:
  std::vector<double> rates_;
  SketchMode mode_ = SketchMode::Faithful;
  std::string where_;
};

}  // namespace shears::pruning
