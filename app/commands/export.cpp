#include <cstdio>
#include <filesystem>

#include "app/cli.h"
#include "app/experiment.h"
#include "models/arch.h"
#include "models/onnx/onnx.h"

namespace shears::app {

namespace {
const char* kHelp =
    "usage: shears export CHECKPOINT --out MODEL.onnx [--opset N] [--fold-bn]\n"
    "                     [--batch dynamic|N]\n"
    "\n"
    "Writes the network of a shears checkpoint (dense or pruned: its recorded architecture) as an\n"
    "ONNX model in eval mode, with ONNX's own schema, checked by ONNX's checker. Input 'input'\n"
    "(N, C, H, W) float32, output 'logits' (N, classes); the architecture JSON is in the model's\n"
    "metadata ('shears.arch'), so `model.checkpoint: MODEL.onnx` loads it back.\n"
    "  --opset N          ONNX operator set (11..17, default 13)\n"
    "  --fold-bn          fold each batch norm into the convolution before it\n"
    "  --batch dynamic|N  batch size of input and output (default dynamic: symbolic 'N')\n";

int parse_int(const std::string& flag, const std::string& text) {
  try {
    std::size_t used = 0;
    int v = std::stoi(text, &used);
    if (used == text.size()) return v;
  } catch (const std::logic_error&) {
  }
  throw Error("shears export: " + flag + " " + text + " is not an integer");
}
}  // namespace

int command_export(const std::vector<std::string>& args) {
  Args a(args, {"--out", "--opset", "--batch"}, {"--help", "--fold-bn"}, "export");
  if (a.has("--help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (a.positional().size() != 1) {
    throw Error("shears export: give exactly one CHECKPOINT (see --help)");
  }
  if (!a.has("--out")) throw Error("shears export: --out MODEL.onnx is required");
  const std::string path = a.positional()[0];
  if (!std::filesystem::exists(path)) throw CheckpointError(path + ": no such checkpoint file");
  models::OnnxExportOptions o;
  o.fold_bn = a.has("--fold-bn");
  if (a.has("--opset")) o.opset = parse_int("--opset", a.value("--opset"));
  const std::string batch = a.value("--batch", "dynamic");
  if (batch != "dynamic") {
    o.batch = parse_int("--batch", batch);
    if (o.batch < 1) throw Error("shears export: --batch " + batch + " must be >= 1 or 'dynamic'");
  }
  const std::string arch = checkpoint_arch(path);
  if (arch.empty()) {
    throw CheckpointError(path + ": records no architecture (metadata 'arch'); export needs one");
  }
  BuiltModel model;
  try {
    model = build_model_from_arch(arch);
  } catch (const Error& e) {
    throw CheckpointError(path + ": recorded architecture cannot be built: " + e.what());
  }
  load_weights(*model.module, path);
  models::OnnxExportInfo info = models::export_onnx(*model.module, a.value("--out"), o, arch);
  auto shape_text = [](Shape s) {
    std::string t = shape_str(s);
    return s.at(0) == 0 ? "[N" + t.substr(t.find(',')) : t;  // batch 0: the symbolic batch
  };
  std::printf("%s: %s, opset %d, %d nodes, %d initializers, input %s, output %s",
              a.value("--out").c_str(), model.name.c_str(), o.opset, info.nodes, info.initializers,
              shape_text(info.input_shape).c_str(), shape_text(info.output_shape).c_str());
  if (o.fold_bn) std::printf(", %d batch norms folded", info.folded_bn);
  std::printf("\n");
  return 0;
}

}  // namespace shears::app
