#include "pruning/width_choice.h"

#include <algorithm>

#include "pruning/cost_model.h"

namespace shears::pruning {

std::string WidthSite::key() const {
  return "in=" + std::to_string(in_channels) + ",out=" + std::to_string(out_channels) +
         ",hw=" + std::to_string(height) + "x" + std::to_string(width) +
         ",k=" + std::to_string(kernel) + ",s=" + std::to_string(stride) +
         (out_kernel > 0 && out_kernel != kernel ? ",k2=" + std::to_string(out_kernel) : "");
}

std::int64_t choose_width(const std::map<std::int64_t, double>& latency, std::int64_t wanted,
                          std::int64_t cap, double tolerance) {
  std::int64_t best = -1;
  double best_ms = 0;
  for (auto it = latency.lower_bound(wanted); it != latency.end() && it->first <= cap; ++it) {
    if (best < 0 || it->second < best_ms) {
      best = it->first;
      best_ms = it->second;
    }
  }
  if (best < 0) return wanted;
  // Among widths within `tolerance` of the fastest, the largest keeps the most channels.
  std::int64_t chosen = best;
  for (auto it = latency.lower_bound(wanted); it != latency.end() && it->first <= cap; ++it) {
    if (it->second <= best_ms * (1.0 + tolerance)) chosen = std::max(chosen, it->first);
  }
  return chosen;
}

std::int64_t auto_width_cap(std::int64_t wanted, std::int64_t full) {
  return std::min(full, (wanted + 7) / 8 * 8 + 8);
}

WidthChooser::WidthChooser(nn::Module& model, const Shape& input_chw, WidthLatencyFn latency,
                           const std::string& where)
    : latency_(std::move(latency)) {
  SHEARS_CHECK_AS(ConfigError, latency_ != nullptr, where,
                  ": round_to: auto needs the runner's measured latency table "
                  "(PruneContext::width_latency), and none was given");
  for (const LayerCost& l : count_cost(model, input_chw).layers) {
    if (l.op != op_name(Op::Conv2d) || l.input_shape.size() != 3 || l.output_shape.size() != 3)
      continue;
    convs_[l.name] = Shapes{l.weight_shape, l.input_shape, l.output_shape};
  }
}

bool WidthChooser::site(const Group& g, WidthSite* out) const {
  const Shapes* producer = nullptr;
  for (const std::string& p : g.producers) {
    auto it = convs_.find(p);
    if (it != convs_.end()) {
      producer = &it->second;
      break;
    }
  }
  const Shapes* consumer = nullptr;
  for (const Member& m : g.members) {
    if (m.dim != 1) continue;
    auto it = convs_.find(m.name);
    if (it != convs_.end() && it->second.weight[1] == g.size) {
      consumer = &it->second;
      break;
    }
  }
  if (!producer || !consumer) return false;
  WidthSite s;
  s.in_channels = producer->weight[1];
  s.out_channels = consumer->weight[0];
  s.height = producer->output[1];
  s.width = producer->output[2];
  s.kernel = static_cast<int>(producer->weight[2]);
  s.out_kernel = static_cast<int>(consumer->weight[2]);
  s.stride = static_cast<int>(std::max<std::int64_t>(1, producer->input[1] / producer->output[1]));
  *out = s;
  return true;
}

std::int64_t WidthChooser::kept(const Group& g, std::int64_t size, std::int64_t wanted) const {
  wanted = std::clamp<std::int64_t>(wanted, 1, size);
  WidthSite s;
  if (!site(g, &s)) {
    // No conv-to-conv site to measure: the nearest multiple of 8 (round_to: 8).
    std::int64_t r = (wanted + 4) / 8 * 8;
    if (r == 0) r = 8;
    if (r > size) r = size / 8 * 8;
    return r == 0 ? size : r;
  }
  const std::string key = s.key() + "|" + std::to_string(wanted) + "/" + std::to_string(size);
  if (auto it = memo_.find(key); it != memo_.end()) return it->second;
  const std::int64_t cap = auto_width_cap(wanted, size);
  std::vector<std::int64_t> widths;
  for (std::int64_t c = wanted; c <= cap; ++c) widths.push_back(c);
  std::int64_t chosen = choose_width(latency_(s, widths), wanted, cap);
  memo_[key] = chosen;
  return chosen;
}

}  // namespace shears::pruning
