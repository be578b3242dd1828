#include "tests/support/op_cases.h"

#include "engine/ops.h"

namespace shears::testing {

namespace {

Conv2dParams conv_params(int stride, int pad, int dilation, int groups) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  p.dilation_h = p.dilation_w = dilation;
  p.groups = groups;
  return p;
}

OpCase conv_case(const std::string& name, Shape x, Shape w, bool bias, Conv2dParams p) {
  std::vector<OpInput> in{{x}, {w}};
  if (bias) in.push_back({{w[0]}});
  return OpCase{name, in,
                [p, bias](const std::vector<Tensor>& t) {
                  return conv2d(t[0], t[1], bias ? t[2] : Tensor(), p);
                },
                nullptr};
}

/// Labels 0..C-1 cycling over the batch, as I64.
Tensor labels_for(std::int64_t n, std::int64_t c, Device device) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = (i * 7 + 3) % c;
  return Tensor::from_vector(v, {n}, device);
}

std::vector<OpCase> build() {
  std::vector<OpCase> cases;
  // Convolutions: stride, padding, dilation, groups (incl. depthwise), bias, odd channels.
  cases.push_back(
      conv_case("Conv2dBasic", {2, 3, 5, 5}, {4, 3, 3, 3}, true, conv_params(1, 1, 1, 1)));
  cases.push_back(
      conv_case("Conv2dStride2NoBias", {2, 3, 7, 6}, {5, 3, 3, 3}, false, conv_params(2, 1, 1, 1)));
  cases.push_back(
      conv_case("Conv2dDilation2", {1, 2, 7, 7}, {3, 2, 3, 3}, true, conv_params(1, 2, 2, 1)));
  cases.push_back(
      conv_case("Conv2dGroups2", {2, 4, 5, 5}, {6, 2, 3, 3}, true, conv_params(1, 1, 1, 2)));
  cases.push_back(conv_case("Conv2dDepthwiseStride2", {2, 5, 6, 6}, {5, 1, 3, 3}, true,
                            conv_params(2, 1, 1, 5)));
  cases.push_back(conv_case("Conv2dPointwiseOdd", {2, 13, 3, 3}, {7, 13, 1, 1}, false,
                            conv_params(1, 0, 1, 1)));
  cases.push_back(
      conv_case("Conv2dKernel5Pad2", {1, 2, 6, 6}, {3, 2, 5, 5}, true, conv_params(1, 2, 1, 1)));

  // Batch norm in training (batch statistics) and eval (running statistics).
  cases.push_back(OpCase{"BatchNormTrain",
                         {{{3, 4, 3, 3}}, {{4}, 0.5, 1.5}, {{4}}},
                         [](const std::vector<Tensor>& t) {
                           Tensor rm = Tensor::zeros({4}, t[0].dtype(), t[0].device()),
                                  rv = Tensor::ones({4}, t[0].dtype(), t[0].device());
                           return batch_norm(t[0], t[1], t[2], rm, rv, true, 0.1, 1e-5);
                         },
                         nullptr});
  cases.push_back(OpCase{
      "BatchNormEval",
      {{{3, 4, 3, 3}}, {{4}, 0.5, 1.5}, {{4}}, {{4}, -0.5, 0.5, false}, {{4}, 0.5, 2.0, false}},
      [](const std::vector<Tensor>& t) {
        return batch_norm(t[0], t[1], t[2], t[3], t[4], false, 0.1, 1e-5);
      },
      nullptr});
  cases.push_back(OpCase{"BatchNorm1dTrain",
                         {{{6, 5}}, {{5}, 0.5, 1.5}, {{5}}},
                         [](const std::vector<Tensor>& t) {
                           return batch_norm(t[0], t[1], t[2], Tensor(), Tensor(), true, 0.1, 1e-5);
                         },
                         nullptr});
  // Activations.
  cases.push_back(OpCase{
      "Relu", {{{2, 3, 4, 4}}}, [](const std::vector<Tensor>& t) { return relu(t[0]); }, nullptr});
  cases.push_back(OpCase{"LeakyRelu",
                         {{{2, 3, 4, 4}}},
                         [](const std::vector<Tensor>& t) { return leaky_relu(t[0], 0.2); },
                         nullptr});
  cases.push_back(OpCase{"Sigmoid",
                         {{{2, 3, 4}, -3, 3}},
                         [](const std::vector<Tensor>& t) { return sigmoid(t[0]); },
                         nullptr});
  cases.push_back(OpCase{"Tanh",
                         {{{2, 3, 4}, -2, 2}},
                         [](const std::vector<Tensor>& t) { return shears::tanh(t[0]); },
                         nullptr});
  cases.push_back(OpCase{"Exp",
                         {{{2, 3, 4}, -2, 2}},
                         [](const std::vector<Tensor>& t) { return shears::exp(t[0]); },
                         nullptr});
  cases.push_back(OpCase{"Abs",
                         {{{2, 3, 4}, -2, 2}},
                         [](const std::vector<Tensor>& t) { return shears::abs(t[0]); },
                         nullptr});
  cases.push_back(OpCase{"Sign",
                         {{{2, 3, 4}, -2, 2}},
                         [](const std::vector<Tensor>& t) { return mul(sign(t[0]), t[0]); },
                         nullptr});
  cases.push_back(OpCase{"Clamp",
                         {{{2, 3, 4}, -2, 2}},
                         [](const std::vector<Tensor>& t) { return clamp(t[0], -0.7, 0.9); },
                         nullptr});
  cases.push_back(OpCase{"SoftThreshold",
                         {{{2, 3, 4}, -2, 2}},
                         [](const std::vector<Tensor>& t) { return soft_threshold(t[0], 0.3); },
                         nullptr});
  // Pooling.
  cases.push_back(OpCase{"MaxPool2dPad",
                         {{{2, 3, 7, 7}}},
                         [](const std::vector<Tensor>& t) { return max_pool2d(t[0], 3, 2, 1); },
                         nullptr});
  cases.push_back(
      OpCase{"MaxPool2dCeil",
             {{{1, 2, 6, 6}}},
             [](const std::vector<Tensor>& t) { return max_pool2d(t[0], 3, 2, 0, true); },
             nullptr});
  cases.push_back(
      OpCase{"AvgPool2dPad",
             {{{2, 3, 7, 7}}},
             [](const std::vector<Tensor>& t) { return avg_pool2d(t[0], 3, 2, 1, false, true); },
             nullptr});
  cases.push_back(
      OpCase{"AvgPool2dExcludePad",
             {{{2, 3, 6, 6}}},
             [](const std::vector<Tensor>& t) { return avg_pool2d(t[0], 3, 2, 1, true, false); },
             nullptr});
  cases.push_back(OpCase{"GlobalAvgPool",
                         {{{2, 5, 4, 3}}},
                         [](const std::vector<Tensor>& t) { return global_avg_pool2d(t[0]); },
                         nullptr});
  // Linear algebra.
  cases.push_back(OpCase{"Linear",
                         {{{4, 6}}, {{3, 6}}, {{3}}},
                         [](const std::vector<Tensor>& t) { return linear(t[0], t[1], t[2]); },
                         nullptr});
  cases.push_back(OpCase{"LinearNoBias",
                         {{{4, 6}}, {{3, 6}}},
                         [](const std::vector<Tensor>& t) { return linear(t[0], t[1]); },
                         nullptr});
  cases.push_back(OpCase{"Matmul",
                         {{{3, 4}}, {{4, 5}}},
                         [](const std::vector<Tensor>& t) { return matmul(t[0], t[1]); },
                         nullptr});
  // Elementwise with broadcasting (per-channel masks), scale.
  cases.push_back(OpCase{"AddBroadcastChannel",
                         {{{2, 3, 2, 2}}, {{1, 3, 1, 1}}},
                         [](const std::vector<Tensor>& t) { return add(t[0], t[1]); },
                         nullptr});
  cases.push_back(OpCase{"SubBroadcastRow",
                         {{{2, 3, 2, 2}}, {{2}}},
                         [](const std::vector<Tensor>& t) { return sub(t[0], t[1]); },
                         nullptr});
  cases.push_back(OpCase{"MulChannelMask",
                         {{{2, 3, 2, 2}}, {{1, 3, 1, 1}}},
                         [](const std::vector<Tensor>& t) { return mul(t[0], t[1]); },
                         nullptr});
  cases.push_back(OpCase{"MulSame",
                         {{{2, 3, 4}}, {{2, 3, 4}}},
                         [](const std::vector<Tensor>& t) { return mul(t[0], t[1]); },
                         nullptr});
  cases.push_back(OpCase{"DivBroadcast",
                         {{{2, 3, 4}}, {{3, 1}, 0.5, 2.0}},
                         [](const std::vector<Tensor>& t) { return div(t[0], t[1]); },
                         nullptr});
  cases.push_back(OpCase{"Scale",
                         {{{2, 3}}},
                         [](const std::vector<Tensor>& t) { return scale(t[0], -2.5); },
                         nullptr});
  cases.push_back(OpCase{"AddScalar",
                         {{{2, 3}}},
                         [](const std::vector<Tensor>& t) { return add_scalar(t[0], 0.75); },
                         nullptr});
  cases.push_back(OpCase{"SoftMaskChannels",
                         {{{2, 5, 3, 3}}, {{5}}},
                         [](const std::vector<Tensor>& t) { return soft_mask(t[0], t[1]); },
                         nullptr});
  // Shapes and indexing.
  cases.push_back(OpCase{"ConcatChannels",
                         {{{2, 3, 2, 2}}, {{2, 5, 2, 2}}},
                         [](const std::vector<Tensor>& t) {
                           return concat({t[0], t[1]}, 1);
                         },
                         nullptr});
  cases.push_back(OpCase{"NarrowChannels",
                         {{{2, 7, 2, 2}}},
                         [](const std::vector<Tensor>& t) { return narrow(t[0], 1, 2, 3); },
                         nullptr});
  cases.push_back(OpCase{"ReshapeFlatten",
                         {{{2, 3, 2, 2}}},
                         [](const std::vector<Tensor>& t) {
                           return flatten(reshape(t[0], {2, 12, 1, 1}));
                         },
                         nullptr});
  cases.push_back(
      OpCase{"IndexSelectRepeats",
             {{{2, 6, 2}}},
             [](const std::vector<Tensor>& t) {
               Tensor idx = Tensor::from_vector<std::int64_t>({5, 0, 2, 0}, {4}, t[0].device());
               return index_select(t[0], 1, idx);
             },
             nullptr});
  // Reductions.
  cases.push_back(OpCase{
      "Sum", {{{2, 3, 4}}}, [](const std::vector<Tensor>& t) { return sum(t[0]); }, nullptr});
  cases.push_back(OpCase{
      "Mean", {{{2, 3, 4}}}, [](const std::vector<Tensor>& t) { return mean(t[0]); }, nullptr});
  cases.push_back(OpCase{"SumToChannels",
                         {{{2, 3, 4, 4}}},
                         [](const std::vector<Tensor>& t) {
                           return sum_to(t[0], {3, 1, 1});
                         },
                         nullptr});
  // Dropout with a fixed seed is a fixed mask: differentiable and checkable.
  cases.push_back(OpCase{"Dropout",
                         {{{4, 8}}},
                         [](const std::vector<Tensor>& t) { return dropout(t[0], 0.3, true, 42); },
                         nullptr});
  // Softmax and losses.
  cases.push_back(OpCase{"Softmax",
                         {{{3, 5}, -2, 2}},
                         [](const std::vector<Tensor>& t) { return softmax(t[0]); },
                         nullptr});
  cases.push_back(OpCase{"LogSoftmax",
                         {{{3, 5}, -2, 2}},
                         [](const std::vector<Tensor>& t) { return log_softmax(t[0]); },
                         nullptr});
  cases.push_back(OpCase{"CrossEntropy",
                         {{{4, 5}, -2, 2}},
                         [](const std::vector<Tensor>& t) {
                           return cross_entropy(t[0], labels_for(4, 5, t[0].device()));
                         },
                         nullptr});
  cases.push_back(OpCase{"CrossEntropySmoothed",
                         {{{4, 5}, -2, 2}},
                         [](const std::vector<Tensor>& t) {
                           return cross_entropy(t[0], labels_for(4, 5, t[0].device()), 0.1);
                         },
                         nullptr});
  cases.push_back(OpCase{
      "KlDiv",
      {{{3, 4}, -2, 2}, {{3, 4}, -2, 2}},
      [](const std::vector<Tensor>& t) { return kl_div(log_softmax(t[0]), log_softmax(t[1])); },
      nullptr});
  cases.push_back(OpCase{"MseLoss",
                         {{{3, 4}}, {{3, 4}}},
                         [](const std::vector<Tensor>& t) { return mse_loss(t[0], t[1]); },
                         nullptr});
  cases.push_back(OpCase{"BceWithLogits",
                         {{{3, 4}, -3, 3}, {{3, 4}, 0, 1, false}},
                         [](const std::vector<Tensor>& t) { return bce_with_logits(t[0], t[1]); },
                         nullptr});
  return cases;
}

}  // namespace

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = build();
  return cases;
}

std::vector<Tensor> make_case_inputs(const OpCase& c, DType dtype, Device device,
                                     std::uint64_t seed) {
  if (c.make_inputs) return c.make_inputs(dtype, device, seed);
  std::vector<Tensor> inputs;
  Generator gen(seed);
  for (const OpInput& in : c.inputs) {
    Tensor t = rand_uniform(in.shape, in.lo, in.hi, gen, dtype, device);
    if (in.differentiable) t.set_requires_grad(true);
    inputs.push_back(t);
  }
  return inputs;
}

}  // namespace shears::testing
