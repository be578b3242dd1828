// The op vocabulary (engine/autograd/op_table.h) against its readers: every op of the table is
// recorded by a real engine call under its own name, and pruning's dependency graph and cost
// model each give it a rule: it is handled (its channels flow through, its MACs are counted or
// said not to be) or it blocks its channels, with the reason stated.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/op_table.h"
#include "engine/autograd/trace.h"
#include "engine/dist/communicator.h"
#include "engine/nn/conv2d.h"
#include "engine/nn/linear.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "pruning/cost_model.h"
#include "pruning/dependency.h"

namespace shears::testing {
namespace {

using pruning::OpCostRule;
using pruning::OpDependencyRule;

/// Rank 0 of two whose partner contributes zeros: all_reduce_sum records its op only when the
/// job has more than one rank.
class TwoRanksOfZeros : public CommBackend {
 public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::string name() const override { return "two-ranks-of-zeros"; }
  bool device_memory() const override { return false; }
  void allreduce(void*, std::size_t, DType, ReduceOp) override {}
  void broadcast(void*, std::size_t, int) override {}
  void allgather(const void*, void*, std::size_t) override {}
  void barrier() override {}
  [[noreturn]] void abort(int code) override { std::exit(code); }
};

/// One engine call per op of the table; each must record its op.
std::map<Op, std::function<void()>> op_calls() {
  Generator gen(3);
  const Tensor x = rand_uniform({2, 3, 4, 4}, -1, 1, gen);
  const Tensor w = rand_uniform({4, 3, 3, 3}, -1, 1, gen);
  const Tensor m = rand_uniform({2, 5}, -1, 1, gen);
  const Tensor fw = rand_uniform({6, 5}, -1, 1, gen);
  const Tensor c = Tensor::ones({3});
  const Tensor labels = Tensor::zeros({2}, DType::I64);
  const Tensor index = Tensor::zeros({2}, DType::I64);
  auto two_ranks = std::make_shared<dist::Communicator>(std::make_unique<TwoRanksOfZeros>());
  return {
      {Op::Conv2d, [=] { conv2d(x, w, Tensor(), 1, 1); }},
      {Op::Linear, [=] { linear(m, fw); }},
      {Op::Matmul,
       [=] {
         matmul(m, reshape(fw, {5, 6}));
       }},
      {Op::BatchNorm, [=] { batch_norm(x, c, c, c, c, false, 0.1, 1e-5); }},
      {Op::Relu, [=] { relu(x); }},
      {Op::LeakyRelu, [=] { leaky_relu(x, 0.1); }},
      {Op::Sigmoid, [=] { sigmoid(x); }},
      {Op::Tanh, [=] { tanh(x); }},
      {Op::Exp, [=] { exp(x); }},
      {Op::Abs, [=] { abs(x); }},
      {Op::Sign, [=] { sign(x); }},
      {Op::Clamp, [=] { clamp(x, -0.5, 0.5); }},
      {Op::MaxPool2d, [=] { max_pool2d(x, 2); }},
      {Op::AvgPool2d, [=] { avg_pool2d(x, 2); }},
      {Op::GlobalAvgPool2d, [=] { global_avg_pool2d(x); }},
      {Op::Softmax, [=] { softmax(m); }},
      {Op::LogSoftmax, [=] { log_softmax(m); }},
      {Op::NllLoss, [=] { nll_loss(log_softmax(m), labels); }},
      {Op::BceWithLogits, [=] { bce_with_logits(m, sigmoid(m)); }},
      {Op::Add, [=] { add(x, x); }},
      {Op::Sub, [=] { sub(x, x); }},
      {Op::Mul, [=] { mul(x, x); }},
      {Op::Div, [=] { div(x, add_scalar(mul(x, x), 1.0)); }},
      {Op::Scale, [=] { scale(x, 2.0); }},
      {Op::AddScalar, [=] { add_scalar(x, 1.0); }},
      {Op::SumTo,
       [=] {
         sum_to(x, {1, 3, 1, 1});
       }},
      {Op::Concat,
       [=] {
         concat({x, x}, 1);
       }},
      {Op::Narrow, [=] { narrow(x, 1, 1, 2); }},
      {Op::IndexSelect, [=] { index_select(x, 1, index); }},
      {Op::Reshape,
       [=] {
         reshape(x, {2, 48});
       }},
      {Op::Clone, [=] { x.clone(); }},
      {Op::SoftMask, [=] { soft_mask(x, c); }},
      {Op::AllReduceSum, [=] { dist::all_reduce_sum(x, *two_ranks); }},
  };
}

TEST(OpTable, NamesAreUniqueAndRoundTrip) {
  std::set<std::string> names;
  for (int i = 0; i < kOpCount; ++i) {
    const Op op = static_cast<Op>(i);
    const std::string name = op_name(op);
    EXPECT_FALSE(name.empty()) << i;
    EXPECT_TRUE(names.insert(name).second) << "duplicate op name " << name;
    EXPECT_EQ(op_from_name(name), op) << name;
  }
  EXPECT_EQ(op_from_name("no_such_op"), Op::Count);
}

TEST(OpTable, EveryOpIsRecordedByTheEngineUnderItsName) {
  const std::map<Op, std::function<void()>> calls = op_calls();
  for (int i = 0; i < kOpCount; ++i) {
    const Op op = static_cast<Op>(i);
    SCOPED_TRACE(op_name(op));
    auto it = calls.find(op);
    ASSERT_NE(it, calls.end()) << "no engine call in this test records " << op_name(op);
    std::vector<OpRecord> records;
    {
      NoGrad no_grad;
      TraceScope trace;
      it->second();
      records = trace.records();
    }
    bool seen = false;
    for (const OpRecord& r : records) {
      // Whatever else the call recorded is a row of the table too, under its own name.
      EXPECT_EQ(op_from_name(r.name), r.op) << r.name;
      seen |= r.op == op && r.name == op_name(op);
    }
    EXPECT_TRUE(seen);
  }
}

TEST(OpTable, EveryOpHasADependencyRuleAndACostRule) {
  for (int i = 0; i < kOpCount; ++i) {
    const Op op = static_cast<Op>(i);
    SCOPED_TRACE(op_name(op));
    const OpDependencyRule dep = pruning::dependency_rule(op);
    EXPECT_GT(std::string(dep.rule).size(), 20u) << "the rule or the reason it blocks is stated";
    EXPECT_NE(std::string(dep.rule), "not an op");
    const OpCostRule cost = pruning::cost_rule(op);
    EXPECT_GT(std::string(cost.rule).size(), 20u);
    EXPECT_NE(std::string(cost.rule), "not an op");
  }
  EXPECT_EQ(std::string(pruning::dependency_rule(Op::Count).rule), "not an op");
}

TEST(OpTable, RulesMatchWhatTheGraphAndCostModelDo) {
  using DK = OpDependencyRule::Kind;
  // The layers pruning removes filters from are the ones whose MACs are counted.
  for (Op op : {Op::Conv2d, Op::Linear}) {
    EXPECT_EQ(pruning::dependency_rule(op).kind, DK::Couples) << op_name(op);
    EXPECT_EQ(pruning::cost_rule(op).kind, OpCostRule::Kind::Macs) << op_name(op);
  }
  // The ops that block, deliberately: the ones no rule of the graph can follow.
  std::set<Op> blocks;
  for (int i = 0; i < kOpCount; ++i) {
    const Op op = static_cast<Op>(i);
    if (pruning::dependency_rule(op).kind == DK::Blocks) blocks.insert(op);
    if (op != Op::Conv2d && op != Op::Linear) {
      EXPECT_EQ(pruning::cost_rule(op).kind, OpCostRule::Kind::Free) << op_name(op);
    }
  }
  EXPECT_EQ(blocks, (std::set<Op>{Op::Matmul, Op::Softmax, Op::LogSoftmax, Op::NllLoss,
                                  Op::BceWithLogits, Op::SumTo}));
}

// conv -> global pooling -> (N, 4) -> the op -> linear: the conv's channels pass through the op.
class ThroughOp : public nn::Module {
 public:
  explicit ThroughOp(Op op) : op_(op) {
    nn::Conv2dOptions o;
    o.in_channels = 3;
    o.out_channels = 4;
    o.kernel = 3;
    o.padding = 1;
    conv = register_module("conv", std::make_shared<nn::Conv2d>(o));
    fc = register_module("fc", std::make_shared<nn::Linear>(4, 2));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = flatten(global_avg_pool2d(conv->forward(x)), 1);
    switch (op_) {
      case Op::Matmul:
        h = matmul(h, Tensor::ones({4, 4}));
        break;
      case Op::Softmax:
        h = softmax(h);
        break;
      case Op::LogSoftmax:
        h = log_softmax(h);
        break;
      case Op::Relu:
        h = relu(h);
        break;
      default:
        throw Error(std::string("ThroughOp: no case for ") + op_name(op_));
    }
    return fc->forward(h);
  }
  std::string type_name() const override { return "ThroughOp"; }
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::Linear> fc;

 private:
  Op op_;
};

// A blocking op blocks every channel that passes through it, and the graph gives the rule's
// reason; with relu in its place (a channel-wise op) the same channels are free.
TEST(OpTable, BlockingOpsBlockTheirChannelsWithTheStatedReason) {
  for (Op op : {Op::Matmul, Op::Softmax, Op::LogSoftmax}) {
    SCOPED_TRACE(op_name(op));
    ThroughOp net(op);
    const pruning::DependencyGraph g = pruning::DependencyGraph::build(net, {3, 4, 4});
    const pruning::Group* group = g.group_of("conv.weight");
    ASSERT_NE(group, nullptr);
    EXPECT_FALSE(group->prunable());
    EXPECT_EQ(group->blocked_reason, std::string("unsupported op ") + op_name(op) + ": " +
                                         pruning::dependency_rule(op).rule);
  }
  ThroughOp free_net(Op::Relu);
  const pruning::DependencyGraph g = pruning::DependencyGraph::build(free_net, {3, 4, 4});
  ASSERT_NE(g.group_of("conv.weight"), nullptr);
  EXPECT_TRUE(g.group_of("conv.weight")->prunable());
}

}  // namespace
}  // namespace shears::testing
