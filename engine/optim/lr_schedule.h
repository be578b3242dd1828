#pragma once

#include <memory>
#include <vector>

namespace shears::optim {

/// A learning rate as a function of (possibly fractional) epoch: epoch e + i/n during the i-th
/// of n iterations of epoch e, so warm-up can ramp per iteration.
class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual double lr_at(double epoch) const = 0;
};

/// base for every epoch.
class ConstantLr : public LrSchedule {
 public:
  explicit ConstantLr(double base) : base_(base) {}
  double lr_at(double) const override { return base_; }

 private:
  double base_;
};

/// base * gamma^floor(epoch / step_size).
class StepLr : public LrSchedule {
 public:
  StepLr(double base, int step_size, double gamma);
  double lr_at(double epoch) const override;

 private:
  double base_;
  int step_size_;
  double gamma_;
};

/// base * gamma^(number of milestones <= floor(epoch)).
class MultiStepLr : public LrSchedule {
 public:
  MultiStepLr(double base, std::vector<int> milestones, double gamma);
  double lr_at(double epoch) const override;

 private:
  double base_;
  std::vector<int> milestones_;
  double gamma_;
};

/// min + (base - min) * (1 + cos(pi * epoch / total)) / 2, min after `total` epochs.
class CosineLr : public LrSchedule {
 public:
  CosineLr(double base, int total_epochs, double min_lr = 0.0);
  double lr_at(double epoch) const override;

 private:
  double base_;
  int total_;
  double min_;
};

/// base * max(0, 1 - epoch / total): a straight line from base to 0 at `total` epochs, set per
/// iteration through the fractional epoch (MetaPruning's MobileNet schedules, which decay per
/// step to 0 over the run).
class LinearDecayLr : public LrSchedule {
 public:
  LinearDecayLr(double base, int total_epochs);
  double lr_at(double epoch) const override;

 private:
  double base_;
  int total_;
};

/// Linear warm-up from start_factor * inner(warmup) to inner(epoch) over `warmup_epochs`, then
/// the inner schedule.
class WarmupLr : public LrSchedule {
 public:
  WarmupLr(std::unique_ptr<LrSchedule> inner, double warmup_epochs, double start_factor = 0.0);
  double lr_at(double epoch) const override;

 private:
  std::unique_ptr<LrSchedule> inner_;
  double warmup_;
  double start_factor_;
};

/// `factor` * inner(epoch) before `warmup_epochs`, then the inner schedule: SFP/FPGM's first
/// epoch at a tenth of the base LR (He et al.; ResNet-110 in FPGM).
class ConstantWarmupLr : public LrSchedule {
 public:
  ConstantWarmupLr(std::unique_ptr<LrSchedule> inner, double warmup_epochs, double factor);
  double lr_at(double epoch) const override;

 private:
  std::unique_ptr<LrSchedule> inner_;
  double warmup_;
  double factor_;
};

}  // namespace shears::optim
