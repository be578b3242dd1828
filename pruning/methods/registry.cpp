#include "pruning/methods/abc_pruner.h"
#include "pruning/methods/filter_sketch.h"
#include "pruning/methods/gal.h"
#include "pruning/methods/method.h"
#include "pruning/methods/one_shot.h"
#include "pruning/methods/scratch.h"
#include "pruning/methods/soft.h"

namespace shears::pruning {

std::vector<std::string> method_names() {
  return {"l1", "random", "sfp", "fpgm", "scratch", "filtersketch", "abc", "gal"};
}

std::unique_ptr<Method> make_method(const Config& section) {
  std::string name = section.get<std::string>("method");
  if (name == "l1") return std::make_unique<OneShotMethod>(section, Criterion::L1);
  if (name == "random") return std::make_unique<OneShotMethod>(section, Criterion::Random);
  if (name == "sfp") return std::make_unique<SoftMethod>(section, false);
  if (name == "fpgm") return std::make_unique<SoftMethod>(section, true);
  if (name == "scratch") return std::make_unique<ScratchMethod>(section);
  if (name == "filtersketch") return std::make_unique<FilterSketchMethod>(section);
  if (name == "abc") return std::make_unique<AbcMethod>(section);
  if (name == "gal") return std::make_unique<GalMethod>(section);
  std::string known;
  for (const auto& n : method_names()) known += (known.empty() ? "" : ", ") + n;
  throw section.error("method",
                      "names an unknown pruning method '" + name + "' (known: " + known + ")");
}

}  // namespace shears::pruning
