#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pruning/methods/method.h"
#include "pruning/search/driver.h"
#include "pruning/search/evolution.h"

namespace shears::pruning {

/// MetaPruning (Liu et al., ICCV 2019; docs/methods.md §6): a PruningNet trained with a random
/// encoding per step generates the weights of any width; an evolutionary search scores codes
/// inside a FLOPs window by the PruningNet's held-out top-1 after BN recalibration; the winner
/// is trained from scratch or from its generated weights. Keys (configs/README.md):
///   pruningnet: {epochs, lr, momentum, weight_decay, schedule, milestones, gamma,
///                label_smoothing, hidden, batches}
///   search: {population, memory, parents, iterations, mutations, crossovers, mutate_prob,
///            init_lo, init_hi}
///   flops_target, flops_window, flops_min, flops_max, latency_target_ms, latency_batch,
///   recalibrate_batches, eval_batches, fitness_split, final_init, compare_uniform, rank_check,
///   rank_check_epochs, parallel, threads_per_candidate, stop_after.
/// A latency target admits only codes whose summed per-layer latency (PruneContext::
/// layer_latency, each layer shape measured once) is at most the target; candidates are scored
/// `parallel` at a time on as many PruningNet copies, and spread over the ranks of a distributed
/// run (candidate i on rank i % ranks), with the same results in every case.
class MetaPruningMethod : public Method {
 public:
  explicit MetaPruningMethod(const Config& section);
  std::string name() const override { return "metapruning"; }
  PruneResult run(PruneContext& context) override;

  /// Spearman rank correlation of two equally long lists (average ranks for ties).
  static double spearman(const std::vector<double>& a, const std::vector<double>& b);

 private:
  struct PnRecipe {
    std::int64_t epochs = 4;
    double lr = 0.1, momentum = 0.9, weight_decay = 1e-4, gamma = 0.1, label_smoothing = 0.1;
    std::string schedule = "multistep";
    std::vector<int> milestones;
    std::int64_t hidden = 0;  // 0: the network's (32 for ResNets, 64 for MobileNetV2)
    std::int64_t batches = 0;
  } pn_;
  search::EvolutionOptions evo_;
  double flops_target_ = 0.0;
  double flops_window_ = 0.025;
  std::int64_t flops_min_ = -1, flops_max_ = -1;
  double latency_target_ms_ = 0.0;
  std::int64_t latency_batch_ = 1;
  search::ParallelOptions parallel_;
  std::int64_t recalibrate_batches_ = 100;
  std::int64_t eval_batches_ = 0;
  std::string fitness_split_ = "val";
  std::string final_init_ = "scratch";
  bool compare_uniform_ = false;
  std::int64_t rank_check_ = 0;
  std::int64_t rank_check_epochs_ = 1;
  std::int64_t stop_after_ = 0;
};

}  // namespace shears::pruning
