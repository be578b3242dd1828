#include "pruning/cost_model.h"

#include <map>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/trace.h"

namespace shears::pruning {

OpCostRule cost_rule(Op op) {
  using K = OpCostRule::Kind;
  // One case per op of engine/autograd/op_table.h and no default (-Wswitch).
  switch (op) {
    case Op::Conv2d:
      return {K::Macs, "Cout * Ho * Wo * (Cin/groups) * Kh * Kw MACs; weight and bias parameters"};
    case Op::Linear:
      return {K::Macs, "in * out MACs; weight and bias parameters"};
    case Op::BatchNorm:
      return {K::Free, "folds into the preceding convolution at inference, as the papers count"};
    case Op::Relu:
    case Op::LeakyRelu:
    case Op::Sigmoid:
    case Op::Tanh:
    case Op::Exp:
    case Op::Abs:
    case Op::Sign:
    case Op::Clamp:
    case Op::MaxPool2d:
    case Op::AvgPool2d:
    case Op::GlobalAvgPool2d:
    case Op::Add:
    case Op::Sub:
    case Op::Mul:
    case Op::Div:
    case Op::Scale:
    case Op::AddScalar:
    case Op::SoftMask:
    case Op::Softmax:
    case Op::LogSoftmax:
      return {K::Free,
              "element-wise or pooling work, not a multiply-accumulate of weights: the "
              "papers' FLOPs count conv and linear layers only"};
    case Op::Concat:
    case Op::Narrow:
    case Op::IndexSelect:
    case Op::Reshape:
    case Op::Clone:
      return {K::Free, "data movement, no arithmetic"};
    case Op::Matmul:
      return {K::Free,
              "a product of two activations, no weights: no network in models/ has one "
              "and the papers' FLOPs count conv and linear layers only"};
    case Op::AllReduceSum:
      return {K::Free, "communication between ranks, not arithmetic of the network"};
    case Op::NllLoss:
    case Op::BceWithLogits:
    case Op::SumTo:
      return {K::Free, "training-only (a loss, a gradient reduction): not part of inference"};
    case Op::Count:
      break;
  }
  return {K::Free, "not an op"};
}

CostReport count_cost(nn::Module& model, const Shape& input_chw) {
  SHEARS_CHECK_AS(ShapeError, input_chw.size() == 3, "cost model: input must be C x H x W, got ",
                  shape_str(input_chw));
  CostReport report;
  std::map<const TensorImpl*, std::string> names;
  for (auto& [name, t] : model.named_parameters()) {
    names[t.id()] = name;
    report.params += t.numel();
  }
  // A buffer weight is a conv's constant-input kernel (nn::Conv2d::set_constant_kernel): it runs,
  // so it is counted, under its own name; as a buffer it is not a parameter.
  for (auto& [name, t] : model.named_buffers()) names.emplace(t.id(), name);
  Device device = Device::cpu();
  auto params = model.named_parameters();
  if (!params.empty()) device = params.front().second.device();

  const bool was_training = model.is_training();
  model.eval();
  std::vector<OpRecord> records;
  {
    NoGrad no_grad;
    TraceScope trace;
    Tensor x = Tensor::zeros({1, input_chw[0], input_chw[1], input_chw[2]}, DType::F32, device);
    model.forward(x);
    records = trace.records();
  }
  model.train(was_training);

  for (const OpRecord& r : records) {
    if (cost_rule(r.op).kind != OpCostRule::Kind::Macs) continue;
    const Tensor& w = r.inputs.at(1);
    LayerCost layer;
    layer.op = r.name;
    auto it = names.find(w.id());
    layer.name =
        it != names.end() ? it->second : r.name + "#" + std::to_string(report.layers.size());
    layer.weight_shape = w.shape();
    layer.input_shape.assign(r.inputs[0].shape().begin() + 1, r.inputs[0].shape().end());
    layer.output_shape.assign(r.output.shape().begin() + 1, r.output.shape().end());
    LayerGeometry where;
    const Tensor& x = r.inputs.at(0);
    where.input_shape.assign(x.shape().begin() + 1, x.shape().end());
    for (const auto& [attr, value] : r.attrs) {
      if (attr == "stride_h") where.stride = static_cast<int>(value);
      if (attr == "pad_h") where.padding = static_cast<int>(value);
      if (attr == "groups") where.groups = value;
    }
    report.geometry.push_back(where);
    const bool has_bias = r.inputs.size() > 2 && r.inputs[2].defined();
    const bool buffer = it != names.end() && it->second.size() > 16 &&
                        it->second.compare(it->second.size() - 16, 16, ".constant_kernel") == 0;
    layer.params = buffer ? 0 : w.numel() + (has_bias ? r.inputs[2].numel() : 0);
    if (r.op == Op::Conv2d) {
      // weight (Cout, Cin/groups, Kh, Kw): each output element costs Cin/groups * Kh * Kw MACs.
      std::int64_t per_output = w.size(1) * w.size(2) * w.size(3);
      layer.macs = r.output.numel() / r.output.size(0) * per_output;
    } else {
      layer.macs = r.output.numel() / r.output.size(0) * w.size(1);
    }
    report.macs += layer.macs;
    report.layers.push_back(layer);
  }
  return report;
}

double reduction_percent(std::int64_t before, std::int64_t after) {
  return before > 0 ? 100.0 * (1.0 - static_cast<double>(after) / static_cast<double>(before))
                    : 0.0;
}

}  // namespace shears::pruning
