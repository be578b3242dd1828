#include "app/experiment.h"
#include "models/arch.h"
#include "models/registry.h"

namespace shears::app {

BuiltModel build_model(const ModelSpec& spec, int num_classes, const Shape& input_chw) {
  models::Arch arch = models::default_arch(spec.arch, num_classes, input_chw, spec.width);
  arch.shortcut = models::parse_shortcut(spec.shortcut);
  return BuiltModel{models::build_model(arch), models::arch_to_json(arch), arch.name};
}

BuiltModel build_model_from_arch(const std::string& arch_json) {
  models::Arch arch = models::arch_from_json(arch_json);
  return BuiltModel{models::build_model(arch), arch_json, arch.name};
}

}  // namespace shears::app
