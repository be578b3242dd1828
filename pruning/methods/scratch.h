#pragma once

#include "pruning/methods/method.h"
#include "pruning/methods/one_shot.h"

namespace shears::pruning {

/// Training the pruned architecture from scratch (Liu et al., ICLR 2019): the architecture the
/// L1 plan of the same keys would produce, with fresh random weights, trained for the recipe's
/// epochs (budget: epochs, "scratch-E") or scaled by dense/pruned FLOPs (budget: flops,
/// "scratch-B").
class ScratchMethod : public Method {
 public:
  explicit ScratchMethod(const Config& section);
  std::string name() const override { return "scratch"; }
  PruneResult run(PruneContext& context) override;

 private:
  OneShotMethod selector_;
  std::string budget_;
};

}  // namespace shears::pruning
