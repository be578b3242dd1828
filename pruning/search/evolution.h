#pragma once

// MetaPruning's evolutionary search (docs/methods.md §6) over codes of scale indices, as a step
// machine like the bee colony: next_batch() gives one generation's candidates, accept() takes
// their fitness and builds the next generation. Between the two the search can be saved
// (to_json) and restored, so an interrupted search resumes exactly where it stopped.

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/rng.h"

namespace shears::pruning::search {

struct EvolutionOptions {
  int population = 50;       // candidates per generation
  int memory = 50;           // the best candidates ever seen that are kept (top-k memory)
  int parents = 10;          // mutation and crossover draw from the best `parents` of the memory
  int iterations = 20;       // generations evaluated (the first one random)
  int mutations = 25;        // mutants per generation
  int crossovers = 25;       // uniform crossovers per generation
  double mutate_prob = 0.1;  // per gene: replaced by a different random index
  int num_scales = 31;       // genes in [0, num_scales)
  int init_lo = 12, init_hi = 23;  // random candidates draw every gene from [init_lo, init_hi]
  /// Draws tried per mutant or crossover before the search gives up on that kind for the
  /// generation (the reference's max_iters = 10 x count); random candidates get 100 times as
  /// many tries (a narrow FLOPs window admits few random codes).
  int max_tries = 10;
  std::uint64_t seed = 1;
};

struct EvoCandidate {
  std::vector<int> code;
  int iteration = 0;
  int index = 0;       // within the generation
  std::string origin;  // "random", "mutation" or "crossover"
};

class Evolution {
 public:
  /// Whether a code may be evaluated (the FLOPs window or latency target); null: every code.
  using Admit = std::function<bool(const std::vector<int>& code)>;

  /// Throws Error for dims < 1, population < 1, parents < 1, memory < parents, a bad init range
  /// or mutate_prob outside [0, 1].
  Evolution(EvolutionOptions options, int dims, Admit admit = nullptr);

  /// The current generation (the same list until accept); empty once done.
  const std::vector<EvoCandidate>& next_batch();
  /// The fitness of every candidate of next_batch(), in order: updates the memory, the parents
  /// and the best, then builds the next generation. Returns the index in the batch of a new
  /// best candidate, or -1.
  int accept(const std::vector<double>& fitness);

  bool done() const { return iteration_ >= options_.iterations; }
  int iteration() const { return iteration_; }
  std::int64_t evaluations() const { return evaluations_; }
  std::int64_t planned_evaluations() const;
  const std::vector<int>& best_code() const { return best_code_; }
  double best_fitness() const { return best_fitness_; }
  /// The best candidates seen, best first (at most options.memory).
  const std::vector<std::pair<std::vector<int>, double>>& memory() const { return memory_; }
  /// Best fitness after each accepted generation.
  const std::vector<double>& history() const { return history_; }
  const EvolutionOptions& options() const { return options_; }

  nlohmann::json to_json() const;
  /// Restores to_json's state; throws Error when it was made with other options or dims.
  void restore(const nlohmann::json& state);

 private:
  bool take(std::vector<int> code, const std::string& origin, std::vector<EvoCandidate>& out,
            std::set<std::vector<int>>& batch_seen);
  void build_generation();
  std::vector<int> random_code();

  EvolutionOptions options_;
  int dims_;
  Admit admit_;
  Generator gen_;
  int iteration_ = 0;
  std::int64_t evaluations_ = 0;
  std::set<std::vector<int>> seen_;  // every code ever put in a generation
  std::vector<std::pair<std::vector<int>, double>> memory_;
  std::vector<int> best_code_;
  double best_fitness_ = -1e300;
  std::vector<double> history_;
  std::vector<EvoCandidate> batch_;
  bool built_ = false;
};

}  // namespace shears::pruning::search
