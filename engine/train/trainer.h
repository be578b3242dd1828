#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn/module.h"
#include "engine/optim/lr_schedule.h"
#include "engine/optim/sgd.h"
#include "engine/train/batch_source.h"
#include "engine/train/metrics.h"
#include "engine/train/step_graph.h"

namespace shears {

namespace dist {
class Communicator;
class GradientReducer;
}  // namespace dist
class Trainer;

/// Results of one epoch (or of an evaluation, with only the val_* fields set).
struct EpochMetrics {
  std::int64_t epoch = 0;
  double lr = 0;
  double train_loss = 0, train_top1 = 0;
  double val_loss = 0, val_top1 = 0, val_top5 = 0;
  double seconds = 0, images_per_second = 0;
};

/// Where pruning methods and other extensions change training, without the trainer knowing
/// them: soft masks re-applied after each step or epoch (SFP, FPGM), gradient masking before
/// the step (FPGM), extra loss terms (GAL's adversarial and sparsity losses, distillation), and
/// per-epoch reports. Every hook has a do-nothing default.
class TrainerHooks {
 public:
  virtual ~TrainerHooks() = default;
  virtual void on_train_begin(Trainer&) {}
  virtual void on_epoch_begin(Trainer&, std::int64_t /*epoch*/) {}
  /// Before the forward pass of every training step, with the batch (already on the device):
  /// what changes the network per step (MetaPruning samples the encoding of the step here).
  virtual void before_forward(Trainer&, const Batch&) {}
  /// The training loss of a batch; the default is cross-entropy with the trainer's label
  /// smoothing. Only the first hooks object that returns a defined tensor is used.
  virtual Tensor compute_loss(Trainer&, const Batch&, const Tensor& /*logits*/) { return {}; }
  /// Leaves outside the model whose gradients data-parallel training sums over ranks and
  /// averages with the model's, in the same per-step allreduce (GAL's masks); none by default.
  virtual std::vector<Tensor> reduced_parameters() const { return {}; }
  /// After backward, before the optimiser step (gradient masking).
  virtual void after_backward(Trainer&) {}
  /// After the optimiser step (mask re-application, auxiliary optimisers).
  virtual void after_step(Trainer&) {}
  /// After the epoch's training and before its evaluation, with the 0-based index of the epoch
  /// just trained: what changes the network here (SFP/FPGM re-masking) is what the epoch's
  /// validation, metrics.jsonl, best.safetensors and last.safetensors see.
  virtual void on_train_epoch_end(Trainer&, std::int64_t /*epoch*/) {}
  /// After the epoch's evaluation; may add to the metrics that are logged.
  virtual void on_epoch_end(Trainer&, const EpochMetrics&) {}
  /// The hook's own state (masks, search state ...) as text, saved in every checkpoint the
  /// trainer writes; empty: nothing to save.
  virtual std::string state() const { return ""; }
  /// Restores what state() returned, when a checkpoint holding it is loaded (before
  /// on_train_begin of a resumed fit). Throws Error on text it cannot read.
  virtual void load_state(const std::string& /*state*/) {}
  /// Tensor state (an auxiliary network's weights and momentum, mask values, optimiser state),
  /// saved bit-exactly in every checkpoint as "hook.<i>.<name>"; empty: nothing to save.
  virtual TensorList state_dict() const { return {}; }
  /// Restores what state_dict returned (called with every saved entry of this hook, possibly
  /// none, before on_train_begin of a resumed fit). Throws Error on entries it cannot use.
  virtual void load_state_dict(const TensorList& /*state*/) {}
};

struct TrainerOptions {
  std::int64_t epochs = 1;
  double label_smoothing = 0.0;
  Device device = Device::cpu();
  /// Directory for last.safetensors, best.safetensors and metrics.jsonl; empty: none written.
  std::string checkpoint_dir;
  /// Continue from checkpoint_dir/last.safetensors when it exists.
  bool resume = true;
  /// String metadata stored in every checkpoint (e.g. the architecture as JSON).
  std::map<std::string, std::string> checkpoint_metadata;
  /// Progress: a bar on a terminal, plain lines otherwise; false prints only epoch lines.
  bool progress = true;
  /// Lines of progress per epoch when not on a terminal.
  int log_lines_per_epoch = 4;
  /// Data parallelism: the ranks this training is spread over (not owned); null or one rank:
  /// this process alone. Each rank's BatchSource must serve its share of every global batch
  /// (data::LoaderOptions::shard) and its evaluation sources their shares of the split.
  dist::Communicator* comm = nullptr;
  /// Largest bucket of the per-step gradient allreduce.
  std::size_t bucket_bytes = std::size_t{25} << 20;
  /// On a GPU: record the training step (forward, loss, backward, SGD) into a device graph per
  /// batch shape and replay it (StepGraph; falls back to eager steps where it cannot). Only
  /// without hooks and without a communicator of several ranks; ignored on the CPU.
  bool step_graphs = false;
  /// Start each bucket's allreduce during backward, as soon as its gradients are final
  /// (dist::GradientReducer); false: every bucket after backward. Same result either way.
  bool overlap_allreduce = true;
};

/// Thrown when SIGINT stopped training; a checkpoint has been written.
class Interrupted : public Error {
 public:
  using Error::Error;
};

/// The epoch loop: train with the LR schedule (set per iteration from the fractional epoch),
/// evaluate, log, checkpoint every epoch (atomically) and keep the best by validation top-1.
/// Resuming from last.safetensors restores model, optimiser, epoch, the default generator and
/// every hook's state() (metadata "hook_state.<i>", hooks in registration order) and
/// state_dict() (tensors "hook.<i>.<name>"), so a resumed run
/// continues exactly as an uninterrupted one would. A non-finite loss stops the
/// run with the step number and the last good checkpoint; Ctrl-C writes interrupted.safetensors
/// and throws Interrupted.
///
/// With options.comm of several ranks (docs/distributed.md), every rank backpropagates the sum
/// of its share's losses, and one bucketed allreduce per step (its buckets started during
/// backward unless options.overlap_allreduce is false) sums the gradients and the share sizes, so
/// every rank applies the gradient of the global batch's mean loss: the same step one process takes
/// on the whole batch (up to float summation order; BN statistics are per rank unless
/// dist::set_sync_batch_norm). Ranks start from rank 0's weights; after each epoch's training,
/// hooks' state, weights and buffers (BN running statistics) are rank 0's again, and metrics are
/// summed over ranks. Only rank 0 writes checkpoints and metrics.jsonl; every rank reads
/// last.safetensors to resume (a run directory all ranks see), with any number of ranks.
class Trainer {
 public:
  Trainer(nn::Module& model, optim::Sgd& optimizer, const optim::LrSchedule& schedule,
          TrainerOptions options);

  /// Registers hooks (not owned; must outlive fit).
  void add_hooks(TrainerHooks* hooks) { hooks_.push_back(hooks); }
  /// Trains until options.epochs; returns the metrics of the epochs run in this call.
  std::vector<EpochMetrics> fit(BatchSource& train, BatchSource* val);
  /// Loss, top-1 and top-5 of the model in eval mode over one pass of `data`.
  EpochMetrics evaluate(BatchSource& data);

  nn::Module& model() { return model_; }
  optim::Sgd& optimizer() { return optimizer_; }
  const TrainerOptions& options() const { return options_; }
  std::int64_t epoch() const { return epoch_; }
  std::int64_t global_step() const { return global_step_; }
  /// Whether this process writes (rank 0, or no communicator).
  bool is_root() const;
  /// Ranks of the training (1 without a communicator).
  int world_size() const;
  double best_top1() const { return best_top1_; }
  /// Training steps of the last fit() replayed from a device graph, and those run eagerly.
  std::int64_t graph_replays() const { return graph_replays_; }
  std::int64_t eager_steps() const { return eager_steps_; }

  /// Writes model + optimiser + progress to `path` atomically.
  void save_checkpoint(const std::string& path) const;
  /// Restores what save_checkpoint wrote; throws CheckpointError naming the file on mismatch.
  void load_checkpoint(const std::string& path);

 private:
  EpochMetrics train_epoch(BatchSource& train);
  Tensor loss_of(const Batch& batch, const Tensor& logits);
  bool distributed() const;
  /// Sums gradients and share sizes over ranks and divides by the global batch size; returns
  /// whether any rank was interrupted (SIGINT), which ends every rank at the same step.
  bool reduce_gradients(double local_count, bool interrupted);
  /// Weights, buffers and hook state from rank 0 on every rank.
  void sync_from_root();

  nn::Module& model_;
  optim::Sgd& optimizer_;
  const optim::LrSchedule& schedule_;
  TrainerOptions options_;
  std::vector<TrainerHooks*> hooks_;
  /// The recorded training steps of the current fit() (null: eager steps).
  std::unique_ptr<StepGraph> step_graph_;
  std::shared_ptr<dist::GradientReducer> reducer_;  // distributed: the per-step allreduce
  std::int64_t epoch_ = 0;                          // epochs completed
  std::int64_t global_step_ = 0;
  double best_top1_ = -1.0;
  std::int64_t graph_replays_ = 0, eager_steps_ = 0;
};

/// Moves a batch to `device` (no copy when already there).
Batch to_device(const Batch& batch, const Device& device);

}  // namespace shears
