#include "engine/optim/sgd.h"

#include "engine/autograd/grad_mode.h"
#include "engine/graph/recording.h"
#include "kernels/common/registry.h"

namespace shears::optim {

namespace {
void check_options(const std::string& group, const SgdOptions& options) {
  SHEARS_CHECK(options.lr >= 0 && options.momentum >= 0 && options.weight_decay >= 0, "SGD group '",
               group, "': lr, momentum and weight_decay must be non-negative");
  SHEARS_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0), "SGD group '",
               group, "': Nesterov momentum needs momentum > 0 and dampening 0");
}
double initial_decay(const SgdOptions& o, const Tensor& param) {
  return o.no_decay_bn_and_bias && param.dim() <= 1 ? 0.0 : o.weight_decay;
}
}  // namespace

Sgd::Sgd(const TensorList& named_parameters, const SgdOptions& options) {
  check_options("default", options);
  groups_.push_back(Group{"default", options, nullptr});
  rebind(named_parameters);
}

void Sgd::rebind(const TensorList& named_parameters) {
  std::vector<Slot> slots;
  for (const auto& [name, param] : named_parameters) {
    bool skip = false;
    for (const std::string& e : excluded_) skip = skip || e == name;
    if (skip) continue;
    const Slot* old = find(name);
    const int group = old ? old->group : 0;
    double wd = old ? old->weight_decay : initial_decay(groups_[0].options, param);
    slots.push_back(Slot{name, param, old ? old->buffer : Tensor(), wd, group});
  }
  slots_ = std::move(slots);
}

int Sgd::add_group(const ParamGroup& group) {
  check_options(group.name, group.options);
  for (const Group& g : groups_) {
    SHEARS_CHECK(g.name != group.name, "SGD: a group named '", group.name, "' exists already");
  }
  const int index = static_cast<int>(groups_.size());
  std::vector<Slot*> members;
  for (const std::string& name : group.params) {
    Slot& s = slot(name);
    SHEARS_CHECK(s.group == 0, "SGD: parameter '", name, "' is already in group '",
                 groups_[static_cast<std::size_t>(s.group)].name, "'");
    for (const Slot* m : members) {
      SHEARS_CHECK(m != &s, "SGD: parameter '", name, "' is listed twice in group '", group.name,
                   "'");
    }
    members.push_back(&s);
  }
  groups_.push_back(Group{group.name, group.options, group.schedule});
  for (Slot* s : members) {
    s->group = index;
    s->weight_decay = initial_decay(group.options, s->param);
  }
  return index;
}

void Sgd::exclude(const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    slot(name);  // throws for unknown names
    excluded_.push_back(name);
  }
  std::vector<Slot> kept;
  for (Slot& s : slots_) {
    bool drop = false;
    for (const std::string& e : excluded_) drop = drop || e == s.name;
    if (!drop) kept.push_back(std::move(s));
  }
  slots_ = std::move(kept);
}

const SgdOptions& Sgd::group_options(int group) const {
  SHEARS_CHECK(group >= 0 && group < num_groups(), "SGD: no group ", group);
  return groups_[static_cast<std::size_t>(group)].options;
}

const std::string& Sgd::group_name(int group) const {
  SHEARS_CHECK(group >= 0 && group < num_groups(), "SGD: no group ", group);
  return groups_[static_cast<std::size_t>(group)].name;
}

void Sgd::set_group_lr(int group, double lr) {
  SHEARS_CHECK(group >= 0 && group < num_groups(), "SGD: no group ", group);
  SHEARS_CHECK(lr >= 0, "SGD: lr must be non-negative, got ", lr);
  groups_[static_cast<std::size_t>(group)].options.lr = lr;
}

void Sgd::set_epoch(double epoch) {
  for (Group& g : groups_) {
    if (g.schedule != nullptr) g.options.lr = g.schedule->lr_at(epoch);
  }
}

int Sgd::group_of(const std::string& name) const {
  const Slot* s = find(name);
  SHEARS_CHECK(s != nullptr, "SGD: no parameter named '", name, "'");
  return s->group;
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
  // The parameters of one device and one group go to the backend in one call (one launch on
  // CUDA), in slot order; the CPU backend updates them one after the other.
  std::vector<SgdItem> items;
  std::vector<Tensor> grads;  // keeps the viewed gradients alive until the call
  Device device = Device::cpu();
  int group = 0;
  auto flush = [&]() {
    if (items.empty()) return;
    const SgdOptions& o = groups_[static_cast<std::size_t>(group)].options;
    SgdParams p;
    p.lr = o.lr;
    p.momentum = o.momentum;
    p.dampening = o.dampening;
    p.nesterov = o.nesterov;
    if (!device.is_cpu()) {
      // A recorded step graph keeps its kernel arguments: the LR, which the schedule changes
      // every step, comes from device memory written before every launch.
      if (lr_device_.size() < groups_.size()) lr_device_.resize(groups_.size());
      Tensor& lr_dev = lr_device_[static_cast<std::size_t>(group)];
      if (!lr_dev.defined() || lr_dev.device() != device) {
        graph::require_eager("the SGD step's device learning rate is created by an eager step");
        lr_dev = Tensor::empty({1}, DType::F32, device);
      }
      if (graph::recording()) {
        p.lr_device = static_cast<const float*>(lr_dev.raw_data());
        const int g = group;
        graph::before_launch([this, g] {
          const double lr = groups_[static_cast<std::size_t>(g)].options.lr;
          lr_device_[static_cast<std::size_t>(g)].copy_(
              Tensor::from_vector(std::vector<float>{static_cast<float>(lr)}, {1}));
        });
      }
    }
    backend_for(device).sgd_update_many(items, p);
    items.clear();
    grads.clear();
  };
  for (Slot& s : slots_) {
    Tensor grad = s.param.grad();
    if (!grad.defined()) continue;
    SHEARS_CHECK_AS(ShapeError, grad.shape() == s.param.shape(), "SGD: gradient of '", s.name,
                    "' has shape ", shape_str(grad.shape()), " but the parameter has ",
                    shape_str(s.param.shape()));
    if (!items.empty() && (s.param.device() != device || s.group != group)) flush();
    device = s.param.device();
    group = s.group;
    const SgdOptions& o = groups_[static_cast<std::size_t>(s.group)].options;
    SgdItem item;
    item.param = s.param.view();
    item.grad = grad.view();
    item.weight_decay = s.weight_decay;
    if (o.momentum != 0.0) {
      if (!s.buffer.defined()) {
        graph::require_eager("momentum buffers are created by an eager step");
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
  graph::host_effect([this] { ++steps_; });
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
