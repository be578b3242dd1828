#include "pruning/mask.h"

#include <set>

#include "engine/autograd/grad_mode.h"
#include "engine/ops/channel.h"

namespace shears::pruning {

namespace {
Tensor zero_mask(std::int64_t n, const std::vector<std::int64_t>& zeros) {
  std::vector<float> m(static_cast<std::size_t>(n), 1.0f);
  for (std::int64_t k : zeros) {
    SHEARS_CHECK(k >= 0 && k < n, "mask: index ", k, " out of range for ", n, " channels");
    m[static_cast<std::size_t>(k)] = 0.0f;
  }
  return Tensor::from_vector(m, {n});
}

void mask_dim0(const Tensor& t, const std::vector<std::int64_t>& zeros) {
  if (!t.defined() || zeros.empty()) return;
  channel_mask_(t, 0, zero_mask(t.size(0), zeros));
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

void mask_filters(nn::Module& model, const std::string& name,
                  const std::vector<std::int64_t>& filters, optim::Sgd* optimizer) {
  NoGrad no_grad;
  mask_dim0(model.tensor_at(name), filters);
  if (optimizer != nullptr) mask_dim0(optimizer->momentum_buffer(name), filters);
}

void mask_gradient(nn::Module& model, const std::string& name,
                   const std::vector<std::int64_t>& filters) {
  NoGrad no_grad;
  mask_dim0(model.tensor_at(name).grad(), filters);
}

void mask_channels(nn::Module& model, const Group& group, const std::vector<std::int64_t>& channels,
                   bool zero_bn, optim::Sgd* optimizer) {
  NoGrad no_grad;
  std::set<std::string> producers(group.producers.begin(), group.producers.end());
  for (const Member& m : group.members) {
    if (m.dim != 0) continue;
    const Tensor& t = model.tensor_at(m.name);
    std::string layer = m.name.substr(0, m.name.rfind('.'));
    bool producer = producers.count(m.name) > 0;
    bool producer_bias = ends_with(m.name, ".bias") && producers.count(layer + ".weight") > 0;
    bool bn_affine =
        !producer && !producer_bias && (ends_with(m.name, ".weight") || ends_with(m.name, ".bias"));
    if (!(producer || producer_bias || (zero_bn && bn_affine))) continue;
    std::vector<std::int64_t> positions;
    for (std::int64_t k : channels) {
      for (std::int64_t p : m.positions.at(static_cast<std::size_t>(k))) positions.push_back(p);
    }
    mask_dim0(t, positions);
    if (optimizer != nullptr) {
      Tensor buf;
      try {
        buf = optimizer->momentum_buffer(m.name);
      } catch (const Error&) {
      }
      mask_dim0(buf, positions);
    }
  }
}

}  // namespace shears::pruning
