#include "engine/optim/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "kernels/common/error.h"

namespace shears::optim {

StepLr::StepLr(double base, int step_size, double gamma)
    : base_(base), step_size_(step_size), gamma_(gamma) {
  SHEARS_CHECK(step_size > 0, "step schedule: step_size must be positive, got ", step_size);
}

double StepLr::lr_at(double epoch) const {
  return base_ * std::pow(gamma_, std::floor(std::floor(epoch) / step_size_));
}

MultiStepLr::MultiStepLr(double base, std::vector<int> milestones, double gamma)
    : base_(base), milestones_(std::move(milestones)), gamma_(gamma) {
  SHEARS_CHECK(std::is_sorted(milestones_.begin(), milestones_.end()),
               "multistep schedule: milestones must be increasing");
}

double MultiStepLr::lr_at(double epoch) const {
  int passed = 0;
  for (int m : milestones_)
    if (std::floor(epoch) >= m) ++passed;
  return base_ * std::pow(gamma_, passed);
}

LinearDecayLr::LinearDecayLr(double base, int total_epochs) : base_(base), total_(total_epochs) {
  SHEARS_CHECK(total_epochs > 0, "LinearDecayLr: total epochs must be positive, got ",
               total_epochs);
}

double LinearDecayLr::lr_at(double epoch) const {
  return base_ * std::max(0.0, 1.0 - epoch / static_cast<double>(total_));
}

CosineLr::CosineLr(double base, int total_epochs, double min_lr)
    : base_(base), total_(total_epochs), min_(min_lr) {
  SHEARS_CHECK(total_epochs > 0, "cosine schedule: epochs must be positive, got ", total_epochs);
}

double CosineLr::lr_at(double epoch) const {
  double t = std::clamp(epoch / total_, 0.0, 1.0);
  return min_ + (base_ - min_) * (1.0 + std::cos(M_PI * t)) / 2.0;
}

WarmupLr::WarmupLr(std::unique_ptr<LrSchedule> inner, double warmup_epochs, double start_factor)
    : inner_(std::move(inner)), warmup_(warmup_epochs), start_factor_(start_factor) {
  SHEARS_CHECK(inner_ != nullptr, "warm-up schedule needs an inner schedule");
  SHEARS_CHECK(warmup_epochs >= 0, "warm-up epochs must be non-negative");
}

double WarmupLr::lr_at(double epoch) const {
  double lr = inner_->lr_at(epoch);
  if (epoch >= warmup_ || warmup_ == 0) return lr;
  double f = start_factor_ + (1.0 - start_factor_) * (epoch / warmup_);
  return lr * f;
}

ConstantWarmupLr::ConstantWarmupLr(std::unique_ptr<LrSchedule> inner, double warmup_epochs,
                                   double factor)
    : inner_(std::move(inner)), warmup_(warmup_epochs), factor_(factor) {
  SHEARS_CHECK(inner_ != nullptr, "warm-up schedule needs an inner schedule");
  SHEARS_CHECK(warmup_epochs >= 0, "warm-up epochs must be non-negative");
}

double ConstantWarmupLr::lr_at(double epoch) const {
  double lr = inner_->lr_at(epoch);
  return epoch < warmup_ ? lr * factor_ : lr;
}

}  // namespace shears::optim
