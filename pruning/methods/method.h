#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/config/config.h"
#include "engine/nn/module.h"
#include "engine/optim/sgd.h"
#include "engine/rng.h"
#include "engine/train/batch_source.h"
#include "engine/train/trainer.h"
#include "models/arch.h"
#include "pruning/width_choice.h"

namespace shears::dist {
class Communicator;
}

namespace shears::pruning {

/// A training recipe: epochs, optimiser and LR schedule (built for a base LR and epoch count).
/// `schedule(base_lr, n)` for a length n other than `epochs` stretches the recipe's epoch
/// milestones (multistep milestones, step size) by n / epochs, floored, as Rethinking's
/// Scratch-B (main_B.py) does; cosine always spans n; warm-up keeps its length.
struct TrainRecipe {
  std::int64_t epochs = 0;
  optim::SgdOptions sgd;
  std::function<std::unique_ptr<optim::LrSchedule>(double base_lr, std::int64_t epochs)> schedule;
  double label_smoothing = 0.0;
  /// Data-parallel runs: BN statistics over the global batch (dist::set_sync_batch_norm).
  bool sync_bn = false;
  /// Data-parallel runs: bucket allreduces started during backward, and the largest bucket.
  bool overlap_allreduce = true;
  std::size_t bucket_bytes = std::size_t{25} << 20;
};

/// One conv or linear layer as a latency table keys it: conv2d (in_channels -> out_channels,
/// kernel x kernel, stride, padding, groups) on a (batch, in_channels, height, width) input, or
/// linear (in_channels -> out_channels, on (batch, in_channels); kernel etc. unused).
struct LayerShape {
  std::string op = "conv2d";  // "conv2d" or "linear"
  std::int64_t in_channels = 0, out_channels = 0, height = 1, width = 1, batch = 1;
  int kernel = 1, stride = 1, padding = 0;
  std::int64_t groups = 1;
  /// "conv2d:in=16,out=8,hw=32x32,k=3,s=1,p=1,g=1,n=1" (linear: "linear:in=64,out=10,n=1").
  std::string key() const;
};

/// Everything a pruning method sees of the experiment: the dense model, data, recipes and a way
/// to train (the runner owns loaders, devices, checkpoints and progress output).
struct PruneContext {
  std::shared_ptr<nn::Module> model;  // the dense model (a models::Model), possibly pre-trained
  Shape input;                        // (C, H, W)
  Device device = Device::cpu();
  BatchSource* train = nullptr;  // augmented training batches
  BatchSource* val = nullptr;    // held-out validation (or test when none is held out)
  TrainRecipe recipe;            // the fine-tuning / training recipe of the experiment
  std::uint64_t seed = 1;
  /// Trains `model` with `recipe`, optional `hooks` (not owned) and an optimiser it creates;
  /// checkpoints into stage `stage` of the run directory and resumes from it. `on_optimizer`
  /// is called with the optimiser before training starts (masks may need its buffers).
  std::function<std::vector<EpochMetrics>(nn::Module& model, const TrainRecipe& recipe,
                                          TrainerHooks* hooks, const std::string& stage,
                                          const std::function<void(optim::Sgd&)>& on_optimizer)>
      train_model;

  /// The run directory, where methods keep state that must survive an interruption (a search's
  /// colony, its log); empty: nothing is written and nothing resumes.
  std::string run_dir;
  /// A fresh batch source over a named split: "train" (augmented training batches), "val" (the
  /// held-out validation split, or test when none is held out) or "test". Each call returns an
  /// independent source, so candidates trained at the same time do not share one. Unset: the
  /// helpers below fall back to `train` and `val` (then only one candidate at a time).
  std::function<std::unique_ptr<BatchSource>(const std::string& split)> make_source;
  /// The ranks of a distributed run (not owned; null: this process alone). Searches spread their
  /// candidates over them; only rank 0 writes the run directory.
  dist::Communicator* comm = nullptr;
  /// Milliseconds of one forward of a layer of `shape` on this machine's device, from a table
  /// measured once per layer shape and cached (the runner's: app/width_table.h,
  /// LayerLatencyTable). Null: no table; a method asked for a latency target then refuses.
  std::function<double(const LayerShape& shape)> layer_latency;
  /// `prune.round_to: auto`: the latency of a width site's layers at each candidate width on
  /// the deployment machine and batch (the runner measures and caches a table per machine and
  /// layer shape, app/width_table.h). Unset: round_to: auto is an error naming the key.
  WidthLatencyFn width_latency;

  /// Loss, top-1 and top-5 of `model` (eval mode) over one pass of `split` ("train", "val",
  /// "test"), or over its first `max_batches` batches (0: all). Throws Error naming the split
  /// when it is unknown or cannot be served.
  EpochMetrics evaluate(nn::Module& model, const std::string& split,
                        std::int64_t max_batches = 0) const;
  /// An independent source over `split` (make_source), or when make_source is unset the shared
  /// `train`/`val` source (not owned: the returned pointer's deleter does nothing).
  std::shared_ptr<BatchSource> source(const std::string& split) const;
  /// The generator of search candidate `candidate` of cycle `cycle`: a stream derived from
  /// (seed, cycle, candidate) only, so a candidate's draws do not depend on the order in which
  /// candidates are evaluated or on how many run at once.
  Generator candidate_generator(std::int64_t cycle, std::int64_t candidate) const;
};

/// What a method returns: the physically pruned model and a report for summary.json.
struct PruneResult {
  std::shared_ptr<nn::Module> model;
  models::Arch arch;
  /// Method-specific facts (mode, analytic FLOPs reduction, per-layer widths ...) as JSON.
  std::string report_json = "{}";
  /// The network the method trained when it is not `model` (SFP/FPGM: the full-width masked
  /// network before export); the summary reports it beside the export. Null otherwise.
  std::shared_ptr<nn::Module> trained;
};

/// A pruning method. Constructed from its `prune:` section (every key it reads is validated and
/// unknown keys are errors), then run once.
class Method {
 public:
  virtual ~Method() = default;
  virtual std::string name() const = 0;
  virtual PruneResult run(PruneContext& context) = 0;
};

/// The method named by `section.method` (a row of the table in pruning/methods/registry.cpp),
/// parsing its keys.
/// Throws ConfigError naming the file and line for an unknown method (listing the known ones) or
/// a bad key.
std::unique_ptr<Method> make_method(const Config& section);
/// Names of every method, in registry order.
std::vector<std::string> method_names();

}  // namespace shears::pruning
