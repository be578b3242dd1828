#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/autograd/op_table.h"
#include "engine/nn/module.h"

namespace shears::pruning {

/// The cost of one conv or linear layer for a single input sample.
struct LayerCost {
  std::string name;  // the weight's parameter name, e.g. "layer1.0.conv1.weight"
  std::string op;    // "conv2d" or "linear"
  Shape weight_shape;
  Shape output_shape;  // per sample (batch dimension dropped)
  std::int64_t macs = 0;
  std::int64_t params = 0;  // weight + bias
  Shape input_shape;        // of the layer's input, per sample (batch dimension dropped)
};

/// Where one conv or linear layer of a CostReport runs: what a latency table needs beside the
/// weight's shape.
struct LayerGeometry {
  Shape input_shape;            // per sample (batch dimension dropped)
  int stride = 1, padding = 0;  // conv only (height's; the networks use square ones)
  std::int64_t groups = 1;      // conv only
};

/// FLOPs counted as multiply-accumulates (MACs) of conv and linear layers, as the pruning papers
/// report them, and the parameter count of the whole model.
struct CostReport {
  std::vector<LayerCost> layers;
  std::vector<LayerGeometry> geometry;  // one per entry of `layers`
  std::int64_t macs = 0;                // sum over layers, per sample
  std::int64_t params = 0;              // every parameter of the model (BN included)
};

/// How count_cost treats one op of the vocabulary (engine/autograd/op_table.h).
struct OpCostRule {
  enum class Kind {
    Macs,  // its multiply-accumulates and weight parameters are counted as a layer
    Free,  // not counted, for the reason stated
  };
  Kind kind = Kind::Free;
  const char* rule = "";
};

/// The rule for `op` (every op of the table has one; tests/pruning/test_op_coverage.cpp checks).
OpCostRule cost_rule(Op op);

/// Traces one forward pass of `model` (eval mode, no grad, batch 1, on the model's device) on an
/// input of shape (1, C, H, W) and counts the MACs of every conv2d and linear op in the trace:
/// conv: Cout * Ho * Wo * (Cin/groups) * Kh * Kw; linear: in * out. Layers are named by their
/// weight parameter when the weight is a parameter of `model`.
CostReport count_cost(nn::Module& model, const Shape& input_chw);

/// 100 * (1 - after / before).
double reduction_percent(std::int64_t before, std::int64_t after);

}  // namespace shears::pruning
