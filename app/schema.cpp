#include "app/schema.h"

#include <algorithm>
#include <cmath>

#include "kernels/common/error.h"
#include "models/registry.h"

namespace shears::app {

namespace {

/// A ConfigError about the value of `key` in `section`, located at the key.
[[noreturn]] void bad_value(const Config& section, const std::string& key,
                            const std::string& what) {
  throw section.error(key, what);
}

std::string one_of(const std::vector<std::string>& options) {
  std::string s;
  for (const auto& o : options) s += (s.empty() ? "" : ", ") + o;
  return s;
}

std::string pick(const Config& section, const std::string& key, const std::string& fallback,
                 const std::vector<std::string>& options) {
  // An empty fallback makes the key required ("missing key" rather than "must be one of").
  std::string v =
      fallback.empty() ? section.get<std::string>(key) : section.get<std::string>(key, fallback);
  if (std::find(options.begin(), options.end(), v) == options.end()) {
    bad_value(section, key, "must be one of " + one_of(options) + ", got '" + v + "'");
  }
  return v;
}

template <typename T>
T positive(const Config& section, const std::string& key, T fallback) {
  T v = section.get<T>(key, fallback);
  if (!(v > 0)) bad_value(section, key, "must be positive, got " + std::to_string(v));
  return v;
}

template <typename T>
T non_negative(const Config& section, const std::string& key, T fallback) {
  T v = section.get<T>(key, fallback);
  if (v < 0) bad_value(section, key, "must not be negative, got " + std::to_string(v));
  return v;
}

DataSpec parse_data(const Config& d) {
  DataSpec spec;
  data::DatasetOptions base;
  base.kind = data::parse_dataset_kind(
      pick(d, "dataset", "",
           {"cifar10", "cifar100", "mnist", "fashion_mnist", "imagenet_folder", "synthetic"}));
  base.root = d.get<std::string>("root", "");
  base.coarse_labels = d.get<bool>("coarse_labels", false);
  base.class_index_file = d.get<std::string>("class_index", "");
  base.decode_min_side = non_negative<int>(d, "decode_min_side", 0);
  std::string bad = pick(d, "bad_images", "fatal", {"fatal", "skip"});
  base.bad_image = bad == "skip" ? data::BadImagePolicy::Skip : data::BadImagePolicy::Fatal;
  if (d.has("synthetic")) {
    Config s = d.child("synthetic");
    base.synthetic.size = positive<std::int64_t>(s, "size", 1024);
    base.synthetic.num_classes = positive<int>(s, "classes", 10);
    base.synthetic.channels = positive<int>(s, "channels", 3);
    base.synthetic.height = positive<int>(s, "height", 32);
    base.synthetic.width = positive<int>(s, "width", 32);
    base.synthetic.seed = static_cast<std::uint64_t>(s.get<std::int64_t>("seed", 0));
    base.synthetic.learnable = s.get<bool>("learnable", true);
  }
  spec.train = base;
  spec.train.split = data::Split::Train;
  spec.train.files = d.get<std::vector<std::string>>("train_files", {});
  spec.test = base;
  spec.test.split = data::Split::Test;
  spec.test.files = d.get<std::vector<std::string>>("test_files", {});
  if (base.kind == data::DatasetKind::Synthetic) {
    spec.test.synthetic.size = positive<std::int64_t>(d, "synthetic_test_size", 256);
    spec.test.synthetic.offset = spec.train.synthetic.size;
  }
  spec.batch_size = positive<std::int64_t>(d, "batch_size", 128);
  spec.eval_batch_size = positive<std::int64_t>(d, "eval_batch_size", 256);
  spec.workers = non_negative<int>(d, "workers", 2);
  spec.validate_on_test = pick(d, "validation", "held_out", {"held_out", "test"}) == "test";
  if (spec.validate_on_test && d.has("val_size")) {
    bad_value(d, "val_size", "holds out training images, but data.validation is 'test'");
  }
  spec.val_size = d.has("val_size") ? positive<std::int64_t>(d, "val_size", 1) : 0;
  if (d.has("val_per_class")) {
    if (spec.validate_on_test)
      bad_value(d, "val_per_class", "holds out training images, but data.validation is 'test'");
    if (d.has("val_size")) bad_value(d, "val_per_class", "and data.val_size exclude each other");
    spec.val_per_class = positive<std::int64_t>(d, "val_per_class", 1);
  }
  spec.test_size = non_negative<std::int64_t>(d, "test_size", 0);
  spec.augment = d.get<bool>("augment", true);
  if (d.has("subset")) {
    Config s = d.child("subset");
    std::string mode = pick(s, "mode", "first", {"first", "per_class"});
    spec.subset = mode == "first" ? data::SubsetMode::First : data::SubsetMode::PerClass;
    spec.subset_size = positive<std::int64_t>(s, "size", 1);
  }
  return spec;
}

ModelSpec parse_model(const Config& m) {
  ModelSpec spec;
  std::vector<std::string> archs = models::model_names();
  archs.emplace_back(kArchFromCheckpoint);
  spec.arch = pick(m, "arch", "", archs);
  spec.arch_location =
      m.location("arch") + ": key '" + (m.path().empty() ? "arch" : m.path() + ".arch") + "'";
  spec.num_classes = non_negative<int>(m, "num_classes", 0);
  spec.shortcut =
      pick(m, "shortcut", "a-avgpool", {"a-avgpool", "a-subsample", "b-conv", "a-avgpool2"});
  spec.width = positive<double>(m, "width", 1.0);
  spec.checkpoint = m.get<std::string>("checkpoint", "");
  if (spec.arch == kArchFromCheckpoint && spec.checkpoint.empty()) {
    bad_value(m, "arch",
              std::string("is '") + kArchFromCheckpoint + "' but no model.checkpoint is given");
  }
  return spec;
}

TrainSpec parse_train(const Config& t, const TrainSpec& d) {
  TrainSpec spec;
  spec.epochs = non_negative<std::int64_t>(t, "epochs", d.epochs);
  spec.lr = non_negative<double>(t, "lr", d.lr);
  spec.momentum = non_negative<double>(t, "momentum", d.momentum);
  spec.weight_decay = non_negative<double>(t, "weight_decay", d.weight_decay);
  spec.nesterov = t.get<bool>("nesterov", d.nesterov);
  spec.no_decay_bn_bias = t.get<bool>("no_decay_bn_bias", d.no_decay_bn_bias);
  spec.label_smoothing = non_negative<double>(t, "label_smoothing", d.label_smoothing);
  if (spec.label_smoothing > 1) bad_value(t, "label_smoothing", "must be in [0, 1]");
  spec.sync_bn = t.get<bool>("sync_bn", d.sync_bn);
  spec.overlap_allreduce = t.get<bool>("overlap_allreduce", d.overlap_allreduce);
  spec.bucket_mb = positive<double>(t, "bucket_mb", d.bucket_mb);
  spec.schedule =
      pick(t, "schedule", d.schedule, {"constant", "step", "multistep", "cosine", "linear"});
  spec.milestones = t.get<std::vector<int>>("milestones", d.milestones);
  if (!std::is_sorted(spec.milestones.begin(), spec.milestones.end())) {
    bad_value(t, "milestones", "must be increasing");
  }
  spec.gamma = positive<double>(t, "gamma", d.gamma);
  spec.step_size = positive<int>(t, "step_size", d.step_size);
  spec.warmup_epochs = non_negative<double>(t, "warmup_epochs", d.warmup_epochs);
  spec.warmup_mode = pick(t, "warmup_mode", d.warmup_mode, {"linear", "constant"});
  spec.warmup_factor = non_negative<double>(t, "warmup_factor", d.warmup_factor);
  if (spec.warmup_factor > 1) bad_value(t, "warmup_factor", "must be in [0, 1]");
  if (spec.nesterov && spec.momentum == 0) bad_value(t, "nesterov", "needs momentum > 0");
  return spec;
}

DeviceOptionsSpec parse_device_options(const Config& d) {
  DeviceOptionsSpec spec;
  spec.tf32_matmul = d.get<bool>("tf32_matmul", spec.tf32_matmul);
  spec.tf32_conv = d.get<bool>("tf32_conv", spec.tf32_conv);
  spec.deterministic = d.get<bool>("deterministic", spec.deterministic);
  spec.cuda_graphs = d.get<bool>("cuda_graphs", spec.cuda_graphs);
  const bool explicit_algo = d.has("conv_algo");
  spec.conv_algo = pick(d, "conv_algo", spec.conv_algo, {"find", "heuristic"});
  if (spec.deterministic) {
    // Timing-based choice differs from run to run, and so would the rounding.
    if (explicit_algo && spec.conv_algo == "find") {
      bad_value(d, "conv_algo", "cannot be 'find' with deterministic: true (use 'heuristic')");
    }
    spec.conv_algo = "heuristic";
  }
  return spec;
}

BenchSpec parse_bench(const Config& b) {
  BenchSpec spec;
  spec.enabled = b.get<bool>("enabled", true);
  spec.batch_size = positive<std::int64_t>(b, "batch_size", 1);
  spec.warmup = non_negative<int>(b, "warmup", 3);
  spec.iterations = positive<int>(b, "iterations", 20);
  return spec;
}

}  // namespace

ExperimentSpec parse_experiment(const Config& root) {
  ExperimentSpec spec;
  spec.name = root.get<std::string>("name", "experiment");
  spec.seed = static_cast<std::uint64_t>(non_negative<std::int64_t>(root, "seed", 1));
  std::string device = root.get<std::string>("device", "cpu");
  try {
    spec.device = parse_device(device);
  } catch (const Error& e) {
    bad_value(root, "device", std::string("is invalid: ") + e.what());
  }
  if (root.has("device_options")) {
    spec.device_options = parse_device_options(root.child("device_options"));
  }
  spec.data = parse_data(root.child("data"));
  spec.model = parse_model(root.child("model"));
  if (root.has("train")) spec.train = parse_train(root.child("train"), TrainSpec{});
  if (root.has("prune")) {
    spec.has_prune = true;
    spec.prune = root.child("prune");
    // Fine-tuning (or, for SFP/FPGM, the soft-pruning training) defaults to the train recipe.
    spec.finetune = spec.train;
    if (spec.prune.has("finetune")) {
      spec.finetune = parse_train(spec.prune.child("finetune"), spec.train);
    }
  }
  if (root.has("bench")) spec.bench = parse_bench(root.child("bench"));
  spec.baseline = root.get<std::string>("baseline", "");
  return spec;
}

std::vector<std::int64_t> dataset_input_shape(const data::DatasetOptions& o) {
  switch (o.kind) {
    case data::DatasetKind::Cifar10:
    case data::DatasetKind::Cifar100:
      return {3, 32, 32};
    case data::DatasetKind::Mnist:
    case data::DatasetKind::FashionMnist:
      return {1, 28, 28};
    case data::DatasetKind::ImageFolder:
      return {3, 224, 224};
    case data::DatasetKind::Synthetic:
      return {o.synthetic.channels, o.synthetic.height, o.synthetic.width};
  }
  return {3, 32, 32};
}

}  // namespace shears::app
