#pragma once

// ABCPruner's artificial bee colony (docs/methods.md §5) over integer codes c_j in [1,
// max_preserve], as a step machine: next_batch() gives the candidates of the current phase,
// accept() takes their fitness. Between the two the colony can be saved (to_json) and restored, so
// a search resumes exactly where it stopped; the candidates of one phase do not depend on each
// other's fitness, so they can be evaluated at once.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/rng.h"

namespace shears::pruning::search {

struct BeeColonyOptions {
  int food_number = 10;     // SN food sources
  int food_limit = 5;       // trials without improvement before a scout replaces a source
  int honeychange_num = 2;  // dimensions changed per move
  int max_preserve = 9;     // codes in [1, max_preserve]
  int max_cycle = 10;       // employed + onlooker + scout rounds after the initial colony
  bool mutate_last = true;  // false: moves draw dimensions from [0, D-1) as the reference does
  std::uint64_t seed = 1;   // the colony's own stream (moves, scouts, the initial codes)
};

enum class BeePhase { Init, Employed, Onlooker, Scout, Done };
std::string bee_phase_name(BeePhase phase);

/// One code to evaluate, with where it comes from.
struct BeeCandidate {
  std::vector<int> code;
  BeePhase phase = BeePhase::Init;
  int cycle = 0;   // 0 for the initial colony, 1..max_cycle after
  int index = 0;   // within the cycle: init i, employed i, onlooker SN + t, scout 2 SN
  int source = 0;  // the food source it may replace
};

class BeeColony {
 public:
  struct Source {
    std::vector<int> code;
    double fitness = 0;
    int trial = 0;
  };
  /// Decides whether a code may be evaluated: may repair it in place (drawing from the colony's
  /// generator) and returns false to reject it. Rejected moves count as a failed trial; rejected
  /// initial or scout codes are drawn again.
  using Admit = std::function<bool(std::vector<int>& code, Generator& gen)>;

  /// Throws Error for dims < 1, food_number < 2, max_preserve < 1, honeychange_num < 1 or
  /// negative food_limit / max_cycle.
  BeeColony(BeeColonyOptions options, int dims, Admit admit = nullptr);

  /// The candidates of the current phase (the same list until accept); empty once done, and
  /// for a scout phase in which no source has reached food_limit.
  const std::vector<BeeCandidate>& next_batch();
  /// The fitness of every candidate of next_batch(), in its order: sets up the colony (init),
  /// replaces a source by a better move (strictly greater fitness; trial 0) or counts a trial,
  /// replaces the scouted source, tracks the best code ever evaluated, and moves to the next
  /// phase. Returns the index in the batch of a new best candidate, or -1.
  int accept(const std::vector<double>& fitness);

  bool done() const { return phase_ == BeePhase::Done; }
  BeePhase phase() const { return phase_; }
  int cycle() const { return cycle_; }
  int dims() const { return dims_; }
  std::int64_t evaluations() const { return evaluations_; }
  /// Evaluations of a whole search when every scout fires: SN + max_cycle (2 SN + 1).
  std::int64_t planned_evaluations() const;
  const std::vector<int>& best_code() const { return best_code_; }
  double best_fitness() const { return best_fitness_; }
  const std::vector<Source>& sources() const { return sources_; }
  const BeeColonyOptions& options() const { return options_; }

  /// Replaces the colony (tests): sources, and the phase and cycle to continue from.
  void set_state(std::vector<Source> sources, BeePhase phase, int cycle);

  /// Everything that determines the rest of the search (not while a batch is pending).
  nlohmann::json to_json() const;
  /// Restores to_json's state. Throws Error when it was made with other options or dims.
  void restore(const nlohmann::json& state);

  /// Onlooker selection weights: p_i = 0.9 f_i / max f + 0.1 (every p_i = 1 when max f <= 0).
  static std::vector<double> onlooker_probabilities(const std::vector<double>& fitness);
  /// The reference's roulette walk: i runs cyclically from 0; source i is chosen when
  /// U(0,1) < p_i; `count` choices.
  static std::vector<int> onlooker_sources(const std::vector<double>& p, int count, Generator& gen);

 private:
  std::vector<int> random_code();  // init: uniform in [1, max_preserve]
  std::vector<int> scout_code();   // int(U * max_preserve), 0 -> 1
  std::vector<int> admitted(const std::function<std::vector<int>()>& draw);
  BeeCandidate move(int source, BeePhase phase, int index);
  void build_batch();
  void advance();

  BeeColonyOptions options_;
  int dims_;
  Admit admit_;
  mutable Generator gen_;
  BeePhase phase_ = BeePhase::Init;
  int cycle_ = 0;
  std::vector<Source> sources_;
  std::vector<int> best_code_;
  double best_fitness_ = -1e300;
  std::int64_t evaluations_ = 0;
  bool pending_ = false;
  std::vector<BeeCandidate> batch_;
  std::vector<int> rejected_;  // sources of rejected moves of the pending batch
};

}  // namespace shears::pruning::search
