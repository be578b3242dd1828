#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "app/schema.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "engine/config/config.h"
#include "engine/nn/module.h"
#include "pruning/methods/method.h"

namespace shears::app {

/// Options of one invocation that are not part of the experiment itself.
struct RunOptions {
  std::string out_dir;   // run directory; empty: runs/<name>
  bool resume = true;    // continue from the run directory's last checkpoint
  bool progress = true;  // progress bar / lines while training
};

/// Accuracy and cost of one network, as summary.json reports it.
/// Accuracy on one split, with the number of images it was measured on.
struct SplitAccuracy {
  double top1 = 0, top5 = 0, loss = 0;
  std::int64_t images = 0;
};

/// What the summary says of one network: accuracy on the validation and the test split, costs.
struct ModelReport {
  SplitAccuracy test;
  SplitAccuracy validation;  // equal to test when a config validates on the test split
  std::int64_t params = 0;
  std::int64_t flops = 0;  // multiply-accumulates per image
  double latency_ms = 0;   // median forward time at bench.batch_size
};

/// The report as summary.json and `shears eval` write it: accuracy per split, params, FLOPs,
/// latency.
nlohmann::json report_json(const ModelReport& r);

/// A model with the architecture description that rebuilds it (JSON, stored in checkpoints).
struct BuiltModel {
  std::shared_ptr<nn::Module> module;
  std::string arch_json;
  std::string name;
};

/// Builds the model a spec names for `num_classes` and input (C,H,W).
BuiltModel build_model(const ModelSpec& spec, int num_classes, const Shape& input_chw);
/// Rebuilds a model from the architecture JSON stored in a checkpoint.
BuiltModel build_model_from_arch(const std::string& arch_json);

/// True for a path ending in ".onnx" (weights and architecture read by models/onnx).
bool is_onnx_file(const std::string& path);
/// Loads weights into `model` from a shears training checkpoint (tensors "model.*"), a plain
/// state-dict file, or the initializers of an ONNX model (.onnx, models::load_onnx_weights).
/// Throws CheckpointError naming the file and every mismatched tensor (for ONNX the first).
void load_weights(nn::Module& model, const std::string& path);
/// The "arch" metadata of a checkpoint (for .onnx: "shears.arch"), or "" when it has none.
std::string checkpoint_arch(const std::string& path);

/// One experiment: the pieces `shears run` assembles (data, model, training, evaluation,
/// measurement) and that pruning methods reuse.
class Experiment {
 public:
  Experiment(ExperimentSpec spec, Config resolved, RunOptions options);

  const ExperimentSpec& spec() const { return spec_; }
  const std::string& out_dir() const { return out_dir_; }
  /// Input shape (C,H,W) and number of classes of the dataset.
  const Shape& input_shape() const { return input_; }
  int num_classes() const { return num_classes_; }

  /// Loaders (created on first use): training (augmented, shuffled), validation (a seeded split
  /// held out of the training data unless data.validation is 'test'), and test.
  BatchSource& train_data();
  BatchSource& val_data();
  BatchSource& test_data();
  /// A new loader over "train" (augmented, shuffled as train_data), "val" or "test", for work
  /// that runs beside the shared loaders (search candidates). Throws Error for another split.
  std::unique_ptr<BatchSource> make_source(const std::string& split);
  /// "Fashion-MNIST train (60000 images) ..." descriptions for logs.
  std::string describe_data() const;
  /// Where each split's images come from and how many there are, for summary.json.
  nlohmann::json splits_json() const;

  /// The model of the spec, with the checkpoint it names loaded.
  BuiltModel make_model();
  /// Trains `model` with `recipe` and optional hooks, checkpointing to out_dir/<stage> (resuming
  /// from it). The checkpoint metadata records the model's current architecture.
  std::vector<EpochMetrics> train(nn::Module& model, const pruning::TrainRecipe& recipe,
                                  TrainerHooks* hooks, const std::string& stage,
                                  const std::function<void(optim::Sgd&)>& on_optimizer = nullptr);
  /// The recipe a train-section spec describes.
  static pruning::TrainRecipe recipe_of(const TrainSpec& spec);
  /// Test-set accuracy, params, FLOPs and latency of `model`.
  ModelReport measure(nn::Module& model);

  /// Runs the whole experiment and writes summary.json; returns its JSON text.
  std::string run();

 private:
  void ensure_data();
  ExperimentSpec spec_;
  Config resolved_;
  RunOptions options_;
  std::string out_dir_;
  Shape input_;
  int num_classes_ = 0;
  std::shared_ptr<data::Dataset> train_set_, val_set_, test_set_;
  std::string val_source_;  // where the validation images come from, in words
  std::unique_ptr<data::Loader> train_loader_, val_loader_, test_loader_;
  std::unique_ptr<pruning::Method> method_;
};

/// Median forward latency in milliseconds of `model` (eval, no grad) on a batch of `batch`
/// inputs of shape `input_chw`, after `warmup` untimed runs.
double measure_latency_ms(nn::Module& model, const Shape& input_chw, std::int64_t batch, int warmup,
                          int iterations, const Device& device);

}  // namespace shears::app
