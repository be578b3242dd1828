#include "models/model.h"

#include <cmath>
#include <set>

#include "engine/nn/init.h"
#include "kernels/common/error.h"

namespace shears::models {

Arch arch_of(const nn::Module& model) {
  const auto* m = dynamic_cast<const Model*>(&model);
  if (m == nullptr) {
    throw Error("arch_of: a " + model.type_name() +
                " is not a registry model, so it has no architecture description");
  }
  Arch arch = m->arch();
  // Read from the layers as they are now (an entry of the Arch the model was built from may
  // have been added or dropped since).
  arch.constant_inputs.clear();
  for (const auto& [path, child] : model.named_modules()) {
    const auto* conv = dynamic_cast<const nn::Conv2d*>(child);
    if (conv != nullptr && conv->constant_kernel.defined()) arch.constant_inputs.push_back(path);
  }
  return arch;
}

namespace detail {

std::shared_ptr<nn::Conv2d> conv(std::int64_t in, std::int64_t out, int kernel, int stride,
                                 int groups) {
  nn::Conv2dOptions o;
  o.in_channels = in;
  o.out_channels = out;
  o.kernel = kernel;
  o.stride = stride;
  o.padding = (kernel - 1) / 2;
  o.groups = groups;
  o.bias = false;
  auto c = std::make_shared<nn::Conv2d>(o);
  nn::init::kaiming_normal_(c->weight, /*fan_out_mode=*/true);
  return c;
}

std::shared_ptr<nn::BatchNorm2d> bn(std::int64_t channels) {
  return std::make_shared<nn::BatchNorm2d>(channels);
}

void check_width_keys(const Arch& arch, const Arch& expected) {
  std::set<std::string> want, have;
  for (const auto& entry : expected.widths) want.insert(entry.first);
  std::string problems;
  for (const auto& [key, n] : arch.widths) {
    if (!have.insert(key).second) problems += "\n  duplicate '" + key + "'";
    if (!want.count(key)) problems += "\n  unexpected '" + key + "'";
    if (n < 1) problems += "\n  '" + key + "' has width " + std::to_string(n) + " (must be >= 1)";
  }
  for (const auto& entry : expected.widths) {
    if (!have.count(entry.first)) problems += "\n  missing '" + entry.first + "'";
  }
  if (!problems.empty()) {
    throw ConfigError("architecture '" + arch.name +
                      "' does not fit the model's layers:" + problems);
  }
}

void check_identity(const std::string& arch_name, const std::string& block, std::int64_t in,
                    std::int64_t out) {
  if (in != out) {
    throw ConfigError("architecture '" + arch_name + "': block " + block +
                      " has an identity shortcut, so its output width (" + std::to_string(out) +
                      ") must equal its input width (" + std::to_string(in) + ")");
  }
}

std::int64_t scaled(std::int64_t base, double mult) {
  const auto v = static_cast<std::int64_t>(std::llround(static_cast<double>(base) * mult));
  return v < 1 ? 1 : v;
}

}  // namespace detail

}  // namespace shears::models
