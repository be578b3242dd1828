#include "app/experiment.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "app/subset_dataset.h"
#include "app/width_table.h"
#include "data/factory.h"
#include "data/split.h"
#include "engine/autograd/grad_mode.h"
#include "engine/dist/communicator.h"
#include "engine/dist/sync_batch_norm.h"
#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "engine/log.h"
#include "engine/optim/lr_schedule.h"
#include "engine/optim/sgd.h"
#include "engine/rng.h"
#include "engine/train/trainer.h"
#include "kernels/common/registry.h"
#include "models/arch.h"
#include "models/model.h"
#include "models/onnx/onnx.h"
#include "pruning/cost_model.h"

namespace shears::app {

namespace {
/// Creates the run directory `dir` (and its parents); an Error saying what is in the way.
void make_run_directory(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_directory(dir, ec)) {
    throw Error("run directory '" + dir + "' (--out) exists and is not a directory");
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error("cannot create run directory '" + dir + "' (--out): " + ec.message());
  // Rank 0 owns the directory: another rank's clean-up would race its atomic writes.
  if (dist::world().is_root()) remove_stale_temporaries(dir);
}
}  // namespace

bool is_onnx_file(const std::string& path) {
  return path.size() > 5 && path.compare(path.size() - 5, 5, ".onnx") == 0;
}

void load_weights(nn::Module& model, const std::string& path) {
  if (is_onnx_file(path)) {
    models::load_onnx_weights(model, path);
    return;
  }
  SafetensorsContents c = load_safetensors(path);
  TensorList state;
  bool trainer_format = false;
  for (auto& [name, t] : c.tensors) trainer_format |= name.rfind("model.", 0) == 0;
  for (auto& [name, t] : c.tensors) {
    if (!trainer_format) {
      state.emplace_back(name, t);
    } else if (name.rfind("model.", 0) == 0) {
      state.emplace_back(name.substr(6), t);
    }
  }
  try {
    model.load_state_dict(state);
  } catch (const CheckpointError& e) {
    throw CheckpointError(path + ": " + e.what());
  }
}

std::string checkpoint_arch(const std::string& path) {
  if (is_onnx_file(path)) return models::onnx_arch_json(path);
  SafetensorsContents c = load_safetensors(path);
  auto it = c.metadata.find("arch");
  return it == c.metadata.end() ? std::string() : it->second;
}

double measure_latency_ms(nn::Module& model, const Shape& input_chw, std::int64_t batch, int warmup,
                          int iterations, const Device& device) {
  const bool was_training = model.is_training();
  model.eval();
  NoGrad no_grad;
  Tensor x = Tensor::zeros({batch, input_chw[0], input_chw[1], input_chw[2]}, DType::F32, device);
  Backend& be = backend_for(device);
  for (int i = 0; i < warmup; ++i) model.forward(x);
  be.synchronize();
  std::vector<double> times;
  for (int i = 0; i < iterations; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    model.forward(x);
    be.synchronize();
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  model.train(was_training);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

Experiment::Experiment(ExperimentSpec spec, Config resolved, RunOptions options)
    : spec_(std::move(spec)), resolved_(std::move(resolved)), options_(std::move(options)) {
  out_dir_ = options_.out_dir.empty() ? "runs/" + spec_.name : options_.out_dir;
  input_ = dataset_input_shape(spec_.data.train);
  if (spec_.has_prune) method_ = pruning::make_method(spec_.prune);
  CudaPolicy policy;
  policy.tf32_matmul = spec_.device_options.tf32_matmul;
  policy.tf32_conv = spec_.device_options.tf32_conv;
  policy.deterministic = spec_.device_options.deterministic;
  policy.conv_find = spec_.device_options.conv_algo == "find";
  set_cuda_policy(policy);
}

void Experiment::ensure_data() {
  if (train_set_) return;
  // An empty split would train on nothing or report an accuracy of nothing as 0.00.
  auto nonempty = [](const data::Dataset& set, const std::string& what) {
    if (set.size() == 0) throw DataError(what + " is empty: " + set.describe());
  };
  std::shared_ptr<data::Dataset> full = data::make_dataset(spec_.data.train);
  nonempty(*full, "the training split");
  test_set_ = data::make_dataset(spec_.data.test);
  nonempty(*test_set_, "the test split");
  if (spec_.data.test_size > 0 && spec_.data.test_size < test_set_->size()) {
    std::vector<std::int64_t> idx(static_cast<std::size_t>(spec_.data.test_size));
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<std::int64_t>(i);
    test_set_ = std::make_shared<SubsetDataset>(test_set_, idx, "test subset");
  }
  if (spec_.data.validate_on_test) {
    train_set_ = full;
    val_set_ = test_set_;
    val_source_ = "the test split (data.validation: test)";
  } else {
    std::int64_t held_out = spec_.data.val_size;
    if (held_out == 0) {
      SHEARS_CHECK_AS(ConfigError, full->size() >= 2, "the training data (", full->describe(),
                      ") has ", full->size(), " image(s): too few to hold out the default ",
                      "validation split; set data.validation: test to validate on the test split");
      held_out = std::min<std::int64_t>(
          kDefaultMaxValidation,
          std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(full->size()) *
                                                              kDefaultValidationFraction)));
    }
    std::vector<std::int64_t> kept, held;
    if (spec_.data.val_per_class > 0) {
      data::stratified_split(*full, spec_.data.val_per_class, spec_.seed, kept, held);
      held_out = static_cast<std::int64_t>(held.size());
    } else {
      split_indices(full->size(), held_out, spec_.seed, kept, held);
    }
    train_set_ = std::make_shared<SubsetDataset>(full, kept, "training split");
    val_set_ = std::make_shared<SubsetDataset>(full, held, "held-out validation split");
    val_source_ = "held out of the training data (" + std::to_string(held_out) + " of " +
                  std::to_string(full->size()) + " images, seed " + std::to_string(spec_.seed) +
                  (spec_.data.val_per_class > 0
                       ? ", " + std::to_string(spec_.data.val_per_class) + " per class)"
                   : spec_.data.val_size == 0 ? ", the default 10 % capped at 5,000)"
                                              : ")");
  }
  nonempty(*train_set_, "the training split (after holding out validation)");
  if (val_set_ != test_set_) nonempty(*val_set_, "the validation split");
  num_classes_ = spec_.model.num_classes > 0 ? spec_.model.num_classes : full->num_classes();
  if (spec_.data.train.kind == data::DatasetKind::ImageFolder) {
    input_ = {3, 224, 224};
  }
}

nlohmann::json Experiment::splits_json() const {
  return {{"train", {{"images", train_set_->size()}, {"source", train_set_->describe()}}},
          {"validation", {{"images", val_set_->size()}, {"source", val_source_}}},
          {"test", {{"images", test_set_->size()}, {"source", test_set_->describe()}}}};
}

std::string Experiment::describe_data() const {
  if (!train_set_) return "";
  return "train: " + train_set_->describe() + "; validation: " + val_set_->describe() +
         "; test: " + test_set_->describe();
}

namespace {
/// Under a launcher, the loaders the trainer and the evaluation read serve this rank's share of
/// every batch; sources for work every rank does whole (search candidates) serve everything.
void shard_over_ranks(data::LoaderOptions& o) {
  o.shard = dist::world().rank();
  o.num_shards = dist::world().size();
}

data::LoaderOptions train_loader_options(const ExperimentSpec& spec, bool sharded) {
  data::LoaderOptions o;
  if (sharded) shard_over_ranks(o);
  o.batch_size = spec.data.batch_size;
  o.shuffle = true;
  o.seed = spec.seed;
  o.num_workers = spec.data.workers;
  o.subset = spec.data.subset;
  o.subset_size = spec.data.subset_size;
  o.device = spec.device;
  o.transform = data::default_transform(spec.data.train.kind,
                                        spec.data.augment ? data::Split::Train : data::Split::Test);
  return o;
}
}  // namespace

BatchSource& Experiment::train_data() {
  ensure_data();
  if (!train_loader_)
    train_loader_ = std::make_unique<data::Loader>(train_set_, train_loader_options(spec_, true));
  return *train_loader_;
}

namespace {
std::unique_ptr<data::Loader> eval_loader(const ExperimentSpec& spec,
                                          std::shared_ptr<data::Dataset> set, bool sharded) {
  data::LoaderOptions o;
  if (sharded) shard_over_ranks(o);
  o.batch_size = spec.data.eval_batch_size;
  o.shuffle = false;
  o.seed = spec.seed;
  o.num_workers = spec.data.workers;
  o.device = spec.device;
  o.transform = data::default_transform(spec.data.test.kind, data::Split::Test);
  return std::make_unique<data::Loader>(std::move(set), o);
}
}  // namespace

BatchSource& Experiment::val_data() {
  ensure_data();
  if (val_set_ == test_set_) return test_data();
  if (!val_loader_) val_loader_ = eval_loader(spec_, val_set_, true);
  return *val_loader_;
}

BatchSource& Experiment::test_data() {
  ensure_data();
  if (!test_loader_) test_loader_ = eval_loader(spec_, test_set_, true);
  return *test_loader_;
}

std::unique_ptr<BatchSource> Experiment::make_source(const std::string& split) {
  ensure_data();
  if (split == "train")
    return std::make_unique<data::Loader>(train_set_, train_loader_options(spec_, false));
  if (split == "val") return eval_loader(spec_, val_set_, false);
  if (split == "test") return eval_loader(spec_, test_set_, false);
  throw Error("unknown data split '" + split + "' (known: train, val, test)");
}

BuiltModel Experiment::make_model() {
  ensure_data();
  BuiltModel model;
  std::string arch = spec_.model.checkpoint.empty() ? "" : checkpoint_arch(spec_.model.checkpoint);
  if (!arch.empty()) {
    model = build_model_from_arch(arch);
    if (spec_.model.arch != kArchFromCheckpoint && spec_.model.arch != model.name) {
      throw ConfigError(
          spec_.model.arch_location + " is '" + spec_.model.arch + "' but " +
          spec_.model.checkpoint + " holds a '" + model.name +
          "' model; name the checkpoint's architecture or write arch: " + kArchFromCheckpoint);
    }
  } else if (spec_.model.arch == kArchFromCheckpoint) {
    throw ConfigError(spec_.model.arch_location + " is '" + kArchFromCheckpoint + "' but " +
                      spec_.model.checkpoint + " records no architecture (a plain state dict)");
  } else {
    model = build_model(spec_.model, num_classes_, input_);
  }
  if (!spec_.model.checkpoint.empty()) {
    load_weights(*model.module, spec_.model.checkpoint);
    log_info("loaded weights from " + spec_.model.checkpoint);
  }
  model.module->to(spec_.device);
  return model;
}

pruning::TrainRecipe Experiment::recipe_of(const TrainSpec& t) {
  pruning::TrainRecipe r;
  r.epochs = t.epochs;
  r.sgd.lr = t.lr;
  r.sgd.momentum = t.momentum;
  r.sgd.weight_decay = t.weight_decay;
  r.sgd.nesterov = t.nesterov;
  r.sgd.no_decay_bn_and_bias = t.no_decay_bn_bias;
  r.label_smoothing = t.label_smoothing;
  r.sync_bn = t.sync_bn;
  r.overlap_allreduce = t.overlap_allreduce;
  r.bucket_bytes = static_cast<std::size_t>(t.bucket_mb * (1 << 20));
  r.schedule = [t](double base, std::int64_t epochs) -> std::unique_ptr<optim::LrSchedule> {
    std::unique_ptr<optim::LrSchedule> s;
    // Another length than the recipe's (Scratch-B): milestones at the same fractions, floored.
    auto stretch = [&](int epoch) {
      if (t.epochs <= 0 || epochs == t.epochs) return epoch;
      return static_cast<int>(static_cast<std::int64_t>(epoch) * epochs / t.epochs);
    };
    if (t.schedule == "constant") {
      s = std::make_unique<optim::ConstantLr>(base);
    } else if (t.schedule == "step") {
      s = std::make_unique<optim::StepLr>(base, std::max(1, stretch(t.step_size)), t.gamma);
    } else if (t.schedule == "multistep") {
      std::vector<int> milestones;
      for (int m : t.milestones) milestones.push_back(stretch(m));
      s = std::make_unique<optim::MultiStepLr>(base, milestones, t.gamma);
    } else if (t.schedule == "linear") {
      s = std::make_unique<optim::LinearDecayLr>(
          base, static_cast<int>(std::max<std::int64_t>(epochs, 1)));
    } else {
      s = std::make_unique<optim::CosineLr>(base,
                                            static_cast<int>(std::max<std::int64_t>(epochs, 1)));
    }
    if (t.warmup_epochs > 0 && t.warmup_mode == "constant") {
      s = std::make_unique<optim::ConstantWarmupLr>(std::move(s), t.warmup_epochs, t.warmup_factor);
    } else if (t.warmup_epochs > 0) {
      s = std::make_unique<optim::WarmupLr>(std::move(s), t.warmup_epochs, t.warmup_factor);
    }
    return s;
  };
  return r;
}

std::vector<EpochMetrics> Experiment::train(nn::Module& model, const pruning::TrainRecipe& recipe,
                                            TrainerHooks* hooks, const std::string& stage,
                                            const std::function<void(optim::Sgd&)>& on_optimizer) {
  make_run_directory(out_dir_);
  optim::Sgd sgd(model.named_parameters(), recipe.sgd);
  if (on_optimizer) on_optimizer(sgd);
  std::unique_ptr<optim::LrSchedule> schedule = recipe.schedule(recipe.sgd.lr, recipe.epochs);
  TrainerOptions to;
  to.epochs = recipe.epochs;
  to.label_smoothing = recipe.label_smoothing;
  to.device = spec_.device;
  to.checkpoint_dir = out_dir_ + "/" + stage;
  to.resume = options_.resume;
  to.checkpoint_metadata = {{"arch", models::arch_to_json(models::arch_of(model))},
                            {"stage", stage}};
  to.progress = options_.progress;
  to.step_graphs = spec_.device_options.cuda_graphs;
  dist::Communicator& comm = dist::world();
  if (comm.size() > 1) {
    to.comm = &comm;
    to.overlap_allreduce = recipe.overlap_allreduce;
    to.bucket_bytes = std::max<std::size_t>(recipe.bucket_bytes, 1);
    dist::set_sync_batch_norm(model, recipe.sync_bn ? &comm : nullptr);
  }
  Trainer trainer(model, sgd, *schedule, to);
  if (hooks != nullptr) trainer.add_hooks(hooks);
  return trainer.fit(train_data(), &val_data());
}

ModelReport Experiment::measure(nn::Module& model) {
  ModelReport r;
  optim::Sgd none(TensorList{}, optim::SgdOptions{});
  optim::ConstantLr zero(0.0);
  TrainerOptions eo;
  eo.device = spec_.device;
  if (dist::world().size() > 1) eo.comm = &dist::world();
  Trainer eval(model, none, zero, eo);
  EpochMetrics m = eval.evaluate(test_data());
  r.test = {m.val_top1, m.val_top5, m.val_loss, test_set_->size()};
  if (val_set_ != test_set_) {
    EpochMetrics v = eval.evaluate(val_data());
    r.validation = {v.val_top1, v.val_top5, v.val_loss, val_set_->size()};
  } else {
    r.validation = r.test;
  }
  pruning::CostReport cost = pruning::count_cost(model, input_);
  r.params = cost.params;
  r.flops = cost.macs;
  if (spec_.bench.enabled) {
    r.latency_ms = measure_latency_ms(model, input_, spec_.bench.batch_size, spec_.bench.warmup,
                                      spec_.bench.iterations, spec_.device);
  }
  return r;
}

namespace {
nlohmann::json accuracy_json(const SplitAccuracy& a) {
  return {{"top1", a.top1}, {"top5", a.top5}, {"loss", a.loss}, {"images", a.images}};
}

}  // namespace

nlohmann::json report_json(const ModelReport& r) {
  return {{"test", accuracy_json(r.test)},
          {"validation", accuracy_json(r.validation)},
          {"params", r.params},
          {"flops", r.flops},
          {"latency_ms", r.latency_ms}};
}

namespace {
double ratio_or_zero(double a, double b) { return b > 0 ? a / b : 0.0; }

/// A run directory's dense checkpoint, or the file itself.
std::string baseline_checkpoint(const std::string& path) {
  if (std::filesystem::is_directory(path)) {
    std::string file = path + "/train/last.safetensors";
    if (!std::filesystem::exists(file)) {
      throw ConfigError("baseline: run directory " + path +
                        " holds no train/last.safetensors (no dense training ran there)");
    }
    return file;
  }
  if (!std::filesystem::exists(path)) {
    throw ConfigError("baseline: " + path + " is neither a checkpoint nor a run directory");
  }
  return path;
}
}  // namespace

std::string Experiment::run() {
  const bool root = dist::world().is_root();  // only rank 0 writes and prints the report
  make_run_directory(out_dir_);
  if (root)
    write_file_atomic(out_dir_ + "/config.yaml",
                      [&](std::ostream& out) { out << resolved_.dump(); });
  manual_seed(spec_.seed);
  BuiltModel model = make_model();
  log_info("experiment '" + spec_.name + "': " + model.name + " on " + spec_.device.str());
  log_info(describe_data());
  if (spec_.train.epochs > 0) train(*model.module, recipe_of(spec_.train), nullptr, "train");
  ModelReport dense = measure(*model.module);
  nlohmann::json dense_json = report_json(dense);
  // The dense accuracy is a baseline only for a trained network: this run's training, the
  // model's checkpoint, or a `baseline:` checkpoint measured here on the same data.
  bool dense_accuracy = spec_.train.epochs > 0 || !spec_.model.checkpoint.empty();
  if (!spec_.baseline.empty()) {
    std::string file = baseline_checkpoint(spec_.baseline);
    std::string arch = checkpoint_arch(file);
    BuiltModel base =
        arch.empty() ? build_model(spec_.model, num_classes_, input_) : build_model_from_arch(arch);
    load_weights(*base.module, file);
    base.module->to(spec_.device);
    ModelReport b = measure(*base.module);
    dense.test = b.test;
    dense.validation = b.validation;
    dense_json["test"] = report_json(b)["test"];
    dense_json["validation"] = report_json(b)["validation"];
    dense_json["accuracy_from"] = "baseline " + file;
    dense_accuracy = true;
  } else if (!dense_accuracy) {
    dense_json["test"] = nullptr;
    dense_json["validation"] = nullptr;
    dense_json["accuracy_from"] =
        "none: the dense network was not trained here (train.epochs 0, no model.checkpoint, no "
        "baseline), so its accuracy is no baseline; set baseline: to a trained checkpoint or run";
  }
  nlohmann::json summary = {{"name", spec_.name},
                            {"model", model.name},
                            {"dataset", data::dataset_kind_name(spec_.data.train.kind)},
                            {"device", spec_.device.str()},
                            {"device_options",
                             {{"tf32_matmul", spec_.device_options.tf32_matmul},
                              {"tf32_conv", spec_.device_options.tf32_conv},
                              {"deterministic", spec_.device_options.deterministic},
                              {"conv_algo", spec_.device_options.conv_algo},
                              {"cuda_graphs", spec_.device_options.cuda_graphs}}},
                            {"seed", spec_.seed},
                            {"bench_batch_size", spec_.bench.batch_size},
                            {"splits", splits_json()},
                            {"dense", dense_json}};
  ModelReport pruned;
  if (method_) {
    pruning::PruneContext ctx;
    ctx.model = model.module;
    ctx.input = input_;
    ctx.device = spec_.device;
    ctx.train = &train_data();
    ctx.val = &val_data();
    ctx.recipe = recipe_of(spec_.finetune);
    ctx.seed = spec_.seed;
    ctx.run_dir = out_dir_;
    ctx.make_source = [this](const std::string& split) { return make_source(split); };
    if (dist::world().size() > 1) ctx.comm = &dist::world();
    {
      // A latency-targeted search measures each layer shape once (cached per machine); under a
      // launcher rank 0 measures and every rank takes its numbers, so the ranks agree.
      dist::Communicator* comm = ctx.comm;
      auto table = std::make_shared<LayerLatencyTable>(
          spec_.device, LayerLatencyTable::table_timing(), !comm || comm->rank() == 0);
      ctx.layer_latency = [table, comm](const pruning::LayerShape& shape) {
        double ms = !comm || comm->rank() == 0 ? (*table)(shape) : 0.0;
        if (comm) {
          Tensor t = Tensor::from_vector(std::vector<double>{ms}, {1});
          comm->broadcast_(t, 0);
          ms = t.data<double>()[0];
        }
        return ms;
      };
    }
    // prune.round_to: auto measures at the batch the run benchmarks; with several ranks, rank 0
    // measures and every rank takes its table, so all choose the same widths.
    ctx.width_latency = [fn = width_latency_fn(spec_.bench.batch_size, spec_.device)](
                            const pruning::WidthSite& site,
                            const std::vector<std::int64_t>& widths) {
      dist::Communicator& w = dist::world();
      if (w.size() <= 1) return fn(site, widths);
      std::string text;
      if (w.rank() == 0) {
        nlohmann::json j = nlohmann::json::object();
        for (const auto& [c, ms] : fn(site, widths)) j[std::to_string(c)] = ms;
        text = j.dump();
      }
      text = w.broadcast_string(text, 0);
      std::map<std::int64_t, double> table;
      for (auto& [k, v] : nlohmann::json::parse(text).items())
        table[std::stoll(k)] = v.get<double>();
      return table;
    };
    ctx.train_model = [this](nn::Module& m, const pruning::TrainRecipe& r, TrainerHooks* h,
                             const std::string& stage,
                             const std::function<void(optim::Sgd&)>& on_opt) {
      return train(m, r, h, stage, on_opt);
    };
    log_info("pruning with " + method_->name());
    pruning::PruneResult result = method_->run(ctx);
    pruned = measure(*result.model);
    TensorList state = result.model->state_dict();
    if (root) {
      save_safetensors(out_dir_ + "/pruned.safetensors", state,
                       {{"arch", models::arch_to_json(result.arch)}, {"method", method_->name()}});
    }
    summary["method"] = method_->name();
    summary["pruned"] = report_json(pruned);
    summary["pruned_arch"] = nlohmann::json::parse(models::arch_to_json(result.arch));
    summary["method_report"] = nlohmann::json::parse(result.report_json);
    summary["ratios"] = {
        {"flops_reduction", pruning::reduction_percent(dense.flops, pruned.flops)},
        {"flops_reduction_counted_as", "traced MACs of the exported network"},
        {"params_reduction", pruning::reduction_percent(dense.params, pruned.params)},
        {"latency_speedup", ratio_or_zero(dense.latency_ms, pruned.latency_ms)},
        {"test_top1_drop", nullptr},
        {"validation_top1_drop", nullptr}};
    if (dense_accuracy) {
      summary["ratios"]["test_top1_drop"] = dense.test.top1 - pruned.test.top1;
      summary["ratios"]["validation_top1_drop"] = dense.validation.top1 - pruned.validation.top1;
    }
    const nlohmann::json& mr = summary["method_report"];
    if (mr.contains("flops")) {
      const nlohmann::json& f = mr["flops"];
      summary["flops_reductions"] = {
          {"traced_exported", summary["ratios"]["flops_reduction"]},
          {"reference_export", f.value("reference_export_reduction_percent", 0.0)},
          {"analytic_paper", f.contains("analytic_paper_reduction_percent")
                                 ? f["analytic_paper_reduction_percent"]
                                 : nlohmann::json()}};
    }
    if (result.trained && result.trained != result.model) {
      // What the method trained (full width, masked) beside what it exported.
      ModelReport masked = measure(*result.trained);
      summary["trained_masked"] = report_json(masked);
      summary["export_minus_masked_test_top1"] = pruned.test.top1 - masked.test.top1;
      summary["export_minus_masked_validation_top1"] =
          pruned.validation.top1 - masked.validation.top1;
    }
  }
  if (dist::world().size() > 1) {
    summary["ranks"] = dist::world().size();
    summary["communicator"] = dist::world().describe();
  }
  std::string text = summary.dump(2);
  if (!root) return text;
  write_file_atomic(out_dir_ + "/summary.json", [&](std::ostream& out) { out << text << "\n"; });
  std::printf("\nvalidation: %s\ntest: %s\n", val_source_.c_str(), test_set_->describe().c_str());
  std::printf("\n%-8s %9s %9s %9s %12s %14s %12s\n", "", "val top1", "test top1", "test top5",
              "params", "flops (MACs)", "latency ms");
  auto latency_text = [](double ms) {
    char text[32] = "-";  // not measured (bench disabled)
    if (ms > 0) std::snprintf(text, sizeof text, "%.3f", ms);
    return std::string(text);
  };
  auto row = [&](const char* label, const ModelReport& r) {
    std::printf("%-8s %9.2f %9.2f %9.2f %12lld %14lld %12s\n", label, r.validation.top1,
                r.test.top1, r.test.top5, static_cast<long long>(r.params),
                static_cast<long long>(r.flops), latency_text(r.latency_ms).c_str());
  };
  if (dense_accuracy) {
    row("dense", dense);
  } else {
    std::printf("%-8s %9s %9s %9s %12lld %14lld %12s   (untrained: no baseline accuracy)\n",
                "dense", "-", "-", "-", static_cast<long long>(dense.params),
                static_cast<long long>(dense.flops), latency_text(dense.latency_ms).c_str());
  }
  if (method_) {
    row("pruned", pruned);
    char number[32];
    std::snprintf(number, sizeof number, "%.2f",
                  dense_accuracy ? summary["ratios"]["test_top1_drop"].get<double>() : 0.0);
    std::string drop =
        dense_accuracy ? std::string(number) : std::string("n/a (the dense network is untrained)");
    const double speedup = summary["ratios"]["latency_speedup"].get<double>();
    std::snprintf(number, sizeof number, "x%.2f", speedup);
    std::string latency = speedup > 0 ? std::string(number) : std::string("not measured");
    std::printf("%s: FLOPs -%.1f %%, params -%.1f %%, latency %s, test top-1 drop %s\n",
                method_->name().c_str(), summary["ratios"]["flops_reduction"].get<double>(),
                summary["ratios"]["params_reduction"].get<double>(), latency.c_str(), drop.c_str());
  }
  std::printf("summary: %s/summary.json\n", out_dir_.c_str());
  return text;
}

}  // namespace shears::app
