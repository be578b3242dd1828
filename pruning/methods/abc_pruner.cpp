// ABCPruner (Lin et al., IJCAI 2020): channel counts searched by an artificial bee colony.
#include "pruning/methods/abc_pruner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "engine/dist/communicator.h"
#include "engine/log.h"
#include "models/model.h"

namespace shears::pruning {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string format_duration(double seconds) {
  int s = static_cast<int>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  return buf;
}

/// One evaluated candidate.
struct Evaluated {
  double fitness = 0;
  double seconds = 0;
  search::ArchCost::Cost cost;
  std::shared_ptr<nn::Module> model;
  models::Arch arch;
};

}  // namespace

AbcMethod::AbcMethod(const Config& s) {
  auto bad = [&](const std::string& key, const std::string& what) { return s.error(key, what); };
  const std::string mode = s.get<std::string>("mode", "corrected");
  if (mode != "corrected" && mode != "faithful")
    throw bad("mode", "must be corrected or faithful, got '" + mode + "'");
  faithful_ = mode == "faithful";
  colony_.food_number = s.get<int>("food_number", 10);
  colony_.food_limit = s.get<int>("food_limit", 5);
  colony_.honeychange_num = s.get<int>("honeychange_num", 2);
  colony_.max_preserve = s.get<int>("max_preserve", 9);
  colony_.max_cycle = s.get<int>("max_cycle", 10);
  colony_.mutate_last = !faithful_;
  if (colony_.food_number < 2) throw bad("food_number", "must be >= 2");
  if (colony_.food_limit < 0) throw bad("food_limit", "must be >= 0");
  if (colony_.honeychange_num < 1) throw bad("honeychange_num", "must be >= 1");
  if (colony_.max_preserve < 1 || colony_.max_preserve > 10)
    throw bad("max_preserve", "must be in [1, 10] (width int(C·c/10))");
  if (colony_.max_cycle < 0) throw bad("max_cycle", "must be >= 0");
  calfitness_epoch_ = s.get<std::int64_t>("calfitness_epoch", 2);
  if (calfitness_epoch_ < 0) throw bad("calfitness_epoch", "must be >= 0");
  try {
    inherit_ = search::parse_inherit(s.get<std::string>("inherit", "random_pretrain"));
  } catch (const ConfigError& e) {
    throw bad("inherit", e.what());
  }
  fitness_split_ = s.get<std::string>("fitness_split", faithful_ ? "test" : "val");
  if (fitness_split_ != "val" && fitness_split_ != "test" && fitness_split_ != "train")
    throw bad("fitness_split", "must be val, test or train, got '" + fitness_split_ + "'");
  fitness_metric_ = s.get<std::string>("fitness_metric", "top1");
  if (fitness_metric_ != "top1" && fitness_metric_ != "top5")
    throw bad("fitness_metric", "must be top1 or top5, got '" + fitness_metric_ + "'");
  candidate_lr_ = s.get<double>("candidate_lr", 0.0);
  if (candidate_lr_ < 0) throw bad("candidate_lr", "must be >= 0 (0: the fine-tune lr)");
  train_batches_ = s.get<std::int64_t>("train_batches", 0);
  eval_batches_ = s.get<std::int64_t>("eval_batches", 0);
  if (train_batches_ < 0) throw bad("train_batches", "must be >= 0 (0: every batch)");
  if (eval_batches_ < 0) throw bad("eval_batches", "must be >= 0 (0: every batch)");
  flops_target_ = s.get<double>("flops_target", 0.0);
  params_target_ = s.get<double>("params_target", 0.0);
  if (flops_target_ < 0 || flops_target_ >= 1)
    throw bad("flops_target", "must be a FLOPs reduction in [0, 1)");
  if (params_target_ < 0 || params_target_ >= 1)
    throw bad("params_target", "must be a parameter reduction in [0, 1)");
  const std::string budget = s.get<std::string>("budget_mode", "repair");
  if (budget != "repair" && budget != "reject")
    throw bad("budget_mode", "must be repair or reject, got '" + budget + "'");
  repair_ = budget == "repair";
  parallel_.parallel = s.get<int>("parallel", 1);
  parallel_.threads_per_candidate = s.get<int>("threads_per_candidate", 0);
  if (parallel_.parallel < 1) throw bad("parallel", "must be >= 1");
  if (parallel_.threads_per_candidate < 0)
    throw bad("threads_per_candidate", "must be >= 0 (0: the threads divided by parallel)");
  unit_sharing_ = s.get<std::string>("unit_sharing", "auto");
  if (unit_sharing_ != "auto") {
    try {
      search::parse_unit_sharing(unit_sharing_);
    } catch (const ConfigError& e) {
      throw bad("unit_sharing", std::string(e.what()) + " or auto");
    }
  }
  skip_ = s.get<std::vector<std::string>>("skip", {});
  stop_after_ = s.get<std::int64_t>("stop_after", 0);
  if (stop_after_ < 0) throw bad("stop_after", "must be >= 0 (0: never stop early)");
}

PruneResult AbcMethod::run(PruneContext& ctx) {
  using namespace search;
  nn::Module& dense = *ctx.model;
  const std::string model_name = models::arch_of(dense).name;
  DependencyGraph graph = DependencyGraph::build(dense, ctx.input);
  UnitSharing sharing = unit_sharing_ == "auto" ? default_unit_sharing(model_name)
                                                : parse_unit_sharing(unit_sharing_);
  std::vector<SearchUnit> units = search_units(graph, dense, sharing, skip_);
  SHEARS_CHECK(!units.empty(), "abc: no searchable layers in ", model_name);
  if (parallel_.parallel > 1 && !ctx.make_source)
    throw Error("abc: parallel > 1 needs a batch source per candidate (PruneContext::make_source)");

  // On a GPU each worker thread queues its candidate's kernels on a CUDA stream of its own.
  const search::ParallelOptions parallel = parallel_;
  const ArchCost costs(dense, graph, ctx.input);
  const ArchCost::Cost dense_cost = costs.dense();
  Budget budget;
  budget.repair = repair_;
  if (flops_target_ > 0)
    budget.max_macs = static_cast<std::int64_t>(
        std::floor(static_cast<double>(dense_cost.macs) * (1.0 - flops_target_)));
  if (params_target_ > 0)
    budget.max_params = static_cast<std::int64_t>(
        std::floor(static_cast<double>(dense_cost.params) * (1.0 - params_target_)));
  BeeColony::Admit admit;
  if (budget.active()) {
    admit = [&](std::vector<int>& code, Generator& gen) {
      return fit_budget(code, budget, costs, units, graph, gen);
    };
  }

  BeeColonyOptions options = colony_;
  options.seed = ctx.seed;
  BeeColony colony(options, static_cast<int>(units.size()), admit);
  std::vector<std::string> unit_names;
  for (const SearchUnit& u : units) unit_names.push_back(u.name);

  dist::Communicator* comm = ctx.comm;
  const int ranks = comm ? comm->size() : 1, rank = comm ? comm->rank() : 0;
  const bool root = rank == 0;
  SearchFiles files(ctx.run_dir);
  nlohmann::json state = files.load_state();
  double prior_seconds = 0;
  nlohmann::json initial = nullptr;
  std::int64_t max_evaluated_macs = 0, max_evaluated_params = 0;
  if (!state.is_null()) {
    if (state.value("method", "") != "abc" || state.value("units", nlohmann::json()) != unit_names)
      throw Error(files.state_path() +
                  ": a search state of another method or network; use another --out or remove "
                  "the search directory");
    colony.restore(state.at("colony"));
    prior_seconds = state.value("seconds", 0.0);
    initial = state.value("initial", nlohmann::json());
    max_evaluated_macs = state.value("max_macs", std::int64_t{0});
    max_evaluated_params = state.value("max_params", std::int64_t{0});
    if (root) files.truncate_log(colony.evaluations());
    log_info("abc: resuming the search after " + std::to_string(colony.evaluations()) +
             " evaluations (cycle " + std::to_string(colony.cycle()) + ", " +
             bee_phase_name(colony.phase()) + ")");
  } else if (root) {
    files.truncate_log(0);
  }

  TrainRecipe recipe = ctx.recipe;
  recipe.epochs = calfitness_epoch_;
  if (candidate_lr_ > 0) recipe.sgd.lr = candidate_lr_;
  const int threads = candidate_threads(parallel);
  log_info("abc (" + std::string(faithful_ ? "faithful" : "corrected") +
           "): " + std::to_string(units.size()) + " units, fitness " + fitness_metric_ +
           " on the " + fitness_split_ + " split after " + std::to_string(calfitness_epoch_) +
           " epochs, " + std::to_string(colony.planned_evaluations()) + " evaluations at most, " +
           std::to_string(parallel.parallel) + " at a time with " + std::to_string(threads) +
           " threads each");

  auto evaluate_candidate = [&](const BeeCandidate& c) {
    auto start = Clock::now();
    Generator gen = ctx.candidate_generator(c.cycle, c.index);
    GroupWidths widths = widths_of_code(units, graph, c.code);
    PrunePlan plan = plan_for_widths(dense, graph, widths, inherit_, gen);
    SurgeryResult candidate = build_candidate(dense, graph, plan, inherit_, gen);
    Evaluated e;
    {
      GeneratorScope scope(gen);
      if (calfitness_epoch_ > 0) {
        std::shared_ptr<BatchSource> train = ctx.source("train");
        LimitedSource limited(*train, train_batches_);
        train_ephemeral(*candidate.model, recipe, limited, ctx.device);
      }
      EpochMetrics m = ctx.evaluate(*candidate.model, fitness_split_, eval_batches_);
      e.fitness = fitness_metric_ == "top5" ? m.val_top5 : m.val_top1;
    }
    e.cost = costs.cost(widths);
    e.model = candidate.model;
    e.arch = candidate.arch;
    e.seconds = seconds_since(start);
    return e;
  };

  // Fitness, seconds and cost of every candidate on every rank (each rank filled its own).
  auto gather_results = [&](const std::vector<BeeCandidate>& batch, std::vector<Evaluated>& r) {
    const auto n = static_cast<std::int64_t>(batch.size());
    Tensor t = Tensor::zeros({n, 2}, DType::F64);
    for (std::int64_t i = rank; i < n; i += ranks) {
      t.data<double>()[2 * i] = r[static_cast<std::size_t>(i)].fitness;
      t.data<double>()[2 * i + 1] = r[static_cast<std::size_t>(i)].seconds;
    }
    comm->allreduce_(t);
    for (std::int64_t i = 0; i < n; ++i) {
      Evaluated& e = r[static_cast<std::size_t>(i)];
      e.fitness = t.data<double>()[2 * i];
      e.seconds = t.data<double>()[2 * i + 1];
      if (i % ranks != rank) {
        e.cost = costs.cost(widths_of_code(units, graph, batch[static_cast<std::size_t>(i)].code));
      }
    }
  };
  // The trained weights of a candidate another rank evaluated: the network rebuilt here from
  // its code and seed, then its owner's weights and buffers broadcast into it.
  auto share_model = [&](const BeeCandidate& c, Evaluated& e, int owner) {
    if (rank != owner) {
      Generator gen = ctx.candidate_generator(c.cycle, c.index);
      GroupWidths widths = widths_of_code(units, graph, c.code);
      PrunePlan plan = plan_for_widths(dense, graph, widths, inherit_, gen);
      SurgeryResult candidate = build_candidate(dense, graph, plan, inherit_, gen);
      e.model = candidate.model;
      e.arch = candidate.arch;
    }
    for (auto& [name, t] : e.model->state_dict()) comm->broadcast_(t, owner);
  };
  const auto run_start = Clock::now();
  std::int64_t evaluated_here = 0;
  std::shared_ptr<nn::Module> best_model;
  models::Arch best_arch;
  while (!colony.done()) {
    const std::vector<BeeCandidate> batch = colony.next_batch();
    const BeePhase phase = colony.phase();
    const int cycle = colony.cycle();
    std::vector<Evaluated> results(batch.size());
    // Distributed: candidate i is evaluated by rank i % ranks; fitness and times are gathered in
    // candidate order, so every rank's colony takes the same decisions as one process's.
    std::vector<std::int64_t> mine;
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(batch.size()); ++i) {
      if (i % ranks == rank) mine.push_back(i);
    }
    run_parallel(static_cast<std::int64_t>(mine.size()), parallel, ctx.device, [&](std::int64_t k) {
      const auto i = static_cast<std::size_t>(mine[static_cast<std::size_t>(k)]);
      results[i] = evaluate_candidate(batch[i]);
    });
    if (ranks > 1) gather_results(batch, results);
    std::vector<double> fitness;
    for (const Evaluated& e : results) fitness.push_back(e.fitness);
    const int best = colony.accept(fitness);
    if (best >= 0) {
      if (ranks > 1)
        share_model(batch[static_cast<std::size_t>(best)], results[static_cast<std::size_t>(best)],
                    best % ranks);
      best_model = results[static_cast<std::size_t>(best)].model;
      best_arch = results[static_cast<std::size_t>(best)].arch;
      if (root) files.save_best(*best_model, best_arch);
    }
    std::vector<nlohmann::json> lines;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const BeeCandidate& c = batch[i];
      const Evaluated& e = results[i];
      nlohmann::json widths = nlohmann::json::object();
      GroupWidths w = widths_of_code(units, graph, c.code);
      for (const SearchUnit& u : units) widths[u.name] = w.at(u.groups.front());
      lines.push_back({{"cycle", c.cycle},
                       {"phase", bee_phase_name(phase)},
                       {"candidate", c.index},
                       {"source", c.source},
                       {"code", c.code},
                       {"widths", widths},
                       {"flops", e.cost.macs},
                       {"params", e.cost.params},
                       {"fitness", e.fitness},
                       {"seconds", e.seconds}});
      max_evaluated_macs = std::max(max_evaluated_macs, e.cost.macs);
      max_evaluated_params = std::max(max_evaluated_params, e.cost.params);
    }
    if (root) files.append_log(lines);
    if (phase == BeePhase::Init) {
      double sum = 0;
      for (double f : fitness) sum += f;
      initial = {{"best_fitness", *std::max_element(fitness.begin(), fitness.end())},
                 {"mean_fitness", sum / static_cast<double>(fitness.size())}};
    }
    evaluated_here += static_cast<std::int64_t>(batch.size());
    const double elapsed = seconds_since(run_start);
    if (root)
      files.save_state({{"method", "abc"},
                        {"units", unit_names},
                        {"colony", colony.to_json()},
                        {"seconds", prior_seconds + elapsed},
                        {"initial", initial},
                        {"max_macs", max_evaluated_macs},
                        {"max_params", max_evaluated_params}});
    const double eta =
        evaluated_here > 0
            ? elapsed / static_cast<double>(evaluated_here) *
                  static_cast<double>(colony.planned_evaluations() - colony.evaluations())
            : 0.0;
    char line[256];
    std::snprintf(line, sizeof line,
                  "abc: cycle %d/%d %s: %zu candidates, best fitness %.2f, %lld/%lld "
                  "evaluations, eta %s",
                  cycle, colony.options().max_cycle, bee_phase_name(phase).c_str(), batch.size(),
                  colony.best_fitness(), static_cast<long long>(colony.evaluations()),
                  static_cast<long long>(colony.planned_evaluations()),
                  format_duration(colony.done() ? 0.0 : eta).c_str());
    log_info(line);
    if (stop_after_ > 0 && evaluated_here >= stop_after_ && !colony.done()) {
      throw SearchStopped("abc: search stopped after " + std::to_string(colony.evaluations()) +
                          " evaluations as asked (stop_after); run again with the same output "
                          "directory to resume");
    }
  }
  const double search_seconds = prior_seconds + seconds_since(run_start);

  // The best candidate's trained weights start the fine-tune. With a run directory they are read
  // back from it, so a resumed search continues from exactly the same weights.
  Generator final_gen(candidate_seed(ctx.seed, -2, 0));
  if (comm) comm->barrier();  // rank 0's search/best.safetensors is complete
  if (files.enabled()) {
    best_model = files.load_best(final_gen, ctx.device);
    best_arch = models::arch_of(*best_model);
  }
  SHEARS_CHECK(best_model != nullptr, "abc: no candidate was evaluated");
  best_model->train(true);
  if (ctx.recipe.epochs > 0) ctx.train_model(*best_model, ctx.recipe, nullptr, "finetune", nullptr);

  const std::vector<int>& code = colony.best_code();
  GroupWidths best_widths = widths_of_code(units, graph, code);
  nlohmann::json widths = nlohmann::json::object();
  for (const SearchUnit& u : units) widths[u.name] = best_widths.at(u.groups.front());
  ArchCost::Cost best_cost = costs.cost(best_widths);
  nlohmann::json report = {{"mode", faithful_ ? "faithful" : "corrected"},
                           {"fitness_split", fitness_split_},
                           {"fitness_metric", fitness_metric_},
                           {"inherit", inherit_name(inherit_)},
                           {"units", unit_names},
                           {"best_code", code},
                           {"best_widths", widths},
                           {"best_fitness", colony.best_fitness()},
                           {"best_flops", best_cost.macs},
                           {"best_params", best_cost.params},
                           {"initial_colony", initial},
                           {"search",
                            {{"candidates_evaluated", colony.evaluations()},
                             {"wall_seconds", search_seconds},
                             {"parallel", parallel.parallel},
                             {"threads_per_candidate", threads},
                             {"calfitness_epoch", calfitness_epoch_},
                             {"train_batches", train_batches_},
                             {"eval_batches", eval_batches_}}},
                           {"colony",
                            {{"food_number", colony_.food_number},
                             {"food_limit", colony_.food_limit},
                             {"honeychange_num", colony_.honeychange_num},
                             {"max_preserve", colony_.max_preserve},
                             {"max_cycle", colony_.max_cycle},
                             {"mutate_last_dimension", colony_.mutate_last}}}};
  if (budget.active()) {
    const bool kept = (budget.max_macs < 0 || max_evaluated_macs <= budget.max_macs) &&
                      (budget.max_params < 0 || max_evaluated_params <= budget.max_params);
    report["budget"] = {{"flops_target", flops_target_},
                        {"params_target", params_target_},
                        {"max_flops", budget.max_macs},
                        {"max_params", budget.max_params},
                        {"largest_evaluated_flops", max_evaluated_macs},
                        {"largest_evaluated_params", max_evaluated_params},
                        {"mode", repair_ ? "repair" : "reject"},
                        {"kept", kept}};
  }
  return PruneResult{best_model, best_arch, report.dump(), nullptr};
}

}  // namespace shears::pruning
