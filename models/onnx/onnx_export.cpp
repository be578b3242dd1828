// ONNX export: one traced forward pass, written op for op with ONNX's own protobuf classes
// (Debian's libonnx-dev), checked by ONNX's checker before the file is written.
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/trace.h"
#include "engine/io/atomic_file.h"
#include "models/model.h"
#include "models/onnx/onnx.h"

namespace shears::models {

bool onnx_available() { return true; }

namespace {

// The traced pass runs at batch 2: a constant whose leading dimension is the batch (the zero
// channels of an option-A shortcut) then tells itself apart from a broadcast constant (batch 1),
// and the graph is written batch-agnostic.
constexpr std::int64_t kTraceBatch = 2;

std::int64_t attr_of(const OpRecord& r, const std::string& key, std::int64_t fallback) {
  for (const auto& [k, v] : r.attrs)
    if (k == key) return v;
  return fallback;
}

bool has_attr(const OpRecord& r, const std::string& key) {
  for (const auto& [k, v] : r.attrs)
    if (k == key) return true;
  return false;
}

// "layer1.0.conv1.weight" -> "layer1.0.conv1".
std::string layer_of(const std::string& tensor_name) {
  auto dot = tensor_name.rfind('.');
  return dot == std::string::npos ? tensor_name : tensor_name.substr(0, dot);
}

std::vector<float> floats_of(const Tensor& t) {
  Tensor c = t.to(Device::cpu());
  if (c.dtype() == DType::F32) return c.to_vector<float>();
  if (c.dtype() == DType::F64) {
    std::vector<double> d = c.to_vector<double>();
    return std::vector<float>(d.begin(), d.end());
  }
  throw ShapeError("ONNX export: expected a floating-point tensor, got " +
                   std::string(dtype_name(c.dtype())));
}

// Per-channel affine of an eval-mode batch norm: y = x * scale + shift.
struct Affine {
  std::vector<double> scale, shift;
};

// A batch norm folded into the convolution(s) before it: `conv` is the record of the main
// convolution; `constant_conv` (or -1) that of the constant-input term added to it.
struct Fold {
  int conv = -1, constant_conv = -1;
  Affine affine;
};

class Exporter {
 public:
  Exporter(nn::Module& model, const OnnxExportOptions& options, std::string arch_json)
      : model_(model), options_(options), arch_json_(std::move(arch_json)) {}

  OnnxExportInfo run(const std::string& path);

 private:
  void trace();
  void plan_folds();
  void emit(int index);
  // The ONNX value holding traced tensor `t` (emitting an initializer for a parameter, buffer
  // or constant the first time it is seen).
  std::string value(const Tensor& t, int consumer);
  std::string initializer(const std::string& name, const Shape& shape,
                          const std::vector<float>& values);
  std::string initializer_i64(const std::string& base, const std::vector<std::int64_t>& values);
  std::string fresh(const std::string& base);
  onnx::NodeProto* node(const std::string& op, const std::string& name,
                        const std::vector<std::string>& inputs, const Tensor& output);
  void alias(const Tensor& output, const std::string& value_name);
  std::string where(int index) const;
  bool dependent(const Tensor& t) const { return t.defined() && dependent_.count(t.id()) > 0; }
  bool is_zero_batch_constant(const Tensor& t) const;
  void check_schemas() const;

  nn::Module& model_;
  OnnxExportOptions options_;
  std::string arch_json_;
  Shape input_chw_;

  std::vector<OpRecord> records_;
  Tensor input_, output_;
  std::map<const TensorImpl*, std::string> names_;  // state-dict names
  std::map<const TensorImpl*, int> producer_;
  std::map<const TensorImpl*, int> uses_;
  std::set<const TensorImpl*> dependent_;

  std::map<int, Fold> folds_;       // batch-norm record -> its fold
  std::map<int, int> folded_into_;  // conv record -> batch-norm record folded into it
  std::map<const TensorImpl*, std::string> values_;
  std::set<std::string> used_names_;
  int constants_ = 0;

  onnx::ModelProto proto_;
  onnx::GraphProto* graph_ = nullptr;
  OnnxExportInfo info_;
};

void Exporter::trace() {
  for (auto& [name, t] : model_.state_dict()) names_[t.id()] = name;
  Device device = Device::cpu();
  for (auto& [name, t] : model_.named_parameters()) device = t.device();
  const bool was_training = model_.is_training();
  model_.eval();
  try {
    NoGrad no_grad;
    TraceScope scope;
    input_ = Tensor::zeros({kTraceBatch, input_chw_[0], input_chw_[1], input_chw_[2]}, DType::F32,
                           device);
    output_ = model_.forward(input_);
    records_ = scope.records();
  } catch (...) {
    model_.train(was_training);
    throw;
  }
  model_.train(was_training);
  dependent_.insert(input_.id());
  for (std::size_t i = 0; i < records_.size(); ++i) {
    const OpRecord& r = records_[i];
    producer_[r.output.id()] = static_cast<int>(i);
    for (const Tensor& t : r.inputs) {
      if (!t.defined()) continue;
      ++uses_[t.id()];
      if (dependent(t)) dependent_.insert(r.output.id());
    }
  }
  ++uses_[output_.id()];
}

void Exporter::plan_folds() {
  auto produced_by = [&](const Tensor& t, const char* op) -> int {
    auto it = producer_.find(t.id());
    if (it == producer_.end() || records_[static_cast<std::size_t>(it->second)].name != op)
      return -1;
    return it->second;
  };
  auto named_weight = [&](int conv) {
    return names_.count(records_[static_cast<std::size_t>(conv)].inputs.at(1).id()) > 0;
  };
  for (std::size_t i = 0; i < records_.size(); ++i) {
    const OpRecord& r = records_[i];
    if (r.name != "batch_norm" || attr_of(r, "training", 0) != 0) continue;
    const Tensor& x = r.inputs.at(0);
    if (uses_[x.id()] != 1) continue;
    Fold f;
    int conv = produced_by(x, "conv2d");
    int linear = produced_by(x, "linear");
    if (conv >= 0 && named_weight(conv)) {
      f.conv = conv;
    } else if (linear >= 0 && named_weight(linear)) {
      f.conv = linear;  // a batch norm after a linear layer folds the same way
    } else if (int add = produced_by(x, "add"); add >= 0) {
      // conv(x) + conv(ones, constant_kernel): the constant-input term of a pruned conv.
      const OpRecord& a = records_[static_cast<std::size_t>(add)];
      int c0 = produced_by(a.inputs.at(0), "conv2d"), c1 = produced_by(a.inputs.at(1), "conv2d");
      if (c0 >= 0 && c1 >= 0 && dependent(a.inputs[0]) && !dependent(a.inputs[1]) &&
          uses_[a.inputs[0].id()] == 1 && uses_[a.inputs[1].id()] == 1 && named_weight(c0) &&
          named_weight(c1) && a.inputs[0].shape() == x.shape()) {
        f.conv = c0;
        f.constant_conv = c1;
      }
    }
    if (f.conv < 0 || folded_into_.count(f.conv)) continue;
    const double eps = has_attr(r, "eps") ? attr_real(attr_of(r, "eps", 0)) : 1e-5;
    const std::int64_t c = x.size(1);
    std::vector<float> gamma = r.inputs.size() > 1 && r.inputs[1].defined()
                                   ? floats_of(r.inputs[1])
                                   : std::vector<float>(static_cast<std::size_t>(c), 1.0f);
    std::vector<float> beta = r.inputs.size() > 2 && r.inputs[2].defined()
                                  ? floats_of(r.inputs[2])
                                  : std::vector<float>(static_cast<std::size_t>(c), 0.0f);
    std::vector<float> mean = floats_of(r.inputs.at(3)), var = floats_of(r.inputs.at(4));
    for (std::int64_t k = 0; k < c; ++k) {
      const auto u = static_cast<std::size_t>(k);
      const double s = gamma[u] / std::sqrt(static_cast<double>(var[u]) + eps);
      f.affine.scale.push_back(s);
      f.affine.shift.push_back(beta[u] - mean[u] * s);
    }
    folded_into_[f.conv] = static_cast<int>(i);
    if (f.constant_conv >= 0) folded_into_[f.constant_conv] = static_cast<int>(i);
    folds_[static_cast<int>(i)] = f;
  }
}

std::string Exporter::fresh(const std::string& base) {
  std::string name = base;
  for (int k = 1; used_names_.count(name); ++k) name = base + "_" + std::to_string(k);
  used_names_.insert(name);
  return name;
}

std::string Exporter::initializer(const std::string& name, const Shape& shape,
                                  const std::vector<float>& values) {
  onnx::TensorProto* t = graph_->add_initializer();
  t->set_name(name);
  for (std::int64_t d : shape) t->add_dims(d);
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->set_raw_data(values.data(), values.size() * sizeof(float));
  ++info_.initializers;
  return name;
}

std::string Exporter::initializer_i64(const std::string& base,
                                      const std::vector<std::int64_t>& values) {
  const std::string name = fresh(base);
  onnx::TensorProto* t = graph_->add_initializer();
  t->set_name(name);
  t->add_dims(static_cast<std::int64_t>(values.size()));
  t->set_data_type(onnx::TensorProto::INT64);
  t->set_raw_data(values.data(), values.size() * sizeof(std::int64_t));
  ++info_.initializers;
  return name;
}

bool Exporter::is_zero_batch_constant(const Tensor& t) const {
  if (!t.defined() || dependent(t) || producer_.count(t.id()) || names_.count(t.id())) return false;
  if (t.dim() != 4 || t.size(0) != kTraceBatch) return false;
  for (float v : floats_of(t))
    if (v != 0.0f) return false;
  return true;
}

std::string Exporter::where(int index) const {
  const OpRecord& r = records_[static_cast<std::size_t>(index)];
  for (const Tensor& t : r.inputs) {
    auto it = t.defined() ? names_.find(t.id()) : names_.end();
    if (it != names_.end()) return "layer '" + layer_of(it->second) + "'";
  }
  for (int i = index - 1; i >= 0; --i) {
    for (const Tensor& t : records_[static_cast<std::size_t>(i)].inputs) {
      auto it = t.defined() ? names_.find(t.id()) : names_.end();
      if (it != names_.end()) return "the op after layer '" + layer_of(it->second) + "'";
    }
  }
  return "the op at the network input";
}

std::string Exporter::value(const Tensor& t, int consumer) {
  if (t.id() == input_.id()) return "input";
  if (auto it = values_.find(t.id()); it != values_.end()) return it->second;
  if (auto it = names_.find(t.id()); it != names_.end()) {
    used_names_.insert(it->second);
    values_[t.id()] = initializer(it->second, t.shape(), floats_of(t));
    return it->second;
  }
  if (producer_.count(t.id())) {
    throw Error("ONNX export: tensor of " + where(consumer) + " is used before it is computed");
  }
  if (t.dim() >= 1 && t.size(0) == kTraceBatch && t.dim() == input_.dim()) {
    throw ShapeError("ONNX export: " + where(consumer) + " (" +
                     records_[static_cast<std::size_t>(consumer)].name +
                     ") reads a constant of the batch's size " + shape_str(t.shape()) +
                     " that ONNX cannot express for any batch size");
  }
  const std::string name = fresh("const." + std::to_string(constants_++));
  values_[t.id()] = initializer(name, t.shape(), floats_of(t));
  return name;
}

onnx::NodeProto* Exporter::node(const std::string& op, const std::string& name,
                                const std::vector<std::string>& inputs, const Tensor& output) {
  onnx::NodeProto* n = graph_->add_node();
  n->set_op_type(op);
  const std::string node_name = fresh(name);
  n->set_name(node_name);
  for (const std::string& in : inputs) n->add_input(in);
  const std::string out = output.id() == output_.id() ? "logits" : node_name;
  if (out == "logits") used_names_.insert(out);
  n->add_output(out);
  values_[output.id()] = out;
  ++info_.nodes;
  ++info_.op_types[op];
  return n;
}

void Exporter::alias(const Tensor& output, const std::string& value_name) {
  values_[output.id()] = value_name;
}

void attr_ints(onnx::NodeProto* n, const std::string& name, const std::vector<std::int64_t>& v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (std::int64_t x : v) a->add_ints(x);
}

void attr_int(onnx::NodeProto* n, const std::string& name, std::int64_t v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void attr_float(onnx::NodeProto* n, const std::string& name, double v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(static_cast<float>(v));
}

void Exporter::emit(int index) {
  const OpRecord& r = records_[static_cast<std::size_t>(index)];
  const std::string& op = r.name;
  const Tensor& out = r.output;
  auto in = [&](std::size_t i) { return value(r.inputs.at(i), index); };
  auto name_of = [&](std::size_t i, const std::string& fallback) {
    auto it =
        i < r.inputs.size() && r.inputs[i].defined() ? names_.find(r.inputs[i].id()) : names_.end();
    return it != names_.end() ? layer_of(it->second) : fallback;
  };

  if (op == "conv2d") {
    const Tensor& w = r.inputs.at(1);
    const Tensor b = r.inputs.size() > 2 ? r.inputs[2] : Tensor();
    const std::string layer = name_of(1, "conv");
    std::vector<std::string> inputs{in(0)};
    if (auto f = folded_into_.find(index); f != folded_into_.end()) {
      const Fold& fold = folds_.at(f->second);
      const bool constant_term = fold.constant_conv == index;
      std::vector<float> wv = floats_of(w);
      const std::size_t per_out = wv.size() / static_cast<std::size_t>(w.size(0));
      for (std::size_t o = 0; o < static_cast<std::size_t>(w.size(0)); ++o)
        for (std::size_t j = 0; j < per_out; ++j)
          wv[o * per_out + j] = static_cast<float>(wv[o * per_out + j] * fold.affine.scale[o]);
      const std::string wname = names_.at(w.id());
      used_names_.insert(wname);
      inputs.push_back(initializer(wname, w.shape(), wv));
      if (!constant_term) {
        std::vector<float> bv(static_cast<std::size_t>(w.size(0)));
        std::vector<float> old = b.defined() ? floats_of(b) : std::vector<float>(bv.size(), 0.0f);
        for (std::size_t o = 0; o < bv.size(); ++o)
          bv[o] = static_cast<float>(old[o] * fold.affine.scale[o] + fold.affine.shift[o]);
        inputs.push_back(initializer(fresh(layer + ".bias"), {w.size(0)}, bv));
      }
    } else {
      inputs.push_back(in(1));
      if (b.defined()) inputs.push_back(in(2));
    }
    // The constant-input term of a pruned conv is a second Conv on a plane of ones.
    const std::string wfull = names_.count(w.id()) ? names_.at(w.id()) : "";
    const bool term =
        wfull.size() > 16 && wfull.compare(wfull.size() - 16, 16, ".constant_kernel") == 0;
    onnx::NodeProto* n = node("Conv", term ? layer + ".constant_term" : layer, inputs, out);
    attr_ints(n, "kernel_shape", {w.size(2), w.size(3)});
    attr_ints(n, "strides", {attr_of(r, "stride_h", 1), attr_of(r, "stride_w", 1)});
    const std::int64_t ph = attr_of(r, "pad_h", 0), pw = attr_of(r, "pad_w", 0);
    attr_ints(n, "pads", {ph, pw, ph, pw});
    attr_ints(n, "dilations", {attr_of(r, "dilation_h", 1), attr_of(r, "dilation_w", 1)});
    attr_int(n, "group", attr_of(r, "groups", 1));
  } else if (op == "batch_norm") {
    if (attr_of(r, "training", 0) != 0) {
      throw ShapeError("ONNX export: " + where(index) + " normalises with batch statistics");
    }
    if (auto f = folds_.find(index); f != folds_.end()) {
      // The conv (or the add of its constant term) already computes the normalised values.
      alias(out, value(r.inputs[0], index));
      ++info_.folded_bn;
      return;
    }
    const std::string layer = name_of(3, "batch_norm");
    const std::int64_t c = r.inputs[0].size(1);
    std::vector<std::string> inputs{in(0)};
    inputs.push_back(r.inputs[1].defined()
                         ? in(1)
                         : initializer(fresh(layer + ".weight"), {c},
                                       std::vector<float>(static_cast<std::size_t>(c), 1.0f)));
    inputs.push_back(r.inputs[2].defined()
                         ? in(2)
                         : initializer(fresh(layer + ".bias"), {c},
                                       std::vector<float>(static_cast<std::size_t>(c), 0.0f)));
    inputs.push_back(in(3));
    inputs.push_back(in(4));
    onnx::NodeProto* n = node("BatchNormalization", layer, inputs, out);
    attr_float(n, "epsilon", has_attr(r, "eps") ? attr_real(attr_of(r, "eps", 0)) : 1e-5);
    ++info_.kept_bn;
  } else if (op == "relu" || op == "sigmoid" || op == "tanh" || op == "exp") {
    static const std::map<std::string, std::string> kOps = {
        {"relu", "Relu"}, {"sigmoid", "Sigmoid"}, {"tanh", "Tanh"}, {"exp", "Exp"}};
    node(kOps.at(op), kOps.at(op), {in(0)}, out);
  } else if (op == "leaky_relu") {
    onnx::NodeProto* n = node("LeakyRelu", "LeakyRelu", {in(0)}, out);
    attr_float(n, "alpha", attr_real(attr_of(r, "alpha", real_attr(0.01))));
  } else if (op == "add" || op == "sub" || op == "mul" || op == "div") {
    static const std::map<std::string, std::string> kOps = {
        {"add", "Add"}, {"sub", "Sub"}, {"mul", "Mul"}, {"div", "Div"}};
    node(kOps.at(op), kOps.at(op), {in(0), in(1)}, out);
  } else if (op == "add_scalar" || op == "scale") {
    if (!has_attr(r, "value")) throw ShapeError("ONNX export: " + where(index) + " has no value");
    const std::string c = initializer(fresh("const." + std::to_string(constants_++)), {},
                                      {static_cast<float>(attr_real(attr_of(r, "value", 0)))});
    node(op == "add_scalar" ? "Add" : "Mul", op == "add_scalar" ? "Add" : "Mul", {in(0), c}, out);
  } else if (op == "clone" || (op == "dropout" && attr_of(r, "training", 0) == 0)) {
    alias(out, in(0));
  } else if (op == "max_pool2d" || op == "avg_pool2d") {
    const bool max = op == "max_pool2d";
    onnx::NodeProto* n =
        node(max ? "MaxPool" : "AveragePool", max ? "MaxPool" : "AveragePool", {in(0)}, out);
    attr_ints(n, "kernel_shape", {attr_of(r, "kernel_h", 1), attr_of(r, "kernel_w", 1)});
    attr_ints(n, "strides", {attr_of(r, "stride_h", 1), attr_of(r, "stride_w", 1)});
    const std::int64_t ph = attr_of(r, "pad_h", 0), pw = attr_of(r, "pad_w", 0);
    attr_ints(n, "pads", {ph, pw, ph, pw});
    attr_int(n, "ceil_mode", attr_of(r, "ceil_mode", 0));
    if (!max) attr_int(n, "count_include_pad", attr_of(r, "count_include_pad", 1));
  } else if (op == "global_avg_pool2d") {
    node("GlobalAveragePool", "GlobalAveragePool", {in(0)}, out);
  } else if (op == "reshape") {
    const Tensor& x = r.inputs.at(0);
    if (x.dim() < 1 || out.dim() < 1 || x.size(0) != out.size(0)) {
      throw ShapeError("ONNX export: " + where(index) + " reshapes " + shape_str(x.shape()) +
                       " to " + shape_str(out.shape()) + " across the batch");
    }
    if (out.dim() == 2 && x.dim() >= 2) {
      onnx::NodeProto* n = node("Flatten", "Flatten", {in(0)}, out);
      attr_int(n, "axis", 1);
    } else {
      std::vector<std::int64_t> shape{0};
      for (int d = 1; d < out.dim(); ++d) shape.push_back(out.size(d));
      node("Reshape", "Reshape", {in(0), initializer_i64("shape", shape)}, out);
    }
  } else if (op == "linear") {
    if (r.inputs.at(0).dim() != 2) {
      throw ShapeError("ONNX export: " + where(index) + " applies a linear layer to " +
                       shape_str(r.inputs[0].shape()) + " (only (N, features) is written)");
    }
    std::vector<std::string> inputs{in(0)};
    if (auto f = folded_into_.find(index); f != folded_into_.end()) {
      const Affine& affine = folds_.at(f->second).affine;
      const Tensor& w = r.inputs[1];
      const Tensor b = r.inputs.size() > 2 ? r.inputs[2] : Tensor();
      std::vector<float> wv = floats_of(w);
      const auto rows = static_cast<std::size_t>(w.size(0)), cols = wv.size() / rows;
      for (std::size_t o = 0; o < rows; ++o)
        for (std::size_t k = 0; k < cols; ++k)
          wv[o * cols + k] = static_cast<float>(wv[o * cols + k] * affine.scale[o]);
      std::vector<float> bv = b.defined() ? floats_of(b) : std::vector<float>(rows, 0.0f);
      for (std::size_t o = 0; o < rows; ++o)
        bv[o] = static_cast<float>(bv[o] * affine.scale[o] + affine.shift[o]);
      const std::string wname = names_.at(w.id());
      used_names_.insert(wname);
      inputs.push_back(initializer(wname, w.shape(), wv));
      inputs.push_back(initializer(fresh(layer_of(wname) + ".bias"), {w.size(0)}, bv));
    } else {
      inputs.push_back(in(1));
      if (r.inputs.size() > 2 && r.inputs[2].defined()) inputs.push_back(in(2));
    }
    onnx::NodeProto* n = node("Gemm", name_of(1, "linear"), inputs, out);
    attr_int(n, "transB", 1);
  } else if (op == "matmul") {
    node("MatMul", "MatMul", {in(0), in(1)}, out);
  } else if (op == "concat") {
    const std::int64_t axis = attr_of(r, "dim", 0);
    std::vector<const Tensor*> live;
    std::int64_t front = 0, back = 0;
    bool padded = false;
    for (const Tensor& t : r.inputs) {
      if (axis == 1 && is_zero_batch_constant(t)) {
        (live.empty() ? front : back) += t.size(1);
        padded = true;
      } else {
        if (padded && !live.empty()) live.push_back(nullptr);  // zeros between two inputs
        live.push_back(&t);
      }
    }
    if (padded) {
      // Zero channels around one tensor (option-A shortcuts): a Pad, valid for any batch.
      if (live.size() != 1) {
        throw ShapeError("ONNX export: " + where(index) +
                         " concatenates zero channels between several tensors");
      }
      const std::string pads = initializer_i64("pads", {0, front, 0, 0, 0, back, 0, 0});
      node("Pad", "Pad", {value(*live[0], index), pads}, out);
    } else {
      std::vector<std::string> inputs;
      for (std::size_t i = 0; i < r.inputs.size(); ++i) inputs.push_back(in(i));
      onnx::NodeProto* n = node("Concat", "Concat", inputs, out);
      attr_int(n, "axis", axis);
    }
  } else if (op == "narrow") {
    const std::int64_t dim = attr_of(r, "dim", 0), start = attr_of(r, "start", 0);
    const std::int64_t length = attr_of(r, "length", out.size(static_cast<int>(dim)));
    node("Slice", "Slice",
         {in(0), initializer_i64("starts", {start}), initializer_i64("ends", {start + length}),
          initializer_i64("axes", {dim})},
         out);
  } else if (op == "index_select") {
    const std::int64_t dim = attr_of(r, "dim", 0);
    if (r.inputs.size() < 2 || !r.inputs[1].defined()) {
      throw ShapeError("ONNX export: " + where(index) + " selects with an unrecorded index");
    }
    std::vector<std::int64_t> idx = r.inputs[1].to(Device::cpu()).to_vector<std::int64_t>();
    // An arithmetic progression (every second row of a subsampling shortcut) is a strided Slice.
    bool progression = idx.size() >= 1 && (idx.size() == 1 || idx[1] > idx[0]);
    for (std::size_t i = 2; progression && i < idx.size(); ++i)
      progression = idx[i] - idx[i - 1] == idx[1] - idx[0];
    if (progression) {
      const std::int64_t step = idx.size() > 1 ? idx[1] - idx[0] : 1;
      node("Slice", "Slice",
           {in(0), initializer_i64("starts", {idx.front()}),
            initializer_i64("ends", {idx.back() + 1}), initializer_i64("axes", {dim}),
            initializer_i64("steps", {step})},
           out);
    } else {
      onnx::NodeProto* n = node("Gather", "Gather", {in(0), initializer_i64("indices", idx)}, out);
      attr_int(n, "axis", dim);
    }
  } else {
    throw ShapeError("ONNX export: " + where(index) + " runs op '" + op +
                     "', which has no ONNX form in shears' exporter");
  }
}

void Exporter::check_schemas() const {
  for (const onnx::NodeProto& n : graph_->node()) {
    const onnx::OpSchema* s = onnx::OpSchemaRegistry::Schema(n.op_type(), options_.opset, "");
    if (s == nullptr || s->Deprecated()) {
      throw ShapeError("ONNX export: node '" + n.name() + "' needs op " + n.op_type() +
                       ", which opset " + std::to_string(options_.opset) + " does not have");
    }
  }
}

void set_shape(onnx::ValueInfoProto* v, const std::string& name, const Shape& shape,
               std::int64_t batch) {
  v->set_name(name);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto* s = t->mutable_shape();
  for (std::size_t d = 0; d < shape.size(); ++d) {
    onnx::TensorShapeProto_Dimension* dim = s->add_dim();
    if (d == 0 && batch == 0) {
      dim->set_dim_param("N");
    } else {
      dim->set_dim_value(d == 0 ? batch : shape[d]);
    }
  }
}

std::string shape_text(const Shape& shape, std::int64_t batch) {
  std::string s = "[";
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (d) s += ", ";
    s += d == 0 ? (batch == 0 ? "N" : std::to_string(batch)) : std::to_string(shape[d]);
  }
  return s + "]";
}

OnnxExportInfo Exporter::run(const std::string& path) {
  if (options_.opset < kOnnxMinOpset || options_.opset > kOnnxMaxOpset) {
    throw ConfigError("ONNX export: opset " + std::to_string(options_.opset) + " is outside " +
                      std::to_string(kOnnxMinOpset) + ".." + std::to_string(kOnnxMaxOpset));
  }
  if (options_.batch < 0) {
    throw ConfigError("ONNX export: batch " + std::to_string(options_.batch) + " is negative");
  }
  if (arch_json_.empty()) arch_json_ = arch_to_json(arch_of(model_));
  input_chw_ = arch_from_json(arch_json_).input;
  trace();
  if (options_.fold_bn) plan_folds();

  proto_.set_ir_version(onnx::IR_VERSION);
  proto_.set_producer_name("shears");
  proto_.set_producer_version("0.1.0");
  proto_.set_doc_string("exported by shears in eval mode");
  onnx::OperatorSetIdProto* opset = proto_.add_opset_import();
  opset->set_domain("");
  opset->set_version(options_.opset);
  graph_ = proto_.mutable_graph();
  graph_->set_name(arch_from_json(arch_json_).name);
  used_names_.insert("input");
  for (std::size_t i = 0; i < records_.size(); ++i) emit(static_cast<int>(i));
  if (value(output_, static_cast<int>(records_.size()) - 1) != "logits") {
    onnx::NodeProto* n = graph_->add_node();
    n->set_op_type("Identity");
    n->set_name("logits");
    n->add_input(values_.at(output_.id()));
    n->add_output("logits");
    ++info_.nodes;
    ++info_.op_types["Identity"];
  }
  check_schemas();

  info_.input_shape = input_.shape();
  info_.output_shape = output_.shape();
  info_.input_shape[0] = info_.output_shape[0] = options_.batch;
  set_shape(graph_->add_input(), "input", input_.shape(), options_.batch);
  set_shape(graph_->add_output(), "logits", output_.shape(), options_.batch);
  auto meta = [&](const std::string& key, const std::string& value) {
    onnx::StringStringEntryProto* e = proto_.add_metadata_props();
    e->set_key(key);
    e->set_value(value);
  };
  meta("shears.arch", arch_json_);
  meta("shears.input", "input " + shape_text(input_.shape(), options_.batch) +
                           " float32 NCHW, normalised as the model was trained");
  meta("shears.output", "logits " + shape_text(output_.shape(), options_.batch) + " float32");
  meta("shears.fold_bn", options_.fold_bn ? "1" : "0");
  try {
    onnx::checker::check_model(proto_);
  } catch (const std::exception& e) {
    throw Error("ONNX export: ONNX's checker rejects the graph: " + std::string(e.what()));
  }
  std::string bytes;
  if (!proto_.SerializeToString(&bytes)) throw Error("ONNX export: cannot serialise the model");
  write_file_atomic(path, [&](std::ostream& os) {
    os.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  });
  return info_;
}

}  // namespace

OnnxExportInfo export_onnx(nn::Module& model, const std::string& path,
                           const OnnxExportOptions& options, const std::string& arch_json) {
  Exporter e(model, options, arch_json);
  return e.run(path);
}

}  // namespace shears::models
