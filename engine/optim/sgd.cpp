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
  SgdParams p;
  p.lr = options_.lr;
  p.momentum = options_.momentum;
  p.dampening = options_.dampening;
  p.nesterov = options_.nesterov;
  // Every parameter of one device goes to its backend in one call (one launch on CUDA), in slot
  // order; the CPU backend updates them one after the other, as before.
  std::vector<SgdItem> items;
  std::vector<Tensor> grads;  // keeps the viewed gradients alive until the call
  Device device = Device::cpu();
  auto flush = [&]() {
    if (!items.empty()) backend_for(device).sgd_update_many(items, p);
    items.clear();
    grads.clear();
  };
  for (Slot& s : slots_) {
    Tensor grad = s.param.grad();
    if (!grad.defined()) continue;
    SHEARS_CHECK_AS(ShapeError, grad.shape() == s.param.shape(), "SGD: gradient of '", s.name,
                    "' has shape ", shape_str(grad.shape()), " but the parameter has ",
                    shape_str(s.param.shape()));
    if (!items.empty() && s.param.device() != device) flush();
    device = s.param.device();
    SgdItem item;
    item.param = s.param.view();
    item.grad = grad.view();
    item.weight_decay = s.weight_decay;
    if (options_.momentum != 0.0) {
      if (!s.buffer.defined()) {
        s.buffer = Tensor::empty(s.param.shape(), s.param.dtype(), s.param.device());
        item.first_step = true;
      }
      SHEARS_CHECK_AS(ShapeError, s.buffer.shape() == s.param.shape(), "SGD: momentum buffer of '",
                      s.name, "' has shape ", shape_str(s.buffer.shape()),
                      " but the parameter has ", shape_str(s.param.shape()));
      item.momentum_buf = s.buffer.view();
      item.has_momentum_buf = true;
    }
    items.push_back(item);
    grads.push_back(grad);
  }
  flush();
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
