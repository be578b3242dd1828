#include "engine/optim/sgd.h"

#include "engine/autograd/grad_mode.h"
#include "kernels/common/registry.h"

namespace shears::optim {

Sgd::Sgd(const TensorList& named_parameters, const SgdOptions& options) : options_(options) {
  SHEARS_CHECK(options.lr >= 0 && options.momentum >= 0 && options.weight_decay >= 0,
               "SGD: lr, momentum and weight_decay must be non-negative");
  SHEARS_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
               "SGD: Nesterov momentum needs momentum > 0 and dampening 0");
  rebind(named_parameters);
}

void Sgd::rebind(const TensorList& named_parameters) {
  std::vector<Slot> slots;
  for (const auto& [name, param] : named_parameters) {
    const Slot* old = find(name);
    double wd =
        old ? old->weight_decay
            : (options_.no_decay_bn_and_bias && param.dim() <= 1 ? 0.0 : options_.weight_decay);
    slots.push_back(Slot{name, param, old ? old->buffer : Tensor(), wd});
  }
  slots_ = std::move(slots);
}

const Sgd::Slot* Sgd::find(const std::string& name) const {
  for (const Slot& s : slots_)
    if (s.name == name) return &s;
  return nullptr;
}

Sgd::Slot& Sgd::slot(const std::string& name) {
  for (Slot& s : slots_)
    if (s.name == name) return s;
  throw Error("SGD: no parameter named '" + name + "'");
}

void Sgd::set_weight_decay(const std::string& name, double weight_decay) {
  slot(name).weight_decay = weight_decay;
}

void Sgd::step() {
  NoGrad no_grad;
  for (Slot& s : slots_) {
    Tensor grad = s.param.grad();
    if (!grad.defined()) continue;
    SHEARS_CHECK_AS(ShapeError, grad.shape() == s.param.shape(), "SGD: gradient of '", s.name,
                    "' has shape ", shape_str(grad.shape()), " but the parameter has ",
                    shape_str(s.param.shape()));
    SgdParams p;
    p.lr = options_.lr;
    p.momentum = options_.momentum;
    p.dampening = options_.dampening;
    p.weight_decay = s.weight_decay;
    p.nesterov = options_.nesterov;
    p.first_step = false;
    TensorView buf_view;
    const TensorView* buf = nullptr;
    if (options_.momentum != 0.0) {
      if (!s.buffer.defined()) {
        s.buffer = Tensor::empty(s.param.shape(), s.param.dtype(), s.param.device());
        p.first_step = true;
      }
      SHEARS_CHECK_AS(ShapeError, s.buffer.shape() == s.param.shape(), "SGD: momentum buffer of '",
                      s.name, "' has shape ", shape_str(s.buffer.shape()),
                      " but the parameter has ", shape_str(s.param.shape()));
      buf_view = s.buffer.view();
      buf = &buf_view;
    }
    backend_for(s.param.device()).sgd_update(s.param.view(), grad.view(), buf, p);
  }
  ++steps_;
}

void Sgd::zero_grad() {
  for (Slot& s : slots_) s.param.zero_grad();
}

Tensor Sgd::momentum_buffer(const std::string& name) const {
  const Slot* s = find(name);
  SHEARS_CHECK(s != nullptr, "SGD: no parameter named '", name, "'");
  return s->buffer;
}

void Sgd::set_momentum_buffer(const std::string& name, const Tensor& buffer) {
  slot(name).buffer = buffer;
}

TensorList Sgd::state_dict() const {
  TensorList out;
  for (const Slot& s : slots_)
    if (s.buffer.defined()) out.emplace_back("momentum." + s.name, s.buffer);
  return out;
}

void Sgd::load_state_dict(const TensorList& state, std::int64_t steps) {
  for (const auto& [key, t] : state) {
    SHEARS_CHECK_AS(CheckpointError, key.rfind("momentum.", 0) == 0,
                    "optimizer state: unexpected entry '", key, "'");
    std::string name = key.substr(9);
    Slot* s = nullptr;
    for (Slot& candidate : slots_)
      if (candidate.name == name) s = &candidate;
    SHEARS_CHECK_AS(CheckpointError, s != nullptr, "optimizer state: '", key,
                    "' names no parameter of the model");
    SHEARS_CHECK_AS(CheckpointError, t.shape() == s->param.shape(), "optimizer state: '", key,
                    "' has shape ", shape_str(t.shape()), " but the parameter has ",
                    shape_str(s->param.shape()));
    s->buffer = t.to(s->param.dtype()).to(s->param.device()).clone().detach();
  }
  steps_ = steps;
}

}  // namespace shears::optim
