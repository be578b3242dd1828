#pragma once

#include <memory>

#include "pruning/methods/l1_random.h"
#include "pruning/methods/method.h"

namespace shears::pruning {

/// Training a pruned architecture from scratch (Liu et al., ICLR 2019): any pruned architecture,
/// with fresh random weights, trained for the recipe's epochs (budget: epochs, "scratch-E") or
/// for floor(epochs * R) epochs with R = dense MACs / pruned MACs and the LR milestones scaled
/// to the new length, floored (budget: flops, "scratch-B", as Rethinking's main_B.py). The
/// architecture comes from, in this order:
///   architecture: {checkpoint: FILE}   the "arch" metadata of a pruned or training checkpoint
///   architecture: {run: DIR}           DIR/pruned.safetensors of an earlier run
///   architecture: {method: NAME, ...}  the export of any method's plan on the dense model, with
///                                      that method's keys and no training (the masks or ranking
///                                      of the given weights decide only the shape)
///   otherwise                          the L1 plan of this section's SelectionSpec keys
class ScratchMethod : public Method {
 public:
  explicit ScratchMethod(const Config& section);
  std::string name() const override { return "scratch"; }
  PruneResult run(PruneContext& context) override;

 private:
  OneShotMethod selector_;
  std::string budget_;
  std::string arch_checkpoint_;
  std::unique_ptr<Method> arch_method_;
  std::string arch_source_ = "l1 plan";
};

}  // namespace shears::pruning
