#pragma once

// Helpers shared by the model tests (tests/models/test_*.cpp): parameter and multiply-add counts
// from a traced forward, op names, and torchvision's state-dict names (fixtures/).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/trace.h"
#include "engine/io/safetensors.h"
#include "engine/ops/channel.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/rng.h"
#include "models/arch.h"
#include "models/mobilenet_v2.h"
#include "models/model.h"
#include "models/registry.h"
#include "models/resnet_cifar.h"
#include "models/torch_import.h"
#include "tests/support/allclose.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"

namespace shears::models {

// gtest prints an Arch as its JSON.
inline void PrintTo(const Arch& arch, std::ostream* out) { *out << arch_to_json(arch); }

namespace test_util {

inline const std::string kFixtures = std::string(SHEARS_SOURCE_DIR) + "/tests/models/fixtures/";

inline std::int64_t count_params(const nn::Module& model) {
  std::int64_t n = 0;
  for (const auto& [name, t] : model.named_parameters()) n += t.numel();
  return n;
}

// Multiply-adds of the conv2d (N·Ho·Wo·Cout·Cin/groups·Kh·Kw) and linear (N·in·out) ops of a
// trace.
inline std::int64_t macs_of(const TraceScope& trace) {
  std::int64_t macs = 0;
  for (const OpRecord& r : trace.records()) {
    if (r.name == "conv2d") {
      const Tensor& w = r.inputs.at(1);
      macs += r.output.numel() * w.size(1) * w.size(2) * w.size(3);
    } else if (r.name == "linear") {
      macs += r.output.numel() * r.inputs.at(1).size(1);
    }
  }
  return macs;
}

// (1, C, H, W) from (C, H, W).
inline Shape batch_of_one(const Shape& chw) {
  Shape shape(chw.size() + 1, 1);
  std::copy(chw.begin(), chw.end(), shape.begin() + 1);
  return shape;
}

// Multiply-adds per image, from a traced batch-1 forward in eval mode.
inline std::int64_t count_macs(nn::Module& model, const Shape& input) {
  model.eval();
  NoGrad no_grad;
  const Shape shape = batch_of_one(input);
  TraceScope trace;
  model.forward(Tensor::zeros(shape));
  return macs_of(trace);
}

inline std::vector<std::string> op_names(nn::Module& model, const Shape& input) {
  NoGrad no_grad;
  const Shape shape = batch_of_one(input);
  TraceScope trace;
  model.forward(Tensor::zeros(shape));
  std::vector<std::string> names;
  for (const OpRecord& r : trace.records()) names.push_back(r.name);
  return names;
}

inline std::int64_t count_of(const std::vector<std::string>& names, const std::string& name) {
  std::int64_t n = 0;
  for (const auto& s : names) n += s == name;
  return n;
}

// torchvision's state dicts (tests/models/fixtures/make_torchvision_names.py).
inline std::map<std::string, std::vector<std::pair<std::string, Shape>>> torchvision_state_dicts() {
  std::ifstream in(kFixtures + "torchvision_state_dicts.txt");
  EXPECT_TRUE(in.good()) << "cannot read " << kFixtures << "torchvision_state_dicts.txt";
  std::map<std::string, std::vector<std::pair<std::string, Shape>>> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string model, name;
    words >> model >> name;
    Shape shape;
    for (std::int64_t d; words >> d;) shape.push_back(d);
    out[model].emplace_back(name, shape);
  }
  return out;
}

// ---- every registry model at its standard widths --------------------------------------------

struct ModelCase {
  std::string name;
  std::int64_t params;      // exact count
  std::int64_t macs;        // exact multiply-adds per image at the default input
  double params_published;  // the rounded figures the literature gives (millions)
  double macs_published;
};

// Exact ImageNet figures are torchvision's (parameters, and conv + linear multiply-adds counted
// with forward hooks). CIFAR parameters follow He et al. 2016 Table 6 (0.27 M, 0.46 M, 0.66 M,
// 0.85 M, 1.7 M); the rounded multiply-add figures are the and docs/methods.md's, and the
// exact CIFAR counts (those of ResNet-32/44 and VGG-19 too) are sums over the layer shapes.
inline const std::vector<ModelCase>& model_cases() {
  static const std::vector<ModelCase> cases = {
      {"resnet20", 269722, 40551040, 0.27, 40.6},
      {"resnet32", 464154, 68862592, 0.46, 68.9},
      {"resnet44", 658586, 97174144, 0.66, 97.2},
      {"resnet56", 853018, 125485696, 0.85, 125.5},
      {"resnet110", 1727962, 252887680, 1.73, 252.9},
      {"vgg16", 14987722, 313463808, 15.0, 313.5},
      {"vgg19", 20298698, 398398464, 20.30, 398.4},
      {"resnet18", 11689512, 1814073344, 11.69, 1820.0},
      {"resnet34", 21797672, 3663761408, 21.80, 3670.0},
      {"resnet50", 25557032, 4089184256, 25.56, 4110.0},
      {"mobilenetv2", 3504872, 300774272, 3.50, 300.0},
      // The CIFAR GoogLeNet of FilterSketch/ABCPruner/GAL: 6.15 M parameters (6.17 M with BN,
      // which the papers' 6.15 M leaves partly out) and 1.52 G multiply-adds.
      {"googlenet", 6166250, 1521756160, 6.15, 1520.0},
      // DenseNet-40 (growth 12) of GAL/ABCPruner: the papers' 1.04 M parameters leave out the
      // BN parameters (18,720 here); 282 M multiply-adds.
      {"densenet40", 1059298, 282917328, 1.06, 282.0},
  };
  return cases;
}

inline void PrintTo(const ModelCase& c, std::ostream* out) { *out << c.name; }

inline const ModelCase& model_case(const std::string& name) {
  for (const ModelCase& c : model_cases()) {
    if (c.name == name) return c;
  }
  throw Error("no test case for " + name);
}

}  // namespace test_util
}  // namespace shears::models
