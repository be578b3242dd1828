#pragma once

// The machinery every architecture search shares (ABCPruner, MetaPruning): candidates with their
// own random streams, trained in memory through the normal trainer, evaluated several at a time,
// and a search state on disk that an interrupted run resumes from.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/nn/module.h"
#include "engine/rng.h"
#include "engine/train/batch_source.h"
#include "engine/train/trainer.h"
#include "models/arch.h"
#include "pruning/methods/method.h"

namespace shears::pruning::search {

/// The seed of candidate `candidate` of cycle `cycle` of a search seeded with `seed`: a
/// splitmix64 hash of the three, so every candidate has its own stream whatever the order in
/// which candidates run.
std::uint64_t candidate_seed(std::uint64_t seed, std::int64_t cycle, std::int64_t candidate);

/// The first `max_batches` batches of every epoch of another source (all when 0). A search
/// trains and scores candidates on part of the data to keep a candidate cheap.
class LimitedSource : public BatchSource {
 public:
  LimitedSource(BatchSource& inner, std::int64_t max_batches);
  void start_epoch(std::int64_t epoch) override;
  bool next(Batch& batch) override;
  std::int64_t batches_per_epoch() const override;
  std::int64_t num_samples() const override;
  int num_classes() const override { return inner_.num_classes(); }

 private:
  BatchSource& inner_;
  std::int64_t max_batches_;
  std::int64_t served_ = 0;
};

/// Trains `model` in memory with `recipe` through the normal trainer (the recipe's optimiser,
/// schedule and label smoothing; the source's augmentation): no checkpoint is written or resumed
/// and no progress is printed. Returns the metrics of every epoch (no evaluation: val fields 0).
std::vector<EpochMetrics> train_ephemeral(nn::Module& model, const TrainRecipe& recipe,
                                          BatchSource& train, const Device& device);

/// How many candidates run at once on the CPU, and with how many OpenMP threads each.
struct ParallelOptions {
  int parallel = 1;
  /// OpenMP threads of each candidate; 0: the calling thread's OpenMP threads / parallel (at
  /// least 1), i.e. the threads divided between the candidates.
  int threads_per_candidate = 0;
};
/// The OpenMP threads each candidate gets under `options`.
int candidate_threads(const ParallelOptions& options);

/// Calls job(i) for every i in [0, n): on the calling thread when options.parallel is 1,
/// otherwise on min(parallel, n) worker threads that take the next index in turn. Every job runs
/// with candidate_threads(options) OpenMP threads; on a GPU `device` each worker thread queues
/// its kernels on a CUDA stream of its own (ThreadStream), so the candidates overlap on the
/// device. Returns when all jobs are done (and their device work finished); rethrows the
/// exception of the lowest-numbered job that threw (the others still finish).
void run_parallel(std::int64_t n, const ParallelOptions& options, const Device& device,
                  const std::function<void(std::int64_t)>& job);

/// The files of a resumable search in a run directory:
///   <run>/search/state.json        the search's state, replaced atomically after every batch
///   <run>/search/best.safetensors  the best candidate's trained weights (metadata "arch")
///   <run>/search.jsonl             one line per evaluated candidate
/// With an empty run directory nothing is written and there is never a state to resume.
class SearchFiles {
 public:
  explicit SearchFiles(std::string run_dir);
  bool enabled() const { return !run_dir_.empty(); }
  std::string state_path() const { return run_dir_ + "/search/state.json"; }
  std::string best_path() const { return run_dir_ + "/search/best.safetensors"; }
  std::string log_path() const { return run_dir_ + "/search.jsonl"; }

  /// The saved state, or a null JSON value when there is none. Throws Error naming the file
  /// when it is not valid JSON.
  nlohmann::json load_state() const;
  void save_state(const nlohmann::json& state) const;
  /// Saves the weights of `model` (architecture `arch`) as the best candidate's.
  void save_best(nn::Module& model, const models::Arch& arch) const;
  /// The best candidate saved by save_best, rebuilt from its architecture with initial weights
  /// drawn from `gen` (then replaced by the saved ones) and moved to `device`.
  std::shared_ptr<nn::Module> load_best(Generator& gen, const Device& device) const;
  /// Starts the log afresh (keep = 0) or keeps only its first `keep` lines (the candidates of
  /// the batches the saved state includes; lines of an interrupted batch are dropped).
  void truncate_log(std::int64_t keep) const;
  /// Appends one line per JSON object, flushed.
  void append_log(const std::vector<nlohmann::json>& lines) const;

 private:
  std::string run_dir_;
};

/// Thrown when a search stops on request (`stop_after` evaluations) with its state saved; the
/// same run directory resumes it.
class SearchStopped : public Error {
 public:
  using Error::Error;
};

/// The RNG state of `gen` as text, and back (for search states).
std::string generator_state(Generator& gen);
void restore_generator(Generator& gen, const std::string& state);

}  // namespace shears::pruning::search
