#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/nn/module.h"
#include "models/arch.h"

namespace shears::models {

/// True when shears was built with ONNX support (Debian's libonnx-dev and libprotobuf-dev
/// found at configure time). Without it every function below throws Error saying so.
bool onnx_available();

/// How `export_onnx` writes a network.
struct OnnxExportOptions {
  /// ONNX operator set of the default domain, kOnnxMinOpset..kOnnxMaxOpset.
  int opset = 13;
  /// Fold every batch norm that directly follows a convolution into that convolution's weight
  /// and bias (eval-mode statistics).
  bool fold_bn = false;
  /// Batch size of the graph's input and output; 0 writes a symbolic ("N", dynamic) batch.
  std::int64_t batch = 0;
};

constexpr int kOnnxMinOpset = 11;
constexpr int kOnnxMaxOpset = 17;

/// What an export wrote.
struct OnnxExportInfo {
  int nodes = 0;
  int initializers = 0;
  /// Batch norms folded into their convolution (fold_bn), and batch norms kept as
  /// BatchNormalization nodes because no convolution directly precedes them.
  int folded_bn = 0, kept_bn = 0;
  /// Every op type written, with its count.
  std::map<std::string, int> op_types;
  Shape input_shape, output_shape;  // batch 0 stands for the symbolic batch
};

/// Writes `model` (a models::Model, or any module when `arch_json` is given) in eval mode as an
/// ONNX model to `path`. The graph is what one traced forward pass at the architecture's input
/// shape runs, op for op: Conv (groups and depthwise included), BatchNormalization, Relu,
/// LeakyRelu, Sigmoid, Tanh, Exp, Add/Sub/Mul/Div, MaxPool, AveragePool, GlobalAveragePool,
/// Flatten/Reshape, Gemm, MatMul, Concat, Slice, Gather, and Pad for zero channels appended to a
/// tensor (option-A shortcuts), so that any batch size works. Parameters and buffers become
/// initializers named as in the state dict ("layer1.0.conv1.weight"); with fold_bn a folded
/// convolution's weight and bias keep the convolution's name. The graph input is "input"
/// (N, C, H, W) float32 and the output "logits" (N, classes). Metadata (metadata_props):
/// "shears.arch" (arch_to_json), "shears.input", "shears.output" (name and shape),
/// "shears.fold_bn" ("0"/"1"). The file is checked with ONNX's own checker before it is
/// written atomically. The model's train/eval mode is restored.
/// Throws ShapeError naming the layer for an op with no ONNX form (or one the chosen opset
/// lacks), ConfigError for an opset outside [kOnnxMinOpset, kOnnxMaxOpset] or a batch < 0, and
/// Error when writing fails.
OnnxExportInfo export_onnx(nn::Module& model, const std::string& path,
                           const OnnxExportOptions& options = {},
                           const std::string& arch_json = "");

/// The architecture a shears-exported ONNX file records ("shears.arch"), or "" when it records
/// none (a file written by another exporter). Throws CheckpointError naming the file when it
/// cannot be read or parsed as an ONNX model.
std::string onnx_arch_json(const std::string& path);

/// Loads the initializers of the ONNX model at `path` into `model` (a models::Model in any
/// mode). The ONNX graph must compute the same network: its Conv, BatchNormalization and
/// Gemm/MatMul nodes are matched in graph order with the convolutions, batch norms and linear
/// layers of a traced forward pass of `model`, each node's kernel, stride, padding, dilation and
/// groups checked, and every weight's shape checked against the layer's. A convolution followed
/// by no BatchNormalization in the file while `model` has a batch norm after it (a folded
/// export: shears --fold-bn, or PyTorch's exporter in eval mode) sets the convolution's weight
/// and gives the batch norm the identity statistics with the file's bias as its shift, which
/// computes the same in eval mode. Works for files shears exported (folded or not) and for
/// torchvision ResNets and MobileNetV2 exported by torch.onnx. `model` is unchanged when it
/// throws. Throws CheckpointError naming the file and the first tensor or node that does not
/// match (with both shapes), a node type the importer does not know, or a file that is not an
/// ONNX model (truncated, other format).
void load_onnx_weights(nn::Module& model, const std::string& path);

}  // namespace shears::models
