// The pruning methods: one row per method of the `method` key. To add a method, add its row
// (name and constructor) to the table below; make_method() and method_names() read the table.
// Our libraries are static, so the table is explicit rather than built by self-registering
// objects a linker could drop (as models/registry.cpp).

#include <functional>

#include "pruning/methods/abc_pruner.h"
#include "pruning/methods/filter_sketch.h"
#include "pruning/methods/gal.h"
#include "pruning/methods/l1_random.h"
#include "pruning/methods/meta_pruning.h"
#include "pruning/methods/method.h"
#include "pruning/methods/scratch.h"
#include "pruning/methods/sfp_fpgm.h"

namespace shears::pruning {

namespace {

struct MethodEntry {
  const char* name;  // the value of `prune.method`
  std::function<std::unique_ptr<Method>(const Config& section)> make;
};

const std::vector<MethodEntry>& method_table() {
  static const std::vector<MethodEntry> table = {
      {"l1", [](const Config& s) { return std::make_unique<OneShotMethod>(s, Criterion::L1); }},
      {"random",
       [](const Config& s) { return std::make_unique<OneShotMethod>(s, Criterion::Random); }},
      {"sfp", [](const Config& s) { return std::make_unique<SoftMethod>(s, SoftVariant::Sfp); }},
      {"fpgm", [](const Config& s) { return std::make_unique<SoftMethod>(s, SoftVariant::Fpgm); }},
      {"scratch", [](const Config& s) { return std::make_unique<ScratchMethod>(s); }},
      {"filtersketch", [](const Config& s) { return std::make_unique<FilterSketchMethod>(s); }},
      {"abc", [](const Config& s) { return std::make_unique<AbcMethod>(s); }},
      {"metapruning", [](const Config& s) { return std::make_unique<MetaPruningMethod>(s); }},
      {"gal", [](const Config& s) { return std::make_unique<GalMethod>(s); }},
  };
  return table;
}

}  // namespace

std::vector<std::string> method_names() {
  std::vector<std::string> out;
  for (const MethodEntry& e : method_table()) out.emplace_back(e.name);
  return out;
}

std::unique_ptr<Method> make_method(const Config& section) {
  std::string name = section.get<std::string>("method");
  for (const MethodEntry& e : method_table()) {
    if (name == e.name) return e.make(section);
  }
  std::string known;
  for (const auto& n : method_names()) known += (known.empty() ? "" : ", ") + n;
  throw section.error("method",
                      "names an unknown pruning method '" + name + "' (known: " + known + ")");
}

}  // namespace shears::pruning
