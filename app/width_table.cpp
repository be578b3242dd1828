#include "app/width_table.h"

#include <algorithm>
#include <filesystem>
#include <functional>

#include <nlohmann/json.hpp>

#include "app/roofline.h"
#include "engine/autograd/grad_mode.h"
#include "engine/ops.h"
#include "kernels/common/registry.h"
#include "models/registry.h"
#include "pruning/cost_model.h"

namespace shears::app {

std::string WidthProbe::key() const {
  return "in=" + std::to_string(in_channels) + ",out=" + std::to_string(out_channels) +
         ",hw=" + std::to_string(height) + "x" + std::to_string(width) +
         ",k=" + std::to_string(kernel) + ",s=" + std::to_string(stride) +
         ",n=" + std::to_string(batch) +
         (out_kernel > 0 && out_kernel != kernel ? ",k2=" + std::to_string(out_kernel) : "");
}

std::map<std::int64_t, double> measure_width_latency(const WidthProbe& p,
                                                     const std::vector<std::int64_t>& widths,
                                                     const Device& device,
                                                     const TimingOptions& timing) {
  NoGrad no_grad;
  Generator gen(7);
  Tensor x =
      rand_uniform({p.batch, p.in_channels, p.height * p.stride, p.width * p.stride}, -1, 1, gen)
          .to(device);
  struct Layer {
    Tensor w1, g, b, rm, rv, w2;
  };
  std::vector<Layer> layers;
  std::vector<std::function<void()>> work;
  const int k2 = p.out_kernel > 0 ? p.out_kernel : p.kernel;
  for (std::int64_t c : widths) {
    SHEARS_CHECK_AS(ConfigError, c >= 1, "width table: width ", c, " < 1");
    Layer l{rand_uniform({c, p.in_channels, p.kernel, p.kernel}, -0.1, 0.1, gen).to(device),
            Tensor::ones({c}, DType::F32, device),
            Tensor::zeros({c}, DType::F32, device),
            Tensor::zeros({c}, DType::F32, device),
            Tensor::ones({c}, DType::F32, device),
            rand_uniform({p.out_channels, c, k2, k2}, -0.1, 0.1, gen).to(device)};
    layers.push_back(l);
  }
  const int pad = p.kernel / 2, pad2 = k2 / 2;
  for (const Layer& l : layers) {
    work.push_back([&x, l, pad, pad2, s = p.stride] {
      Tensor h = conv2d(x, l.w1, Tensor(), s, pad);
      h = relu(batch_norm(h, l.g, l.b, l.rm, l.rv, false));
      conv2d(h, l.w2, Tensor(), 1, pad2);
    });
  }
  Backend& be = backend_for(device);
  auto stats = time_interleaved(work, timing, [&] { be.synchronize(); });
  std::map<std::int64_t, double> out;
  for (std::size_t i = 0; i < widths.size(); ++i) out[widths[i]] = stats[i].median_ms;
  return out;
}

namespace {
std::string width_cache_path() {
  return (std::filesystem::path(peak_rates_cache_path()).parent_path() / "width_latency.json")
      .string();
}
}  // namespace

std::map<std::int64_t, double> cached_width_latency(const WidthProbe& probe,
                                                    const std::vector<std::int64_t>& widths,
                                                    const Device& device,
                                                    const TimingOptions& timing, bool remeasure) {
  const std::string path = width_cache_path();
  const std::string key = peak_rates_key(device) + "|" + probe.key();
  nlohmann::json cache = read_json_cache(path);
  std::map<std::int64_t, double> out;
  std::vector<std::int64_t> missing;
  for (std::int64_t c : widths) {
    const std::string ck = std::to_string(c);
    if (!remeasure && cache.contains(key) && cache[key].is_object() && cache[key].contains(ck) &&
        cache[key][ck].is_number()) {
      out[c] = cache[key][ck].get<double>();
    } else {
      missing.push_back(c);
    }
  }
  if (missing.empty()) return out;
  // Widths are measured together with cached neighbours absent: one interleaved set.
  auto fresh = measure_width_latency(probe, missing, device, timing);
  if (!cache.contains(key) || !cache[key].is_object()) cache[key] = nlohmann::json::object();
  for (auto& [c, ms] : fresh) {
    out[c] = ms;
    cache[key][std::to_string(c)] = ms;
  }
  write_json_cache(path, cache, 1);
  return out;
}

WidthProbe probe_of(const pruning::WidthSite& site, std::int64_t batch) {
  WidthProbe p;
  p.in_channels = site.in_channels;
  p.out_channels = site.out_channels;
  p.height = site.height;
  p.width = site.width;
  p.kernel = site.kernel;
  p.stride = site.stride;
  p.batch = batch;
  p.out_kernel = site.out_kernel;
  return p;
}

TimingOptions width_table_timing() {
  TimingOptions t;
  t.min_time_s = 0.1;
  t.min_samples = 5;
  t.min_sample_s = 0.005;
  return t;
}

pruning::WidthLatencyFn width_latency_fn(std::int64_t batch, const Device& device) {
  return [batch, device](const pruning::WidthSite& site, const std::vector<std::int64_t>& widths) {
    return cached_width_latency(probe_of(site, batch), widths, device, width_table_timing(), false);
  };
}

models::Arch auto_round_widths(const models::Arch& pruned, const models::Arch& dense,
                               std::int64_t batch, const Device& device,
                               const TimingOptions& timing) {
  models::Arch out = pruned;
  auto module = models::build_model(pruned);
  pruning::CostReport cost = pruning::count_cost(*module, pruned.input);
  // Conv layers by name; a block's inner conv "layerS.B.convK" feeds "layerS.B.conv(K+1)".
  std::map<std::string, const pruning::LayerCost*> by_name;
  for (const auto& l : cost.layers) by_name[l.name] = &l;
  std::map<std::string, std::int64_t> stride_of;
  for (const auto& l : cost.layers) {
    if (l.op != op_name(Op::Conv2d) || l.output_shape.size() != 3 || l.input_shape.size() != 3)
      continue;
    stride_of[l.name] = std::max<std::int64_t>(1, l.input_shape[1] / l.output_shape[1]);
  }
  for (auto& [key, w] : pruned.widths) {
    auto dot = key.rfind(".conv");
    if (key.rfind("layer", 0) != 0 || dot == std::string::npos) continue;
    int k = std::atoi(key.c_str() + dot + 5);
    std::string next = key.substr(0, dot) + ".conv" + std::to_string(k + 1) + ".weight";
    auto self = by_name.find(key + ".weight");
    auto cons = by_name.find(next);
    if (self == by_name.end() || cons == by_name.end() || !dense.has_width(key)) continue;
    const pruning::LayerCost& a = *self->second;
    const pruning::LayerCost& b = *cons->second;
    WidthProbe probe;
    probe.in_channels = a.weight_shape[1];
    probe.out_channels = b.weight_shape[0];
    probe.height = a.output_shape[1];
    probe.width = a.output_shape[2];
    probe.kernel = static_cast<int>(a.weight_shape[2]);
    probe.stride = static_cast<int>(stride_of[a.name]);
    probe.out_kernel = static_cast<int>(b.weight_shape[2]);
    probe.batch = batch;
    const std::int64_t full = dense.width(key);
    const std::int64_t cap = pruning::auto_width_cap(w, full);
    std::vector<std::int64_t> cands;
    for (std::int64_t c = w; c <= cap; ++c) cands.push_back(c);
    auto table = cached_width_latency(probe, cands, device, timing, false);
    out.set_width(key, pruning::choose_width(table, w, cap));
  }
  return out;
}

double measure_layer_latency(const pruning::LayerShape& s, const Device& device,
                             const TimingOptions& timing) {
  NoGrad no_grad;
  Generator gen(11);
  std::function<void()> work;
  if (s.op == "linear") {
    Tensor x = rand_uniform({s.batch, s.in_channels}, -1, 1, gen).to(device);
    Tensor w = rand_uniform({s.out_channels, s.in_channels}, -0.1, 0.1, gen).to(device);
    work = [x, w] { linear(x, w, Tensor()); };
  } else {
    SHEARS_CHECK_AS(ConfigError, s.op == "conv2d", "latency table: unknown layer op '", s.op, "'");
    SHEARS_CHECK_AS(ConfigError, s.groups >= 1 && s.in_channels % s.groups == 0,
                    "latency table: ", s.key(), ": input channels not divisible by groups");
    Tensor x = rand_uniform({s.batch, s.in_channels, s.height, s.width}, -1, 1, gen).to(device);
    Tensor w =
        rand_uniform({s.out_channels, s.in_channels / s.groups, s.kernel, s.kernel}, -0.1, 0.1, gen)
            .to(device);
    work = [x, w, st = s.stride, p = s.padding, g = s.groups] {
      conv2d(x, w, Tensor(), st, p, 1, static_cast<int>(g));
    };
  }
  Backend& be = backend_for(device);
  auto stats = time_interleaved({work}, timing, [&] { be.synchronize(); });
  return stats.at(0).median_ms;
}

LayerLatencyTable::LayerLatencyTable(Device device, TimingOptions timing, bool write)
    : device_(device), timing_(timing), write_(write) {
  path_ = (std::filesystem::path(peak_rates_cache_path()).parent_path() / "layer_latency.json")
              .string();
  device_key_ = peak_rates_key(device_);
  nlohmann::json j = read_json_cache(path_);
  if (j.contains(device_key_) && j[device_key_].is_object())
    for (auto& [k, v] : j[device_key_].items())
      if (v.is_number()) cache_[k] = v.get<double>();
}

TimingOptions LayerLatencyTable::table_timing() {
  TimingOptions t;
  t.warmup = 1;
  t.min_samples = 5;
  t.max_samples = 50;
  t.min_time_s = 0.05;
  t.min_sample_s = 0.002;
  t.max_total_s = 5.0;
  return t;
}

double LayerLatencyTable::operator()(const pruning::LayerShape& shape) {
  const std::string key = shape.key();
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  const double ms = measure_layer_latency(shape, device_, timing_);
  cache_[key] = ms;
  ++measured_;
  if (!write_) return ms;
  // Merge with what another process may have added meanwhile, then replace the file.
  nlohmann::json j = read_json_cache(path_);
  if (!j.contains(device_key_) || !j[device_key_].is_object())
    j[device_key_] = nlohmann::json::object();
  for (const auto& [k, v] : cache_) j[device_key_][k] = v;
  write_json_cache(path_, j, 1);
  return ms;
}

}  // namespace shears::app
