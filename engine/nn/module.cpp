#include "engine/nn/module.h"

#include <algorithm>
#include <map>
#include <sstream>

namespace shears::nn {

Tensor& Module::register_parameter(const std::string& name, Tensor& member) {
  if (member.defined()) {
    member.set_requires_grad(true);
  }
  parameters_.emplace_back(name, &member);
  return member;
}

Tensor& Module::register_host_buffer(const std::string& name, Tensor& member) {
  host_buffers_.push_back(&member);
  return register_buffer(name, member);
}

Tensor& Module::register_buffer(const std::string& name, Tensor& member) {
  buffers_.emplace_back(name, &member);
  return member;
}

void Module::collect(const std::string& prefix, bool params, TensorList& out) const {
  for (const auto& [name, ptr] : params ? parameters_ : buffers_) {
    if (ptr->defined()) out.emplace_back(prefix + name, *ptr);
  }
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", params, out);
}

void Module::collect_refs(const std::string& prefix, bool params,
                          std::vector<std::pair<std::string, Tensor*>>& out) {
  for (auto& [name, ptr] : params ? parameters_ : buffers_) {
    if (ptr->defined()) out.emplace_back(prefix + name, ptr);
  }
  for (auto& [name, child] : children_) child->collect_refs(prefix + name + ".", params, out);
}

TensorList Module::named_parameters() const {
  TensorList out;
  collect("", true, out);
  return out;
}

TensorList Module::named_buffers() const {
  TensorList out;
  collect("", false, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, Module*>> out;
  std::vector<std::pair<std::string, const Module*>> stack{{"", this}};
  while (!stack.empty()) {
    auto [prefix, m] = stack.back();
    stack.pop_back();
    out.emplace_back(prefix, const_cast<Module*>(m));
    for (auto it = m->children_.rbegin(); it != m->children_.rend(); ++it) {
      stack.emplace_back(prefix.empty() ? it->first : prefix + "." + it->first, it->second.get());
    }
  }
  return out;
}

Module& Module::module_at(const std::string& path) {
  if (path.empty()) return *this;
  Module* m = this;
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '.')) {
    Module* next = nullptr;
    for (auto& [name, child] : m->children_)
      if (name == part) next = child.get();
    SHEARS_CHECK(next != nullptr, "no module '", path, "' (", part, " not found)");
    m = next;
  }
  return *m;
}

Tensor& Module::tensor_at(const std::string& name) {
  auto dot = name.rfind('.');
  Module& owner = dot == std::string::npos ? *this : module_at(name.substr(0, dot));
  std::string leaf = dot == std::string::npos ? name : name.substr(dot + 1);
  for (auto& [n, ptr] : owner.parameters_)
    if (n == leaf) return *ptr;
  for (auto& [n, ptr] : owner.buffers_)
    if (n == leaf) return *ptr;
  throw Error("no parameter or buffer named '" + name + "'");
}

void Module::train(bool on) {
  for (auto& [prefix, m] : named_modules()) m->training_ = on;
}

void Module::to(const Device& device) {
  std::vector<std::pair<std::string, Tensor*>> refs;
  collect_refs("", true, refs);
  for (auto& [name, ptr] : refs) {
    if (ptr->device() == device) continue;
    Tensor moved = ptr->detach().to(device);
    moved.set_name(ptr->name());
    moved.set_requires_grad(ptr->requires_grad());
    *ptr = moved;
  }
  for (auto& [prefix, m] : named_modules()) {
    for (auto& [name, ptr] : m->buffers_) {
      const bool host = std::find(m->host_buffers_.begin(), m->host_buffers_.end(), ptr) !=
                        m->host_buffers_.end();
      *ptr = ptr->to(host ? Device::cpu() : device);
    }
  }
}

void Module::zero_grad() {
  for (auto& [name, t] : named_parameters()) t.zero_grad();
}

TensorList Module::state_dict() const {
  TensorList out = named_parameters();
  TensorList buffers = named_buffers();
  out.insert(out.end(), buffers.begin(), buffers.end());
  return out;
}

void Module::load_state_dict(const TensorList& state, bool strict, bool resize) {
  std::vector<std::pair<std::string, Tensor*>> refs;
  collect_refs("", true, refs);
  const std::size_t num_params = refs.size();
  collect_refs("", false, refs);
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : state) given[name] = &t;

  std::vector<std::string> problems;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    const auto& [name, ptr] = refs[i];
    auto it = given.find(name);
    if (it == given.end()) {
      if (strict) problems.push_back("missing '" + name + "'");
      continue;
    }
    const Tensor& src = *it->second;
    if (src.shape() != ptr->shape() && !resize) {
      problems.push_back("'" + name + "' has shape " + shape_str(src.shape()) + ", expected " +
                         shape_str(ptr->shape()));
    }
    given.erase(it);
  }
  if (strict) {
    for (const auto& [name, t] : given) problems.push_back("unexpected '" + name + "'");
  }
  if (!problems.empty()) {
    std::string msg = "state dict does not match the model:";
    for (const auto& p : problems) msg += "\n  " + p;
    throw CheckpointError(msg);
  }
  std::map<std::string, const Tensor*> lookup;
  for (const auto& [name, t] : state) lookup[name] = &t;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    auto& [name, ptr] = refs[i];
    auto it = lookup.find(name);
    if (it == lookup.end()) continue;
    const Tensor& src = *it->second;
    if (src.shape() == ptr->shape()) {
      ptr->copy_(src);
    } else {
      Tensor fresh = src.detach().to(ptr->dtype()).to(ptr->device()).clone().detach();
      fresh.set_name(ptr->name());
      if (i < num_params) fresh.set_requires_grad(true);
      *ptr = fresh;
    }
  }
}

std::string Module::to_string() const {
  std::ostringstream out;
  std::function<void(const Module&, int)> rec = [&](const Module& m, int depth) {
    out << m.type_name() << "(" << m.extra_repr();
    if (!m.children_.empty()) {
      out << "\n";
      for (const auto& [name, child] : m.children_) {
        out << std::string(static_cast<std::size_t>(depth + 1) * 2, ' ') << "(" << name << "): ";
        rec(*child, depth + 1);
        out << "\n";
      }
      out << std::string(static_cast<std::size_t>(depth) * 2, ' ');
    }
    out << ")";
  };
  rec(*this, 0);
  return out.str();
}

Tensor Module::apply_forward_hooks(const Tensor& output) const {
  if (forward_hooks_.empty()) return output;
  Tensor y = output;
  for (const ForwardHook& hook : forward_hooks_) y = hook(y);
  return y;
}

}  // namespace shears::nn
