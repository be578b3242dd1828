#include "pruning/search/bee_colony.h"

#include <algorithm>
#include <cmath>

#include "pruning/search/driver.h"

namespace shears::pruning::search {

std::string bee_phase_name(BeePhase phase) {
  switch (phase) {
    case BeePhase::Init:
      return "init";
    case BeePhase::Employed:
      return "employed";
    case BeePhase::Onlooker:
      return "onlooker";
    case BeePhase::Scout:
      return "scout";
    case BeePhase::Done:
      return "done";
  }
  return "";
}

namespace {
BeePhase phase_from_name(const std::string& name) {
  for (BeePhase p :
       {BeePhase::Init, BeePhase::Employed, BeePhase::Onlooker, BeePhase::Scout, BeePhase::Done})
    if (bee_phase_name(p) == name) return p;
  throw Error("search state: unknown phase '" + name + "'");
}

int uniform_int(Generator& gen, int n) {  // in [0, n)
  return static_cast<int>(gen.next_u64() % static_cast<std::uint64_t>(n));
}

nlohmann::json options_json(const BeeColonyOptions& o, int dims) {
  return {{"food_number", o.food_number},
          {"food_limit", o.food_limit},
          {"honeychange_num", o.honeychange_num},
          {"max_preserve", o.max_preserve},
          {"max_cycle", o.max_cycle},
          {"mutate_last", o.mutate_last},
          {"seed", o.seed},
          {"dims", dims}};
}
}  // namespace

BeeColony::BeeColony(BeeColonyOptions options, int dims, Admit admit)
    : options_(options), dims_(dims), admit_(std::move(admit)), gen_(options.seed) {
  SHEARS_CHECK(dims >= 1, "bee colony: a code needs at least one dimension");
  SHEARS_CHECK(options.food_number >= 2, "bee colony: food_number must be >= 2, got ",
               options.food_number);
  SHEARS_CHECK(options.max_preserve >= 1, "bee colony: max_preserve must be >= 1, got ",
               options.max_preserve);
  SHEARS_CHECK(options.honeychange_num >= 1, "bee colony: honeychange_num must be >= 1, got ",
               options.honeychange_num);
  SHEARS_CHECK(options.food_limit >= 0 && options.max_cycle >= 0,
               "bee colony: food_limit and max_cycle must be >= 0");
  // The colony's stream is separate from every candidate's.
  gen_.seed(candidate_seed(options.seed, -1, -1));
}

std::int64_t BeeColony::planned_evaluations() const {
  const std::int64_t sn = options_.food_number;
  return sn + static_cast<std::int64_t>(options_.max_cycle) * (2 * sn + 1);
}

std::vector<int> BeeColony::random_code() {
  std::vector<int> code(static_cast<std::size_t>(dims_));
  for (int& c : code) c = 1 + uniform_int(gen_, options_.max_preserve);
  return code;
}

std::vector<int> BeeColony::scout_code() {
  std::vector<int> code(static_cast<std::size_t>(dims_));
  for (int& c : code) c = std::max(1, static_cast<int>(gen_.uniform() * options_.max_preserve));
  return code;
}

std::vector<int> BeeColony::admitted(const std::function<std::vector<int>()>& draw) {
  for (int attempt = 0; attempt < 10000; ++attempt) {
    std::vector<int> code = draw();
    if (!admit_ || admit_(code, gen_)) return code;
  }
  throw Error(
      "bee colony: 10000 random codes in a row were rejected by the budget; "
      "loosen the budget or raise max_preserve");
}

BeeCandidate BeeColony::move(int source, BeePhase phase, int index) {
  const int sn = options_.food_number;
  int k = source;
  while (k == source) k = uniform_int(gen_, sn);
  const int range = options_.mutate_last ? dims_ : std::max(1, dims_ - 1);
  std::vector<int> dims(static_cast<std::size_t>(options_.honeychange_num));
  for (int& d : dims) d = uniform_int(gen_, range);
  std::vector<double> phi(dims.size());
  for (double& r : phi) r = gen_.uniform(-1.0, 1.0);
  const std::vector<int>& x = sources_[static_cast<std::size_t>(source)].code;
  const std::vector<int>& xk = sources_[static_cast<std::size_t>(k)].code;
  BeeCandidate c{x, phase, cycle_, index, source};
  for (std::size_t j = 0; j < dims.size(); ++j) {
    auto d = static_cast<std::size_t>(dims[j]);
    double v = std::trunc(x[d] + phi[j] * (x[d] - xk[d]));
    c.code[d] = static_cast<int>(std::clamp(v, 1.0, static_cast<double>(options_.max_preserve)));
  }
  return c;
}

std::vector<double> BeeColony::onlooker_probabilities(const std::vector<double>& fitness) {
  double max_f = *std::max_element(fitness.begin(), fitness.end());
  std::vector<double> p(fitness.size(), 1.0);
  if (max_f <= 0) return p;
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = 0.9 * fitness[i] / max_f + 0.1;
  return p;
}

std::vector<int> BeeColony::onlooker_sources(const std::vector<double>& p, int count,
                                             Generator& gen) {
  std::vector<int> chosen;
  std::size_t i = 0;
  while (static_cast<int>(chosen.size()) < count) {
    if (gen.uniform() < p[i]) chosen.push_back(static_cast<int>(i));
    i = (i + 1) % p.size();
  }
  return chosen;
}

void BeeColony::build_batch() {
  batch_.clear();
  rejected_.clear();
  const int sn = options_.food_number;
  auto add_move = [&](int source, BeePhase phase, int index) {
    BeeCandidate c = move(source, phase, index);
    if (admit_ && !admit_(c.code, gen_)) {
      rejected_.push_back(source);
    } else {
      batch_.push_back(std::move(c));
    }
  };
  switch (phase_) {
    case BeePhase::Init:
      for (int i = 0; i < sn; ++i)
        batch_.push_back(BeeCandidate{admitted([&] { return random_code(); }), phase_, 0, i, i});
      break;
    case BeePhase::Employed:
      for (int i = 0; i < sn; ++i) add_move(i, phase_, i);
      break;
    case BeePhase::Onlooker: {
      std::vector<double> f;
      for (const Source& s : sources_) f.push_back(s.fitness);
      std::vector<int> chosen = onlooker_sources(onlooker_probabilities(f), sn, gen_);
      for (int t = 0; t < sn; ++t) add_move(chosen[static_cast<std::size_t>(t)], phase_, sn + t);
      break;
    }
    case BeePhase::Scout: {
      int worst = 0;
      for (int i = 1; i < sn; ++i)
        if (sources_[static_cast<std::size_t>(i)].trial >
            sources_[static_cast<std::size_t>(worst)].trial)
          worst = i;
      if (sources_[static_cast<std::size_t>(worst)].trial >= options_.food_limit) {
        batch_.push_back(
            BeeCandidate{admitted([&] { return scout_code(); }), phase_, cycle_, 2 * sn, worst});
      }
      break;
    }
    case BeePhase::Done:
      break;
  }
  pending_ = true;
}

const std::vector<BeeCandidate>& BeeColony::next_batch() {
  if (!pending_) build_batch();
  return batch_;
}

void BeeColony::advance() {
  switch (phase_) {
    case BeePhase::Init:
      phase_ = options_.max_cycle > 0 ? BeePhase::Employed : BeePhase::Done;
      cycle_ = options_.max_cycle > 0 ? 1 : 0;
      break;
    case BeePhase::Employed:
      phase_ = BeePhase::Onlooker;
      break;
    case BeePhase::Onlooker:
      phase_ = BeePhase::Scout;
      break;
    case BeePhase::Scout:
      if (cycle_ < options_.max_cycle) {
        phase_ = BeePhase::Employed;
        ++cycle_;
      } else {
        phase_ = BeePhase::Done;
      }
      break;
    case BeePhase::Done:
      break;
  }
}

int BeeColony::accept(const std::vector<double>& fitness) {
  if (!pending_) build_batch();
  SHEARS_CHECK(fitness.size() == batch_.size(), "bee colony: ", fitness.size(),
               " fitness values for a batch of ", batch_.size());
  int new_best = -1;
  if (phase_ == BeePhase::Init) sources_.assign(static_cast<std::size_t>(options_.food_number), {});
  for (std::size_t b = 0; b < batch_.size(); ++b) {
    const BeeCandidate& c = batch_[b];
    Source& s = sources_[static_cast<std::size_t>(c.source)];
    if (phase_ == BeePhase::Init || phase_ == BeePhase::Scout) {
      s = Source{c.code, fitness[b], 0};
    } else if (fitness[b] > s.fitness) {
      s = Source{c.code, fitness[b], 0};
    } else {
      ++s.trial;
    }
    if (fitness[b] > best_fitness_) {
      best_fitness_ = fitness[b];
      best_code_ = c.code;
      new_best = static_cast<int>(b);
    }
  }
  for (int source : rejected_) ++sources_[static_cast<std::size_t>(source)].trial;
  evaluations_ += static_cast<std::int64_t>(batch_.size());
  pending_ = false;
  batch_.clear();
  rejected_.clear();
  advance();
  return new_best;
}

void BeeColony::set_state(std::vector<Source> sources, BeePhase phase, int cycle) {
  SHEARS_CHECK(static_cast<int>(sources.size()) == options_.food_number,
               "bee colony: set_state with ", sources.size(), " sources for food_number ",
               options_.food_number);
  sources_ = std::move(sources);
  phase_ = phase;
  cycle_ = cycle;
  pending_ = false;
}

nlohmann::json BeeColony::to_json() const {
  SHEARS_CHECK(!pending_ || batch_.empty(), "bee colony: cannot save with a batch pending");
  nlohmann::json sources = nlohmann::json::array();
  for (const Source& s : sources_)
    sources.push_back({{"code", s.code}, {"fitness", s.fitness}, {"trial", s.trial}});
  return {{"options", options_json(options_, dims_)},
          {"phase", bee_phase_name(phase_)},
          {"cycle", cycle_},
          {"sources", sources},
          {"best_code", best_code_},
          {"best_fitness", best_fitness_},
          {"evaluations", evaluations_},
          {"rng", generator_state(gen_)}};
}

void BeeColony::restore(const nlohmann::json& state) {
  try {
    if (state.at("options") != options_json(options_, dims_)) {
      throw Error("search state was made with other colony settings (" +
                  state.at("options").dump() + ", now " + options_json(options_, dims_).dump() +
                  "); use another --out or remove the search directory");
    }
    phase_ = phase_from_name(state.at("phase").get<std::string>());
    cycle_ = state.at("cycle").get<int>();
    sources_.clear();
    for (const auto& s : state.at("sources"))
      sources_.push_back(Source{s.at("code").get<std::vector<int>>(), s.at("fitness").get<double>(),
                                s.at("trial").get<int>()});
    best_code_ = state.at("best_code").get<std::vector<int>>();
    best_fitness_ = state.at("best_fitness").get<double>();
    evaluations_ = state.at("evaluations").get<std::int64_t>();
    restore_generator(gen_, state.at("rng").get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("search state: ") + e.what());
  }
  pending_ = false;
  batch_.clear();
  rejected_.clear();
}

}  // namespace shears::pruning::search
