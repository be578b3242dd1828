#pragma once

#include "pruning/methods/method.h"
#include "pruning/methods/selection.h"

namespace shears::pruning {

/// Soft Filter Pruning (He et al., IJCAI 2018) and FPGM (He et al., CVPR 2019): selected filters
/// are zeroed before training and again after every `interval` epochs (and the last), chosen
/// afresh each time; SFP lets zeroed filters regrow between re-masks, FPGM (with grad_mask)
/// also zeroes their gradients every step. Re-masking happens after an epoch's training and
/// before its validation (as the reference validates), after epochs e (0-based) with
/// e % interval == 0 and after the last. Only conv filters are zeroed (the papers); momentum is
/// left alone as in the reference (FPGM issue #47) unless mask_momentum. The masks are saved in
/// every training checkpoint, so a resumed run continues with them. At the end the zeroed
/// channels of non-residual groups are removed physically with their BN constants folded into
/// the consumers (export_masked), so the export computes what the masked network computes;
/// residual convs in `residual: mask` mode (the papers' "every conv") keep their masked filters
/// at full width; in `group` mode whole residual groups are removed.
/// Keys: the SelectionSpec keys; sfp: rate; fpgm: dist_rate, norm_rate (rate is their sum),
/// grad_mask (default true); both: interval (epochs, default 1), mask_momentum (default false),
/// skip_downsample (default true: projection convs are not masked in mask mode). Training uses
/// the experiment's fine-tune recipe (prune.finetune or the train section).
/// Which of the two soft methods: the same schedule, two ways of choosing the filters.
enum class SoftVariant {
  Sfp,   // smallest L2 norms, floor(N * rate) per layer
  Fpgm,  // norm_rate by L2 norm, then dist_rate nearest the geometric median
};

class SoftMethod : public Method {
 public:
  SoftMethod(const Config& section, SoftVariant variant);
  std::string name() const override { return fpgm_ ? "fpgm" : "sfp"; }
  PruneResult run(PruneContext& context) override;

 private:
  bool fpgm_;
  SelectionSpec spec_;
  double norm_rate_ = 0.0, dist_rate_ = 0.0;
  bool grad_mask_ = true;
  int interval_ = 1;
  bool mask_momentum_ = false;
  bool skip_downsample_ = true;
};

}  // namespace shears::pruning
