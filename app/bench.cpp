#include "app/bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/experiment.h"
#include "app/width_table.h"
#include "engine/autograd/grad_mode.h"
#include "engine/ops.h"
#include "engine/optim/sgd.h"
#include "engine/storage.h"
#include "kernels/common/registry.h"
#include "models/model.h"
#include "models/registry.h"
#include "pruning/cost_model.h"

namespace shears::app {

namespace {
std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot read (not found or not readable)");
  try {
    nlohmann::json j;
    in >> j;
    return j;
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON (" + e.what() + ")");
  }
}

/// The inner widths of every ResNet block (all of its convN but the last, which is the block's
/// output and shares the residual stream).
std::vector<std::string> inner_widths(const models::Arch& arch) {
  std::map<std::string, std::vector<std::string>> blocks;
  for (auto& [key, w] : arch.widths) {
    auto dot = key.rfind('.');
    if (key.rfind("layer", 0) != 0 || dot == std::string::npos) continue;
    if (key.compare(dot + 1, 4, "conv") != 0) continue;
    blocks[key.substr(0, dot)].push_back(key);
  }
  std::vector<std::string> out;
  for (auto& [block, convs] : blocks) {
    std::sort(convs.begin(), convs.end());
    out.insert(out.end(), convs.begin(), convs.end() - 1);
  }
  return out;
}

// A profile row for traced op `c`: its layer, op, kind and output shape.
LayerTime layer_time_of(const OpCost& c) {
  LayerTime lt;
  lt.layer = c.layer;
  lt.op = c.op;
  lt.kind = c.kind;
  lt.output = c.output;
  return lt;
}

Tensor labels_for(std::int64_t batch, std::int64_t classes, const Device& device) {
  std::vector<std::int64_t> labels(static_cast<std::size_t>(batch));
  for (std::int64_t i = 0; i < batch; ++i) labels[static_cast<std::size_t>(i)] = i % classes;
  return Tensor::from_vector(labels, {batch}).to(device);
}
}  // namespace

BenchNetwork network_from_checkpoint(const std::string& path) {
  if (!std::filesystem::exists(path)) throw CheckpointError(path + ": no such checkpoint file");
  std::string arch_json = checkpoint_arch(path);
  if (arch_json.empty())
    throw CheckpointError(path + ": records no architecture (metadata 'arch')");
  BenchNetwork net;
  try {
    net.arch = models::arch_from_json(arch_json);
    net.module = models::build_model(net.arch);
  } catch (const Error& e) {
    throw CheckpointError(path + ": recorded architecture cannot be built: " + e.what());
  }
  load_weights(*net.module, path);  // names the file and every mismatched tensor
  net.label = path;
  return net;
}

std::vector<BenchNetwork> networks_from_run(const std::string& dir) {
  const std::string summary_path = dir + "/summary.json";
  if (!std::filesystem::exists(summary_path)) {
    throw Error(summary_path + ": not found (" + dir + " is not a shears run directory)");
  }
  nlohmann::json summary = read_json_file(summary_path);
  std::vector<BenchNetwork> out;
  const std::string dense_ckpt = dir + "/train/last.safetensors";
  if (std::filesystem::exists(dense_ckpt)) {
    out.push_back(network_from_checkpoint(dense_ckpt));
  } else {
    if (!summary.contains("model") || !summary["model"].is_string())
      throw Error(summary_path + ": no 'model' name");
    BenchNetwork net;
    net.arch = models::default_arch(summary["model"].get<std::string>());
    if (summary.contains("pruned_arch")) {
      models::Arch pruned = models::arch_from_json(summary["pruned_arch"].dump());
      net.arch = models::default_arch(pruned.name, pruned.num_classes, pruned.input);
      net.arch.shortcut = pruned.shortcut;
    }
    net.module = models::build_model(net.arch);
    out.push_back(net);
  }
  out.back().label = dir + " dense";
  const std::string pruned_ckpt = dir + "/pruned.safetensors";
  if (std::filesystem::exists(pruned_ckpt)) {
    out.push_back(network_from_checkpoint(pruned_ckpt));
    std::string method = summary.value("method", std::string("pruned"));
    out.back().label = dir + " " + method;
  }
  return out;
}

BenchNetwork network_from_spec(const std::string& spec, std::int64_t auto_batch,
                               const Device& device) {
  std::vector<std::string> parts;
  std::stringstream ss(spec);
  for (std::string p; std::getline(ss, p, ':');) parts.push_back(p);
  if (parts.empty() || parts[0].empty()) throw ConfigError("--model '" + spec + "': empty name");
  BenchNetwork net;
  try {
    net.arch = models::default_arch(parts[0]);
  } catch (const Error& e) {
    throw ConfigError("--model '" + spec + "': " + e.what());
  }
  double keep = 1.0;
  std::int64_t round = 1;
  bool round_auto = false;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    auto eq = p.find('=');
    std::string key = p.substr(0, eq), value = eq == std::string::npos ? "" : p.substr(eq + 1);
    try {
      std::size_t used = 0;
      if (key == "keep") {
        keep = std::stod(value, &used);
        if (used != value.size() || !(keep > 0.0 && keep <= 1.0)) throw std::invalid_argument(p);
      } else if (key == "round" && value == "auto") {
        round_auto = true;
      } else if (key == "round") {
        round = std::stoll(value, &used);
        if (used != value.size() || round < 1) throw std::invalid_argument(p);
      } else {
        throw ConfigError("--model '" + spec + "': unknown option '" + key +
                          "' (known: keep=R, round=N|auto)");
      }
    } catch (const std::logic_error&) {
      throw ConfigError("--model '" + spec + "': bad value in '" + p +
                        "' (keep: a ratio in (0, 1], round: a positive integer)");
    }
  }
  const models::Arch dense = net.arch;
  if (keep < 1.0 || round > 1 || round_auto) {
    std::vector<std::string> inner = inner_widths(net.arch);
    if (inner.empty())
      throw ConfigError("--model '" + spec + "': keep=/round= need a ResNet (block inner widths)");
    for (const std::string& key : inner) {
      std::int64_t dense = net.arch.width(key);
      auto w = std::max<std::int64_t>(1, std::llround(static_cast<double>(dense) * keep));
      if (round > 1) w = std::min(dense, (w + round - 1) / round * round);
      net.arch.set_width(key, w);
    }
    if (round_auto) {
      net.arch = auto_round_widths(net.arch, dense, auto_batch, device, width_table_timing());
    }
  }
  net.module = models::build_model(net.arch);
  net.label = spec;
  return net;
}

std::vector<std::int64_t> parse_batches(const std::string& text) {
  std::vector<std::int64_t> out;
  std::stringstream ss(text);
  for (std::string p; std::getline(ss, p, ',');) {
    try {
      std::size_t used = 0;
      long long v = std::stoll(p, &used);
      if (used != p.size() || v < 1) throw std::invalid_argument(p);
      out.push_back(v);
    } catch (const std::logic_error&) {
      throw ConfigError("--batch '" + text +
                        "': expected positive integers separated by commas, e.g. 1,32,128");
    }
  }
  if (out.empty()) throw ConfigError("--batch '" + text + "': no batch size given");
  return out;
}

std::function<double(const std::function<void()>&)> device_timer(const Device& device) {
  if (!device.is_cuda()) return nullptr;
  Backend* be = &backend_for(device);
  return [be](const std::function<void()>& work) { return be->time_ms(work); };
}

std::vector<LayerProfile> profile_layers(std::vector<BenchNetwork>& networks, std::int64_t batch,
                                         const PeakRates& rates, const Device& device, int passes) {
  Backend& be = backend_for(device);
  NoGrad no_grad;
  std::vector<LayerProfile> out;
  std::vector<std::vector<OpCost>> costs;
  std::vector<Tensor> inputs;
  for (auto& net : networks) {
    net.module->eval();
    costs.push_back(trace_op_costs(*net.module, net.arch.input, batch));
    inputs.push_back(Tensor::ones({batch, net.arch.input[0], net.arch.input[1], net.arch.input[2]},
                                  DType::F32, device));
  }
  std::vector<std::vector<std::vector<double>>> times(networks.size());
  std::vector<std::vector<std::string>> algos(networks.size());
  const std::string conv_name = op_name(Op::Conv2d);
  for (int p = -1; p < passes; ++p) {  // pass -1 warms up
    for (std::size_t n = 0; n < networks.size(); ++n) {
      std::vector<double> gaps;
      std::vector<std::string> algo;
      be.synchronize();
      auto last = std::chrono::steady_clock::now();
      {
        OpObserverScope observe([&](const char* name, const std::vector<Tensor>&, const Tensor&) {
          be.synchronize();
          auto t = std::chrono::steady_clock::now();
          gaps.push_back(std::chrono::duration<double, std::milli>(t - last).count());
          algo.push_back(conv_name == name ? be.last_conv_algorithm() : std::string());
          last = t;
        });
        networks[n].module->forward(inputs[n]);
      }
      if (p < 0) continue;
      SHEARS_CHECK(gaps.size() == costs[n].size(), "profile: the forward pass ran ", gaps.size(),
                   " ops, the trace ", costs[n].size());
      times[n].push_back(gaps);
      algos[n] = algo;  // the last pass's: a plan keeps its algorithm once it ran
    }
  }
  for (std::size_t n = 0; n < networks.size(); ++n) {
    LayerProfile prof;
    prof.label = networks[n].label;
    prof.batch = batch;
    for (std::size_t i = 0; i < costs[n].size(); ++i) {
      std::vector<double> v;
      for (auto& pass : times[n]) v.push_back(pass[i]);
      const OpCost& c = costs[n][i];
      LayerTime lt = layer_time_of(c);
      lt.ms = stats_of(v).median_ms;
      lt.predicted_ms = 1e3 * predict_op_s(c, rates);
      lt.flops = c.flops;
      lt.bytes = c.bytes;
      if (i < algos[n].size()) lt.algorithm = algos[n][i];
      prof.layers.push_back(lt);
    }
    out.push_back(prof);
  }
  return out;
}

std::vector<LayerProfile> profile_train_layers(std::vector<BenchNetwork>& networks,
                                               std::int64_t batch, const PeakRates& rates,
                                               const Device& device, int passes) {
  Backend& be = backend_for(device);
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
  };
  struct Step {
    std::vector<double> fwd, bwd;  // per forward op
    double loss = 0, loss_bwd = 0, accumulate = 0, optimizer = 0;
  };
  std::vector<std::vector<OpCost>> costs(networks.size());
  std::vector<std::vector<Step>> steps(networks.size());
  std::vector<std::unique_ptr<optim::Sgd>> sgds;
  std::vector<Tensor> inputs, labels;
  for (auto& net : networks) {
    optim::SgdOptions so;
    so.lr = 0.01;
    so.momentum = 0.9;
    so.weight_decay = 5e-4;
    sgds.push_back(std::make_unique<optim::Sgd>(net.module->named_parameters(), so));
    Generator gen(3);
    inputs.push_back(
        rand_uniform({batch, net.arch.input[0], net.arch.input[1], net.arch.input[2]}, -1, 1, gen)
            .to(device));
    labels.push_back(labels_for(batch, net.arch.num_classes, device));
  }
  for (int p = -1; p < passes; ++p) {  // pass -1 warms up (and creates the momentum buffers)
    for (std::size_t n = 0; n < networks.size(); ++n) {
      nn::Module& m = *networks[n].module;
      m.train();
      std::map<const TensorImpl*, std::string> names;
      for (auto& [name, t] : m.named_parameters()) {
        std::string l = name;
        if (l.size() > 7 && l.compare(l.size() - 7, 7, ".weight") == 0) l.resize(l.size() - 7);
        names[t.id()] = l;
      }
      sgds[n]->zero_grad();
      be.synchronize();
      Step st;
      std::vector<OpCost> ops;
      std::size_t forward_ops = 0;
      enum class Phase { Forward, Loss, Backward } phase = Phase::Forward;
      std::map<std::string, int> seen;
      auto last = Clock::now();
      {
        OpObserverScope observe(
            [&](const char* name, const std::vector<Tensor>& in, const Tensor& out) {
              // The gradient ops a backward runs are observed as well: their time belongs to
              // the backward op around them.
              if (phase == Phase::Backward) return;
              be.synchronize();
              auto t = Clock::now();
              const double gap = ms_since(last, t);
              last = t;
              if (phase == Phase::Loss) {
                st.loss += gap;
                return;
              }
              st.fwd.push_back(gap);
              std::string layer;
              if (in.size() > 1 && in[1].defined()) {
                auto it = names.find(in[1].id());
                if (it != names.end()) layer = it->second;
              }
              if (layer.empty()) layer = std::string(name) + "#" + std::to_string(seen[name]++);
              ops.push_back(op_cost(OpRecord{op_from_name(name), name, in, out, {}}, layer));
            },
            [&](std::size_t index) {
              be.synchronize();
              auto t = Clock::now();
              const double gap = ms_since(last, t);
              last = t;
              if (index < forward_ops) {
                st.bwd[index] += gap;
              } else {
                st.loss_bwd += gap;
              }
            });
        Tensor y = m.forward(inputs[n]);
        phase = Phase::Loss;
        forward_ops = st.fwd.size();
        st.bwd.assign(forward_ops, 0.0);
        Tensor loss = cross_entropy(y, labels[n]);
        be.synchronize();
        last = Clock::now();
        phase = Phase::Backward;
        loss.backward();
        be.synchronize();
        st.accumulate = ms_since(last, Clock::now());
      }
      auto t0 = Clock::now();
      sgds[n]->step();
      be.synchronize();
      st.optimizer = ms_since(t0, Clock::now());
      m.eval();
      if (p < 0) {
        costs[n] = ops;
        continue;
      }
      SHEARS_CHECK(st.fwd.size() == costs[n].size(), "training profile: a step ran ", st.fwd.size(),
                   " forward ops, the first ", costs[n].size());
      steps[n].push_back(std::move(st));
    }
  }
  std::vector<LayerProfile> out;
  auto median = [](std::vector<double> v) { return stats_of(v).median_ms; };
  for (std::size_t n = 0; n < networks.size(); ++n) {
    LayerProfile prof;
    prof.label = networks[n].label;
    prof.batch = batch;
    prof.train = true;
    std::vector<double> loss, loss_bwd, acc, opt;
    for (const Step& st : steps[n]) {
      loss.push_back(st.loss);
      loss_bwd.push_back(st.loss_bwd);
      acc.push_back(st.accumulate);
      opt.push_back(st.optimizer);
    }
    prof.loss_ms = median(loss);
    prof.loss_backward_ms = median(loss_bwd);
    prof.accumulate_ms = median(acc);
    prof.optimizer_ms = median(opt);
    for (std::size_t i = 0; i < costs[n].size(); ++i) {
      std::vector<double> f, b;
      for (const Step& st : steps[n]) {
        f.push_back(st.fwd[i]);
        b.push_back(st.bwd[i]);
      }
      const OpCost& c = costs[n][i];
      LayerTime lt = layer_time_of(c);
      lt.ms = median(f);
      lt.backward_ms = median(b);
      lt.predicted_ms = 1e3 * predict_op_s(c, rates);
      lt.flops = c.flops;
      lt.bytes = c.bytes;
      prof.layers.push_back(lt);
    }
    out.push_back(prof);
  }
  return out;
}

BenchResult run_bench(std::vector<BenchNetwork>& networks, const BenchOptions& o) {
  SHEARS_CHECK_AS(ConfigError, !networks.empty(),
                  "shears bench: no network given (use --checkpoint, --run or --model)");
  BenchResult result;
  result.rates = cached_peak_rates(o.device, o.remeasure_rates);
  Backend& be = backend_for(o.device);
  auto sync = [&] { be.synchronize(); };
  for (auto& net : networks) net.module->to(o.device);
  for (std::int64_t batch : o.batches) {
    std::vector<BenchRow> rows(networks.size());
    std::vector<Tensor> inputs;
    std::vector<std::function<void()>> infer;
    for (std::size_t n = 0; n < networks.size(); ++n) {
      BenchNetwork& net = networks[n];
      BenchRow& r = rows[n];
      r.label = net.label;
      r.batch = batch;
      pruning::CostReport cost = pruning::count_cost(*net.module, net.arch.input);
      r.macs = cost.macs;
      r.params = cost.params;
      std::vector<OpCost> ops = trace_op_costs(*net.module, net.arch.input, batch);
      for (const OpCost& c : ops)
        if (c.kind != "view")
          r.activation_bytes += 4.0 * static_cast<double>(shape_numel(c.output));
      r.predicted_infer_s = predict_forward_s(ops, result.rates);
      r.predicted_train_s = predict_train_step_s(ops, r.params, result.rates);
      Generator gen(3);
      Tensor x =
          rand_uniform({batch, net.arch.input[0], net.arch.input[1], net.arch.input[2]}, -1, 1, gen)
              .to(o.device);
      inputs.push_back(x);
      nn::Module* m = net.module.get();
      infer.push_back([m, x] {
        NoGrad no_grad;
        Tensor y = m->forward(x);
      });
      // Peak tensor memory of one pass (weights and this input are alive already).
      net.module->eval();
      std::size_t before = storage_bytes_live();
      reset_storage_peak();
      infer.back()();
      sync();
      r.infer_peak_bytes = static_cast<double>(storage_bytes_peak() - before) +
                           4.0 * static_cast<double>(r.params) + static_cast<double>(x.nbytes());
    }
    std::vector<TimingStats> stats =
        time_interleaved(infer, o.timing, sync, nullptr, device_timer(o.device));
    for (std::size_t n = 0; n < networks.size(); ++n) rows[n].infer = stats[n];
    if (o.train) {
      std::vector<std::unique_ptr<optim::Sgd>> sgds;
      std::vector<std::function<void()>> steps;
      for (std::size_t n = 0; n < networks.size(); ++n) {
        BenchNetwork& net = networks[n];
        net.module->train();
        optim::SgdOptions so;
        so.lr = 0.01;
        so.momentum = 0.9;
        so.weight_decay = 5e-4;
        sgds.push_back(std::make_unique<optim::Sgd>(net.module->named_parameters(), so));
        optim::Sgd* sgd = sgds.back().get();
        nn::Module* m = net.module.get();
        Tensor x = inputs[n];
        Tensor y = labels_for(batch, net.arch.num_classes, o.device);
        steps.push_back([m, sgd, x, y] {
          sgd->zero_grad();
          Tensor loss = cross_entropy(m->forward(x), y);
          loss.backward();
          sgd->step();
        });
        steps.back()();  // creates momentum buffers and gradients, counted as steady state
        sync();
        // Peak of one step: what the step allocates beyond what is alive before it, plus this
        // network's own weights, gradients and momentum buffers (alive from the first step).
        double own = 0;
        for (auto& [name, t] : net.module->named_parameters()) {
          own += 2.0 * static_cast<double>(t.nbytes());
          if (t.grad().defined()) own += static_cast<double>(t.grad().nbytes());
        }
        std::size_t before = storage_bytes_live();
        reset_storage_peak();
        steps.back()();
        sync();
        rows[n].train_peak_bytes = static_cast<double>(storage_bytes_peak() - before) + own +
                                   static_cast<double>(x.nbytes());
      }
      std::vector<TimingStats> ts =
          time_interleaved(steps, o.timing, sync, nullptr, device_timer(o.device));
      for (std::size_t n = 0; n < networks.size(); ++n) {
        rows[n].has_train = true;
        rows[n].train = ts[n];
        networks[n].module->eval();
      }
    }
    if (o.layers) {
      auto profiles = profile_layers(networks, batch, result.rates, o.device, 7);
      result.profiles.insert(result.profiles.end(), profiles.begin(), profiles.end());
      if (o.train) {
        auto tp = profile_train_layers(networks, batch, result.rates, o.device, 5);
        result.profiles.insert(result.profiles.end(), tp.begin(), tp.end());
      }
    }
    result.rows.insert(result.rows.end(), rows.begin(), rows.end());
  }
  return result;
}

namespace {
struct KindTotal {
  double ms = 0, predicted_ms = 0, flops = 0, bytes = 0;
  int ops = 0;
};
std::map<std::string, KindTotal> kind_totals(const LayerProfile& p) {
  std::map<std::string, KindTotal> t;
  for (const LayerTime& l : p.layers) {
    if (l.kind == "view") continue;
    KindTotal& k = t[l.kind];
    k.ms += l.ms;
    k.predicted_ms += l.predicted_ms;
    k.flops += l.flops;
    k.bytes += l.bytes;
    k.ops += 1;
  }
  return t;
}

double safe_ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

bool has_algorithms(const LayerProfile& p) {
  return std::any_of(p.layers.begin(), p.layers.end(),
                     [](const LayerTime& l) { return !l.algorithm.empty(); });
}

/// A training-step profile against the base network's: forward + backward per kind and per conv,
/// BN and linear layer, then the loss, gradient accumulation and SGD update.
/// Calls fn(base layer, layer) for each conv, linear and BN layer of `p` that `base` has too (by
/// name), in p's order: the per-layer rows of the profile tables.
template <class Fn>
void for_each_matched_layer(const LayerProfile& p, const LayerProfile& base, Fn fn) {
  std::map<std::string, const LayerTime*> by_name;
  for (const LayerTime& l : base.layers) by_name[l.layer] = &l;
  for (const LayerTime& l : p.layers) {
    if (l.kind != "conv" && l.kind != "linear" && l.kind != "bn") continue;
    auto it = by_name.find(l.layer);
    if (it != by_name.end()) fn(*it->second, l);
  }
}

std::string train_profile_table(const LayerProfile& p, const LayerProfile& base) {
  std::ostringstream out;
  out << "\ntraining-step profile, batch " << p.batch << ": " << p.label << " vs " << base.label
      << " (forward + backward)\n";
  struct Sum {
    double fwd = 0, bwd = 0, flops = 0;
    int ops = 0;
  };
  auto sums = [](const LayerProfile& q) {
    std::map<std::string, Sum> t;
    for (const LayerTime& l : q.layers) {
      if (l.kind == "view" && l.backward_ms == 0) continue;
      Sum& k = t[l.kind];
      k.fwd += l.ms;
      k.bwd += l.backward_ms;
      k.flops += l.flops;
      k.ops += 1;
    }
    return t;
  };
  auto tp = sums(p), tb = sums(base);
  char line[512];
  std::snprintf(line, sizeof(line), "%-12s %5s %9s %9s %9s %9s %9s %9s %7s %7s\n", "kind", "ops",
                "base fwd", "base bwd", "base sum", "this fwd", "this bwd", "this sum", "x meas",
                "x FLOPs");
  out << line;
  double base_total = 0, this_total = 0;
  for (auto& [kind, k] : tb) {
    const Sum& q = tp[kind];
    base_total += k.fwd + k.bwd;
    this_total += q.fwd + q.bwd;
    std::snprintf(line, sizeof(line), "%-12s %5d %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %7.2f %7.2f\n",
                  kind.c_str(), k.ops, k.fwd, k.bwd, k.fwd + k.bwd, q.fwd, q.bwd, q.fwd + q.bwd,
                  safe_ratio(k.fwd + k.bwd, q.fwd + q.bwd), safe_ratio(k.flops, q.flops));
    out << line;
  }
  const std::pair<const char*, double> rest[][2] = {
      {{"loss", base.loss_ms + base.loss_backward_ms}, {"", p.loss_ms + p.loss_backward_ms}},
      {{"grad accum", base.accumulate_ms}, {"", p.accumulate_ms}},
      {{"sgd update", base.optimizer_ms}, {"", p.optimizer_ms}}};
  for (const auto& r : rest) {
    base_total += r[0].second;
    this_total += r[1].second;
    std::snprintf(line, sizeof(line), "%-12s %5s %9s %9s %9.3f %9s %9s %9.3f %7.2f\n", r[0].first,
                  "", "", "", r[0].second, "", "", r[1].second,
                  safe_ratio(r[0].second, r[1].second));
    out << line;
  }
  std::snprintf(line, sizeof(line), "%-12s %5s %9s %9s %9.3f %9s %9s %9.3f %7.2f\n", "step", "", "",
                "", base_total, "", "", this_total, safe_ratio(base_total, this_total));
  out << line;
  std::snprintf(line, sizeof(line), "\n%-28s %-18s %9s %9s %9s %9s %7s %7s\n", "layer", "output",
                "base fwd", "base bwd", "this fwd", "this bwd", "x meas", "x FLOPs");
  out << line;
  for_each_matched_layer(p, base, [&](const LayerTime& b0, const LayerTime& l) {
    std::snprintf(line, sizeof(line), "%-28s %-18s %9.3f %9.3f %9.3f %9.3f %7.2f %7.2f\n",
                  l.layer.c_str(), shape_str(l.output).c_str(), b0.ms, b0.backward_ms, l.ms,
                  l.backward_ms, safe_ratio(b0.ms + b0.backward_ms, l.ms + l.backward_ms),
                  safe_ratio(b0.flops, l.flops));
    out << line;
  });
  return out.str();
}
}  // namespace

std::string bench_table(const BenchResult& r, const BenchOptions& o) {
  std::ostringstream out;
  out << "peak rates (" << r.rates.source << "): " << fmt("%.1f", r.rates.flops_per_s / 1e9)
      << " GFLOP/s, " << fmt("%.1f", r.rates.bytes_per_s / 1e9) << " GB/s, "
      << fmt("%.1f", r.rates.overhead_s * 1e6) << " us per kernel\n";
  out << "times: medians of " << (r.rows.empty() ? 0 : r.rows[0].infer.samples)
      << "+ interleaved samples (each >= " << fmt("%.0f", o.timing.min_sample_s * 1e3)
      << " ms, >= " << fmt("%.1f", o.timing.min_time_s) << " s per network), +-: half IQR; "
      << (o.device.is_cuda() ? "timed with CUDA events on the backend's stream"
                             : "timed with the host's steady clock")
      << "\n";
  std::size_t per_batch = r.rows.size() / std::max<std::size_t>(1, o.batches.size());
  for (std::size_t b = 0; b < o.batches.size(); ++b) {
    out << "\nbatch " << o.batches[b] << "\n";
    char head[512];
    std::snprintf(head, sizeof(head), "%-34s %9s %8s %9s %10s %8s %7s %9s %7s %7s %7s %7s %7s%s\n",
                  "network", "MMACs/img", "Mparams", "act MB", "infer ms", "+-", "img/s", "peak MB",
                  "x meas", "x FLOPs", "x pred", "m/F", "m/p",
                  o.train ? "   train ms    +-  x meas  x pred  peak MB" : "");
    std::string h = head;
    if (o.onnxruntime) h.insert(h.size() - 1, "     ORT ms      +- ours/ORT");
    std::snprintf(head, sizeof(head), "%s", h.c_str());
    out << head;
    const BenchRow& first = r.rows[b * per_batch];
    for (std::size_t n = 0; n < per_batch; ++n) {
      const BenchRow& row = r.rows[b * per_batch + n];
      double speed = safe_ratio(first.infer.median_ms, row.infer.median_ms);
      double flops_ratio =
          safe_ratio(static_cast<double>(first.macs), static_cast<double>(row.macs));
      double pred = safe_ratio(first.predicted_infer_s, row.predicted_infer_s);
      char line[512];
      std::string label =
          row.label.size() > 34 ? "..." + row.label.substr(row.label.size() - 31) : row.label;
      std::snprintf(
          line, sizeof(line),
          "%-34s %9.2f %8.3f %9.1f %10.3f %7.1f%% %7.0f %9.1f %7.2f %7.2f %7.2f %7.2f %7.2f",
          label.c_str(), row.macs / 1e6, row.params / 1e6, row.activation_bytes / 1e6,
          row.infer.median_ms, 100 * row.infer.spread,
          1e3 * static_cast<double>(row.batch) / row.infer.median_ms, row.infer_peak_bytes / 1e6,
          speed, flops_ratio, pred, safe_ratio(speed, flops_ratio), safe_ratio(speed, pred));
      out << line;
      if (row.has_train) {
        std::snprintf(
            line, sizeof(line), " %10.3f %6.1f%% %7.2f %7.2f %8.1f", row.train.median_ms,
            100 * row.train.spread, safe_ratio(first.train.median_ms, row.train.median_ms),
            safe_ratio(first.predicted_train_s, row.predicted_train_s), row.train_peak_bytes / 1e6);
        out << line;
      }
      if (row.has_ort) {
        std::snprintf(line, sizeof(line), " %10.3f %6.1f%% %8.2f", row.ort.median_ms,
                      100 * row.ort.spread, safe_ratio(row.infer.median_ms, row.ort.median_ms));
        out << line;
      }
      out << "\n";
    }
  }
  out << "\nx meas: measured speedup over the first network; x FLOPs: its FLOPs ratio; x pred: "
         "the cost model's predicted speedup; m/F: x meas / x FLOPs; m/p: x meas / x pred\n";
  if (o.onnxruntime) {
    out << "ORT ms: the same network exported to ONNX and run by ONNX Runtime " << r.ort_version
        << " (CPU provider, same threads, timed after shears' rounds); ours/ORT: infer ms / ORT "
           "ms (below 1: shears is faster)\n";
  }
  if (!r.profiles.empty()) {
    for (std::size_t i = 0; i < r.profiles.size(); ++i) {
      const LayerProfile& p = r.profiles[i];
      const LayerProfile& base = r.profiles[i - i % std::max<std::size_t>(1, per_batch)];
      if (&p == &base) continue;
      if (p.train) {
        out << train_profile_table(p, base);
        continue;
      }
      out << "\nper-op profile, batch " << p.batch << ": " << p.label << " vs " << base.label
          << "\n";
      auto tp = kind_totals(p), tb = kind_totals(base);
      char line[512];
      std::snprintf(line, sizeof(line), "%-12s %5s %10s %10s %7s %9s %9s %7s %7s\n", "kind", "ops",
                    "base ms", "this ms", "x meas", "base pred", "this pred", "x pred", "x FLOPs");
      out << line;
      for (auto& [kind, k] : tb) {
        const KindTotal& q = tp[kind];
        std::snprintf(line, sizeof(line), "%-12s %5d %10.3f %10.3f %7.2f %9.3f %9.3f %7.2f %7.2f\n",
                      kind.c_str(), k.ops, k.ms, q.ms, safe_ratio(k.ms, q.ms), k.predicted_ms,
                      q.predicted_ms, safe_ratio(k.predicted_ms, q.predicted_ms),
                      safe_ratio(k.flops, q.flops));
        out << line;
      }
      std::snprintf(line, sizeof(line), "\n%-28s %-18s %9s %9s %7s %7s %8s %9s%s\n", "layer",
                    "output", "base ms", "this ms", "x meas", "x FLOPs", "pred ms", "GFLOP/s",
                    has_algorithms(p) ? "  algorithm (base -> this)" : "");
      out << line;
      for_each_matched_layer(p, base, [&](const LayerTime& b0, const LayerTime& l) {
        std::snprintf(line, sizeof(line), "%-28s %-18s %9.3f %9.3f %7.2f %7.2f %8.3f %9.1f",
                      l.layer.c_str(), shape_str(l.output).c_str(), b0.ms, l.ms,
                      safe_ratio(b0.ms, l.ms), safe_ratio(b0.flops, l.flops), l.predicted_ms,
                      l.ms > 0 ? l.flops / (l.ms * 1e6) : 0.0);
        out << line;
        if (!l.algorithm.empty()) out << "  " << b0.algorithm << " -> " << l.algorithm;
        out << "\n";
      });
    }
  }
  return out.str();
}

std::string bench_json(const BenchResult& r, const BenchOptions& o) {
  auto timing = [](const TimingStats& s) {
    return nlohmann::json{{"median_ms", s.median_ms}, {"p25_ms", s.p25_ms},
                          {"p75_ms", s.p75_ms},       {"min_ms", s.min_ms},
                          {"max_ms", s.max_ms},       {"spread", s.spread},
                          {"samples", s.samples},     {"iterations", s.iterations}};
  };
  nlohmann::json j;
  j["device"] = o.device.str();
  j["timer"] = o.device.is_cuda() ? "cuda_events" : "steady_clock";
  j["peak_rates"] = {{"flops_per_s", r.rates.flops_per_s},
                     {"bytes_per_s", r.rates.bytes_per_s},
                     {"overhead_s", r.rates.overhead_s},
                     {"key", r.rates.key},
                     {"source", r.rates.source}};
  j["rows"] = nlohmann::json::array();
  std::size_t per_batch = r.rows.size() / std::max<std::size_t>(1, o.batches.size());
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    const BenchRow& row = r.rows[i];
    const BenchRow& first = r.rows[i - i % std::max<std::size_t>(1, per_batch)];
    nlohmann::json e = {
        {"network", row.label},
        {"batch", row.batch},
        {"flops", row.macs},
        {"params", row.params},
        {"activation_bytes", row.activation_bytes},
        {"inference", timing(row.infer)},
        {"images_per_s", 1e3 * static_cast<double>(row.batch) / row.infer.median_ms},
        {"peak_bytes", row.infer_peak_bytes},
        {"predicted_ms", 1e3 * row.predicted_infer_s},
        {"speedup", safe_ratio(first.infer.median_ms, row.infer.median_ms)},
        {"flops_ratio", safe_ratio(static_cast<double>(first.macs), static_cast<double>(row.macs))},
        {"predicted_speedup", safe_ratio(first.predicted_infer_s, row.predicted_infer_s)}};
    if (row.has_train) {
      e["train_step"] = timing(row.train);
      e["train_peak_bytes"] = row.train_peak_bytes;
      e["train_predicted_ms"] = 1e3 * row.predicted_train_s;
      e["train_speedup"] = safe_ratio(first.train.median_ms, row.train.median_ms);
      e["train_predicted_speedup"] = safe_ratio(first.predicted_train_s, row.predicted_train_s);
    }
    if (row.has_ort) {
      e["onnxruntime"] = timing(row.ort);
      e["onnxruntime"]["version"] = r.ort_version;
      e["ours_over_onnxruntime"] = safe_ratio(row.infer.median_ms, row.ort.median_ms);
    }
    j["rows"].push_back(e);
  }
  if (!r.profiles.empty()) {
    j["profiles"] = nlohmann::json::array();
    for (const LayerProfile& p : r.profiles) {
      nlohmann::json layers = nlohmann::json::array();
      for (const LayerTime& l : p.layers) {
        layers.push_back({{"layer", l.layer},
                          {"op", l.op},
                          {"kind", l.kind},
                          {"output", l.output},
                          {"ms", l.ms},
                          {"backward_ms", l.backward_ms},
                          {"algorithm", l.algorithm},
                          {"predicted_ms", l.predicted_ms},
                          {"flops", l.flops},
                          {"bytes", l.bytes}});
      }
      nlohmann::json e = {{"network", p.label},
                          {"batch", p.batch},
                          {"mode", p.train ? "train" : "inference"},
                          {"layers", layers}};
      if (p.train) {
        e["loss_ms"] = p.loss_ms;
        e["loss_backward_ms"] = p.loss_backward_ms;
        e["grad_accumulate_ms"] = p.accumulate_ms;
        e["sgd_update_ms"] = p.optimizer_ms;
      }
      j["profiles"].push_back(e);
    }
  }
  return j.dump(2);
}

}  // namespace shears::app
