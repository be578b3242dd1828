#pragma once

#include "pruning/methods/method.h"
#include "pruning/methods/selection.h"

namespace shears::pruning {

/// Soft Filter Pruning (He et al., IJCAI 2018) and FPGM (He et al., CVPR 2019): selected filters
/// are zeroed before training and again after every `interval` epochs (and the last), chosen
/// afresh each time; SFP lets zeroed filters regrow between re-masks, FPGM (with grad_mask)
/// also zeroes their gradients every step. At the end the zeroed channels of non-residual groups
/// are removed physically; residual convs in `residual: mask` mode (the papers' "every conv")
/// keep their masked filters at full width, in `group` mode whole residual groups are removed.
/// Keys: the SelectionSpec keys; sfp: rate; fpgm: dist_rate, norm_rate (rate is their sum),
/// grad_mask (default true); both: interval (epochs, default 1). Training uses the experiment's
/// fine-tune recipe (prune.finetune or the train section).
class SoftMethod : public Method {
 public:
  SoftMethod(const Config& section, bool fpgm);
  std::string name() const override { return fpgm_ ? "fpgm" : "sfp"; }
  PruneResult run(PruneContext& context) override;

 private:
  bool fpgm_;
  SelectionSpec spec_;
  double norm_rate_ = 0.0, dist_rate_ = 0.0;
  bool grad_mask_ = true;
  int interval_ = 1;
};

}  // namespace shears::pruning
