#pragma once

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn/layers.h"
#include "engine/optim/fista.h"
#include "engine/optim/sgd.h"
#include "pruning/methods/method.h"
#include "pruning/soft_masks.h"

namespace shears::pruning {

enum class GalMode {
  /// The reference code's quirks (docs/methods.md section 7): the third discriminator term
  /// BCE(D(s), 1), a discriminator of four linear layers without activations whose sigmoid
  /// output goes into a logits-BCE (a double sigmoid), lambda both as a gradient term and as the
  /// proximal threshold, FISTA momentum never restarted with the gradient taken at the iterate,
  /// masks drawn from N(0, 1).
  Faithful,
  /// The default: D(t) real and D(s) fake only, LeakyReLU(0.2) between the linear layers and one
  /// sigmoid (inside the BCE), lambda only as the proximal threshold, standard FISTA (gradient at
  /// the extrapolated point) restarted when the step size changes, masks starting at 1 (the
  /// student starts as the teacher), running batch-norm statistics with channel masks
  /// (GalOptions::batch_stats).
  Corrected,
};

struct GalOptions {
  GalMode mode = GalMode::Corrected;
  double lambda = 0.6;
  double mu = 1.0;
  std::int64_t mask_step = 200;
  /// Channel masks in ImageNet ResNet blocks too (GAL-0.5-joint).
  bool channels = false;
  /// The student's batch norms normalise with each batch's statistics (the reference, and
  /// faithful mode) or, when false, with the teacher's running statistics, kept fixed (corrected
  /// mode). With batch statistics a batch norm after a masked layer undoes any common scale of
  /// that layer's masks, so the loss cannot resist the L1 term shrinking them all alike: they
  /// reach zero together. Running statistics make every mask's scale reach the loss. (GalMethod's
  /// key bn_stats: auto picks running statistics for channel masks only.)
  bool batch_stats = false;
  /// The masks' FISTA step size as a multiple of the trainer's current LR (1: the student's LR,
  /// as the reference).
  double mask_lr_scale = 1.0;
  /// Masks are kept in [0, mask_max] (infinity: no upper bound, as the reference).
  double mask_max = std::numeric_limits<double>::infinity();
};

/// Per-epoch means of the loss parts and the zero count after the epoch (epoch 1-based).
struct GalEpochLog {
  std::int64_t epoch = 0;
  double discriminator = 0, adversarial = 0, mse = 0, sparsity = 0;
  std::int64_t zero_masks = 0, masks = 0;
};

/// GAL's training, as trainer hooks on the student (the network the trainer trains, with the
/// soft masks placed): every iteration a discriminator step on the teacher's and the student's
/// logits, then the student's loss mu * MSE(s, t) + BCE(D(s), 1) (+ lambda |m|_1 in faithful
/// mode) which the trainer's optimiser steps for the student's weights; every mask_step
/// iterations a FISTA step on the masks at the trainer's current LR times mask_lr_scale
/// (threshold that step * lambda).
/// The discriminator has its own SGD (the trainer's LR, momentum 0.9, weight decay as given).
/// Its weights and momentum, the masks and the FISTA state are in state_dict, the per-epoch log
/// in state(), so a resumed run continues exactly.
class GalHooks : public TrainerHooks {
 public:
  GalHooks(nn::Module& teacher, SoftMasks& masks, const GalOptions& options,
           std::int64_t num_classes, double weight_decay, Device device);

  /// With batch_stats false: the student's batch norms to evaluation mode (the trainer put the
  /// whole student in training mode at the epoch's start).
  void before_forward(Trainer& trainer, const Batch& batch) override;
  Tensor compute_loss(Trainer& trainer, const Batch& batch, const Tensor& logits) override;
  void after_step(Trainer& trainer) override;
  /// The masks: under data parallelism their gradients are averaged over ranks with the
  /// model's, so every rank takes the same FISTA steps and holds the same masks.
  std::vector<Tensor> reduced_parameters() const override;
  void on_epoch_begin(Trainer& trainer, std::int64_t epoch) override;
  void on_epoch_end(Trainer& trainer, const EpochMetrics& metrics) override;
  std::string state() const override;
  void load_state(const std::string& state) override;
  TensorList state_dict() const override;
  void load_state_dict(const TensorList& state) override;

  nn::Sequential& discriminator() { return *disc_; }
  optim::Fista& fista() { return fista_; }
  const std::vector<GalEpochLog>& log() const { return log_; }

 private:
  Tensor d_out(const Tensor& logits);

  nn::Module& teacher_;
  SoftMasks& masks_;
  GalOptions options_;
  std::shared_ptr<nn::Sequential> disc_;
  optim::Sgd d_opt_;
  optim::Fista fista_;
  double sum_d_ = 0, sum_adv_ = 0, sum_mse_ = 0, sum_sparse_ = 0;
  std::int64_t count_ = 0;
  std::int64_t iterations_ = 0;  // student steps so far (FISTA steps after every mask_step-th)
  std::vector<GalEpochLog> log_;
};

/// GAL's fine-tuning: the surviving mask values stay on the pruned network as frozen multipliers
/// (SoftMasks made with trainable false: no gradient, not parameters, so no optimiser moves
/// them), as the paper fine-tunes with its masks fixed; they are folded after the fine-tuning.
/// state_dict holds them ("mask.<site>"), so every fine-tuning checkpoint says which masks its
/// weights go with; load_state_dict throws Error when a checkpoint's masks are not these.
class FrozenMaskHooks : public TrainerHooks {
 public:
  explicit FrozenMaskHooks(const SoftMasks& masks) : masks_(masks) {}
  TensorList state_dict() const override;
  void load_state_dict(const TensorList& state) override;

 private:
  const SoftMasks& masks_;
};

/// GAL (Lin et al., CVPR 2019): soft masks on the network's structures learned against the
/// frozen dense network with an adversarial and an MSE term and an L1 term by FISTA; structures
/// whose mask reaches 0 are removed, the result fine-tuned with the experiment's recipe
/// (prune.finetune) with the surviving mask values as frozen masks (FrozenMaskHooks), and those
/// then folded into the batch norms before them.
/// Keys: lambda (required), mu (1), mask_step (200), mode (corrected | faithful), channels
/// (false), bn_stats (auto in corrected mode: running with channel masks, batch with block and
/// branch masks; batch in faithful mode; or running / batch), mask_lr (the masks'
/// base LR on the student's schedule; lr), mask_max (none: no upper bound on the masks; or a
/// number), epochs (100), lr (0.01), lr_step (30), lr_gamma (0.1),
/// momentum (0.9), weight_decay (2e-4).
class GalMethod : public Method {
 public:
  explicit GalMethod(const Config& section);
  std::string name() const override { return "gal"; }
  PruneResult run(PruneContext& context) override;

 private:
  GalOptions options_;
  std::string bn_stats_ = "auto";
  std::int64_t epochs_ = 100;
  double lr_ = 0.01, lr_gamma_ = 0.1, momentum_ = 0.9, weight_decay_ = 2e-4;
  int lr_step_ = 30;
};

/// Parses "faithful" / "corrected"; throws ConfigError naming `where` otherwise.
GalMode parse_gal_mode(const std::string& text, const std::string& where);

}  // namespace shears::pruning
