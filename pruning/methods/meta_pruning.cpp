// MetaPruning (Liu et al., ICCV 2019): a PruningNet generates the weights of any width; an
// evolutionary search over width encodings, scored by the PruningNet itself.
#include "pruning/methods/meta_pruning.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <mutex>
#include <numeric>

#include <nlohmann/json.hpp>

#include "engine/dist/communicator.h"
#include "engine/log.h"
#include "engine/optim/lr_schedule.h"
#include "engine/optim/sgd.h"
#include "engine/train/recalibrate.h"
#include "models/model.h"
#include "models/registry.h"
#include "pruning/methods/pruning_net.h"
#include "pruning/search/driver.h"
#include "pruning/search/width_encoding.h"

namespace shears::pruning {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// Samples the PruningNet's code of every training step: one random scale index per gene
/// (a random scale per stage and an independent mid scale per block). Its generator is part of
/// the checkpoint, so a resumed training samples the same codes.
class SampleCode : public TrainerHooks {
 public:
  SampleCode(PruningNet& net, std::uint64_t seed) : net_(net), gen_(seed) {}
  void before_forward(Trainer&, const Batch&) override {
    std::vector<int> code(net_.encoding().genes.size());
    for (int& g : code)
      g = static_cast<int>(gen_.next_u64() % static_cast<std::uint64_t>(search::kMetaScales));
    net_.set_code(code);
  }
  std::string state() const override {
    Generator copy = gen_;
    return search::generator_state(copy);
  }
  void load_state(const std::string& s) override { search::restore_generator(gen_, s); }

 private:
  PruningNet& net_;
  Generator gen_;
};

std::unique_ptr<optim::LrSchedule> make_schedule(const std::string& kind, double lr,
                                                 std::int64_t epochs,
                                                 const std::vector<int>& milestones, double gamma) {
  const int total = static_cast<int>(std::max<std::int64_t>(epochs, 1));
  if (kind == "constant") return std::make_unique<optim::ConstantLr>(lr);
  if (kind == "linear") return std::make_unique<optim::LinearDecayLr>(lr, total);
  if (kind == "cosine") return std::make_unique<optim::CosineLr>(lr, total);
  return std::make_unique<optim::MultiStepLr>(lr, milestones, gamma);
}

std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<std::size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](auto a, auto b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (std::size_t i = 0; i < idx.size();) {
    std::size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    const double avg = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (std::size_t k = i; k <= j; ++k) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}

}  // namespace

double MetaPruningMethod::spearman(const std::vector<double>& a, const std::vector<double>& b) {
  SHEARS_CHECK(a.size() == b.size() && a.size() >= 2, "spearman: two lists of equal length >= 2");
  std::vector<double> ra = ranks(a), rb = ranks(b);
  const double n = static_cast<double>(a.size());
  const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / n;
  const double mb = std::accumulate(rb.begin(), rb.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  if (saa == 0 || sbb == 0) return 0.0;
  return sab / std::sqrt(saa * sbb);
}

MetaPruningMethod::MetaPruningMethod(const Config& s) {
  auto bad = [](const Config& c, const std::string& key, const std::string& what) {
    return ConfigError(c.file() + ":" + std::to_string(c.line()) + ": key '" + c.path() + "." +
                       key + "' " + what);
  };
  if (s.has("pruningnet")) {
    Config p = s.child("pruningnet");
    pn_.epochs = p.get<std::int64_t>("epochs", pn_.epochs);
    pn_.lr = p.get<double>("lr", pn_.lr);
    pn_.momentum = p.get<double>("momentum", pn_.momentum);
    pn_.weight_decay = p.get<double>("weight_decay", pn_.weight_decay);
    pn_.gamma = p.get<double>("gamma", pn_.gamma);
    pn_.label_smoothing = p.get<double>("label_smoothing", pn_.label_smoothing);
    pn_.schedule = p.get<std::string>("schedule", pn_.schedule);
    pn_.milestones = p.get<std::vector<int>>("milestones", pn_.milestones);
    pn_.hidden = p.get<std::int64_t>("hidden", pn_.hidden);
    pn_.batches = p.get<std::int64_t>("batches", pn_.batches);
    if (pn_.epochs < 0) throw bad(p, "epochs", "must be >= 0");
    if (pn_.lr < 0 || pn_.momentum < 0 || pn_.weight_decay < 0)
      throw bad(p, "lr", "lr, momentum and weight_decay must be >= 0");
    if (pn_.label_smoothing < 0 || pn_.label_smoothing > 1)
      throw bad(p, "label_smoothing", "must be in [0, 1]");
    if (pn_.schedule != "multistep" && pn_.schedule != "linear" && pn_.schedule != "cosine" &&
        pn_.schedule != "constant")
      throw bad(p, "schedule",
                "must be multistep, linear, cosine or constant, got '" + pn_.schedule + "'");
    if (!std::is_sorted(pn_.milestones.begin(), pn_.milestones.end()))
      throw bad(p, "milestones", "must be increasing");
    if (pn_.hidden < 0) throw bad(p, "hidden", "must be >= 1 (0: the network's default)");
    if (pn_.batches < 0) throw bad(p, "batches", "must be >= 0 (0: every batch)");
  }
  if (s.has("search")) {
    Config e = s.child("search");
    evo_.population = e.get<int>("population", evo_.population);
    evo_.memory = e.get<int>("memory", evo_.memory);
    evo_.parents = e.get<int>("parents", evo_.parents);
    evo_.iterations = e.get<int>("iterations", evo_.iterations);
    evo_.mutations = e.get<int>("mutations", evo_.mutations);
    evo_.crossovers = e.get<int>("crossovers", evo_.crossovers);
    evo_.mutate_prob = e.get<double>("mutate_prob", evo_.mutate_prob);
    evo_.init_lo = e.get<int>("init_lo", evo_.init_lo);
    evo_.init_hi = e.get<int>("init_hi", evo_.init_hi);
    if (evo_.population < 1) throw bad(e, "population", "must be >= 1");
    if (evo_.parents < 1) throw bad(e, "parents", "must be >= 1");
    if (evo_.memory < evo_.parents) throw bad(e, "memory", "must be >= parents");
    if (evo_.iterations < 1) throw bad(e, "iterations", "must be >= 1");
    if (evo_.mutations < 0 || evo_.crossovers < 0)
      throw bad(e, "mutations", "mutations and crossovers must be >= 0");
    if (evo_.mutate_prob < 0 || evo_.mutate_prob > 1)
      throw bad(e, "mutate_prob", "must be in [0, 1]");
    if (evo_.init_lo < 0 || evo_.init_hi >= search::kMetaScales || evo_.init_lo > evo_.init_hi)
      throw bad(e, "init_lo", "init_lo..init_hi must be a range of scale indices in [0, 30]");
  }
  flops_target_ = s.get<double>("flops_target", 0.0);
  flops_window_ = s.get<double>("flops_window", flops_window_);
  flops_min_ = s.get<std::int64_t>("flops_min", -1);
  flops_max_ = s.get<std::int64_t>("flops_max", -1);
  if (flops_target_ < 0 || flops_target_ >= 1)
    throw bad(s, "flops_target", "must be a FLOPs reduction in [0, 1)");
  if (flops_window_ <= 0 || flops_window_ >= 1) throw bad(s, "flops_window", "must be in (0, 1)");
  if (flops_target_ > 0 && (flops_min_ >= 0 || flops_max_ >= 0))
    throw bad(s, "flops_target", "and flops_min/flops_max exclude each other");
  latency_target_ms_ = s.get<double>("latency_target_ms", 0.0);
  latency_batch_ = s.get<std::int64_t>("latency_batch", latency_batch_);
  if (latency_target_ms_ < 0)
    throw bad(s, "latency_target_ms", "must be > 0 (milliseconds on this machine; 0: none)");
  if (latency_batch_ < 1) throw bad(s, "latency_batch", "must be >= 1");
  if (flops_target_ == 0 && flops_max_ < 0 && latency_target_ms_ == 0)
    throw bad(s, "flops_target",
              "is missing: MetaPruning searches inside a FLOPs window (give flops_target, a "
              "reduction, or flops_max in MACs) or under a latency target (latency_target_ms)");
  if (flops_max_ >= 0 && flops_min_ > flops_max_)
    throw bad(s, "flops_min", "must not exceed flops_max");
  recalibrate_batches_ = s.get<std::int64_t>("recalibrate_batches", recalibrate_batches_);
  if (recalibrate_batches_ < 1) throw bad(s, "recalibrate_batches", "must be >= 1");
  eval_batches_ = s.get<std::int64_t>("eval_batches", 0);
  if (eval_batches_ < 0) throw bad(s, "eval_batches", "must be >= 0 (0: every batch)");
  fitness_split_ = s.get<std::string>("fitness_split", fitness_split_);
  if (fitness_split_ != "val" && fitness_split_ != "train")
    throw bad(s, "fitness_split",
              "must be val (the held-out sub-val split) or train; the test split never "
              "scores a candidate, got '" +
                  fitness_split_ + "'");
  final_init_ = s.get<std::string>("final_init", final_init_);
  if (final_init_ != "scratch" && final_init_ != "generated")
    throw bad(s, "final_init", "must be scratch or generated, got '" + final_init_ + "'");
  compare_uniform_ = s.get<bool>("compare_uniform", false);
  rank_check_ = s.get<std::int64_t>("rank_check", 0);
  rank_check_epochs_ = s.get<std::int64_t>("rank_check_epochs", 1);
  if (rank_check_ < 0 || rank_check_ == 1)
    throw bad(s, "rank_check", "must be 0 (off) or >= 2 candidates");
  if (rank_check_epochs_ < 0) throw bad(s, "rank_check_epochs", "must be >= 0");
  parallel_.parallel = s.get<int>("parallel", 1);
  parallel_.threads_per_candidate = s.get<int>("threads_per_candidate", 0);
  if (parallel_.parallel < 1) throw bad(s, "parallel", "must be >= 1");
  if (parallel_.threads_per_candidate < 0)
    throw bad(s, "threads_per_candidate", "must be >= 0 (0: the threads divided by parallel)");
  stop_after_ = s.get<std::int64_t>("stop_after", 0);
  if (stop_after_ < 0) throw bad(s, "stop_after", "must be >= 0 (0: never stop early)");
}

PruneResult MetaPruningMethod::run(PruneContext& ctx) {
  using namespace search;
  nn::Module& dense = *ctx.model;
  const models::Arch base = models::arch_of(dense);
  const WidthEncoding enc = width_encoding(base);
  std::vector<std::string> gene_names;
  for (const WidthGene& g : enc.genes) gene_names.push_back(g.name);
  // The encoding's full-width network: the dense model itself, or (MobileNetV2) the reference
  // supernet the encoding is defined on.
  std::shared_ptr<nn::Module> supernet;
  nn::Module* full = &dense;
  if (models::arch_to_json(enc.base) != models::arch_to_json(base)) {
    Generator g(candidate_seed(ctx.seed, -8, 0));
    GeneratorScope scope(g);
    supernet = models::build_model(enc.base);
    full = supernet.get();
  }
  const EncodingCost costs(*full, ctx.input, enc);
  const EncodingCost::Cost dense_cost = costs.full();
  const std::int64_t hidden =
      pn_.hidden > 0 ? pn_.hidden : (enc.base.name == "mobilenetv2" ? 64 : 32);
  std::int64_t lo = flops_min_ < 0 ? 0 : flops_min_;
  std::int64_t hi = flops_max_ < 0 ? std::numeric_limits<std::int64_t>::max() : flops_max_;
  if (flops_target_ > 0) {
    const double target = static_cast<double>(dense_cost.macs) * (1.0 - flops_target_);
    lo = static_cast<std::int64_t>(std::ceil(target * (1.0 - flops_window_)));
    hi = static_cast<std::int64_t>(std::floor(target * (1.0 + flops_window_)));
  }
  auto cost_of = [&](const std::vector<int>& code) { return costs.cost(code); };

  // Latency: the sum of the table's per-layer latencies; each layer shape is asked of the table
  // once in this run (the table itself measures each shape once per machine and caches it).
  const bool latency = latency_target_ms_ > 0;
  if (latency && !ctx.layer_latency)
    throw Error(
        "metapruning: latency_target_ms needs a latency table, and this runner gives none "
        "(PruneContext::layer_latency)");
  std::map<std::string, double> shape_ms;
  std::mutex shape_mutex;
  auto latency_of = [&](const std::vector<int>& code) {
    double total = 0;
    for (const LayerShape& l : costs.layer_shapes(code, latency_batch_)) {
      const std::string key = l.key();
      std::lock_guard<std::mutex> lock(shape_mutex);
      auto it = shape_ms.find(key);
      if (it == shape_ms.end()) it = shape_ms.emplace(key, ctx.layer_latency(l)).first;
      total += it->second;
    }
    return total;
  };
  auto admit = [&](const std::vector<int>& code) {
    const std::int64_t m = cost_of(code).macs;
    if (m < lo || m > hi) return false;
    return !latency || latency_of(code) <= latency_target_ms_;
  };

  dist::Communicator* comm = ctx.comm;
  const int ranks = comm ? comm->size() : 1, rank = comm ? comm->rank() : 0;
  const bool root = rank == 0;
  ParallelOptions parallel = parallel_;
  if (parallel.parallel > 1 && !ctx.make_source)
    throw Error(
        "metapruning: parallel > 1 needs a batch source per candidate (PruneContext::"
        "make_source)");
  if (parallel.parallel > 1 && !ctx.device.is_cpu()) {
    log_warning("metapruning: parallel " + std::to_string(parallel.parallel) + " on " +
                ctx.device.str() + ": candidates run one at a time on a GPU");
    parallel.parallel = 1;
  }

  // ---- PruningNet ------------------------------------------------------------------------
  auto new_net = [&] {
    Generator init(candidate_seed(ctx.seed, -3, 0));
    GeneratorScope scope(init);
    std::shared_ptr<PruningNet> n = make_pruning_net(enc, hidden);
    n->to(ctx.device);
    n->set_code(enc.full());
    return n;
  };
  if (latency)
    log_info("metapruning: the full network's table latency is " +
             std::to_string(latency_of(enc.full())) + " ms (target " +
             std::to_string(latency_target_ms_) + " ms, batch " + std::to_string(latency_batch_) +
             ")");
  std::shared_ptr<PruningNet> net = new_net();
  log_info("metapruning: " + std::to_string(enc.genes.size()) + " genes, FLOPs window [" +
           std::to_string(lo) + ", " + std::to_string(hi) + "] MACs (full " +
           std::to_string(dense_cost.macs) + ")" +
           (latency ? ", latency target " + std::to_string(latency_target_ms_) + " ms" : "") +
           ", PruningNet " + std::to_string(pn_.epochs) + " epochs");
  nlohmann::json pn_report = {{"epochs", pn_.epochs},     {"lr", pn_.lr},
                              {"schedule", pn_.schedule}, {"label_smoothing", pn_.label_smoothing},
                              {"hidden", hidden},         {"batches_per_epoch", pn_.batches}};
  {
    optim::SgdOptions so;
    so.lr = pn_.lr;
    so.momentum = pn_.momentum;
    so.weight_decay = pn_.weight_decay;
    optim::Sgd sgd(net->named_parameters(), so);
    std::unique_ptr<optim::LrSchedule> schedule =
        make_schedule(pn_.schedule, pn_.lr, pn_.epochs, pn_.milestones, pn_.gamma);
    TrainerOptions to;
    to.epochs = pn_.epochs;
    to.label_smoothing = pn_.label_smoothing;
    to.device = ctx.device;
    // Every rank trains the same PruningNet on the whole data (the same seeds and batches);
    // only rank 0 checkpoints it.
    to.checkpoint_dir = ctx.run_dir.empty() || !root ? std::string() : ctx.run_dir + "/pruningnet";
    to.resume = true;
    to.progress = false;
    Trainer trainer(*net, sgd, *schedule, to);
    SampleCode sampler(*net, candidate_seed(ctx.seed, -4, 0));
    trainer.add_hooks(&sampler);
    std::shared_ptr<BatchSource> train = ctx.source("train");
    LimitedSource limited(*train, pn_.batches);
    Generator gen(candidate_seed(ctx.seed, -5, 0));
    GeneratorScope scope(gen);
    const auto start = Clock::now();
    std::vector<EpochMetrics> m = trainer.fit(limited, nullptr);
    if (!m.empty()) {
      pn_report["last_epoch_train_top1"] = m.back().train_top1;
      pn_report["last_epoch_train_loss"] = m.back().train_loss;
      pn_report["wall_seconds"] = seconds_since(start);
    }
  }

  // A code's score: every BN's statistics reset and recalibrated on training batches (drawn
  // with the code's own stream), then top-1 on the held-out split. It depends on the code and
  // the PruningNet's weights only, so any copy of the PruningNet gives the same score.
  auto score_on = [&](PruningNet& n, const std::vector<int>& code, std::uint64_t seed) {
    Generator g(seed);
    GeneratorScope scope(g);
    n.set_code(code);
    std::shared_ptr<BatchSource> recal = ctx.source("train");
    recalibrate_bn(n, *recal, recalibrate_batches_, ctx.device);
    return ctx.evaluate(n, fitness_split_, eval_batches_).val_top1;
  };
  auto score = [&](const std::vector<int>& code) {
    return score_on(*net, code, candidate_seed(ctx.seed, -9, 0));
  };

  // Copies of the trained PruningNet, one per concurrent candidate.
  std::vector<std::shared_ptr<PruningNet>> pool = {net};
  std::vector<PruningNet*> free_nets = {net.get()};
  std::mutex pool_mutex;
  auto grow_pool = [&](int n) {
    while (static_cast<int>(pool.size()) < n) {
      std::shared_ptr<PruningNet> copy = new_net();
      copy->load_state_dict(net->state_dict());
      pool.push_back(copy);
      free_nets.push_back(copy.get());
    }
  };

  // ---- evolutionary search ---------------------------------------------------------------
  EvolutionOptions options = evo_;
  options.seed = candidate_seed(ctx.seed, -6, 0);
  Evolution evo(options, static_cast<int>(enc.genes.size()), admit);
  SearchFiles files(ctx.run_dir);
  nlohmann::json state = files.load_state();
  double prior_seconds = 0;
  nlohmann::json evaluated = nlohmann::json::array();  // [code, fitness] of every candidate
  if (!state.is_null()) {
    if (state.value("method", "") != "metapruning" ||
        state.value("genes", nlohmann::json()) != gene_names)
      throw Error(files.state_path() +
                  ": a search state of another method or network; use another --out or remove "
                  "the search directory");
    evo.restore(state.at("evolution"));
    prior_seconds = state.value("seconds", 0.0);
    evaluated = state.value("evaluated", nlohmann::json::array());
    if (root) files.truncate_log(evo.evaluations());
    log_info("metapruning: resuming the search after " + std::to_string(evo.evaluations()) +
             " evaluations (generation " + std::to_string(evo.iteration()) + ")");
  } else if (root) {
    files.truncate_log(0);
  }
  const int threads = candidate_threads(parallel);
  const auto run_start = Clock::now();
  std::int64_t evaluated_here = 0;
  while (!evo.done()) {
    const std::vector<EvoCandidate> batch = evo.next_batch();
    if (batch.empty() && evo.memory().empty())
      throw Error("metapruning: no candidate found inside the FLOPs window [" + std::to_string(lo) +
                  ", " + std::to_string(hi) + "] MACs" +
                  (latency ? " under " + std::to_string(latency_target_ms_) + " ms" : "") +
                  "; widen flops_window, the latency target or the initial range "
                  "(search.init_lo/init_hi)");
    const auto n = static_cast<std::int64_t>(batch.size());
    // Candidate i is scored by rank i % ranks, `parallel` at a time; fitness and times are then
    // gathered in candidate order, so every rank's search takes one process's decisions.
    std::vector<std::int64_t> mine;
    for (std::int64_t i = rank; i < n; i += ranks) mine.push_back(i);
    std::vector<double> fitness(batch.size(), 0.0), secs(batch.size(), 0.0);
    grow_pool(
        std::min<int>(parallel.parallel, static_cast<int>(std::max<std::size_t>(mine.size(), 1))));
    run_parallel(static_cast<std::int64_t>(mine.size()), parallel, ctx.device, [&](std::int64_t k) {
      const auto i = static_cast<std::size_t>(mine[static_cast<std::size_t>(k)]);
      PruningNet* n = nullptr;
      {
        std::lock_guard<std::mutex> lock(pool_mutex);
        n = free_nets.back();
        free_nets.pop_back();
      }
      const auto t0 = Clock::now();
      try {
        fitness[i] = score_on(*n, batch[i].code,
                              candidate_seed(ctx.seed, 1000 + batch[i].iteration, batch[i].index));
      } catch (...) {
        std::lock_guard<std::mutex> lock(pool_mutex);
        free_nets.push_back(n);
        throw;
      }
      secs[i] = seconds_since(t0);
      std::lock_guard<std::mutex> lock(pool_mutex);
      free_nets.push_back(n);
    });
    if (ranks > 1) {
      Tensor t = Tensor::zeros({n, 2}, DType::F64);
      for (std::int64_t i : mine) {
        t.data<double>()[2 * i] = fitness[static_cast<std::size_t>(i)];
        t.data<double>()[2 * i + 1] = secs[static_cast<std::size_t>(i)];
      }
      comm->allreduce_(t);
      for (std::int64_t i = 0; i < n; ++i) {
        fitness[static_cast<std::size_t>(i)] = t.data<double>()[2 * i];
        secs[static_cast<std::size_t>(i)] = t.data<double>()[2 * i + 1];
      }
    }
    std::vector<nlohmann::json> lines;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const EvoCandidate& c = batch[i];
      const EncodingCost::Cost cost = cost_of(c.code);
      evaluated.push_back({c.code, fitness[i]});
      nlohmann::json line = {
          {"iteration", c.iteration}, {"candidate", c.index},         {"origin", c.origin},
          {"code", c.code},           {"widths", enc.widths(c.code)}, {"flops", cost.macs},
          {"params", cost.params},    {"fitness", fitness[i]},        {"seconds", secs[i]}};
      if (latency) line["latency_ms"] = latency_of(c.code);
      lines.push_back(line);
    }
    const int generation = evo.iteration();
    evo.accept(fitness);
    if (root) files.append_log(lines);
    evaluated_here += static_cast<std::int64_t>(batch.size());
    if (root)
      files.save_state({{"method", "metapruning"},
                        {"genes", gene_names},
                        {"evolution", evo.to_json()},
                        {"evaluated", evaluated},
                        {"seconds", prior_seconds + seconds_since(run_start)}});
    char line[256];
    std::snprintf(line, sizeof line,
                  "metapruning: generation %d/%d: %zu candidates, best sub-val top-1 %.2f, "
                  "%lld/%lld evaluations",
                  generation + 1, options.iterations, batch.size(), evo.best_fitness(),
                  static_cast<long long>(evo.evaluations()),
                  static_cast<long long>(evo.planned_evaluations()));
    log_info(line);
    if (stop_after_ > 0 && evaluated_here >= stop_after_ && !evo.done())
      throw SearchStopped("metapruning: search stopped after " + std::to_string(evo.evaluations()) +
                          " evaluations as asked (stop_after); run again with the same output "
                          "directory to resume");
  }
  if (comm) comm->barrier();  // rank 0's search files are complete
  const double search_seconds = prior_seconds + seconds_since(run_start);
  const std::vector<int> best = evo.best_code();
  SHEARS_CHECK(!best.empty(), "metapruning: no candidate was evaluated");

  // ---- final network(s) ------------------------------------------------------------------
  auto build_final = [&](const std::vector<int>& code, std::int64_t salt) {
    Generator g(candidate_seed(ctx.seed, -2, salt));
    std::shared_ptr<nn::Module> m;
    {
      GeneratorScope scope(g);
      m = models::build_model(enc.arch(code));
    }
    m->to(ctx.device);
    if (final_init_ == "generated") {
      score(code);  // BN statistics of this very code
      net->export_weights(*m);
    }
    m->train(true);
    return m;
  };
  const EncodingCost::Cost best_cost = cost_of(best);
  nlohmann::json report = {
      {"encoding", {{"genes", gene_names}, {"code", best}, {"widths", enc.widths(best)}}},
      {"encoding_flops", best_cost.macs},
      {"encoding_params", best_cost.params},
      {"dense_flops", dense_cost.macs},
      {"flops_window", {lo, hi}},
      {"pruningnet_sub_val_top1", evo.best_fitness()},
      {"fitness_split", fitness_split_},
      {"recalibrate_batches", recalibrate_batches_},
      {"final_init", final_init_},
      {"pruningnet", pn_report},
      {"search",
       {{"candidates_evaluated", evo.evaluations()},
        {"generations", evo.iteration()},
        {"best_per_generation", evo.history()},
        {"wall_seconds", search_seconds},
        {"population", options.population},
        {"memory", options.memory},
        {"parents", options.parents},
        {"mutations", options.mutations},
        {"crossovers", options.crossovers},
        {"mutate_prob", options.mutate_prob},
        {"init_range", {options.init_lo, options.init_hi}}}}};

  report["search"]["parallel"] = parallel.parallel;
  report["search"]["threads_per_candidate"] = threads;
  report["search"]["ranks"] = ranks;
  if (flops_max_ < 0 && flops_target_ == 0) report["flops_window"] = {lo, nullptr};
  if (latency) {
    const double best_ms = latency_of(best);
    const double full_ms = latency_of(enc.full());
    report["latency"] = {{"target_ms", latency_target_ms_},
                         {"batch", latency_batch_},
                         {"encoding_ms", best_ms},
                         {"full_ms", full_ms},
                         {"layer_shapes", shape_ms.size()}};
  }

  std::shared_ptr<nn::Module> model = build_final(best, 0);
  if (ctx.recipe.epochs > 0) ctx.train_model(*model, ctx.recipe, nullptr, "finetune", nullptr);

  if (compare_uniform_) {
    // The uniform-width network with the FLOPs closest to the searched one's.
    int k_best = 0;
    std::int64_t gap = -1;
    for (int k = 0; k < kMetaScales; ++k) {
      std::vector<int> u(enc.genes.size(), k);
      const std::int64_t d = std::llabs(cost_of(u).macs - best_cost.macs);
      if (gap < 0 || d < gap) {
        gap = d;
        k_best = k;
      }
    }
    std::vector<int> u(enc.genes.size(), k_best);
    const double u_fitness = score(u);
    std::shared_ptr<nn::Module> um = build_final(u, 1);
    if (ctx.recipe.epochs > 0) ctx.train_model(*um, ctx.recipe, nullptr, "uniform", nullptr);
    const EpochMetrics uv = ctx.evaluate(*um, "val");
    const EpochMetrics ut = ctx.evaluate(*um, "test");
    report["uniform"] = {{"scale", meta_scale(k_best)}, {"code", u},
                         {"widths", enc.widths(u)},     {"flops", cost_of(u).macs},
                         {"params", cost_of(u).params}, {"pruningnet_sub_val_top1", u_fitness},
                         {"val_top1", uv.val_top1},     {"test_top1", ut.val_top1}};
  }

  if (rank_check_ > 0) {
    // Candidates spread over the range of PruningNet scores the search saw, each trained from
    // its generated weights for rank_check_epochs epochs of the fine-tune recipe.
    std::vector<std::pair<double, std::vector<int>>> all;
    for (const auto& e : evaluated)
      all.emplace_back(e.at(1).get<double>(), e.at(0).get<std::vector<int>>());
    std::stable_sort(all.begin(), all.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    const auto n = std::min<std::int64_t>(rank_check_, static_cast<std::int64_t>(all.size()));
    std::vector<double> scores, tuned;
    nlohmann::json rows = nlohmann::json::array();
    const std::string saved_init = final_init_;
    final_init_ = "generated";
    TrainRecipe r = ctx.recipe;
    r.epochs = rank_check_epochs_;
    for (std::int64_t i = 0; i < n; ++i) {
      const auto at = static_cast<std::size_t>(
          n == 1 ? 0 : i * (static_cast<std::int64_t>(all.size()) - 1) / (n - 1));
      const std::vector<int>& code = all[at].second;
      const double f = score(code);
      std::shared_ptr<nn::Module> m = build_final(code, 100 + i);
      if (r.epochs > 0) {
        Generator g(candidate_seed(ctx.seed, -7, i));
        GeneratorScope scope(g);
        std::shared_ptr<BatchSource> train = ctx.source("train");
        train_ephemeral(*m, r, *train, ctx.device);
      }
      const double acc = ctx.evaluate(*m, "val").val_top1;
      scores.push_back(f);
      tuned.push_back(acc);
      rows.push_back({{"code", code},
                      {"flops", cost_of(code).macs},
                      {"pruningnet_sub_val_top1", f},
                      {"fine_tuned_val_top1", acc}});
    }
    final_init_ = saved_init;
    report["rank_check"] = {{"candidates", rows},
                            {"epochs", rank_check_epochs_},
                            {"spearman", n >= 2 ? spearman(scores, tuned) : 0.0}};
  }
  models::Arch arch = models::arch_of(*model);
  return PruneResult{model, arch, report.dump(), nullptr};
}

}  // namespace shears::pruning
