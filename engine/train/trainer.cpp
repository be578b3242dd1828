#include "engine/train/trainer.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/node.h"
#include "engine/dist/communicator.h"
#include "engine/dist/grad_reducer.h"
#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "engine/log.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/loss.h"
#include "engine/rng.h"

namespace shears {

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) { g_interrupted.store(true); }

/// Installs the SIGINT handler for the duration of fit(), restoring the previous one after.
class SigintGuard {
 public:
  SigintGuard() {
    g_interrupted.store(false);
    previous_ = std::signal(SIGINT, on_sigint);
  }
  ~SigintGuard() { std::signal(SIGINT, previous_); }

 private:
  void (*previous_)(int);
};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string format_eta(double seconds) {
  int s = static_cast<int>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  return buf;
}

}  // namespace

Batch to_device(const Batch& batch, const Device& device) {
  return Batch{batch.images.to(device), batch.labels.to(device)};
}

Trainer::Trainer(nn::Module& model, optim::Sgd& optimizer, const optim::LrSchedule& schedule,
                 TrainerOptions options)
    : model_(model), optimizer_(optimizer), schedule_(schedule), options_(std::move(options)) {}

bool Trainer::distributed() const { return options_.comm != nullptr && options_.comm->size() > 1; }
bool Trainer::is_root() const { return options_.comm == nullptr || options_.comm->is_root(); }
int Trainer::world_size() const { return options_.comm ? options_.comm->size() : 1; }

bool Trainer::reduce_gradients(double local_count, bool interrupted) {
  // The share size and the interrupt flag ride in the last bucket with the gradients.
  std::vector<float> e =
      reducer_->finish({static_cast<float>(local_count), interrupted ? 1.0f : 0.0f});
  const double total = e[0];
  reducer_->write_back(1.0 / total);
  return e[1] > 0;
}

void Trainer::sync_from_root() {
  dist::Communicator& comm = *options_.comm;
  for (std::size_t i = 0; i < hooks_.size(); ++i) {
    std::string state = comm.broadcast_string(hooks_[i]->state());
    if (!comm.is_root() && !state.empty()) hooks_[i]->load_state(state);
    // Tensor state (GAL's discriminator, optimiser state and masks): rank 0's, loaded by the
    // others as a resume would load it.
    TensorList tensors = hooks_[i]->state_dict();
    std::string layout;
    for (const auto& [name, t] : tensors) {
      layout += name + ":" + shape_str(t.shape()) + ":" + dtype_name(t.dtype()) + ";";
    }
    comm.check_same(layout, "the tensor state of training hook " + std::to_string(i));
    if (tensors.empty()) continue;
    TensorList copies;
    for (const auto& [name, t] : tensors) {
      Tensor c = t.detach().clone();
      comm.broadcast_(c);
      copies.emplace_back(name, c);
    }
    if (!comm.is_root()) hooks_[i]->load_state_dict(copies);
  }
  for (auto& [name, t] : model_.state_dict()) comm.broadcast_(t);
}

Tensor Trainer::loss_of(const Batch& batch, const Tensor& logits) {
  for (TrainerHooks* h : hooks_) {
    Tensor loss = h->compute_loss(*this, batch, logits);
    if (loss.defined()) return loss;
  }
  return cross_entropy(logits, batch.labels, options_.label_smoothing);
}

EpochMetrics Trainer::train_epoch(BatchSource& train) {
  model_.train();
  train.start_epoch(epoch_);
  const std::int64_t batches = std::max<std::int64_t>(train.batches_per_epoch(), 1);
  const bool tty = options_.progress && isatty(fileno(stderr));
  const std::int64_t log_every =
      std::max<std::int64_t>(1, batches / std::max(1, options_.log_lines_per_epoch));
  AccuracyMeter meter;
  auto start = Clock::now();
  std::int64_t step = 0;
  const bool on_device = !options_.device.is_cpu();
  std::int64_t checked_step = 0;  // steps before this one had a finite running loss
  auto non_finite = [&](double value, std::int64_t first, std::int64_t last) {
    std::string last_good = options_.checkpoint_dir.empty()
                                ? std::string("no checkpoint directory was set")
                                : "last good checkpoint: " + options_.checkpoint_dir +
                                      "/last.safetensors (epoch " + std::to_string(epoch_) + ")";
    const std::string where =
        first == last
            ? "step " + std::to_string(last) + " (global step " + std::to_string(global_step_) + ")"
            : "a step in " + std::to_string(first) + ".." + std::to_string(last) +
                  " (read once per log interval on the device)";
    return Error("loss is " + std::to_string(value) + " at epoch " + std::to_string(epoch_ + 1) +
                 " " + where + "; training stopped; " + last_good);
  };
  // On a GPU: reads the running loss (one host round trip) and stops on a non-finite value.
  auto check_running_loss = [&]() {
    if (!on_device || step == checked_step) return;
    const double running = meter.loss();
    if (!std::isfinite(running)) throw non_finite(running, checked_step, step - 1);
    checked_step = step;
  };
  Batch batch;
  double lr = schedule_.lr_at(static_cast<double>(epoch_));
  bool stop = false;  // SIGINT here, or (distributed) on any rank at the last step
  auto interrupt = [&] {
    std::string path;
    if (!options_.checkpoint_dir.empty() && is_root()) {
      path = options_.checkpoint_dir + "/interrupted.safetensors";
      save_checkpoint(path);
    }
    throw Interrupted("interrupted at epoch " + std::to_string(epoch_ + 1) + " step " +
                      std::to_string(step) +
                      (path.empty() ? std::string()
                                    : "; current weights saved to " + path +
                                          ", resume restarts this epoch from last.safetensors"));
  };
  if (distributed()) {
    std::vector<Tensor> params;
    for (auto& [name, p] : model_.named_parameters()) params.push_back(p);
    for (TrainerHooks* h : hooks_) {
      for (const Tensor& p : h->reduced_parameters()) params.push_back(p);
    }
    reducer_ = std::make_shared<dist::GradientReducer>(
        *options_.comm, params, options_.bucket_bytes, options_.overlap_allreduce);
  }
  while (train.next(batch)) {
    if (stop || (!distributed() && g_interrupted.load())) interrupt();
    Batch b = to_device(batch, options_.device);
    lr = schedule_.lr_at(static_cast<double>(epoch_) + static_cast<double>(step) / batches);
    optimizer_.set_lr(lr);
    optimizer_.set_epoch(static_cast<double>(epoch_) + static_cast<double>(step) / batches);
    Tensor logits, loss;
    if (step_graph_) {
      std::vector<Tensor> out = step_graph_->run(b.images, b.labels);
      logits = out[0];
      loss = out[1];
    } else {
      for (TrainerHooks* h : hooks_) h->before_forward(*this, b);
      logits = model_.forward(b.images);
      loss = loss_of(b, logits);
      if (!on_device) {
        const double loss_value = loss.item();
        if (!std::isfinite(loss_value)) throw non_finite(loss_value, step, step);
      }
      optimizer_.zero_grad();
      if (distributed()) {
        // The sum of this share's losses; reduce_gradients divides by the global batch size.
        const auto local = static_cast<double>(b.images.size(0));
        reducer_->begin_step();
        if (reducer_->overlap()) {
          dist::GradientReducer* reducer = reducer_.get();
          GradReadyScope ready([reducer](const Tensor& leaf) { reducer->gradient_ready(leaf); });
          loss.backward(Tensor::scalar(local, loss.dtype(), loss.device()));
        } else {
          loss.backward(Tensor::scalar(local, loss.dtype(), loss.device()));
        }
        stop = reduce_gradients(local, g_interrupted.load());
      } else {
        loss.backward();
      }
      for (TrainerHooks* h : hooks_) h->after_backward(*this);
      optimizer_.step();
      for (TrainerHooks* h : hooks_) h->after_step(*this);
    }
    {
      NoGrad no_grad;
      // On a GPU the loss and the correct counts stay on the device (no host wait per step); the
      // loss is checked when it is read, once per log interval.
      meter.add(logits.detach(), b.labels, loss.detach());
    }
    ++step;
    ++global_step_;
    if (step % log_every == 0 || step == batches) check_running_loss();
    if (options_.progress && is_root() && (tty || step % log_every == 0 || step == batches)) {
      double elapsed = seconds_since(start);
      double ips = static_cast<double>(meter.count()) / std::max(elapsed, 1e-9);
      double eta = elapsed / static_cast<double>(step) * static_cast<double>(batches - step);
      char line[256];
      std::snprintf(line, sizeof line,
                    "epoch %lld/%lld [%lld/%lld] loss %.4f top1 %.2f lr %.5f %.0f img/s eta %s",
                    static_cast<long long>(epoch_ + 1), static_cast<long long>(options_.epochs),
                    static_cast<long long>(step), static_cast<long long>(batches), meter.loss(),
                    meter.top1(), lr, ips, format_eta(eta).c_str());
      if (tty) {
        int width = 24;
        int filled = static_cast<int>(width * step / batches);
        std::fprintf(stderr, "\r[%s%s] %s",
                     std::string(static_cast<std::size_t>(filled), '#').c_str(),
                     std::string(static_cast<std::size_t>(width - filled), '.').c_str(), line);
        if (step == batches) std::fprintf(stderr, "\n");
      } else {
        log_info(line);
      }
    }
  }
  check_running_loss();
  if (stop) interrupt();
  if (distributed()) meter.allreduce(*options_.comm);
  EpochMetrics m;
  m.epoch = epoch_ + 1;
  m.lr = lr;
  m.train_loss = meter.loss();
  m.train_top1 = meter.top1();
  m.seconds = seconds_since(start);
  m.images_per_second = static_cast<double>(meter.count()) / std::max(m.seconds, 1e-9);
  return m;
}

EpochMetrics Trainer::evaluate(BatchSource& data) {
  const bool was_training = model_.is_training();
  model_.eval();
  NoGrad no_grad;
  data.start_epoch(0);
  AccuracyMeter meter;
  Batch batch;
  auto start = Clock::now();
  while (data.next(batch)) {
    Batch b = to_device(batch, options_.device);
    Tensor logits = model_.forward(b.images);
    meter.add(logits, b.labels, cross_entropy(logits, b.labels));
  }
  if (distributed()) meter.allreduce(*options_.comm);
  model_.train(was_training);
  EpochMetrics m;
  m.epoch = epoch_;
  m.val_loss = meter.loss();
  m.val_top1 = meter.top1();
  m.val_top5 = meter.top5();
  m.seconds = seconds_since(start);
  m.images_per_second = static_cast<double>(meter.count()) / std::max(m.seconds, 1e-9);
  return m;
}

namespace {

/// Fault injection for the crash-safety tests: with SHEARS_CRASH_AT=<point>:<epoch> in the
/// environment the process kills itself (SIGKILL, as a power cut or the OOM killer would) when it
/// reaches `point` at the end of epoch `epoch`. Unset, this costs one getenv per call.
void crash_point(const char* point, std::int64_t epoch) {
  const char* spec = std::getenv("SHEARS_CRASH_AT");
  if (spec == nullptr) return;
  if (std::string(spec) == std::string(point) + ":" + std::to_string(epoch)) {
    std::raise(SIGKILL);
  }
}

/// Keeps the records of metrics.jsonl for epochs 1..`epochs` (those a checkpoint at `epochs`
/// has committed) and drops the rest: records of an epoch that a crash cut off before its
/// last.safetensors was written, which the resumed run writes again, and a torn last line.
void keep_committed_metrics(const std::string& path, std::int64_t epochs) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error("cannot use '" + path + "' for the metrics records: it is not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read '" + path + "' to resume: " + std::strerror(errno));
  std::string kept, line;
  bool dropped = false;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    const bool whole = !in.eof();  // the last line of a torn append has no newline
    if (!whole || j.is_discarded() || !j.is_object() || !j.contains("epoch") ||
        !j["epoch"].is_number_integer() || j["epoch"].get<std::int64_t>() > epochs) {
      dropped = true;
      continue;
    }
    kept += line + "\n";
  }
  if (in.bad()) throw Error("cannot read '" + path + "' to resume");
  if (dropped) write_file_atomic(path, [&](std::ostream& out) { out << kept; });
}

}  // namespace

std::vector<EpochMetrics> Trainer::fit(BatchSource& train, BatchSource* val) {
  const std::string& dir = options_.checkpoint_dir;
  const bool root = is_root();
  if (!dir.empty()) {
    if (root) {
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (ec || !std::filesystem::is_directory(dir)) {
        throw Error("cannot create checkpoint directory '" + dir +
                    "': " + (ec ? ec.message() : std::string("a file is in the way")));
      }
      remove_stale_temporaries(dir);
    }
    // Rank 0 decides, so that every rank resumes or none does.
    bool have_last = root && options_.resume && std::filesystem::exists(dir + "/last.safetensors");
    if (distributed()) {
      Tensor flag = Tensor::from_vector(std::vector<std::int32_t>{have_last ? 1 : 0}, {1});
      options_.comm->broadcast_(flag);
      have_last = flag.data<std::int32_t>()[0] != 0;
    }
    if (have_last) {
      load_checkpoint(dir + "/last.safetensors");
      log_info("resumed from " + dir + "/last.safetensors at epoch " + std::to_string(epoch_));
    }
    if (root) keep_committed_metrics(dir + "/metrics.jsonl", epoch_);
  }
  if (distributed()) {
    std::string signature = std::to_string(epoch_) + "/" + std::to_string(global_step_) + "/" +
                            std::to_string(optimizer_.steps()) + "/" +
                            std::to_string(train.num_samples()) + "/" +
                            std::to_string(train.batches_per_epoch());
    for (auto& [name, t] : model_.state_dict()) {
      signature += ";" + name + ":" + shape_str(t.shape()) + ":" + dtype_name(t.dtype());
    }
    options_.comm->check_same(signature, "the model, its training state and the training data");
    sync_from_root();
  }
  SigintGuard sigint;
  for (TrainerHooks* h : hooks_) h->on_train_begin(*this);
  // The recorded steps live for this call: whatever changes the network between fits (surgery,
  // a loaded checkpoint) is seen by new recordings.
  struct GraphScope {
    Trainer& t;
    ~GraphScope() {
      if (t.step_graph_) {
        t.graph_replays_ = t.step_graph_->replays();
        t.eager_steps_ = t.step_graph_->eager_steps();
        if (t.is_root() && t.options_.progress) {
          log_info("cuda graphs: " + std::to_string(t.step_graph_->graphs()) + " recorded, " +
                   std::to_string(t.graph_replays_) + " steps replayed, " +
                   std::to_string(t.eager_steps_) + " eager" +
                   (t.step_graph_->fallback_reason().empty()
                        ? std::string()
                        : " (last fallback: " + t.step_graph_->fallback_reason() + ")"));
        }
      }
      t.step_graph_.reset();
    }
  } graph_scope{*this};
  graph_replays_ = eager_steps_ = 0;
  if (options_.step_graphs && !options_.device.is_cpu() && hooks_.empty() && !distributed()) {
    std::vector<Tensor> params;
    for (auto& [name, p] : model_.named_parameters()) params.push_back(p);
    step_graph_ = std::make_unique<StepGraph>(
        std::move(params),
        [this](const Tensor& images, const Tensor& labels) -> std::vector<Tensor> {
          const Batch b{images, labels};
          Tensor logits = model_.forward(images);
          Tensor loss = loss_of(b, logits);
          optimizer_.zero_grad();
          loss.backward();
          optimizer_.step();
          return {logits.detach(), loss.detach()};
        },
        true);
  }
  std::vector<EpochMetrics> history;
  while (epoch_ < options_.epochs) {
    for (TrainerHooks* h : hooks_) h->on_epoch_begin(*this, epoch_);
    EpochMetrics m = train_epoch(train);
    for (TrainerHooks* h : hooks_) h->on_train_epoch_end(*this, epoch_);
    // Masks and other decisions the hooks took, per-rank BN statistics: rank 0's everywhere.
    if (distributed()) sync_from_root();
    if (val != nullptr) {
      EpochMetrics v = evaluate(*val);
      m.val_loss = v.val_loss;
      m.val_top1 = v.val_top1;
      m.val_top5 = v.val_top5;
    }
    ++epoch_;
    for (TrainerHooks* h : hooks_) h->on_epoch_end(*this, m);
    char line[256], val_part[96] = "";
    if (val != nullptr) {
      std::snprintf(val_part, sizeof val_part, " | val loss %.4f top1 %.2f top5 %.2f", m.val_loss,
                    m.val_top1, m.val_top5);
    }
    std::snprintf(line, sizeof line,
                  "epoch %lld/%lld train loss %.4f top1 %.2f%s | lr %.5f | %.1f s",
                  static_cast<long long>(m.epoch), static_cast<long long>(options_.epochs),
                  m.train_loss, m.train_top1, val_part, m.lr, m.seconds);
    log_info(line);
    const bool improved = val != nullptr && m.val_top1 > best_top1_;
    if (improved) best_top1_ = m.val_top1;
    if (!dir.empty() && root) {
      // Every field of the epoch is final here. last.safetensors is the commit: best and the
      // metrics record go first, so a crash before the commit resumes from the previous epoch,
      // which repeats this one exactly, rewrites best identically and drops the uncommitted
      // metrics record (keep_committed_metrics); a crash after it has nothing left to redo.
      crash_point("before_best", m.epoch);
      if (improved) save_checkpoint(dir + "/best.safetensors");
      crash_point("before_metrics", m.epoch);
      nlohmann::json j = {{"epoch", m.epoch},
                          {"lr", m.lr},
                          {"train_loss", m.train_loss},
                          {"train_top1", m.train_top1},
                          {"val_loss", m.val_loss},
                          {"val_top1", m.val_top1},
                          {"val_top5", m.val_top5},
                          {"seconds", m.seconds},
                          {"images_per_second", m.images_per_second}};
      append_file_durable(dir + "/metrics.jsonl", j.dump() + "\n");
      crash_point("before_last", m.epoch);
      save_checkpoint(dir + "/last.safetensors");
      crash_point("after_last", m.epoch);
    }
    crash_point("epoch_end", m.epoch);  // every rank (the kill-one-rank test)
    history.push_back(m);
  }
  return history;
}

void Trainer::save_checkpoint(const std::string& path) const {
  TensorList tensors;
  for (auto& [name, t] : model_.state_dict()) tensors.emplace_back("model." + name, t);
  for (auto& [name, t] : optimizer_.state_dict()) tensors.emplace_back("optim." + name, t);
  for (std::size_t i = 0; i < hooks_.size(); ++i) {
    for (auto& [name, t] : hooks_[i]->state_dict()) {
      tensors.emplace_back("hook." + std::to_string(i) + "." + name, t);
    }
  }
  std::map<std::string, std::string> meta = options_.checkpoint_metadata;
  std::ostringstream rng;
  rng << default_generator().engine();
  meta["format"] = "shears-checkpoint-1";
  meta["epoch"] = std::to_string(epoch_);
  meta["global_step"] = std::to_string(global_step_);
  meta["optimizer_steps"] = std::to_string(optimizer_.steps());
  meta["best_top1"] = std::to_string(best_top1_);
  meta["rng_state"] = rng.str();
  for (std::size_t i = 0; i < hooks_.size(); ++i) {
    std::string state = hooks_[i]->state();
    if (!state.empty()) meta["hook_state." + std::to_string(i)] = state;
  }
  save_safetensors(path, tensors, meta);
}

void Trainer::load_checkpoint(const std::string& path) {
  SafetensorsContents c = load_safetensors(path);
  auto field = [&](const char* key) -> const std::string& {
    auto it = c.metadata.find(key);
    SHEARS_CHECK_AS(CheckpointError, it != c.metadata.end(), path, ": metadata field '", key,
                    "' is missing (not a shears training checkpoint?)");
    return it->second;
  };
  TensorList model_state, optim_state;
  std::vector<TensorList> hook_state(hooks_.size());
  for (auto& [name, t] : c.tensors) {
    if (name.rfind("hook.", 0) == 0) {
      const std::size_t dot = name.find('.', 5);
      std::size_t index = hooks_.size();
      try {
        if (dot != std::string::npos) index = std::stoul(name.substr(5, dot - 5));
      } catch (const std::logic_error&) {
      }
      SHEARS_CHECK_AS(CheckpointError, index < hooks_.size(), path, ": tensor '", name,
                      "' belongs to no registered trainer hook");
      hook_state[index].emplace_back(name.substr(dot + 1), t);
    } else if (name.rfind("model.", 0) == 0) {
      model_state.emplace_back(name.substr(6), t);
    } else if (name.rfind("optim.", 0) == 0) {
      optim_state.emplace_back(name.substr(6), t);
    } else {
      throw CheckpointError(path + ": unexpected tensor '" + name + "'");
    }
  }
  // Numeric fields: the whole text must parse; a bad one is named with what it holds.
  auto whole = [&](const char* key) -> std::int64_t {
    const std::string& text = field(key);
    try {
      std::size_t used = 0;
      const long long v = std::stoll(text, &used);
      if (used == text.size()) return v;
    } catch (const std::logic_error&) {
    }
    throw CheckpointError(path + ": metadata field '" + key + "' is not a whole number: '" + text +
                          "'");
  };
  auto real = [&](const char* key) -> double {
    const std::string& text = field(key);
    try {
      std::size_t used = 0;
      const double v = std::stod(text, &used);
      if (used == text.size()) return v;
    } catch (const std::logic_error&) {
    }
    throw CheckpointError(path + ": metadata field '" + key + "' is not a number: '" + text + "'");
  };
  const std::int64_t optimizer_steps = whole("optimizer_steps");
  const std::int64_t epoch = whole("epoch");
  const std::int64_t global_step = whole("global_step");
  const double best_top1 = real("best_top1");
  try {
    model_.load_state_dict(model_state);
    optimizer_.load_state_dict(optim_state, optimizer_steps);
  } catch (const CheckpointError& e) {
    throw CheckpointError(path + ": " + e.what());
  }
  epoch_ = epoch;
  global_step_ = global_step;
  best_top1_ = best_top1;
  std::istringstream rng(field("rng_state"));
  rng >> default_generator().engine();
  SHEARS_CHECK_AS(CheckpointError, !rng.fail(), path, ": metadata field 'rng_state' is malformed");
  for (std::size_t i = 0; i < hooks_.size(); ++i) {
    try {
      hooks_[i]->load_state_dict(hook_state[i]);
    } catch (const Error& e) {
      throw CheckpointError(path + ": tensors 'hook." + std::to_string(i) + ".*': " + e.what());
    }
    auto it = c.metadata.find("hook_state." + std::to_string(i));
    if (it == c.metadata.end()) continue;
    try {
      hooks_[i]->load_state(it->second);
    } catch (const Error& e) {
      throw CheckpointError(path + ": metadata field 'hook_state." + std::to_string(i) +
                            "': " + e.what());
    }
  }
}

}  // namespace shears
