#include "engine/optim/fista.h"

#include <cmath>

#include "engine/autograd/grad_mode.h"
#include "engine/ops/activation.h"
#include "engine/ops/elementwise.h"
#include "kernels/common/error.h"

namespace shears::optim {

namespace {

// Clipped to the box [0 or -upper, upper] when upper is finite.
Tensor box(const Tensor& x, bool nonnegative, double upper) {
  if (!std::isfinite(upper)) return x;
  return clamp(x, nonnegative ? 0.0 : -upper, upper);
}

Tensor prox(const Tensor& z, double threshold, bool nonnegative, double upper) {
  Tensor x = soft_threshold(z, threshold);
  if (std::isfinite(upper)) return box(x, nonnegative, upper);
  return nonnegative ? relu(x) : x;
}

}  // namespace

Fista::Fista(const TensorList& named_parameters, const FistaOptions& options) : options_(options) {
  SHEARS_CHECK(options.lr >= 0 && options.lambda >= 0, "FISTA: lr and lambda must be >= 0, got ",
               options.lr, " and ", options.lambda);
  SHEARS_CHECK(options.upper > 0, "FISTA: upper must be > 0, got ", options.upper);
  NoGrad no_grad;
  for (const auto& [name, param] : named_parameters) {
    slots_.push_back(Slot{name, param, param.detach().clone(), param.detach().clone()});
  }
}

void Fista::set_lr(double lr) {
  SHEARS_CHECK(lr >= 0, "FISTA: lr must be >= 0, got ", lr);
  if (lr != options_.lr) lr_changed_ = true;
  options_.lr = lr;
}

void Fista::step() {
  NoGrad no_grad;
  if (options_.restart_on_lr_change && lr_changed_) t_ = 1.0;
  lr_changed_ = false;
  const double t_next = (1.0 + std::sqrt(1.0 + 4.0 * t_ * t_)) / 2.0;
  const double beta = (t_ - 1.0) / t_next;
  const double eta = options_.lr;
  const double threshold = eta * options_.lambda;
  for (Slot& s : slots_) {
    Tensor grad = s.param.grad();
    if (!grad.defined()) continue;
    SHEARS_CHECK_AS(ShapeError, grad.shape() == s.param.shape(), "FISTA: gradient of '", s.name,
                    "' has shape ", shape_str(grad.shape()), " but the parameter has ",
                    shape_str(s.param.shape()));
    Tensor x = s.param.detach();
    if (options_.lookahead_gradient) {
      // The parameter is y_k; the new iterate is the proximal step from it.
      Tensor x_next =
          prox(sub(x, scale(grad, eta)), threshold, options_.nonnegative, options_.upper);
      Tensor y_next =
          box(add(x_next, scale(sub(x_next, s.x), beta)), options_.nonnegative, options_.upper);
      s.prev = s.x;
      s.x = x_next;
      s.param.copy_(y_next);
    } else {
      Tensor y = add(x, scale(sub(x, s.prev), beta));
      Tensor x_next =
          prox(sub(y, scale(grad, eta)), threshold, options_.nonnegative, options_.upper);
      s.prev = x.clone();
      s.x = x_next;
      s.param.copy_(x_next);
    }
  }
  t_ = t_next;
  ++steps_;
}

void Fista::zero_grad() {
  for (Slot& s : slots_) s.param.zero_grad();
}

Tensor Fista::iterate(const std::string& name) const {
  for (const Slot& s : slots_)
    if (s.name == name) return s.x;
  throw Error("FISTA: no parameter named '" + name + "'");
}

void Fista::finalize() {
  NoGrad no_grad;
  for (Slot& s : slots_) s.param.copy_(s.x);
}

TensorList Fista::state_dict() const {
  TensorList out;
  for (const Slot& s : slots_) {
    out.emplace_back("x." + s.name, s.x);
    out.emplace_back("prev." + s.name, s.prev);
  }
  out.emplace_back("t", Tensor::from_vector(std::vector<double>{t_}, {1}));
  out.emplace_back("steps", Tensor::from_vector(std::vector<std::int64_t>{steps_}, {1}));
  return out;
}

void Fista::load_state_dict(const TensorList& state) {
  for (const auto& [key, t] : state) {
    if (key == "t") {
      t_ = t.to(Device::cpu()).to(DType::F64).to_vector<double>().at(0);
      continue;
    }
    if (key == "steps") {
      steps_ = t.to(Device::cpu()).to(DType::I64).to_vector<std::int64_t>().at(0);
      continue;
    }
    const bool is_x = key.rfind("x.", 0) == 0;
    const bool is_prev = key.rfind("prev.", 0) == 0;
    SHEARS_CHECK_AS(CheckpointError, is_x || is_prev, "FISTA state: unexpected entry '", key, "'");
    const std::string name = key.substr(is_x ? 2 : 5);
    Slot* slot = nullptr;
    for (Slot& s : slots_)
      if (s.name == name) slot = &s;
    SHEARS_CHECK_AS(CheckpointError, slot != nullptr, "FISTA state: '", key,
                    "' names no parameter");
    SHEARS_CHECK_AS(CheckpointError, t.shape() == slot->param.shape(), "FISTA state: '", key,
                    "' has shape ", shape_str(t.shape()), " but the parameter has ",
                    shape_str(slot->param.shape()));
    Tensor v = t.to(slot->param.dtype()).to(slot->param.device()).clone().detach();
    (is_x ? slot->x : slot->prev) = v;
  }
}

}  // namespace shears::optim
