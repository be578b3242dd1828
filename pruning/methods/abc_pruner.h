#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pruning/methods/method.h"
#include "pruning/search/bee_colony.h"
#include "pruning/search/channel_space.h"
#include "pruning/search/driver.h"

namespace shears::pruning {

/// ABCPruner (Lin et al., IJCAI 2020; docs/methods.md §5): an artificial bee colony searches one
/// integer per unit (width int(C·c/10)); a candidate's fitness is its accuracy after
/// calfitness_epoch epochs of training from weights inherited from the dense model; the best
/// candidate's trained weights start the final fine-tune. Keys (configs/README.md):
///   mode: corrected|faithful, food_number, food_limit, honeychange_num, max_preserve,
///   max_cycle, calfitness_epoch, inherit, fitness_split, fitness_metric, candidate_lr,
///   train_batches, eval_batches, flops_target, params_target, budget_mode, parallel,
///   threads_per_candidate, unit_sharing, skip, stop_after.
class AbcMethod : public Method {
 public:
  explicit AbcMethod(const Config& section);
  std::string name() const override { return "abc"; }
  PruneResult run(PruneContext& context) override;

 private:
  bool faithful_ = false;
  search::BeeColonyOptions colony_;
  std::int64_t calfitness_epoch_ = 2;
  search::Inherit inherit_ = search::Inherit::RandomPretrain;
  std::string fitness_split_;
  std::string fitness_metric_ = "top1";
  double candidate_lr_ = 0.0;  // 0: the fine-tune recipe's lr
  std::int64_t train_batches_ = 0;
  std::int64_t eval_batches_ = 0;
  double flops_target_ = 0.0;
  double params_target_ = 0.0;
  bool repair_ = true;
  search::ParallelOptions parallel_;
  std::string unit_sharing_ = "auto";
  std::vector<std::string> skip_;
  std::int64_t stop_after_ = 0;
};

}  // namespace shears::pruning
