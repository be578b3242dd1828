#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/factory.h"
#include "data/loader.h"
#include "engine/config/config.h"
#include "kernels/common/device.h"

namespace shears::app {

/// The held-out validation split when `data.val_size` is not given: this fraction of the training
/// data, at most kDefaultMaxValidation images.
inline constexpr double kDefaultValidationFraction = 0.1;
inline constexpr std::int64_t kDefaultMaxValidation = 5000;

/// The `data:` section.
struct DataSpec {
  data::DatasetOptions train;  // dataset, root, train files
  data::DatasetOptions test;   // the same dataset's test split
  std::int64_t batch_size = 128;
  std::int64_t eval_batch_size = 256;
  int workers = 2;
  /// Training subset for quick runs: none, first N, or N per class.
  data::SubsetMode subset = data::SubsetMode::All;
  std::int64_t subset_size = 0;
  /// Where validation (best checkpoints, early choices, searches) happens: a seeded split held out
  /// of the training data (the default), or the test split when a config asks for it explicitly.
  bool validate_on_test = false;
  /// Training samples held out (a fixed random choice) to validate on; 0: 10 % of the training
  /// data, at most kDefaultMaxValidation. Hyper-parameters are tuned on this split, never on the
  /// test set.
  std::int64_t val_size = 0;
  /// > 0: hold out this many training images of every class instead (a stratified split,
  /// MetaPruning's sub-val); excludes val_size.
  std::int64_t val_per_class = 0;
  /// Test-split subset (first N) for quick evaluation; 0: all.
  std::int64_t test_size = 0;
  bool augment = true;
};

/// `model.arch` value that takes the architecture a checkpoint records, whatever it is.
inline constexpr const char* kArchFromCheckpoint = "from_checkpoint";

/// The `model:` section.
struct ModelSpec {
  /// A registry name, or kArchFromCheckpoint. With a checkpoint that records an architecture,
  /// a registry name must be the recorded one's name (a pruned model keeps its family's name).
  std::string arch;
  /// "exp.yaml:12: key 'model.arch'", for errors found once the checkpoint is read.
  std::string arch_location;
  int num_classes = 0;  // 0: the dataset's
  /// CIFAR ResNets: a-avgpool (option A, avg-pool + zeros appended; the default), a-subsample
  /// (option A, stride-2 subsample + zeros both sides), a-avgpool2 (option A, 2x2 average pool
  /// + zeros appended, as Rethinking's L1 ResNets) or b-conv (1x1 conv + BN).
  std::string shortcut = "a-avgpool";
  double width = 1.0;  // MobileNetV2 width multiplier
  /// A checkpoint (shears training checkpoint or plain state dict) to start from.
  std::string checkpoint;
};

/// The `train:` section. epochs 0 means no training (evaluate the model as it is).
struct TrainSpec {
  std::int64_t epochs = 0;
  double lr = 0.1;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  bool nesterov = false;
  bool no_decay_bn_bias = false;
  std::string schedule = "multistep";  // constant | step | multistep | cosine | linear
  std::vector<int> milestones;
  double gamma = 0.1;
  int step_size = 30;
  double warmup_epochs = 0.0;
  /// linear: from warmup_factor * lr up to lr over warmup_epochs; constant: warmup_factor * lr
  /// for warmup_epochs, then lr (SFP/FPGM's 0.01-then-0.1 first epoch).
  std::string warmup_mode = "linear";
  double warmup_factor = 0.0;
  double label_smoothing = 0.0;
  bool sync_bn = false;  // data-parallel runs: BN statistics over all ranks (docs/distributed.md)
  /// Data-parallel runs: gradient buckets' allreduce started during backward, and their size.
  bool overlap_allreduce = true;
  double bucket_mb = 25.0;
};

/// The `bench:` section: inference latency of the result.
struct BenchSpec {
  bool enabled = true;
  std::int64_t batch_size = 1;
  int warmup = 3;
  int iterations = 20;
};

/// The `device_options:` section: how the CUDA backend may compute (kernels' CudaPolicy). The
/// CPU backend ignores it.
struct DeviceOptionsSpec {
  bool tf32_matmul = false;  // PyTorch's matmul default
  bool tf32_conv = true;     // PyTorch's cuDNN default
  bool deterministic = false;
  /// "find": time the cuDNN algorithms once per shape; "heuristic": cuDNN's ranking.
  std::string conv_algo = "find";
  /// Record the training step into a CUDA graph per batch shape and replay it (StepGraph):
  /// off by default (eager steps, as PyTorch runs them) until a GPU run has measured it; results
  /// equal the eager step's, and runs that cannot be recorded fall back to eager steps by
  /// themselves.
  bool cuda_graphs = false;
};

/// One experiment, as read from YAML (schema documented in configs/README.md).
struct ExperimentSpec {
  std::string name = "experiment";
  std::uint64_t seed = 1;
  Device device = Device::cpu();
  DeviceOptionsSpec device_options;
  DataSpec data;
  ModelSpec model;
  TrainSpec train;
  BenchSpec bench;
  /// The `prune:` section, parsed by the pruning method it names; its `finetune:` sub-section
  /// (train keys, defaulting to the train section) is the recipe after pruning.
  bool has_prune = false;
  Config prune;
  TrainSpec finetune;
  /// `baseline:` a trained dense checkpoint, or a run directory (its train/last.safetensors),
  /// measured as the dense reference when this experiment does not train one itself (SFP/FPGM
  /// from scratch). Empty: none.
  std::string baseline;
};

/// Reads and validates an experiment. Every key nobody reads, and every wrong type or value, is
/// a ConfigError naming the file, line and key.
ExperimentSpec parse_experiment(const Config& root);

/// The input shape (C, H, W) of the dataset described by `options`.
std::vector<std::int64_t> dataset_input_shape(const data::DatasetOptions& options);

}  // namespace shears::app
