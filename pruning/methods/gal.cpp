#include "pruning/methods/gal.h"

#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "engine/autograd/grad_mode.h"
#include "engine/dist/grad_reducer.h"
#include "engine/log.h"
#include "engine/nn/batch_norm2d.h"
#include "engine/nn/linear.h"
#include "engine/ops/activation.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/loss.h"
#include "engine/rng.h"
#include "engine/train/trainer.h"
#include "models/model.h"
#include "models/registry.h"
#include "pruning/cost_model.h"
#include "pruning/report.h"

namespace shears::pruning {

namespace {

std::string key_where(const Config& section, const std::string& key) {
  return section.file() + ":" + std::to_string(section.line()) + ": key '" + section.path() + "." +
         key + "'";
}

std::shared_ptr<nn::Sequential> make_discriminator(std::int64_t in, GalMode mode) {
  auto d = std::make_shared<nn::Sequential>();
  const std::int64_t widths[] = {128, 256, 128, 1};
  std::int64_t prev = in;
  for (int i = 0; i < 4; ++i) {
    d->push_back(std::make_shared<nn::Linear>(prev, widths[i]));
    if (mode == GalMode::Corrected && i < 3) d->push_back(std::make_shared<nn::LeakyReLU>(0.2));
    prev = widths[i];
  }
  return d;
}

optim::SgdOptions d_options(double weight_decay) {
  optim::SgdOptions o;
  o.lr = 0.01;
  o.momentum = 0.9;
  o.weight_decay = weight_decay;
  return o;
}

optim::FistaOptions fista_options(const GalOptions& g) {
  optim::FistaOptions o;
  o.lr = 0.01;
  o.lambda = g.lambda;
  o.nonnegative = true;
  o.lookahead_gradient = g.mode == GalMode::Corrected;
  o.restart_on_lr_change = g.mode == GalMode::Corrected;
  o.upper = g.mask_max;
  return o;
}

}  // namespace

GalMode parse_gal_mode(const std::string& text, const std::string& where) {
  if (text == "faithful") return GalMode::Faithful;
  if (text == "corrected") return GalMode::Corrected;
  throw ConfigError(where + ": '" + text + "' is not a GAL mode (corrected, faithful)");
}

GalHooks::GalHooks(nn::Module& teacher, SoftMasks& masks, const GalOptions& options,
                   std::int64_t num_classes, double weight_decay, Device device)
    : teacher_(teacher),
      masks_(masks),
      options_(options),
      disc_(make_discriminator(num_classes, options.mode)),
      d_opt_((disc_->to(device), disc_->named_parameters()), d_options(weight_decay)),
      fista_(masks.named_masks(), fista_options(options)) {
  SHEARS_CHECK(options.mask_step >= 1, "GAL: mask_step must be >= 1");
}

void GalHooks::before_forward(Trainer& trainer, const Batch&) {
  if (options_.batch_stats) return;
  for (auto& [name, m] : trainer.model().named_modules()) {
    if (dynamic_cast<nn::BatchNorm2d*>(m) != nullptr) m->eval();
  }
}

Tensor GalHooks::d_out(const Tensor& logits) {
  Tensor d = disc_->forward(logits);
  // The reference applies a sigmoid and then a logits-BCE: a double sigmoid.
  return options_.mode == GalMode::Faithful ? sigmoid(d) : d;
}

Tensor GalHooks::compute_loss(Trainer& trainer, const Batch& batch, const Tensor& logits) {
  Tensor t;
  {
    NoGrad no_grad;
    teacher_.eval();
    t = teacher_.forward(batch.images).detach();
  }
  const std::int64_t n = logits.size(0);
  Tensor real = Tensor::ones({n, 1}, logits.dtype(), logits.device());
  Tensor fake = Tensor::zeros({n, 1}, logits.dtype(), logits.device());
  // Discriminator step on detached logits: only D's parameters receive gradients. Its graph
  // dies inside the block, so the student's pass below builds fresh gradient accumulators for
  // D's leaves.
  double loss_d_value = 0;
  {
    disc_->train();
    d_opt_.set_lr(trainer.optimizer().lr());
    d_opt_.zero_grad();
    Tensor d_fake = d_out(logits.detach());
    Tensor loss_d = add(bce_with_logits(d_out(t), real), bce_with_logits(d_fake, fake));
    if (options_.mode == GalMode::Faithful) loss_d = add(loss_d, bce_with_logits(d_fake, real));
    dist::Communicator* comm = trainer.options().comm;
    if (comm != nullptr && comm->size() > 1) {
      // Data parallel: the discriminator steps on the global batch's mean gradient, the same
      // on every rank (each rank's share counts by its size).
      const auto local = static_cast<double>(n);
      scale(loss_d, local).backward();
      std::vector<Tensor> params;
      for (auto& [name, p] : disc_->named_parameters()) params.push_back(p);
      dist::average_gradients(*comm, params, local);
    } else {
      loss_d.backward();
    }
    d_opt_.step();
    loss_d_value = loss_d.item();
  }
  // The student's loss, with the updated discriminator.
  Tensor adv = bce_with_logits(d_out(logits), real);
  Tensor mse = mse_loss(logits, t);
  Tensor l1 = masks_.l1();
  Tensor total = add(scale(mse, options_.mu), adv);
  if (options_.mode == GalMode::Faithful) total = add(total, scale(l1, options_.lambda));
  sum_d_ += loss_d_value;
  sum_adv_ += adv.item();
  sum_mse_ += mse.item();
  sum_sparse_ += options_.lambda * l1.item();
  ++count_;
  return total;
}

void GalHooks::after_step(Trainer& trainer) {
  ++iterations_;
  if (iterations_ % options_.mask_step == 0) {
    fista_.set_lr(trainer.optimizer().lr() * options_.mask_lr_scale);
    fista_.step();
  }
  fista_.zero_grad();
  disc_->zero_grad();
}

std::vector<Tensor> GalHooks::reduced_parameters() const {
  std::vector<Tensor> out;
  for (const auto& [name, mask] : masks_.named_masks()) out.push_back(mask);
  return out;
}

void GalHooks::on_epoch_begin(Trainer&, std::int64_t) {
  sum_d_ = sum_adv_ = sum_mse_ = sum_sparse_ = 0;
  count_ = 0;
}

void GalHooks::on_epoch_end(Trainer& trainer, const EpochMetrics& m) {
  if (dist::Communicator* comm = trainer.options().comm; comm != nullptr && comm->size() > 1) {
    // The logged losses: each rank's mean over its shares, averaged over ranks.
    Tensor sums =
        Tensor::from_vector(std::vector<double>{sum_d_, sum_adv_, sum_mse_, sum_sparse_}, {4});
    comm->allreduce_(sums);
    const std::vector<double> s = sums.to_vector<double>();
    const double ranks = comm->size();
    sum_d_ = s[0] / ranks;
    sum_adv_ = s[1] / ranks;
    sum_mse_ = s[2] / ranks;
    sum_sparse_ = s[3] / ranks;
  }
  GalEpochLog e;
  e.epoch = m.epoch;
  const double c = static_cast<double>(std::max<std::int64_t>(count_, 1));
  e.discriminator = sum_d_ / c;
  e.adversarial = sum_adv_ / c;
  e.mse = sum_mse_ / c;
  e.sparsity = sum_sparse_ / c;
  // Zeros of the proximal iterates (the parameter holds the extrapolated point in corrected
  // mode).
  for (const auto& [name, mask] : masks_.named_masks()) {
    for (float v : fista_.iterate(name).cpu().to_vector<float>()) e.zero_masks += v == 0.0f;
  }
  e.masks = masks_.total();
  log_.push_back(e);
  char line[256];
  std::snprintf(line, sizeof line,
                "gal epoch %lld: discriminator %.4f adversarial %.4f mse %.5f sparsity %.4f "
                "zero masks %lld/%lld",
                static_cast<long long>(e.epoch), e.discriminator, e.adversarial, e.mse, e.sparsity,
                static_cast<long long>(e.zero_masks), static_cast<long long>(e.masks));
  log_info(line);
}

std::string GalHooks::state() const {
  nlohmann::json j = nlohmann::json::array();
  for (const GalEpochLog& e : log_) {
    j.push_back(
        {e.epoch, e.discriminator, e.adversarial, e.mse, e.sparsity, e.zero_masks, e.masks});
  }
  return j.dump();
}

void GalHooks::load_state(const std::string& state) {
  log_.clear();
  try {
    for (const auto& r : nlohmann::json::parse(state)) {
      GalEpochLog e;
      e.epoch = r.at(0).get<std::int64_t>();
      e.discriminator = r.at(1).get<double>();
      e.adversarial = r.at(2).get<double>();
      e.mse = r.at(3).get<double>();
      e.sparsity = r.at(4).get<double>();
      e.zero_masks = r.at(5).get<std::int64_t>();
      e.masks = r.at(6).get<std::int64_t>();
      log_.push_back(e);
    }
  } catch (const nlohmann::json::exception& ex) {
    throw Error(std::string("GAL log does not parse: ") + ex.what());
  }
}

TensorList GalHooks::state_dict() const {
  TensorList out;
  for (auto& [name, t] : disc_->state_dict()) out.emplace_back("disc." + name, t);
  for (auto& [name, t] : d_opt_.state_dict()) out.emplace_back("disc_optim." + name, t);
  out.emplace_back("iterations", Tensor::from_vector(std::vector<std::int64_t>{iterations_}, {1}));
  out.emplace_back("disc_optim_steps",
                   Tensor::from_vector(std::vector<std::int64_t>{d_opt_.steps()}, {1}));
  for (auto& [name, t] : masks_.named_masks()) out.emplace_back("mask." + name, t.detach());
  for (auto& [name, t] : fista_.state_dict()) out.emplace_back("fista." + name, t);
  return out;
}

void GalHooks::load_state_dict(const TensorList& state) {
  TensorList disc, dopt, fista;
  std::int64_t dsteps = 0;
  NoGrad no_grad;
  for (const auto& entry : state) {
    // Named copies: a lambda may not capture a structured binding in C++17.
    const std::string& key = entry.first;
    const Tensor& t = entry.second;
    auto starts = [&key](const char* p) { return key.rfind(p, 0) == 0; };
    if (key == "iterations") {
      iterations_ = t.cpu().to(DType::I64).to_vector<std::int64_t>().at(0);
    } else if (starts("disc_optim_steps")) {
      dsteps = t.cpu().to(DType::I64).to_vector<std::int64_t>().at(0);
    } else if (starts("disc_optim.")) {
      dopt.emplace_back(key.substr(11), t);
    } else if (starts("disc.")) {
      disc.emplace_back(key.substr(5), t);
    } else if (starts("fista.")) {
      fista.emplace_back(key.substr(6), t);
    } else if (starts("mask.")) {
      const std::string site = key.substr(5);
      bool found = false;
      for (auto& [name, m] : masks_.named_masks()) {
        if (name != site) continue;
        SHEARS_CHECK(m.shape() == t.shape(), "GAL state: mask '", site, "' has shape ",
                     shape_str(t.shape()), ", expected ", shape_str(m.shape()));
        m.detach().copy_(t.to(m.device()));
        found = true;
      }
      SHEARS_CHECK(found, "GAL state: mask '", site, "' names no mask site");
    } else {
      throw Error("GAL state: unexpected entry '" + key + "'");
    }
  }
  if (state.empty()) return;
  disc_->load_state_dict(disc);
  d_opt_.load_state_dict(dopt, dsteps);
  fista_.load_state_dict(fista);
}

GalMethod::GalMethod(const Config& section) {
  SHEARS_CHECK_AS(ConfigError, section.has("lambda"), section.file(), ":", section.line(),
                  ": key '", section.path(),
                  ".lambda' is required for gal (the L1 weight, e.g. "
                  "0.6 for ResNet-56 GAL-0.6)");
  options_.lambda = section.get<double>("lambda");
  options_.mu = section.get<double>("mu", 1.0);
  options_.mask_step = section.get<std::int64_t>("mask_step", 200);
  options_.mode = parse_gal_mode(section.get("mode", "corrected"), key_where(section, "mode"));
  options_.channels = section.get<bool>("channels", false);
  {
    const std::string text = section.get("mask_max", "none");
    if (text != "none") {
      options_.mask_max = section.get<double>("mask_max");
      if (!(options_.mask_max > 0)) {
        throw ConfigError(key_where(section, "mask_max") + " must be > 0 or none");
      }
    }
  }
  bn_stats_ = section.get("bn_stats", options_.mode == GalMode::Corrected ? "auto" : "batch");
  if (bn_stats_ != "auto" && bn_stats_ != "running" && bn_stats_ != "batch") {
    throw ConfigError(key_where(section, "bn_stats") + ": '" + bn_stats_ +
                      "' is not auto, running (the teacher's statistics, fixed) or batch");
  }
  epochs_ = section.get<std::int64_t>("epochs", 100);
  lr_ = section.get<double>("lr", 0.01);
  lr_step_ = section.get<int>("lr_step", 30);
  lr_gamma_ = section.get<double>("lr_gamma", 0.1);
  momentum_ = section.get<double>("momentum", 0.9);
  weight_decay_ = section.get<double>("weight_decay", 2e-4);
  auto positive = [&](bool ok, const char* key, const char* what) {
    if (!ok) throw ConfigError(key_where(section, key) + " " + what);
  };
  positive(options_.lambda >= 0, "lambda", "must be >= 0");
  positive(options_.mu >= 0, "mu", "must be >= 0");
  positive(options_.mask_step >= 1, "mask_step", "must be >= 1");
  positive(epochs_ >= 0, "epochs", "must be >= 0");
  positive(lr_ > 0, "lr", "must be > 0");
  const double mask_lr = section.get<double>("mask_lr", lr_);
  positive(mask_lr > 0, "mask_lr", "must be > 0");
  options_.mask_lr_scale = mask_lr / lr_;
  positive(lr_step_ >= 1, "lr_step", "must be >= 1");
  positive(lr_gamma_ > 0, "lr_gamma", "must be > 0");
  positive(momentum_ >= 0, "momentum", "must be >= 0");
  positive(weight_decay_ >= 0, "weight_decay", "must be >= 0");
}

namespace {
bool same_values(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         a.detach().cpu().to_vector<float>() == b.detach().cpu().to_vector<float>();
}
}  // namespace

TensorList FrozenMaskHooks::state_dict() const {
  TensorList out;
  for (const auto& [site, m] : masks_.named_masks()) out.emplace_back("mask." + site, m.detach());
  return out;
}

void FrozenMaskHooks::load_state_dict(const TensorList& state) {
  const TensorList mine = state_dict();
  SHEARS_CHECK(state.size() == mine.size(), "GAL fine-tuning checkpoint holds ", state.size(),
               " frozen masks, this run has ", mine.size());
  for (std::size_t i = 0; i < mine.size(); ++i) {
    SHEARS_CHECK(state[i].first == mine[i].first && same_values(state[i].second, mine[i].second),
                 "GAL fine-tuning checkpoint: frozen mask '", state[i].first,
                 "' differs from this run's (", mine[i].first, ")");
  }
}

PruneResult GalMethod::run(PruneContext& ctx) {
  nn::Module& teacher = *ctx.model;
  const models::Arch arch = models::arch_of(teacher);
  std::shared_ptr<nn::Module> student;
  {
    const Generator saved = default_generator();
    student = models::build_model(arch);
    default_generator() = saved;
  }
  student->load_state_dict(teacher.state_dict());
  student->to(ctx.device);
  const std::vector<MaskSite> sites = gal_mask_sites(*student, options_.channels);
  Generator init_gen(ctx.seed + 29);
  SoftMasks masks(
      *student, sites,
      [&](const MaskSite& s) {
        if (options_.mode == GalMode::Corrected) return Tensor::ones({s.size});
        // The reference draws DenseNet's masks from U(0, 1), the others from N(0, 1).
        return arch.name == "densenet40" ? rand_uniform({s.size}, 0.0, 1.0, init_gen)
                                         : randn({s.size}, init_gen);
      },
      ctx.device);
  // auto: the teacher's running statistics where masks are per channel (a batch norm after them
  // undoes their common scale), batch statistics where they are per block or branch.
  bool channel_masks = false;
  for (const MaskSite& s : sites) channel_masks = channel_masks || s.size > 1;
  GalOptions options = options_;
  options.batch_stats = bn_stats_ == "batch" || (bn_stats_ == "auto" && !channel_masks);
  GalHooks hooks(teacher, masks, options, arch.num_classes, weight_decay_, ctx.device);

  TrainRecipe recipe;
  recipe.epochs = epochs_;
  recipe.sgd.lr = lr_;
  recipe.sgd.momentum = momentum_;
  recipe.sgd.weight_decay = weight_decay_;
  // Data-parallel settings (sync_bn, overlap_allreduce, bucket_mb) from prune.finetune.
  recipe.sync_bn = ctx.recipe.sync_bn;
  recipe.overlap_allreduce = ctx.recipe.overlap_allreduce;
  recipe.bucket_bytes = ctx.recipe.bucket_bytes;
  const int step = lr_step_;
  const double gamma = lr_gamma_;
  const std::int64_t epochs = epochs_;
  recipe.schedule = [step, gamma, epochs](double base, std::int64_t n) {
    const int s =
        std::max<int>(1, static_cast<int>(static_cast<double>(step) * static_cast<double>(n) /
                                          static_cast<double>(std::max<std::int64_t>(epochs, 1))));
    return std::unique_ptr<optim::LrSchedule>(new optim::StepLr(base, s, gamma));
  };
  std::vector<EpochMetrics> history;
  if (epochs_ > 0) history = ctx.train_model(*student, recipe, &hooks, "gal", nullptr);
  hooks.fista().finalize();
  const EpochMetrics masked = ctx.evaluate(*student, "val");
  std::vector<Tensor> values;
  for (std::size_t i = 0; i < sites.size(); ++i) values.push_back(masks.mask(i).detach().clone());
  masks.remove();
  // Zeroed structures and channels removed; the other mask values stay unfolded, as frozen
  // masks during the fine-tuning, and are folded after it.
  FoldedExport ex = fold_soft_masks(*student, sites, values, ctx.input, false);
  std::shared_ptr<nn::Module> pruned = ex.surgery.model;
  EpochMetrics exported;
  std::vector<EpochMetrics> finetune;
  std::int64_t frozen_values = 0;
  {
    std::size_t next = 0;
    SoftMasks frozen(
        *pruned, ex.scale_sites, [&](const MaskSite&) { return ex.scales[next++]; }, ctx.device,
        false);
    frozen_values = frozen.total();
    exported = ctx.evaluate(*pruned, "val");
    if (ctx.recipe.epochs > 0) {
      FrozenMaskHooks frozen_hooks(frozen);
      pruned->train();
      finetune = ctx.train_model(*pruned, ctx.recipe, &frozen_hooks, "finetune", nullptr);
    }
    for (std::size_t i = 0; i < ex.scales.size(); ++i) {
      SHEARS_CHECK(same_values(frozen.mask(i), ex.scales[i]), "GAL: the frozen mask of '",
                   ex.scale_sites[i].module, "' changed during the fine-tuning");
    }
  }
  pruned = fold_soft_masks(*pruned, ex.scale_sites, ex.scales, ctx.input).surgery.model;
  CostReport dense_cost = count_cost(teacher, ctx.input);
  CostReport pruned_cost = count_cost(*pruned, ctx.input);
  nlohmann::json log = nlohmann::json::array();
  for (const GalEpochLog& e : hooks.log()) {
    log.push_back({{"epoch", e.epoch},
                   {"discriminator", e.discriminator},
                   {"adversarial", e.adversarial},
                   {"mse", e.mse},
                   {"sparsity", e.sparsity},
                   {"zero_masks", e.zero_masks},
                   {"masks", e.masks}});
  }
  nlohmann::json site_values = nlohmann::json::object();
  std::int64_t zero = 0, total = 0;
  for (std::size_t i = 0; i < sites.size(); ++i) {
    std::vector<float> v = values[i].cpu().to_vector<float>();
    for (float x : v) zero += x == 0.0f;
    total += static_cast<std::int64_t>(v.size());
    if (sites[i].size == 1) {
      site_values[sites[i].module] = v[0] + 0.0f;  // -0 (a clipped mask) reads as 0
    } else {
      std::int64_t z = 0;
      for (float x : v) z += x == 0.0f;
      site_values[sites[i].module] = {{"zero", z}, {"size", v.size()}};
    }
  }
  nlohmann::json report = {
      {"mode", options_.mode == GalMode::Faithful ? "faithful" : "corrected"},
      {"lambda", options_.lambda},
      {"mu", options_.mu},
      {"mask_step", options_.mask_step},
      {"mask_lr", lr_ * options_.mask_lr_scale},
      {"mask_max", std::isfinite(options_.mask_max) ? nlohmann::json(options_.mask_max)
                                                    : nlohmann::json("none")},
      {"bn_stats", options.batch_stats ? "batch" : "running"},
      {"epochs", epochs_},
      {"zero_masks", zero},
      {"masks", total},
      {"removed_structures", ex.removed_structures},
      {"removed_channels", ex.removed_channels},
      {"zero_masks_not_removed", ex.kept_zero},
      {"masked_student_val_top1", masked.val_top1},
      {"export_val_top1_before_finetune", exported.val_top1},
      {"finetune_epochs", ctx.recipe.epochs},
      {"finetune_frozen_mask_values", frozen_values},
      {"sites", site_values},
      {"log", log},
      {"flops",
       {{"traced_dense_macs", dense_cost.macs},
        {"traced_exported_macs", pruned_cost.macs},
        {"traced_exported_reduction_percent",
         reduction_percent(dense_cost.macs, pruned_cost.macs)}}}};
  log_info("gal: " + std::to_string(zero) + "/" + std::to_string(total) + " masks at zero, " +
           std::to_string(ex.removed_structures.size()) + " structures and " +
           std::to_string(ex.removed_channels) + " channels removed");
  (void)history;
  (void)finetune;
  return PruneResult{pruned, models::arch_of(*pruned), report.dump(), nullptr};
}

}  // namespace shears::pruning
