#include <gtest/gtest.h>
#include <iostream>
#include "models/registry.h"
#include "pruning/dependency.h"
namespace shears::testing {
namespace {
void dump(const std::string& name, const Shape& in) {
  auto m = models::build_model(models::default_arch(name, 10, in));
  auto g = pruning::DependencyGraph::build(*m, in);
  std::cout << "=== " << name << "\n" << g.to_string();
  for (auto& gr : g.groups()) {
    std::cout << "G" << gr.id << " blocked:";
    for (std::size_t k = 0; k < gr.blocked.size(); ++k) if (gr.blocked[k]) std::cout << k << ",";
    std::cout << " constant:";
    for (std::size_t k = 0; k < gr.constant.size(); ++k) if (gr.constant[k]) std::cout << k << ",";
    std::cout << "\n";
  }
}
TEST(Dump, All) {
  dump("resnet20", {3, 32, 32});
  dump("resnet50", {3, 64, 64});
  dump("vgg16", {3, 32, 32});
  dump("mobilenetv2", {3, 64, 64});
  dump("resnet18", {3, 64, 64});
}
}
}
