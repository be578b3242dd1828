// ONNX import of weights: the file's Conv / BatchNormalization / Gemm nodes, in graph order,
// matched with the layers of a traced forward pass of the shears network.
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <onnx/onnx_pb.h>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/trace.h"
#include "models/model.h"
#include "models/onnx/onnx.h"

namespace shears::models {

namespace {

onnx::ModelProto read_model(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw CheckpointError(path + ": cannot open ONNX file");
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  onnx::ModelProto proto;
  if (bytes.empty() || !proto.ParseFromString(bytes) || !proto.has_graph()) {
    throw CheckpointError(path + ": not a readable ONNX model (" + std::to_string(bytes.size()) +
                          " bytes; truncated or another format)");
  }
  return proto;
}

std::string dims_str(const std::vector<std::int64_t>& d) { return shape_str(Shape(d)); }

// The ops the layers of shears' networks are written with, by shears or by PyTorch's exporter.
const std::set<std::string>& known_ops() {
  static const std::set<std::string> ops = {"Conv",
                                            "BatchNormalization",
                                            "Gemm",
                                            "MatMul",
                                            "Add",
                                            "Sub",
                                            "Mul",
                                            "Div",
                                            "Relu",
                                            "Clip",
                                            "LeakyRelu",
                                            "Sigmoid",
                                            "Tanh",
                                            "Exp",
                                            "MaxPool",
                                            "AveragePool",
                                            "GlobalAveragePool",
                                            "Flatten",
                                            "Reshape",
                                            "Concat",
                                            "Pad",
                                            "Slice",
                                            "Gather",
                                            "Identity",
                                            "Dropout",
                                            "Constant",
                                            "Shape",
                                            "Unsqueeze",
                                            "Squeeze",
                                            "Cast",
                                            "ReduceMean"};
  return ops;
}

class OnnxFile {
 public:
  OnnxFile(std::string path) : path_(std::move(path)), proto_(read_model(path_)) {
    const onnx::GraphProto& g = proto_.graph();
    for (const onnx::TensorProto& t : g.initializer()) tensors_[t.name()] = &t;
    for (const onnx::NodeProto& n : g.node()) {
      if (!known_ops().count(n.op_type()) || (!n.domain().empty() && n.domain() != "ai.onnx")) {
        throw CheckpointError(path_ + ": node '" + n.name() + "' is op " +
                              (n.domain().empty() ? "" : n.domain() + ".") + n.op_type() +
                              ", which no shears network uses");
      }
      if (n.op_type() == "Constant") {
        for (const onnx::AttributeProto& a : n.attribute())
          if (a.name() == "value" && a.has_t() && n.output_size() == 1)
            tensors_[n.output(0)] = &a.t();
      }
      if (n.op_type() == "Identity" && n.input_size() == 1 && n.output_size() == 1)
        identity_[n.output(0)] = n.input(0);
      for (const std::string& in : n.input()) consumers_[in].push_back(&n);
    }
  }

  const std::string& path() const { return path_; }
  const onnx::GraphProto& graph() const { return proto_.graph(); }

  // The constant behind value `name` (through Identity nodes), or null.
  const onnx::TensorProto* constant(std::string name) const {
    for (int hops = 0; hops < 8; ++hops) {
      if (auto it = tensors_.find(name); it != tensors_.end()) return it->second;
      auto id = identity_.find(name);
      if (id == identity_.end()) return nullptr;
      name = id->second;
    }
    return nullptr;
  }

  std::vector<const onnx::NodeProto*> consumers(const std::string& value) const {
    auto it = consumers_.find(value);
    return it == consumers_.end() ? std::vector<const onnx::NodeProto*>{} : it->second;
  }

  // The values of constant input `i` of `n` as floats with their dims.
  std::pair<std::vector<float>, std::vector<std::int64_t>> floats(const onnx::NodeProto& n,
                                                                  int i) const {
    const std::string what =
        "input " + std::to_string(i) + " of node '" + n.name() + "' (" + n.op_type() + ")";
    if (i >= n.input_size() || n.input(i).empty())
      throw CheckpointError(path_ + ": " + what + " is missing");
    const onnx::TensorProto* t = constant(n.input(i));
    if (t == nullptr)
      throw CheckpointError(path_ + ": " + what + " '" + n.input(i) + "' is not an initializer");
    if (t->data_location() == onnx::TensorProto::EXTERNAL)
      throw CheckpointError(path_ + ": tensor '" + t->name() + "' is stored outside the file");
    std::vector<std::int64_t> dims(t->dims().begin(), t->dims().end());
    std::int64_t count = 1;
    for (std::int64_t d : dims) count *= d;
    std::vector<float> v;
    if (t->data_type() == onnx::TensorProto::FLOAT) {
      if (t->has_raw_data()) {
        if (t->raw_data().size() != static_cast<std::size_t>(count) * sizeof(float))
          throw CheckpointError(path_ + ": tensor '" + t->name() + "' holds " +
                                std::to_string(t->raw_data().size()) + " bytes for dims " +
                                dims_str(dims));
        v.resize(static_cast<std::size_t>(count));
        std::memcpy(v.data(), t->raw_data().data(), t->raw_data().size());
      } else {
        v.assign(t->float_data().begin(), t->float_data().end());
      }
    } else if (t->data_type() == onnx::TensorProto::DOUBLE) {
      if (t->has_raw_data()) {
        std::vector<double> d(t->raw_data().size() / sizeof(double));
        std::memcpy(d.data(), t->raw_data().data(), d.size() * sizeof(double));
        v.assign(d.begin(), d.end());
      } else {
        v.assign(t->double_data().begin(), t->double_data().end());
      }
    } else {
      throw CheckpointError(path_ + ": tensor '" + t->name() + "' has ONNX data type " +
                            std::to_string(t->data_type()) + ", not float");
    }
    if (static_cast<std::int64_t>(v.size()) != count)
      throw CheckpointError(path_ + ": tensor '" + t->name() + "' holds " +
                            std::to_string(v.size()) + " values for dims " + dims_str(dims));
    return {v, dims};
  }

 private:
  std::string path_;
  onnx::ModelProto proto_;
  std::map<std::string, const onnx::TensorProto*> tensors_;
  std::map<std::string, std::string> identity_;
  std::map<std::string, std::vector<const onnx::NodeProto*>> consumers_;
};

std::vector<std::int64_t> ints_attr(const onnx::NodeProto& n, const std::string& name,
                                    std::vector<std::int64_t> fallback) {
  for (const onnx::AttributeProto& a : n.attribute())
    if (a.name() == name) return {a.ints().begin(), a.ints().end()};
  return fallback;
}

std::int64_t int_attr(const onnx::NodeProto& n, const std::string& name, std::int64_t fallback) {
  for (const onnx::AttributeProto& a : n.attribute())
    if (a.name() == name) return a.i();
  return fallback;
}

double float_attr(const onnx::NodeProto& n, const std::string& name, double fallback) {
  for (const onnx::AttributeProto& a : n.attribute())
    if (a.name() == name) return a.f();
  return fallback;
}

std::int64_t attr_of(const OpRecord& r, const std::string& key, std::int64_t fallback) {
  for (const auto& [k, v] : r.attrs)
    if (k == key) return v;
  return fallback;
}

// One layer of the shears network with weights: a conv2d, batch_norm or linear record.
struct Layer {
  const OpRecord* record;
  std::string op;
  std::string weight;     // state-dict name of the weight ("" for an affine-free BN)
  std::string bias;       // "" when absent
  std::string mean, var;  // batch norm only
  int bn_after = -1;      // conv: index (in the layer list) of the batch norm it feeds
  bool folded = false;    // batch norm: its conv's values come folded from the file
};

std::string layer_name(const std::string& tensor) {
  auto dot = tensor.rfind('.');
  return dot == std::string::npos ? tensor : tensor.substr(0, dot);
}

}  // namespace

std::string onnx_arch_json(const std::string& path) {
  onnx::ModelProto proto = read_model(path);
  for (const auto& e : proto.metadata_props())
    if (e.key() == "shears.arch") return e.value();
  return "";
}

void load_onnx_weights(nn::Module& model, const std::string& path) {
  OnnxFile file(path);
  const std::string& p = file.path();

  // The shears side: its layers in forward order.
  std::map<const TensorImpl*, std::string> names;
  for (auto& [name, t] : model.state_dict()) names[t.id()] = name;
  auto name_of = [&](const Tensor& t) -> std::string {
    if (!t.defined()) return "";
    auto it = names.find(t.id());
    return it == names.end() ? "" : it->second;
  };
  Arch arch;
  try {
    arch = arch_of(model);
  } catch (const Error&) {
    throw CheckpointError(p + ": ONNX weights load only into registry networks");
  }
  std::vector<OpRecord> records;
  {
    const bool was_training = model.is_training();
    Device device = Device::cpu();
    for (auto& [name, t] : model.named_parameters()) device = t.device();
    model.eval();
    NoGrad no_grad;
    TraceScope scope;
    model.forward(Tensor::zeros({1, arch.input.at(0), arch.input.at(1), arch.input.at(2)},
                                DType::F32, device));
    records = scope.records();
    model.train(was_training);
  }
  std::vector<Layer> layers;
  std::map<const TensorImpl*, int> conv_of_output;  // conv output (or its constant-term add)
  std::map<const TensorImpl*, const OpRecord*> producer;
  for (const OpRecord& r : records) producer[r.output.id()] = &r;
  for (const OpRecord& r : records) {
    if (r.name == "conv2d") {
      Layer l{&r,
              "conv",
              name_of(r.inputs.at(1)),
              name_of(r.inputs.size() > 2 ? r.inputs[2] : Tensor()),
              "",
              ""};
      if (l.weight.empty())
        throw CheckpointError(p + ": a convolution of the network has no named weight");
      conv_of_output[r.output.id()] = static_cast<int>(layers.size());
      layers.push_back(l);
    } else if (r.name == "add") {
      // conv(x) + conv(ones, constant_kernel): the batch norm after it belongs to the first.
      auto a = conv_of_output.find(r.inputs.at(0).id());
      if (a != conv_of_output.end() && conv_of_output.count(r.inputs.at(1).id()))
        conv_of_output[r.output.id()] = a->second;
    } else if (r.name == "batch_norm") {
      Layer l{&r,
              "bn",
              name_of(r.inputs.at(1)),
              name_of(r.inputs.at(2)),
              name_of(r.inputs.at(3)),
              name_of(r.inputs.at(4))};
      if (l.mean.empty() || l.var.empty())
        throw CheckpointError(p + ": a batch norm of the network has no running statistics");
      if (auto c = conv_of_output.find(r.inputs.at(0).id()); c != conv_of_output.end())
        layers[static_cast<std::size_t>(c->second)].bn_after = static_cast<int>(layers.size());
      layers.push_back(l);
    } else if (r.name == "linear") {
      Layer l{&r,
              "linear",
              name_of(r.inputs.at(1)),
              name_of(r.inputs.size() > 2 ? r.inputs[2] : Tensor()),
              "",
              ""};
      conv_of_output[r.output.id()] = static_cast<int>(layers.size());
      layers.push_back(l);
    }
  }

  // The file side: its layers in graph order.
  std::vector<const onnx::NodeProto*> nodes;
  for (const onnx::NodeProto& n : file.graph().node()) {
    const std::string& op = n.op_type();
    if (op == "Conv" || op == "BatchNormalization" || op == "Gemm") {
      nodes.push_back(&n);
    } else if (op == "MatMul" && n.input_size() == 2 && file.constant(n.input(1)) != nullptr) {
      nodes.push_back(&n);
    }
  }
  // Whether a BatchNormalization consumes Conv node `n`'s output (directly or through the Add
  // of a constant-input term).
  auto bn_follows = [&](const onnx::NodeProto& n) {
    for (const onnx::NodeProto* c : file.consumers(n.output(0))) {
      if (c->op_type() == "BatchNormalization") return true;
      if (c->op_type() == "Add")
        for (const onnx::NodeProto* d : file.consumers(c->output(0)))
          if (d->op_type() == "BatchNormalization") return true;
    }
    return false;
  };

  std::map<std::string, Tensor> values;  // state-dict name -> new value
  auto set = [&](const std::string& name, std::vector<float> v) {
    Tensor& target = model.tensor_at(name);
    if (static_cast<std::int64_t>(v.size()) != target.numel()) {
      throw CheckpointError(p + ": tensor for '" + name + "' has " + std::to_string(v.size()) +
                            " values, the network's " + shape_str(target.shape()) + " needs " +
                            std::to_string(target.numel()));
    }
    values[name] = Tensor::from_vector(v, target.shape());
  };
  auto expect_shape = [&](const onnx::NodeProto& n, int input, const std::string& name,
                          const std::vector<std::int64_t>& dims) {
    const Shape& want = model.tensor_at(name).shape();
    if (Shape(dims) != want) {
      const onnx::TensorProto* t = file.constant(n.input(input));
      throw CheckpointError(p + ": tensor '" + (t ? t->name() : n.input(input)) + "' of node '" +
                            n.name() + "' (" + n.op_type() + ") has shape " + dims_str(dims) +
                            " but the network's '" + name + "' is " + shape_str(want));
    }
  };

  // A file whose Conv/Gemm already computes the batch norm after it (folded): the batch norm
  // becomes the identity (weight 1, mean 0, variance 1 - eps) shifted by the file's bias, or by
  // nothing when the layer has a bias of its own to take it.
  auto absorb_folded_bn = [&](const Layer& l, std::vector<float> b, auto& mismatch) {
    Layer& bn = layers[static_cast<std::size_t>(l.bn_after)];
    bn.folded = true;
    const std::int64_t c = model.tensor_at(bn.mean).numel();
    const double eps = attr_real(attr_of(*bn.record, "eps", real_attr(1e-5)));
    if (b.empty()) b.assign(static_cast<std::size_t>(c), 0.0f);
    if (!l.bias.empty()) {
      set(l.bias, b);
      b.assign(static_cast<std::size_t>(c), 0.0f);
    }
    if (bn.weight.empty() || bn.bias.empty())
      throw mismatch("the file folds a batch norm the network cannot absorb (no affine)");
    set(bn.weight, std::vector<float>(static_cast<std::size_t>(c), 1.0f));
    set(bn.bias, b);
    set(bn.mean, std::vector<float>(static_cast<std::size_t>(c), 0.0f));
    set(bn.var, std::vector<float>(static_cast<std::size_t>(c), static_cast<float>(1.0 - eps)));
  };

  std::size_t j = 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    Layer& l = layers[i];
    if (l.op == "bn" && l.folded) continue;
    const std::string layer = layer_name(l.weight.empty() ? l.mean : l.weight);
    if (j >= nodes.size()) {
      throw CheckpointError(p + ": the file has no node for the network's layer '" + layer + "' (" +
                            std::to_string(nodes.size()) + " weighted nodes in the file)");
    }
    const onnx::NodeProto& n = *nodes[j++];
    auto mismatch = [&](const std::string& what) {
      return CheckpointError(p + ": node '" + n.name() + "' (" + n.op_type() +
                             ") does not match the network's layer '" + layer + "': " + what);
    };
    const OpRecord& r = *l.record;
    if (l.op == "conv") {
      if (n.op_type() != "Conv") throw mismatch("expected a Conv");
      const Shape& ws = model.tensor_at(l.weight).shape();
      auto [w, wdims] = file.floats(n, 1);
      expect_shape(n, 1, l.weight, wdims);
      const std::vector<std::int64_t> want_k{ws[2], ws[3]};
      const std::vector<std::int64_t> strides{attr_of(r, "stride_h", 1), attr_of(r, "stride_w", 1)};
      const std::int64_t ph = attr_of(r, "pad_h", 0), pw = attr_of(r, "pad_w", 0);
      const std::vector<std::int64_t> pads{ph, pw, ph, pw};
      const std::vector<std::int64_t> dil{attr_of(r, "dilation_h", 1), attr_of(r, "dilation_w", 1)};
      if (ints_attr(n, "kernel_shape", want_k) != want_k) throw mismatch("kernel_shape differs");
      if (ints_attr(n, "strides", {1, 1}) != strides)
        throw mismatch("strides " + dims_str(ints_attr(n, "strides", {1, 1})) + " vs " +
                       dims_str(strides));
      if (ints_attr(n, "pads", {0, 0, 0, 0}) != pads)
        throw mismatch("pads " + dims_str(ints_attr(n, "pads", {0, 0, 0, 0})) + " vs " +
                       dims_str(pads));
      if (ints_attr(n, "dilations", {1, 1}) != dil) throw mismatch("dilations differ");
      if (int_attr(n, "group", 1) != attr_of(r, "groups", 1))
        throw mismatch("group " + std::to_string(int_attr(n, "group", 1)) + " vs " +
                       std::to_string(attr_of(r, "groups", 1)));
      set(l.weight, w);
      const bool file_bias = n.input_size() > 2 && !n.input(2).empty();
      std::vector<float> b;
      if (file_bias) {
        auto [bv, bdims] = file.floats(n, 2);
        if (bdims != std::vector<std::int64_t>{ws[0]})
          throw mismatch("bias of shape " + dims_str(bdims) + " for " + std::to_string(ws[0]) +
                         " filters");
        b = bv;
      }
      if (l.bn_after >= 0 && !bn_follows(n)) {
        absorb_folded_bn(l, b, mismatch);
      } else if (!l.bias.empty()) {
        if (b.empty()) b.assign(static_cast<std::size_t>(ws[0]), 0.0f);
        set(l.bias, b);
      } else if (!b.empty()) {
        bool zero = true;
        for (float v : b) zero = zero && v == 0.0f;
        if (!zero) throw mismatch("the file's Conv has a bias, the network's conv none");
      }
    } else if (l.op == "bn") {
      if (n.op_type() != "BatchNormalization") throw mismatch("expected a BatchNormalization");
      const double eps = attr_real(attr_of(r, "eps", real_attr(1e-5)));
      if (std::fabs(float_attr(n, "epsilon", 1e-5) - eps) > 1e-9 * std::max(1.0, eps) + 1e-12)
        throw mismatch("epsilon " + std::to_string(float_attr(n, "epsilon", 1e-5)) + " vs " +
                       std::to_string(eps));
      const std::string* targets[] = {&l.weight, &l.bias, &l.mean, &l.var};
      for (int k = 0; k < 4; ++k) {
        auto [v, dims] = file.floats(n, k + 1);
        if (targets[k]->empty()) throw mismatch("the network's batch norm has no affine");
        expect_shape(n, k + 1, *targets[k], dims);
        set(*targets[k], v);
      }
    } else {
      const Shape& ws = model.tensor_at(l.weight).shape();  // (out, in)
      std::vector<float> w;
      std::vector<std::int64_t> dims;
      bool transposed = false;
      std::vector<float> b;
      if (n.op_type() == "Gemm") {
        if (float_attr(n, "alpha", 1.0) != 1.0 || float_attr(n, "beta", 1.0) != 1.0 ||
            int_attr(n, "transA", 0) != 0)
          throw mismatch("only Gemm with alpha = beta = 1 and transA = 0 is a linear layer");
        std::tie(w, dims) = file.floats(n, 1);
        transposed = int_attr(n, "transB", 0) == 0;
        if (n.input_size() > 2 && !n.input(2).empty()) b = file.floats(n, 2).first;
      } else if (n.op_type() == "MatMul") {
        std::tie(w, dims) = file.floats(n, 1);
        transposed = true;
        for (const onnx::NodeProto* c : file.consumers(n.output(0)))
          if (c->op_type() == "Add" && c->input_size() == 2)
            for (int k = 0; k < 2; ++k)
              if (file.constant(c->input(k)) != nullptr) b = file.floats(*c, k).first;
      } else {
        throw mismatch("expected a Gemm or MatMul");
      }
      if (transposed) {
        if (dims.size() != 2) throw mismatch("weight of rank " + std::to_string(dims.size()));
        std::vector<float> t(w.size());
        for (std::int64_t a = 0; a < dims[0]; ++a)
          for (std::int64_t c = 0; c < dims[1]; ++c)
            t[static_cast<std::size_t>(c * dims[0] + a)] =
                w[static_cast<std::size_t>(a * dims[1] + c)];
        w = t;
        dims = {dims[1], dims[0]};
      }
      expect_shape(n, 1, l.weight, dims);
      set(l.weight, w);
      bool bn_next = false;
      for (const onnx::NodeProto* c : file.consumers(n.output(0)))
        bn_next = bn_next || c->op_type() == "BatchNormalization";
      if (l.bn_after >= 0 && !bn_next) {
        absorb_folded_bn(l, b, mismatch);
      } else if (!l.bias.empty()) {
        if (b.empty()) b.assign(static_cast<std::size_t>(ws[0]), 0.0f);
        if (static_cast<std::int64_t>(b.size()) != ws[0])
          throw mismatch("bias of " + std::to_string(b.size()) + " values for " +
                         std::to_string(ws[0]) + " outputs");
        set(l.bias, b);
      }
    }
  }
  if (j < nodes.size()) {
    throw CheckpointError(p + ": node '" + nodes[j]->name() + "' (" + nodes[j]->op_type() +
                          ") has no layer in the network (" + arch.name + " has " +
                          std::to_string(j) + " weighted layers matched, the file " +
                          std::to_string(nodes.size()) + ")");
  }
  NoGrad no_grad;
  for (auto& [name, t] : values) {
    Tensor& target = model.tensor_at(name);
    target.copy_(t.to(target.device()));
  }
}

}  // namespace shears::models
