// Arch: its JSON form and its per-layer width accessors.

#include <gtest/gtest.h>

#include "tests/models/model_test_util.h"

namespace shears::models {
namespace {

using shears::testing::allclose;
using shears::testing::equal;
using namespace test_util;

TEST(ArchJson, RoundTripsEveryDefaultAndAPrunedVariant) {
  for (const std::string& name : model_names()) {
    SCOPED_TRACE(name);
    const Arch arch = default_arch(name);
    EXPECT_EQ(arch_from_json(arch_to_json(arch)), arch);
  }
  Arch pruned = default_arch("resnet56", 100, {3, 32, 32}, 0.5);
  pruned.shortcut = Shortcut::SubsamplePad;
  pruned.set_width("layer2.0.conv1", 3);
  pruned.set_width("layer3.0.conv2", 40);
  pruned.pad_front = {{"layer3.0", 5}};
  const std::string json = arch_to_json(pruned);
  EXPECT_NE(json.find("\"shortcut\":\"a-subsample\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"pad_front\":{\"layer3.0\":5}"), std::string::npos) << json;
  EXPECT_EQ(arch_from_json(json), pruned);
  EXPECT_EQ(arch_of(*build_model(pruned)), pruned);
}

TEST(ArchJson, WidthsKeepNetworkOrder) {
  const std::string json = arch_to_json(default_arch("resnet20"));
  EXPECT_LT(json.find("\"layer1.2.conv2\""), json.find("\"layer2.0.conv1\"")) << json;
  EXPECT_LT(json.find("\"layer3.2.conv2\""), json.find("\"layer10")) << json;
}

TEST(ArchJson, BadTextNamesTheField) {
  const std::string good = arch_to_json(default_arch("resnet20"));
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  EXPECT_THROW_MSG(arch_from_json("{not json"), CheckpointError, "does not parse");
  EXPECT_THROW_MSG(arch_from_json("[1, 2]"), CheckpointError, "must be an object");
  EXPECT_THROW_MSG(arch_from_json(with("\"name\":", "\"nom\":")), CheckpointError,
                   "field 'nom' is not an architecture field");
  EXPECT_THROW_MSG(arch_from_json(with("\"num_classes\":10,", "")), CheckpointError,
                   "field 'num_classes' is missing");
  EXPECT_THROW_MSG(arch_from_json(with("\"conv1\":16", "\"conv1\":0")), CheckpointError,
                   "field 'widths.conv1' must be >= 1");
  EXPECT_THROW_MSG(arch_from_json(with("\"conv1\":16", "\"conv1\":\"16\"")), CheckpointError,
                   "field 'widths.conv1' must be an integer");
  EXPECT_THROW_MSG(arch_from_json(with("a-avgpool", "c")), CheckpointError,
                   "unknown shortcut 'c'; known: a-avgpool, a-subsample, b-conv");
  EXPECT_THROW_MSG(arch_from_json(with("[3,32,32]", "[3,32]")), CheckpointError,
                   "field 'input' must be [C, H, W]");
}

TEST(ArchWidths, AccessorsNameTheLayer) {
  Arch arch = default_arch("resnet20");
  EXPECT_EQ(arch.width("layer3.2.conv2"), 64);
  EXPECT_TRUE(arch.has_width("conv1"));
  EXPECT_FALSE(arch.has_width("fc"));
  EXPECT_THROW_MSG(arch.width("fc"), ConfigError,
                   "architecture 'resnet20' has no width entry 'fc'");
  EXPECT_THROW_MSG(arch.set_width("conv1", 0), ConfigError, "must be >= 1, got 0");
  EXPECT_EQ(parse_shortcut("b-conv"), Shortcut::Projection);
  EXPECT_EQ(shortcut_name(Shortcut::SubsamplePad), "a-subsample");
}

}  // namespace
}  // namespace shears::models
