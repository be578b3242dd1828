#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include "engine/nn/module.h"
#include "engine/tensor.h"

namespace shears::optim {

struct FistaOptions {
  /// Step size eta (the current LR; set_lr changes it between steps).
  double lr = 0.01;
  /// L1 weight: the proximal threshold of a step is lr * lambda.
  double lambda = 0.0;
  /// Clip the proximal result at 0 (masks are non-negative scales).
  bool nonnegative = true;
  /// Upper bound of the iterates (infinity: none). When finite, the proximal result is clipped
  /// to [0, upper] (to [-upper, upper] when not nonnegative), the proximal operator of
  /// lambda |x|_1 on that box, and so is the extrapolated point the parameter holds, so the
  /// network never sees a value outside the box.
  double upper = std::numeric_limits<double>::infinity();
  /// Standard FISTA (Beck and Teboulle): the parameter holds the extrapolated point y where the
  /// gradient is taken, the iterate x is kept separately (`iterate`). When false, the update of
  /// GAL's reference code: the parameter is the iterate itself, the gradient is taken there and
  /// the extrapolation y = x_k + ((t - 1) / t')(x_k - x_{k-1}) is stepped from.
  bool lookahead_gradient = true;
  /// Restart the momentum (t = 1, no extrapolation) when the step size changes.
  bool restart_on_lr_change = false;
};

/// Proximal gradient with Nesterov momentum for f(x) + lambda * |x|_1, element-wise on a set of
/// named parameters (soft masks):
///   t' = (1 + sqrt(1 + 4 t^2)) / 2
///   lookahead:  x_{k+1} = prox(y_k - lr * grad f(y_k)); y_{k+1} = x_{k+1} + ((t - 1) / t')
///               (x_{k+1} - x_k); the parameter becomes y_{k+1}
///   reference:  y = x_k + ((t - 1) / t')(x_k - x_{k-1}); x_{k+1} = prox(y - lr * grad f(x_k));
///               the parameter becomes x_{k+1}
/// with prox(z) = sign(z) max(|z| - lr * lambda, 0), then max(., 0) when nonnegative (and
/// clipped to the box of `upper`, the extrapolated point too, when it is finite). Parameters
/// without a gradient are skipped. State is keyed by parameter name.
class Fista {
 public:
  Fista(const TensorList& named_parameters, const FistaOptions& options);

  void step();
  void zero_grad();
  double lr() const { return options_.lr; }
  void set_lr(double lr);
  const FistaOptions& options() const { return options_; }
  /// The proximal iterate x_k of a parameter (exact zeros where the L1 term removed it); equal to
  /// the parameter in reference mode and before the first step.
  Tensor iterate(const std::string& name) const;
  /// Writes every iterate into its parameter (the end of the optimisation: the network then
  /// computes with the sparse x_k, not the extrapolated point).
  void finalize();
  std::int64_t steps() const { return steps_; }
  double momentum_t() const { return t_; }

  /// "x.<name>" and "prev.<name>" per parameter plus "t" (float64 {1}) and "steps" (int64 {1}).
  TensorList state_dict() const;
  /// Restores what state_dict wrote; unknown or mis-shaped entries throw CheckpointError.
  void load_state_dict(const TensorList& state);

 private:
  struct Slot {
    std::string name;
    Tensor param;
    Tensor x;     // current iterate
    Tensor prev;  // previous iterate
  };
  FistaOptions options_;
  std::vector<Slot> slots_;
  double t_ = 1.0;
  std::int64_t steps_ = 0;
  bool lr_changed_ = false;
};

}  // namespace shears::optim
