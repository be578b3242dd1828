#include "pruning/search/evolution.h"

#include <algorithm>

#include "kernels/common/error.h"
#include "pruning/search/driver.h"

namespace shears::pruning::search {

Evolution::Evolution(EvolutionOptions options, int dims, Admit admit)
    : options_(options), dims_(dims), admit_(std::move(admit)), gen_(options.seed) {
  SHEARS_CHECK(dims >= 1, "evolution: at least one gene");
  SHEARS_CHECK(options.population >= 1 && options.parents >= 1 &&
                   options.memory >= options.parents && options.iterations >= 0 &&
                   options.mutations >= 0 && options.crossovers >= 0 && options.max_tries >= 1,
               "evolution: population and parents must be >= 1, memory >= parents");
  SHEARS_CHECK(options.num_scales >= 2 && options.init_lo >= 0 &&
                   options.init_lo <= options.init_hi && options.init_hi < options.num_scales,
               "evolution: initial range [", options.init_lo, ", ", options.init_hi,
               "] must lie in [0, ", options.num_scales, ")");
  SHEARS_CHECK(options.mutate_prob >= 0 && options.mutate_prob <= 1,
               "evolution: mutate_prob must be in [0, 1]");
}

std::int64_t Evolution::planned_evaluations() const {
  return static_cast<std::int64_t>(options_.iterations) * options_.population;
}

std::vector<int> Evolution::random_code() {
  std::vector<int> c(static_cast<std::size_t>(dims_));
  const auto span = static_cast<std::uint64_t>(options_.init_hi - options_.init_lo + 1);
  for (int& g : c) g = options_.init_lo + static_cast<int>(gen_.next_u64() % span);
  return c;
}

bool Evolution::take(std::vector<int> code, const std::string& origin,
                     std::vector<EvoCandidate>& out, std::set<std::vector<int>>& batch_seen) {
  if (seen_.count(code) || batch_seen.count(code)) return false;
  if (admit_ && !admit_(code)) return false;
  batch_seen.insert(code);
  EvoCandidate c;
  c.code = std::move(code);
  c.iteration = iteration_;
  c.index = static_cast<int>(out.size());
  c.origin = origin;
  out.push_back(std::move(c));
  return true;
}

void Evolution::build_generation() {
  std::vector<EvoCandidate> out;
  std::set<std::vector<int>> batch_seen;
  const int target = options_.population;
  if (iteration_ > 0 && !memory_.empty()) {
    const int parents = std::min<int>(options_.parents, static_cast<int>(memory_.size()));
    auto parent = [&] {
      return memory_[static_cast<std::size_t>(gen_.next_u64() %
                                              static_cast<std::uint64_t>(parents))]
          .first;
    };
    // Mutants: a random parent; each gene with probability mutate_prob replaced by a different
    // random index.
    int made = 0;
    for (int t = 0; t < options_.mutations * options_.max_tries && made < options_.mutations &&
                    static_cast<int>(out.size()) < target;
         ++t) {
      std::vector<int> c = parent();
      for (int& g : c) {
        if (gen_.uniform() < options_.mutate_prob) {
          int r = static_cast<int>(gen_.next_u64() %
                                   static_cast<std::uint64_t>(options_.num_scales - 1));
          g = r >= g ? r + 1 : r;
        }
      }
      if (take(std::move(c), "mutation", out, batch_seen)) ++made;
    }
    // Uniform crossovers of two distinct parents (with one parent there is none).
    made = 0;
    for (int t = 0; parents >= 2 && t < options_.crossovers * options_.max_tries &&
                    made < options_.crossovers && static_cast<int>(out.size()) < target;
         ++t) {
      auto i = static_cast<int>(gen_.next_u64() % static_cast<std::uint64_t>(parents));
      auto j = static_cast<int>(gen_.next_u64() % static_cast<std::uint64_t>(parents - 1));
      if (j >= i) ++j;
      const std::vector<int>& a = memory_[static_cast<std::size_t>(i)].first;
      const std::vector<int>& b = memory_[static_cast<std::size_t>(j)].first;
      std::vector<int> c(a.size());
      for (std::size_t k = 0; k < c.size(); ++k) c[k] = (gen_.next_u64() & 1) ? a[k] : b[k];
      if (take(std::move(c), "crossover", out, batch_seen)) ++made;
    }
  }
  // The rest at random.
  const int missing = target - static_cast<int>(out.size());
  for (int t = 0;
       t < std::max(1, missing) * options_.max_tries * 100 && static_cast<int>(out.size()) < target;
       ++t)
    take(random_code(), "random", out, batch_seen);
  for (const EvoCandidate& c : out) seen_.insert(c.code);
  batch_ = std::move(out);
  built_ = true;
}

const std::vector<EvoCandidate>& Evolution::next_batch() {
  static const std::vector<EvoCandidate> kNone;
  if (done()) return kNone;
  if (!built_) build_generation();
  return batch_;
}

int Evolution::accept(const std::vector<double>& fitness) {
  SHEARS_CHECK(built_ && !done(), "evolution: accept without a pending generation");
  SHEARS_CHECK(fitness.size() == batch_.size(), "evolution: ", fitness.size(),
               " fitness values for ", batch_.size(), " candidates");
  int best = -1;
  for (std::size_t i = 0; i < batch_.size(); ++i) {
    memory_.emplace_back(batch_[i].code, fitness[i]);
    if (fitness[i] > best_fitness_) {
      best_fitness_ = fitness[i];
      best_code_ = batch_[i].code;
      best = static_cast<int>(i);
    }
  }
  // Best first; ties keep the earlier candidate (stable).
  std::stable_sort(memory_.begin(), memory_.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (static_cast<int>(memory_.size()) > options_.memory)
    memory_.resize(static_cast<std::size_t>(options_.memory));
  evaluations_ += static_cast<std::int64_t>(batch_.size());
  history_.push_back(best_fitness_);
  ++iteration_;
  built_ = false;
  batch_.clear();
  return best;
}

namespace {
nlohmann::json options_json(const EvolutionOptions& o) {
  return {o.population,  o.memory,     o.parents, o.iterations, o.mutations, o.crossovers,
          o.mutate_prob, o.num_scales, o.init_lo, o.init_hi,    o.max_tries, o.seed};
}
}  // namespace

nlohmann::json Evolution::to_json() const {
  SHEARS_CHECK(!built_, "evolution: cannot save while a generation is pending");
  nlohmann::json mem = nlohmann::json::array();
  for (const auto& [code, f] : memory_) mem.push_back({{"code", code}, {"fitness", f}});
  std::vector<std::vector<int>> seen(seen_.begin(), seen_.end());
  Generator copy = gen_;
  return {{"dims", dims_},           {"options", options_json(options_)},
          {"iteration", iteration_}, {"evaluations", evaluations_},
          {"memory", mem},           {"seen", seen},
          {"best_code", best_code_}, {"best_fitness", best_fitness_},
          {"history", history_},     {"generator", generator_state(copy)}};
}

void Evolution::restore(const nlohmann::json& s) {
  try {
    SHEARS_CHECK(s.at("dims").get<int>() == dims_ && s.at("options") == options_json(options_),
                 "evolution state made with other options or another number of genes");
    iteration_ = s.at("iteration").get<int>();
    evaluations_ = s.at("evaluations").get<std::int64_t>();
    memory_.clear();
    for (const auto& m : s.at("memory"))
      memory_.emplace_back(m.at("code").get<std::vector<int>>(), m.at("fitness").get<double>());
    seen_.clear();
    for (const auto& c : s.at("seen")) seen_.insert(c.get<std::vector<int>>());
    best_code_ = s.at("best_code").get<std::vector<int>>();
    best_fitness_ = s.at("best_fitness").get<double>();
    history_ = s.at("history").get<std::vector<double>>();
    restore_generator(gen_, s.at("generator").get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("evolution state: ") + e.what());
  }
  built_ = false;
  batch_.clear();
}

}  // namespace shears::pruning::search
