// Built instead of onnx_export.cpp and onnx_import.cpp when libonnx-dev or libprotobuf-dev was
// not found at configure time (cmake/ShearsDeps.cmake).
#include "models/onnx/onnx.h"

namespace shears::models {

namespace {
[[noreturn]] void unavailable(const std::string& what) {
  throw Error(what +
              ": shears was built without ONNX support (install libonnx-dev and "
              "libprotobuf-dev, scripts/deps.sh, and configure again)");
}
}  // namespace

bool onnx_available() { return false; }

OnnxExportInfo export_onnx(nn::Module&, const std::string& path, const OnnxExportOptions&,
                           const std::string&) {
  unavailable("ONNX export to " + path);
}

std::string onnx_arch_json(const std::string& path) { unavailable(path); }

void load_onnx_weights(nn::Module&, const std::string& path) { unavailable(path); }

}  // namespace shears::models
