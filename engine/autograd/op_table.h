#pragma once

// The op vocabulary: every op the engine records (record_op) is one row of SHEARS_OP_TABLE, and
// everything that reads a trace (pruning's dependency graph and cost model, the roofline report)
// names ops through the Op enum made from it, never through string literals.
//
// Adding an op: add a row here, raise kOpCountExpected, record it with its Op in engine/ops, then
// give it a rule in pruning/dependency.cpp (the compiler's -Wswitch names every switch that lacks
// it) and in pruning/cost_model.cpp. tests/pruning/test_op_coverage.cpp checks that every row is
// recorded by a real engine call and is handled by both, or blocks its channels for a stated
// reason.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace shears {

// X(Enumerator, "name as traced")
#define SHEARS_OP_TABLE(X)                \
  X(Conv2d, "conv2d")                     \
  X(Linear, "linear")                     \
  X(Matmul, "matmul")                     \
  X(BatchNorm, "batch_norm")              \
  X(Relu, "relu")                         \
  X(LeakyRelu, "leaky_relu")              \
  X(Sigmoid, "sigmoid")                   \
  X(Tanh, "tanh")                         \
  X(Exp, "exp")                           \
  X(Abs, "abs")                           \
  X(Sign, "sign")                         \
  X(Clamp, "clamp")                       \
  X(MaxPool2d, "max_pool2d")              \
  X(AvgPool2d, "avg_pool2d")              \
  X(GlobalAvgPool2d, "global_avg_pool2d") \
  X(Softmax, "softmax")                   \
  X(LogSoftmax, "log_softmax")            \
  X(NllLoss, "nll_loss")                  \
  X(BceWithLogits, "bce_with_logits")     \
  X(Add, "add")                           \
  X(Sub, "sub")                           \
  X(Mul, "mul")                           \
  X(Div, "div")                           \
  X(Scale, "scale")                       \
  X(AddScalar, "add_scalar")              \
  X(SumTo, "sum_to")                      \
  X(Concat, "concat")                     \
  X(Narrow, "narrow")                     \
  X(IndexSelect, "index_select")          \
  X(Reshape, "reshape")                   \
  X(Clone, "clone")                       \
  X(SoftMask, "soft_mask")                \
  X(AllReduceSum, "all_reduce_sum")

/// One recorded op. Count is not an op: it is the number of rows.
enum class Op : std::uint8_t {
#define SHEARS_OP_ENUM(id, name) id,
  SHEARS_OP_TABLE(SHEARS_OP_ENUM)
#undef SHEARS_OP_ENUM
      Count
};

inline constexpr int kOpCount = static_cast<int>(Op::Count);

/// The table's size when its readers were last brought up to date: a new row fails to compile
/// until every reader of the vocabulary has been looked at (see the checklist above).
inline constexpr int kOpCountExpected = 33;
static_assert(kOpCount == kOpCountExpected,
              "SHEARS_OP_TABLE changed: give the op its rules in pruning/dependency.cpp and "
              "pruning/cost_model.cpp, then update kOpCountExpected");

inline constexpr const char* kOpNames[] = {
#define SHEARS_OP_NAME(id, name) name,
    SHEARS_OP_TABLE(SHEARS_OP_NAME)
#undef SHEARS_OP_NAME
};
static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) == static_cast<std::size_t>(kOpCount),
              "one name per op");

/// The traced name of `op` ("conv2d").
constexpr const char* op_name(Op op) { return kOpNames[static_cast<std::size_t>(op)]; }

/// The op traced as `name`, or Op::Count when no op has that name.
constexpr Op op_from_name(std::string_view name) {
  for (int i = 0; i < kOpCount; ++i) {
    if (name == kOpNames[i]) return static_cast<Op>(i);
  }
  return Op::Count;
}

}  // namespace shears
