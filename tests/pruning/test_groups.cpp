// The dependency graph's groups, checked against structures worked out by hand from each
// architecture: which layers make and consume each group's channels, at which positions, whether
// the channels are joined by a residual add, and what blocks them.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "engine/nn/conv2d.h"
#include "engine/nn/linear.h"
#include "engine/ops/loss.h"
#include "engine/ops/pooling.h"
#include "engine/ops/shape.h"
#include "models/registry.h"
#include "pruning/dependency.h"

namespace shears::testing {
namespace {

using pruning::DependencyGraph;
using pruning::Group;
using pruning::Member;

DependencyGraph graph_of(const std::string& name, const Shape& input,
                         const std::string& shortcut = "") {
  models::Arch arch = models::default_arch(name, 10, input);
  if (!shortcut.empty()) arch.shortcut = models::parse_shortcut(shortcut);
  std::shared_ptr<nn::Module> m = models::build_model(arch);
  return DependencyGraph::build(*m, input);
}

const Group& group_of(const DependencyGraph& g, const std::string& producer) {
  const Group* gr = g.group_of(producer);
  if (gr == nullptr) throw Error("no group made by " + producer);
  return *gr;
}

std::set<std::string> producers(const Group& g) {
  return std::set<std::string>(g.producers.begin(), g.producers.end());
}

std::set<std::string> members(const Group& g) {
  std::set<std::string> out;
  for (const Member& m : g.members) out.insert(m.name + "[" + std::to_string(m.dim) + "]");
  return out;
}

/// positions[k] of a one-position-per-channel member, -1 where the member has none.
std::vector<std::int64_t> offsets(const Group& g, const std::string& name, int dim) {
  const Member* m = g.member(name, dim);
  if (m == nullptr) throw Error("group has no member " + name);
  std::vector<std::int64_t> out;
  for (const auto& p : m->positions) {
    EXPECT_LE(p.size(), 1u) << name;
    out.push_back(p.empty() ? -1 : p.front());
  }
  return out;
}

std::vector<std::int64_t> iota_from(std::int64_t start, std::int64_t n) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = start + i;
  return v;
}

std::vector<std::int64_t> cat(std::vector<std::int64_t> a, const std::vector<std::int64_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::int64_t blocked_count(const Group& g) {
  return std::count(g.blocked.begin(), g.blocked.end(), true);
}

/// A conv-BN block group: the conv's filters, its BN, the next conv's input channels.
void expect_inner(const DependencyGraph& g, const std::string& conv, const std::string& bn,
                  const std::string& next, std::int64_t size) {
  SCOPED_TRACE(conv);
  const Group& gr = group_of(g, conv + ".weight");
  EXPECT_EQ(gr.size, size);
  EXPECT_FALSE(gr.residual);
  EXPECT_EQ(blocked_count(gr), 0);
  EXPECT_EQ(producers(gr), (std::set<std::string>{conv + ".weight"}));
  EXPECT_EQ(members(gr), (std::set<std::string>{conv + ".weight[0]", bn + ".weight[0]",
                                                bn + ".bias[0]", bn + ".running_mean[0]",
                                                bn + ".running_var[0]", next + ".weight[1]"}));
  EXPECT_EQ(offsets(gr, next + ".weight", 1), iota_from(0, size));
}

/// The input and output groups every classifier has.
void expect_ends(const DependencyGraph& g, const std::string& stem, const std::string& fc,
                 std::int64_t channels) {
  const Group& in = g.groups().front();
  EXPECT_EQ(members(in), (std::set<std::string>{stem + ".weight[1]"}));
  EXPECT_EQ(in.size, channels);
  EXPECT_EQ(blocked_count(in), channels);
  EXPECT_EQ(in.blocked_reason, "network input");
  EXPECT_TRUE(in.producers.empty());
  const Group& out = group_of(g, fc + ".weight");
  EXPECT_EQ(out.size, 10);
  EXPECT_EQ(blocked_count(out), 10);
  EXPECT_EQ(out.blocked_reason, "network output");
  EXPECT_EQ(members(out), (std::set<std::string>{fc + ".weight[0]", fc + ".bias[0]"}));
}

std::vector<std::string> blocks(int stages) {
  std::vector<std::string> out;
  for (int s = 1; s <= stages; ++s)
    for (int b = 0; b < 3; ++b)
      out.push_back("layer" + std::to_string(s) + "." + std::to_string(b));
  return out;
}

// ResNet-20, option A (a): one stream group of 64 channels (the zero padding appends stage 2's
// and 3's new channels after the old ones), nine block-internal groups, input and output.
TEST(Groups, ResNet20AvgPoolShortcut) {
  DependencyGraph g = graph_of("resnet20", {3, 32, 32});
  ASSERT_EQ(g.groups().size(), 12u);
  expect_ends(g, "conv1", "fc", 3);
  for (const std::string& b : blocks(3))
    expect_inner(g, b + ".conv1", b + ".bn1", b + ".conv2",
                 b[5] == '1'   ? 16
                 : b[5] == '2' ? 32
                               : 64);
  const Group& stream = group_of(g, "conv1.weight");
  EXPECT_EQ(stream.size, 64);
  EXPECT_TRUE(stream.residual);
  EXPECT_EQ(blocked_count(stream), 0);
  std::set<std::string> want = {"conv1.weight"};
  for (const std::string& b : blocks(3)) want.insert(b + ".conv2.weight");
  EXPECT_EQ(producers(stream), want);
  EXPECT_EQ(offsets(stream, "conv1.weight", 0),
            cat(iota_from(0, 16), std::vector<std::int64_t>(48, -1)));
  EXPECT_EQ(offsets(stream, "layer1.2.conv2.weight", 0), offsets(stream, "conv1.weight", 0));
  EXPECT_EQ(offsets(stream, "layer2.0.conv1.weight", 1), offsets(stream, "conv1.weight", 0));
  EXPECT_EQ(offsets(stream, "layer2.0.conv2.weight", 0),
            cat(iota_from(0, 32), std::vector<std::int64_t>(32, -1)));
  EXPECT_EQ(offsets(stream, "layer3.1.conv2.weight", 0), iota_from(0, 64));
  EXPECT_EQ(offsets(stream, "fc.weight", 1), iota_from(0, 64));
  // Channels beyond a stage's own width are the zero padding of an earlier shortcut.
  for (std::int64_t k = 0; k < 64; ++k) EXPECT_EQ(stream.constant[k], k >= 16) << k;
}

// Option A (b): zeros on both sides, so stage 2's stream carries stage 1's channels at offset 8
// and stage 3's at offset 16; new channels are numbered in filter order.
TEST(Groups, ResNet20SubsampleShortcut) {
  DependencyGraph g = graph_of("resnet20", {3, 32, 32}, "a-subsample");
  ASSERT_EQ(g.groups().size(), 12u);
  const Group& stream = group_of(g, "conv1.weight");
  EXPECT_EQ(stream.size, 64);
  EXPECT_TRUE(stream.residual);
  // layer2 filter j: 0..7 new (channels 16..23), 8..23 = stage-1 channels 0..15, 24..31 new.
  std::vector<std::int64_t> l2(64, -1);
  for (std::int64_t k = 0; k < 16; ++k) l2[k] = k + 8;
  for (std::int64_t k = 16; k < 24; ++k) l2[k] = k - 16;
  for (std::int64_t k = 24; k < 32; ++k) l2[k] = k;
  EXPECT_EQ(offsets(stream, "layer2.1.conv2.weight", 0), l2);
  // layer3 filter j: 16..47 = stage-2 stream index j - 16, 0..15 new (32..47), 48..63 new.
  std::vector<std::int64_t> l3(64);
  for (std::int64_t k = 0; k < 16; ++k) l3[k] = k + 24;
  for (std::int64_t k = 16; k < 24; ++k) l3[k] = k;
  for (std::int64_t k = 24; k < 32; ++k) l3[k] = k + 16;
  for (std::int64_t k = 32; k < 48; ++k) l3[k] = k - 32;
  for (std::int64_t k = 48; k < 64; ++k) l3[k] = k;
  EXPECT_EQ(offsets(stream, "layer3.0.conv2.weight", 0), l3);
  EXPECT_EQ(offsets(stream, "fc.weight", 1), l3);
}

// Option B: a projection cuts the stream at each stage, so three residual groups, each with its
// stage's output convs and the projection that starts it.
TEST(Groups, ResNet20ProjectionShortcut) {
  DependencyGraph g = graph_of("resnet20", {3, 32, 32}, "b-conv");
  ASSERT_EQ(g.groups().size(), 14u);
  expect_ends(g, "conv1", "fc", 3);
  const Group& s1 = group_of(g, "conv1.weight");
  EXPECT_EQ(s1.size, 16);
  EXPECT_TRUE(s1.residual);
  EXPECT_EQ(producers(s1),
            (std::set<std::string>{"conv1.weight", "layer1.0.conv2.weight", "layer1.1.conv2.weight",
                                   "layer1.2.conv2.weight"}));
  EXPECT_TRUE(s1.member("layer2.0.downsample.0.weight", 1) != nullptr);
  EXPECT_TRUE(s1.member("layer2.0.conv1.weight", 1) != nullptr);
  for (int s : {2, 3}) {
    std::string l = "layer" + std::to_string(s);
    const Group& st = group_of(g, l + ".0.downsample.0.weight");
    EXPECT_EQ(st.size, s == 2 ? 32 : 64);
    EXPECT_TRUE(st.residual);
    EXPECT_EQ(producers(st),
              (std::set<std::string>{l + ".0.conv2.weight", l + ".0.downsample.0.weight",
                                     l + ".1.conv2.weight", l + ".2.conv2.weight"}));
    EXPECT_EQ(offsets(st, l + ".0.downsample.0.weight", 0), iota_from(0, st.size));
    EXPECT_TRUE(st.member(l + ".0.downsample.1.running_var", 0) != nullptr);
    for (bool c : st.constant) EXPECT_FALSE(c);
  }
  EXPECT_TRUE(group_of(g, "layer3.0.downsample.0.weight").member("fc.weight", 1) != nullptr);
}

// VGG-16: a chain of thirteen conv-BN groups (max-pools pass channels through), the last feeding
// the classifier's first FC, whose 512 hidden units (with their BN1d) form a group of their own.
TEST(Groups, Vgg16) {
  DependencyGraph g = graph_of("vgg16", {3, 32, 32});
  ASSERT_EQ(g.groups().size(), 16u);
  expect_ends(g, "features.0", "classifier.3", 3);
  const std::vector<int> convs = {0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40};
  const std::vector<std::int64_t> widths = {64,  64,  128, 128, 256, 256, 256,
                                            512, 512, 512, 512, 512, 512};
  for (std::size_t i = 0; i + 1 < convs.size(); ++i) {
    std::string c = "features." + std::to_string(convs[i]);
    expect_inner(g, c, "features." + std::to_string(convs[i] + 1),
                 "features." + std::to_string(convs[i + 1]), widths[i]);
  }
  expect_inner(g, "features.40", "features.41", "classifier.0", 512);
  const Group& hidden = group_of(g, "classifier.0.weight");
  EXPECT_EQ(hidden.size, 512);
  EXPECT_FALSE(hidden.residual);
  EXPECT_EQ(members(hidden),
            (std::set<std::string>{"classifier.0.weight[0]", "classifier.0.bias[0]",
                                   "classifier.1.weight[0]", "classifier.1.bias[0]",
                                   "classifier.1.running_mean[0]", "classifier.1.running_var[0]",
                                   "classifier.3.weight[1]"}));
}

// ResNet-50: the stem feeds layer1.0 through the max-pool (no add: layer1.0 has a projection);
// each bottleneck has two inner groups; each stage's stream is one residual group.
TEST(Groups, ResNet50Projections) {
  DependencyGraph g = graph_of("resnet50", {3, 64, 64});
  ASSERT_EQ(g.groups().size(), 39u);
  expect_ends(g, "conv1", "fc", 3);
  const Group& stem = group_of(g, "conv1.weight");
  EXPECT_EQ(stem.size, 64);
  EXPECT_FALSE(stem.residual);
  EXPECT_EQ(members(stem),
            (std::set<std::string>{"conv1.weight[0]", "bn1.weight[0]", "bn1.bias[0]",
                                   "bn1.running_mean[0]", "bn1.running_var[0]",
                                   "layer1.0.conv1.weight[1]", "layer1.0.downsample.0.weight[1]"}));
  const std::vector<int> depth = {3, 4, 6, 3};
  for (int s = 1; s <= 4; ++s) {
    std::string l = "layer" + std::to_string(s);
    std::int64_t planes = 64 << (s - 1);
    std::set<std::string> want = {l + ".0.downsample.0.weight"};
    for (int b = 0; b < depth[static_cast<std::size_t>(s - 1)]; ++b) {
      std::string blk = l + "." + std::to_string(b);
      expect_inner(g, blk + ".conv1", blk + ".bn1", blk + ".conv2", planes);
      expect_inner(g, blk + ".conv2", blk + ".bn2", blk + ".conv3", planes);
      want.insert(blk + ".conv3.weight");
    }
    const Group& st = group_of(g, l + ".0.conv3.weight");
    EXPECT_EQ(st.size, planes * 4);
    EXPECT_TRUE(st.residual);
    EXPECT_EQ(producers(st), want);
    EXPECT_EQ(blocked_count(st), 0);
  }
  EXPECT_TRUE(group_of(g, "layer4.0.conv3.weight").member("fc.weight", 1) != nullptr);
  EXPECT_TRUE(group_of(g, "layer1.0.conv3.weight").member("layer2.0.downsample.0.weight", 1));
}

// MobileNetV2: an expansion 1x1, its BN, the depthwise conv (in = out, so its filters are
// producers of the same channels) and its BN form one group that is not residual; the streams
// joined by the inverted-residual adds are.
TEST(Groups, MobileNetV2Depthwise) {
  DependencyGraph g = graph_of("mobilenetv2", {3, 64, 64});
  ASSERT_EQ(g.groups().size(), 27u);
  expect_ends(g, "features.0.0", "classifier.1", 3);
  const Group& first = group_of(g, "features.0.0.weight");  // stem + block 1's depthwise
  EXPECT_EQ(first.size, 32);
  EXPECT_FALSE(first.residual);
  EXPECT_EQ(producers(first),
            (std::set<std::string>{"features.0.0.weight", "features.1.conv.0.0.weight"}));
  EXPECT_EQ(offsets(first, "features.1.conv.0.0.weight", 0), iota_from(0, 32));
  EXPECT_EQ(first.member("features.1.conv.0.0.weight", 1), nullptr);  // depthwise: no input dim
  EXPECT_EQ(offsets(first, "features.1.conv.1.weight", 1), iota_from(0, 32));
  const Group& expand = group_of(g, "features.2.conv.0.0.weight");
  EXPECT_EQ(expand.size, 96);
  EXPECT_FALSE(expand.residual);
  EXPECT_EQ(producers(expand),
            (std::set<std::string>{"features.2.conv.0.0.weight", "features.2.conv.1.0.weight"}));
  EXPECT_EQ(
      members(expand),
      (std::set<std::string>{"features.2.conv.0.0.weight[0]", "features.2.conv.0.1.weight[0]",
                             "features.2.conv.0.1.bias[0]", "features.2.conv.0.1.running_mean[0]",
                             "features.2.conv.0.1.running_var[0]", "features.2.conv.1.0.weight[0]",
                             "features.2.conv.1.1.weight[0]", "features.2.conv.1.1.bias[0]",
                             "features.2.conv.1.1.running_mean[0]",
                             "features.2.conv.1.1.running_var[0]", "features.2.conv.2.weight[1]"}));
  int residual = 0, depthwise = 0;
  for (const Group& gr : g.groups()) {
    residual += gr.residual;
    depthwise += gr.producers.size() == 2 && !gr.residual;
  }
  EXPECT_EQ(residual, 5);    // streams of 24, 32, 64, 96, 160 channels
  EXPECT_EQ(depthwise, 17);  // the stem/first depthwise and 16 expansion groups
  const Group& s32 = group_of(g, "features.4.conv.2.weight");
  EXPECT_TRUE(s32.residual);
  EXPECT_EQ(producers(s32),
            (std::set<std::string>{"features.4.conv.2.weight", "features.5.conv.2.weight",
                                   "features.6.conv.2.weight"}));
}

/// x -> conv a (3 -> 4), conv b (3 -> 5) -> concat -> conv c (9 -> 6) -> flatten of 4x4 maps
/// -> fc (96 -> 2); with `softmax`, a softmax over the flattened features (an op the tracer does
/// not follow) before fc.
class ConcatNet : public nn::Module {
 public:
  explicit ConcatNet(bool softmax) : softmax_(softmax) {
    a = register_module("a", make_conv(3, 4));
    b = register_module("b", make_conv(3, 5));
    c = register_module("c", make_conv(9, 6));
    fc = register_module("fc", std::make_shared<nn::Linear>(6 * 16, 2));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = flatten(c->forward(concat({a->forward(x), b->forward(x)}, 1)), 1);
    if (softmax_) h = softmax(h);
    return fc->forward(h);
  }
  std::string type_name() const override { return "ConcatNet"; }
  std::shared_ptr<nn::Conv2d> a, b, c;
  std::shared_ptr<nn::Linear> fc;

 private:
  static std::shared_ptr<nn::Conv2d> make_conv(std::int64_t in, std::int64_t out) {
    nn::Conv2dOptions o;
    o.in_channels = in;
    o.out_channels = out;
    o.kernel = 3;
    o.padding = 1;
    return std::make_shared<nn::Conv2d>(o);
  }
  bool softmax_;
};

// A concat of two real producers: the consumer sees both, so they form one group whose channels
// are a's 4 then b's 5 (each made by one producer, at its offset in the consumer); a flatten of
// 4x4 maps gives each channel 16 consecutive FC inputs.
TEST(Groups, ConcatAndFlattenIntoLinear) {
  ConcatNet net(false);
  DependencyGraph g = DependencyGraph::build(net, {3, 4, 4});
  const Group& cat_group = group_of(g, "a.weight");
  EXPECT_EQ(group_of(g, "b.weight").id, cat_group.id);
  EXPECT_EQ(cat_group.size, 9);
  EXPECT_FALSE(cat_group.residual);
  EXPECT_EQ(members(cat_group), (std::set<std::string>{"a.weight[0]", "a.bias[0]", "b.weight[0]",
                                                       "b.bias[0]", "c.weight[1]"}));
  EXPECT_EQ(offsets(cat_group, "a.weight", 0),
            cat(iota_from(0, 4), std::vector<std::int64_t>(5, -1)));
  EXPECT_EQ(offsets(cat_group, "b.weight", 0),
            cat(std::vector<std::int64_t>(4, -1), iota_from(0, 5)));
  EXPECT_EQ(offsets(cat_group, "c.weight", 1), iota_from(0, 9));
  const Group& gc = group_of(g, "c.weight");
  EXPECT_EQ(gc.size, 6);
  const Member* fc = gc.member("fc.weight", 1);
  ASSERT_NE(fc, nullptr);
  for (std::int64_t k = 0; k < 6; ++k)
    EXPECT_EQ(fc->positions[static_cast<std::size_t>(k)], iota_from(16 * k, 16)) << k;
  EXPECT_EQ(blocked_count(gc), 0);
}

// An op the tracer cannot follow blocks the channels that pass through it, with the op's name.
TEST(Groups, UnsupportedOpBlocksItsGroup) {
  ConcatNet net(true);
  DependencyGraph g = DependencyGraph::build(net, {3, 4, 4});
  const Group& gc = group_of(g, "c.weight");
  EXPECT_EQ(blocked_count(gc), gc.size);
  EXPECT_EQ(gc.blocked_reason,
            "unsupported op softmax: it normalises over the channels, so removing one changes "
            "every other");
  EXPECT_FALSE(gc.prunable());
  EXPECT_TRUE(group_of(g, "a.weight").prunable());  // the groups before it are unaffected
}

}  // namespace
}  // namespace shears::testing
