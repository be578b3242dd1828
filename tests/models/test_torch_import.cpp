// Weights from PyTorch: a ResNet-20 fixture's logits and torchvision state-dict files.

#include <gtest/gtest.h>

#include "tests/models/model_test_util.h"

namespace shears::models {
namespace {

using shears::testing::allclose;
using shears::testing::equal;
using namespace test_util;

TensorList with_prefix_removed(const TensorList& all, const std::string& prefix) {
  TensorList out;
  for (const auto& [name, t] : all) {
    if (name.rfind(prefix, 0) == 0) out.emplace_back(name.substr(prefix.size()), t);
  }
  return out;
}

const Tensor& find(const TensorList& list, const std::string& name) {
  for (const auto& [key, t] : list) {
    if (key == name) return t;
  }
  throw Error("fixture lacks '" + name + "'");
}

TEST(PyTorchFixture, ResNet20LogitsMatchPyTorch) {
  // tests/models/fixtures/make_resnet20_fixture.py: three ResNet-20s written in PyTorch with
  // random weights and statistics; option A (a) with pruned-like uneven widths, option A (b),
  // option B.
  const SafetensorsContents fx = load_safetensors(kFixtures + "resnet20_fixture.safetensors");
  const Tensor& x = find(fx.tensors, "input");
  for (const char* tag : {"a", "b", "B"}) {
    SCOPED_TRACE(tag);
    const std::string prefix = std::string(tag) + "/";
    const Arch arch = arch_from_json(fx.metadata.at(prefix + "arch"));
    auto model = build_model(arch);
    TensorList state = with_prefix_removed(fx.tensors, prefix);
    const Tensor expected = find(state, "logits");
    TensorList weights;
    for (const auto& entry : state) {
      if (entry.first.rfind("logits", 0) != 0) weights.push_back(entry);
    }
    model->load_state_dict(weights);
    model->eval();
    {
      NoGrad no_grad;
      EXPECT_TRUE(allclose(model->forward(x), expected, 1e-4, 1e-4));
    }
    if (std::string(tag) == "a") {
      model->train();
      EXPECT_TRUE(allclose(model->forward(x), find(state, "logits_train"), 1e-4, 1e-4));
    }
  }
}

TEST(TorchImport, LoadsATorchvisionStateDictFile) {
  shears::testing::TempDir dir;
  const Arch arch = default_arch("resnet18", 1000, {3, 224, 224}, 0.25);
  manual_seed(11);
  auto source = build_model(arch);
  // DataParallel's "module." prefix is stripped; names are otherwise torchvision's.
  TensorList state;
  for (const auto& [name, t] : source->state_dict()) state.emplace_back("module." + name, t);
  save_safetensors(dir.file("r18.safetensors"), state);

  manual_seed(12);
  auto target = build_model(arch);
  load_torchvision(*target, dir.file("r18.safetensors"));
  for (const auto& [name, t] : source->state_dict()) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(equal(target->tensor_at(name), t));
  }
}

TEST(TorchImport, EveryMismatchIsNamedInOneError) {
  const Arch arch = default_arch("mobilenetv2", 1000, {3, 224, 224}, 0.35);
  auto model = build_model(arch);
  TensorList state;
  for (const auto& [name, t] : model->state_dict()) {
    if (name == "features.3.conv.1.0.weight" || name == "features.7.conv.3.running_var") continue;
    if (name == "classifier.1.weight") {
      state.emplace_back(name, Tensor::zeros({10, t.size(1)}));
      continue;
    }
    state.emplace_back(name, t);
  }
  state.emplace_back("classifier.2.weight", Tensor::zeros({3}));
  const Tensor before = model->tensor_at("features.0.0.weight").clone();
  const std::string source = "weights.safetensors";
  auto load = [&] { load_torchvision_state(*model, state, source); };
  EXPECT_THROW_MSG(load(), CheckpointError, "weights.safetensors: torchvision state dict");
  EXPECT_THROW_MSG(load(), CheckpointError, "(4 problems)");
  EXPECT_THROW_MSG(load(), CheckpointError, "missing 'features.3.conv.1.0.weight' [");
  EXPECT_THROW_MSG(load(), CheckpointError, "missing 'features.7.conv.3.running_var'");
  EXPECT_THROW_MSG(load(), CheckpointError,
                   "'classifier.1.weight' has shape [10, 1280], the model's "
                   "'classifier.1.weight' has [1000, 1280]");
  EXPECT_THROW_MSG(load(), CheckpointError, "unexpected 'classifier.2.weight' [3]");
  EXPECT_TRUE(equal(model->tensor_at("features.0.0.weight"), before));
}

TEST(TorchImport, OldCheckpointsWithoutBatchCountersLoad) {
  const Arch arch = default_arch("resnet18", 1000, {3, 224, 224}, 0.25);
  auto model = build_model(arch);
  TensorList state;
  for (const auto& [name, t] : model->state_dict()) {
    if (name.find("num_batches_tracked") == std::string::npos) state.emplace_back(name, t);
  }
  model->tensor_at("bn1.num_batches_tracked").fill_(5);
  load_torchvision_state(*model, state, "old.pth");
  EXPECT_EQ(model->tensor_at("bn1.num_batches_tracked").item(), 0.0);
}

TEST(TorchImport, UnreadableFileIsNamed) {
  auto model = build_model(default_arch("resnet18", 1000, {3, 224, 224}, 0.25));
  EXPECT_THROW_MSG(load_torchvision(*model, "/nonexistent/r18.safetensors"), Error,
                   "/nonexistent/r18.safetensors");
}

}  // namespace
}  // namespace shears::models
