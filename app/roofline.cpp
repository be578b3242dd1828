#include "app/roofline.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "app/timing.h"
#include "engine/autograd/grad_mode.h"
#include "engine/io/atomic_file.h"
#include "engine/ops.h"
#include "kernels/common/registry.h"

namespace shears::app {

namespace {
double tensor_bytes(const Tensor& t) { return t.defined() ? static_cast<double>(t.nbytes()) : 0.0; }

// The roofline kind of each op of engine/autograd/op_table.h (no default: -Wswitch).
std::string kind_of(Op op) {
  switch (op) {
    case Op::Conv2d:
      return "conv";
    case Op::BatchNorm:
      return "bn";
    case Op::Linear:
    case Op::Matmul:
      return "linear";
    case Op::Reshape:
      return "view";
    case Op::MaxPool2d:
    case Op::AvgPool2d:
    case Op::GlobalAvgPool2d:
      return "pool";
    case Op::Relu:
    case Op::LeakyRelu:
    case Op::Sigmoid:
    case Op::Tanh:
    case Op::Abs:
    case Op::Sign:
    case Op::Clamp:
    case Op::Add:
    case Op::Sub:
    case Op::Mul:
    case Op::Div:
    case Op::Scale:
    case Op::AddScalar:
    case Op::SoftMask:
    case Op::Clone:
      return "elementwise";
    case Op::Exp:
    case Op::Softmax:
    case Op::LogSoftmax:
    case Op::NllLoss:
    case Op::BceWithLogits:
    case Op::SumTo:
    case Op::Concat:
    case Op::Narrow:
    case Op::IndexSelect:
    case Op::AllReduceSum:
    case Op::Count:
      break;
  }
  return "other";
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

int thread_count() {
  for (const char* var : {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"}) {
    if (const char* v = std::getenv(var)) {
      int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}
}  // namespace

OpCost op_cost(const OpRecord& r, const std::string& layer) {
  OpCost c;
  c.layer = layer;
  c.op = r.name;
  c.kind = kind_of(r.op);
  c.output = r.output.shape();
  const double out_elems = static_cast<double>(r.output.numel());
  if (c.kind == "view") return c;
  double in_bytes = 0;
  for (const Tensor& t : r.inputs) in_bytes += tensor_bytes(t);
  c.bytes = in_bytes + tensor_bytes(r.output);
  if (r.op == Op::Conv2d) {
    const Tensor& w = r.inputs.at(1);
    c.flops = 2.0 * out_elems * static_cast<double>(w.size(1) * w.size(2) * w.size(3));
  } else if (r.op == Op::Linear) {
    c.flops = 2.0 * out_elems * static_cast<double>(r.inputs.at(1).size(1));
  } else if (r.op == Op::Matmul) {
    const Tensor& a = r.inputs.at(0);
    c.flops = 2.0 * out_elems * static_cast<double>(a.size(a.dim() - 1));
  } else if (r.op == Op::BatchNorm) {
    c.flops = 2.0 * out_elems;
  } else if (c.kind == "pool") {
    c.flops = static_cast<double>(r.inputs.at(0).numel());
  } else {
    c.flops = out_elems;
  }
  return c;
}

std::vector<OpCost> trace_op_costs(nn::Module& model, const Shape& input_chw, std::int64_t batch) {
  SHEARS_CHECK_AS(ShapeError, input_chw.size() == 3 && batch >= 1,
                  "cost model: input must be C x H x W and batch >= 1");
  std::map<const TensorImpl*, std::string> names;
  Device device = Device::cpu();
  for (auto& [name, t] : model.named_parameters()) {
    std::string n = name;
    if (n.size() > 7 && n.compare(n.size() - 7, 7, ".weight") == 0) n = n.substr(0, n.size() - 7);
    names[t.id()] = n;
    device = t.device();
  }
  const bool was_training = model.is_training();
  model.eval();
  std::vector<OpRecord> records;
  {
    NoGrad no_grad;
    TraceScope trace;
    Tensor x = Tensor::zeros({batch, input_chw[0], input_chw[1], input_chw[2]}, DType::F32, device);
    model.forward(x);
    records = trace.records();
  }
  model.train(was_training);
  std::vector<OpCost> out;
  std::map<std::string, int> seen;
  for (const OpRecord& r : records) {
    std::string layer;
    if (r.inputs.size() > 1 && r.inputs[1].defined()) {
      auto it = names.find(r.inputs[1].id());
      if (it != names.end()) layer = it->second;
    }
    if (layer.empty()) layer = r.name + "#" + std::to_string(seen[r.name]++);
    out.push_back(op_cost(r, layer));
  }
  return out;
}

std::string peak_rates_key(const Device& device) {
  const char* conv = std::getenv("SHEARS_CPU_CONV");
  std::ostringstream k;
  k << "v2|" << backend_for(device).name() << "|" << device.str() << "|threads=" << thread_count()
    << "|conv=" << (conv != nullptr ? conv : "default") << "|cpu=" << cpu_model();
  return k.str();
}

PeakRates measure_peak_rates(const Device& device) {
  NoGrad no_grad;
  Backend& be = backend_for(device);
  Tensor x = Tensor::ones({16, 64, 32, 32}, DType::F32, device);
  Tensor w = Tensor::full({64, 64, 3, 3}, 0.01, DType::F32, device);
  Tensor a = Tensor::full({768, 768}, 0.5, DType::F32, device);
  const std::int64_t big = std::int64_t{1} << 23;  // 32 MiB per tensor
  Tensor u = Tensor::ones({big}, DType::F32, device), v = Tensor::ones({big}, DType::F32, device);
  Tensor out = Tensor::empty({big}, DType::F32, device);
  Tensor s1 = Tensor::ones({1}, DType::F32, device), s2 = Tensor::ones({1}, DType::F32, device);
  TimingOptions o;
  o.warmup = 2;
  o.min_samples = 7;
  o.min_time_s = 0.4;
  o.min_sample_s = 0.01;
  // The bandwidth probe writes into a preallocated output (no page faults of fresh memory);
  // the overhead probe goes through the engine's op dispatch like every layer does.
  TensorView uv = u.view(), vv = v.view(), ov = out.view();
  auto stats =
      time_interleaved({[&] { conv2d(x, w, Tensor(), 1, 1); }, [&] { matmul(a, a); },
                        [&] { be.binary(BinaryOp::Add, uv, vv, ov); }, [&] { add(s1, s2); }},
                       o, [&] { be.synchronize(); });
  // Peak rates: the best sample (the least disturbed by other processes), not the median.
  const double conv_flops = 2.0 * 16 * 64 * 32 * 32 * 64 * 9;
  const double mm_flops = 2.0 * 768 * 768 * 768;
  PeakRates r;
  r.flops_per_s =
      std::max(conv_flops / (stats[0].min_ms * 1e-3), mm_flops / (stats[1].min_ms * 1e-3));
  r.bytes_per_s = 3.0 * 4.0 * static_cast<double>(big) / (stats[2].min_ms * 1e-3);
  r.overhead_s = stats[3].median_ms * 1e-3;
  r.key = peak_rates_key(device);
  r.source = "measured";
  return r;
}

std::string peak_rates_cache_path() {
  std::string dir;
  if (const char* d = std::getenv("SHEARS_CACHE_DIR"); d != nullptr && *d != '\0') {
    dir = d;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0') {
    dir = std::string(x) + "/shears";
  } else if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') {
    dir = std::string(h) + "/.cache/shears";
  } else {
    dir = ".shears-cache";
  }
  return dir + "/peak_rates.json";
}

nlohmann::json read_json_cache(const std::string& path) {
  nlohmann::json cache = nlohmann::json::object();
  if (std::ifstream in(path); in) {
    try {
      in >> cache;
    } catch (const nlohmann::json::exception&) {
      cache = nlohmann::json::object();
    }
    if (!cache.is_object()) cache = nlohmann::json::object();
  }
  return cache;
}

void write_json_cache(const std::string& path, const nlohmann::json& cache, int indent) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  try {
    write_file_atomic(path, [&](std::ostream& out) { out << cache.dump(indent) << "\n"; });
  } catch (const Error&) {
  }
}

PeakRates cached_peak_rates(const Device& device, bool remeasure) {
  const std::string path = peak_rates_cache_path();
  const std::string key = peak_rates_key(device);
  nlohmann::json cache = read_json_cache(path);
  if (!remeasure && cache.contains(key)) {
    const auto& e = cache[key];
    try {
      PeakRates r;
      r.flops_per_s = e.at("flops_per_s").get<double>();
      r.bytes_per_s = e.at("bytes_per_s").get<double>();
      r.overhead_s = e.at("overhead_s").get<double>();
      r.key = key;
      r.source = path;
      if (r.flops_per_s > 0 && r.bytes_per_s > 0 && r.overhead_s >= 0) return r;
    } catch (const nlohmann::json::exception&) {
    }
  }
  PeakRates r = measure_peak_rates(device);
  cache[key] = {
      {"flops_per_s", r.flops_per_s}, {"bytes_per_s", r.bytes_per_s}, {"overhead_s", r.overhead_s}};
  write_json_cache(path, cache, 2);
  return r;
}

double predict_op_s(const OpCost& c, const PeakRates& r) {
  if (c.kind == "view") return 0.0;
  return std::max(c.flops / r.flops_per_s, c.bytes / r.bytes_per_s) + r.overhead_s;
}

double predict_forward_s(const std::vector<OpCost>& costs, const PeakRates& rates) {
  double t = 0;
  for (const OpCost& c : costs) t += predict_op_s(c, rates);
  return t;
}

double predict_train_step_s(const std::vector<OpCost>& costs, std::int64_t param_count,
                            const PeakRates& rates) {
  double t = 0;
  for (const OpCost& c : costs) {
    if (c.kind == "view") continue;
    if (c.kind == "conv" || c.kind == "linear") {
      t += 3.0 * predict_op_s(c, rates);
    } else {
      OpCost back = c;
      back.flops *= 2.0;
      back.bytes *= 2.0;
      t += predict_op_s(c, rates) + predict_op_s(back, rates);
    }
  }
  t += 5.0 * 4.0 * static_cast<double>(param_count) / rates.bytes_per_s + rates.overhead_s;
  return t;
}

}  // namespace shears::app
