// Traced MACs and parameter counts of dense networks, and the FLOPs of SFP/FPGM on CIFAR
// ResNet-56 at prune ratio 0.4, analytic (as the papers count) and traced (as built), pinned.
//
// Hand counts used below. A k x k conv costs Cout * Ho * Wo * Cin * k * k MACs per sample.
// CIFAR ResNet-56: stem 3 -> 16 at 32x32: 16*3*9*1024 = 442,368; per stage with W channels at
// H*W pixels a W -> W conv costs W*W*9*HW = 2,359,296 in every stage (16^2*9*1024 = 32^2*9*256 =
// 64^2*9*64), the stride-2 first conv of stages 2 and 3 half that (1,179,648). 9 blocks per stage:
//   stage 1: 18 * 2,359,296                 = 42,467,328
//   stage 2: 1,179,648 + 17 * 2,359,296     = 41,287,680   (stage 3 alike)
//   conv total: 442,368 + 42,467,328 + 2 * 41,287,680 = 125,485,056; fc 64 * 10 = 640
//   => 125,485,696 MACs (docs/methods.md: ~125.5 M).
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "models/registry.h"
#include "pruning/cost_model.h"
#include "pruning/criteria/criterion.h"
#include "pruning/dependency.h"
#include "pruning/report.h"
#include "pruning/surgery.h"
#include "tests/support/expect_error.h"

namespace shears::testing {
namespace {

const Shape kCifar{3, 32, 32};

/// ResNet-56 and its graph, built once for the whole file.
struct ResNet56 {
  std::shared_ptr<nn::Module> model;
  pruning::DependencyGraph graph;
  pruning::CostReport dense;
};

const ResNet56& resnet56() {
  static const ResNet56 net = [] {
    manual_seed(1);
    ResNet56 n;
    n.model = models::build_model(models::default_arch("resnet56", 10, kCifar));
    n.graph = pruning::DependencyGraph::build(*n.model, kCifar);
    n.dense = pruning::count_cost(*n.model, kCifar);
    return n;
  }();
  return net;
}

const pruning::LayerCost& layer(const pruning::CostReport& report, const std::string& name) {
  for (const pruning::LayerCost& l : report.layers)
    if (l.name == name) return l;
  throw Error("no layer " + name);
}

std::int64_t conv_macs(const pruning::CostReport& report) {
  std::int64_t total = 0;
  for (const pruning::LayerCost& l : report.layers)
    if (l.op == "conv2d") total += l.macs;
  return total;
}

/// Removes the pruned_count_floor(N, 0.4) lowest-numbered channels of every block-internal
/// group (the output of each block's conv1). Which channels go does not change a count.
pruning::PrunePlan block_internal_plan(const pruning::DependencyGraph& graph) {
  pruning::PrunePlan plan;
  for (const pruning::Group& g : graph.groups()) {
    if (g.residual || !g.prunable()) continue;
    std::vector<std::int64_t> removed;
    for (std::int64_t k = 0; k < pruning::pruned_count_floor(g.size, 0.4); ++k)
      removed.push_back(k);
    plan[g.id] = removed;
  }
  return plan;
}

TEST(CostModel, DenseResNet56) {
  const pruning::CostReport& r = resnet56().dense;
  EXPECT_EQ(r.macs, 125485696);
  EXPECT_EQ(conv_macs(r), 125485056);
  ASSERT_EQ(r.layers.size(), 56u);  // 55 convs + fc
  EXPECT_EQ(layer(r, "conv1.weight").macs, 442368);
  EXPECT_EQ(layer(r, "layer1.0.conv1.weight").macs, 2359296);
  EXPECT_EQ(layer(r, "layer2.0.conv1.weight").macs, 1179648);  // 32*16*9*256
  EXPECT_EQ(layer(r, "layer3.8.conv2.weight").macs, 2359296);  // 64*64*9*64
  EXPECT_EQ(layer(r, "fc.weight").macs, 640);
  EXPECT_EQ(layer(r, "fc.weight").params, 650);
  EXPECT_EQ(layer(r, "layer2.0.conv1.weight").output_shape, (Shape{32, 16, 16}));
  // Params: convs 432 (stem) + 18*2,304 + (4,608 + 17*9,216) + (18,432 + 17*36,864) = 848,304;
  // BN (2 per channel) 2*(16 + 18*16 + 18*32 + 18*64) = 4,064; fc 650  => 853,018 (~0.85 M).
  EXPECT_EQ(r.params, 853018);
}

TEST(CostModel, DenseVgg16) {
  manual_seed(1);
  auto model = models::build_model(models::default_arch("vgg16", 10, kCifar));
  const pruning::CostReport r = pruning::count_cost(*model, kCifar);
  // Convs (k = 3, HW = 1024, 256, 64, 16, 4):
  //   3->64, 64->64 @1024:      1,769,472 + 37,748,736
  //   64->128, 128->128 @256:   18,874,368 + 37,748,736
  //   128->256, 2x 256->256 @64: 18,874,368 + 2 * 37,748,736
  //   256->512, 2x 512->512 @16: 18,874,368 + 2 * 37,748,736
  //   3x 512->512 @4:           3 * 9,437,184
  //   sum 313,196,544; classifier 512*512 + 512*10 = 267,264  => 313,463,808 (~313.5 M).
  EXPECT_EQ(conv_macs(r), 313196544);
  EXPECT_EQ(r.macs, 313463808);
  ASSERT_EQ(r.layers.size(), 15u);  // 13 convs + 2 linear
  // Params: convs 14,710,464; BN 2*(2*64 + 2*128 + 3*256 + 6*512) = 8,448; fc1 262,656;
  // BN1d 1,024; fc2 5,130  => 14,987,722.
  EXPECT_EQ(r.params, 14987722);
}

TEST(CostModel, BadInputShapeThrows) {
  EXPECT_THROW_MSG(pruning::count_cost(*resnet56().model, Shape{3, 32}), ShapeError,
                   "input must be C x H x W");
}

// SFP/FPGM on CIFAR ResNet-56 at prune ratio 0.4 (keep r = 0.6).
//
// (i) Analytic, as the papers count (report.h): with dense per-layer MACs
//   stem 442,368 * r                                 =    265,420.8
//   layer1.0: conv1 and conv2 2,359,296 * r^2 (⚠)    =  1,698,693.12
//   layer1.1-8: 8 * 2,359,296 * (r + r^2)            = 18,119,393.28
//   layer2.0: 1,179,648 * r + 2,359,296 * r^2        =  1,557,135.36   (layer3.0 alike)
//   layer2.1-8: 8 * 2,359,296 * (r + r^2)            = 18,119,393.28   (layer3 alike)
//   total 59,436,564.48 of 125,485,056 conv MACs => 52.6345 % (SFP/FPGM report 52.6 %).
constexpr double kAnalyticPrunedConvMacs = 59436564.48;
constexpr double kAnalyticReductionPercent = 100.0 * (1.0 - 59436564.48 / 125485056.0);

TEST(SfpFlops, AnalyticResNet56KeepPointSix) {
  const pruning::AnalyticFlops a = pruning::analytic_sfp_flops(resnet56().dense, 0.6);
  EXPECT_EQ(a.dense_conv_macs, 125485056);
  EXPECT_NEAR(a.pruned_conv_macs, kAnalyticPrunedConvMacs, 1e-6);
  EXPECT_NEAR(a.reduction_percent, kAnalyticReductionPercent, 1e-9);
  EXPECT_NEAR(a.reduction_percent, 52.6345, 1e-4);
  EXPECT_NEAR(
      pruning::analytic_sfp_flops_reduction(models::default_arch("resnet56", 10, kCifar), 0.6),
      kAnalyticReductionPercent, 1e-9);
}

TEST(SfpFlops, AnalyticMatchesPublishedReductions) {
  // docs/methods.md tables, rounded to 0.1 as published: SFP ResNet-20/32/110 at keep 0.7 give
  // 42.2 / 41.5 / 40.8 %, FPGM ResNet-110 at keep 0.6 gives 52.3 %. Exact values of the formula:
  // 42.21818 / 41.51178 / 40.77551 / 52.31487 %.
  struct Case {
    const char* name;
    double keep;
    double percent;
  };
  for (const Case& c : {Case{"resnet20", 0.7, 42.21818}, Case{"resnet32", 0.7, 41.51178},
                        Case{"resnet110", 0.7, 40.77551}, Case{"resnet110", 0.6, 52.31487}}) {
    SCOPED_TRACE(std::string(c.name) + " keep " + std::to_string(c.keep));
    EXPECT_NEAR(
        pruning::analytic_sfp_flops_reduction(models::default_arch(c.name, 10, kCifar), c.keep),
        c.percent, 1e-5);
  }
  // r = 1 prunes nothing.
  EXPECT_NEAR(pruning::analytic_sfp_flops(resnet56().dense, 1.0).reduction_percent, 0.0, 1e-12);
}

TEST(SfpFlops, AnalyticRejectsOtherNetworks) {
  EXPECT_THROW_MSG(
      pruning::analytic_sfp_flops_reduction(models::default_arch("vgg16", 10, kCifar), 0.6),
      ConfigError, "'vgg16' is not a CIFAR ResNet");
  EXPECT_THROW_MSG(pruning::analytic_sfp_flops(resnet56().dense, 0.0), ConfigError,
                   "keep ratio 0 is outside (0, 1]");
  pruning::CostReport odd;
  odd.layers.push_back({"features.0.weight", "conv2d", {64, 3, 3, 3}, {64, 32, 32}, 1, 1, {}});
  EXPECT_THROW_MSG(pruning::analytic_sfp_flops(odd, 0.5), ConfigError,
                   "conv 'features.0.weight' is not a CIFAR ResNet layer");
}

// (ii) Traced, after floor rounding: floor(16*0.4) = 6, floor(32*0.4) = 12, floor(64*0.4) = 25
// filters pruned, so 10 / 20 / 39 kept.
//
// (ii-a) Faithful export as built: the block-internal groups (conv1 outputs) are removed by
// surgery; the residual-stream convs (stem, every conv2) stay full width with masked filters.
//   stem 442,368 (full)
//   layer1.B: conv1 10*16*9*1024 = 1,474,560, conv2 16*10*9*1024 = 1,474,560; x9 = 26,542,080
//   layer2.0: 20*16*9*256 = 737,280 + 32*20*9*256 = 1,474,560
//   layer2.1-8: 8 * (20*32*2304 + 32*20*2304) = 8 * 2,949,120 = 23,592,960   => 25,804,800
//   layer3.0: 39*32*9*64 = 718,848 + 64*39*576 = 1,437,696
//   layer3.1-8: 8 * 2 * 1,437,696 = 23,003,136                               => 25,159,680
//   conv 77,948,928; + fc 640 => 77,949,568 (37.88 % below dense).
constexpr std::int64_t kBlockInternalConvMacs = 77948928;
constexpr std::int64_t kBlockInternalMacs = 77949568;
// (ii-b) The SFP export's compute: residual convs evaluate only their kept filters and scatter
// them into the full-width stream (docs/methods.md section 2), i.e. (ii-a) with every stem/conv2
// count scaled by kept/N (10/16, 20/32, 39/64):
//   stem 276,480; layer1: 9 * (1,474,560 + 921,600) = 21,565,440;
//   layer2: 737,280 + 921,600 + 8 * (1,474,560 + 921,600) = 20,828,160;
//   layer3: 718,848 + 876,096 + 8 * (1,437,696 + 876,096) = 20,105,280
//   conv 62,775,360 => 49.974 % below the dense conv count (the analytic 52.63 % uses exact r).
constexpr std::int64_t kExportConvMacs = 62775360;
// (iii) Extended mode: the residual group pruned too, stream widths 10 / 20 / 39.
//   stem 10*3*9216 = 276,480; layer1: 18 * 10*10*9216 = 16,588,800
//   layer2: 20*10*2304 + 20*20*2304 + 16 * 921,600 = 460,800 + 921,600 + 14,745,600 = 16,128,000
//   layer3: 39*20*576 + 39*39*576 + 16 * 876,096 = 449,280 + 876,096 + 14,017,536 = 15,342,912
//   conv 48,336,192; fc 39*10 = 390 => 48,336,582 (61.48 % below dense).
constexpr std::int64_t kExtendedConvMacs = 48336192;
constexpr std::int64_t kExtendedMacs = 48336582;

TEST(SfpFlops, TracedBlockInternalSurgery) {
  const ResNet56& net = resnet56();
  const pruning::PrunePlan plan = block_internal_plan(net.graph);
  ASSERT_EQ(plan.size(), 27u);  // one group per block
  pruning::SurgeryResult r = pruning::apply_surgery(*net.model, net.graph, plan);
  EXPECT_EQ(r.arch.width("layer1.3.conv1"), 10);
  EXPECT_EQ(r.arch.width("layer2.3.conv1"), 20);
  EXPECT_EQ(r.arch.width("layer3.3.conv1"), 39);
  EXPECT_EQ(r.arch.width("layer3.3.conv2"), 64);
  const pruning::CostReport pruned = pruning::count_cost(*r.model, kCifar);
  EXPECT_EQ(conv_macs(pruned), kBlockInternalConvMacs);
  EXPECT_EQ(pruned.macs, kBlockInternalMacs);

  // The export's count: residual producers computed for their kept filters only.
  const pruning::Group* stream = net.graph.group_of("conv1.weight");
  ASSERT_NE(stream, nullptr);
  std::int64_t export_macs = 0;
  for (const pruning::LayerCost& l : pruned.layers) {
    if (l.op != "conv2d") continue;
    bool residual_producer = false;
    for (const std::string& p : stream->producers) residual_producer |= p == l.name;
    const std::int64_t n = l.weight_shape[0];
    const std::int64_t kept = n - pruning::pruned_count_floor(n, 0.4);
    export_macs += residual_producer ? l.macs / n * kept : l.macs;
  }
  EXPECT_EQ(export_macs, kExportConvMacs);
  EXPECT_NEAR(pruning::reduction_percent(125485056, export_macs), 49.97384, 1e-5);

  // The per-layer comparison the reports carry.
  const pruning::CostComparison c = pruning::compare_costs(net.dense, pruned);
  EXPECT_EQ(c.macs_before, 125485696);
  EXPECT_EQ(c.macs_after, kBlockInternalMacs);
  EXPECT_NEAR(c.macs_reduction_percent, 100.0 * (1.0 - 77949568.0 / 125485696.0), 1e-9);
  ASSERT_EQ(c.layers.size(), 56u);
  EXPECT_EQ(c.layers[1].name, "layer1.0.conv1.weight");
  EXPECT_EQ(c.layers[1].macs_after, 1474560);
  EXPECT_DOUBLE_EQ(c.layers[1].macs_reduction_percent, 37.5);  // 6 of 16 filters
  EXPECT_EQ(c.layers[1].weight_after, (Shape{10, 16, 3, 3}));
  // Params: every block loses the pruned rows of conv1, the same columns of conv2 and two BN
  // parameters per pruned channel (running statistics are buffers):
  //   layer1: 9 * (6*16*9 + 16*6*9)                                   =  15,552
  //   layer2: 12*16*9 + 32*12*9 + 8 * (12*32*9 + 32*12*9)              =  60,480
  //   layer3: 25*32*9 + 64*25*9 + 8 * (25*64*9 + 64*25*9)              = 252,000
  //   BN: 2 * 9 * (6 + 12 + 25)                                        =     774
  //   => 328,806.
  EXPECT_EQ(c.params_before - c.params_after, 328806);
  const std::string json = pruning::cost_comparison_json(c);
  EXPECT_NE(json.find("\"macs_before\":125485696,\"macs_after\":77949568"), std::string::npos)
      << json.substr(0, 200);
  EXPECT_NE(json.find("{\"name\":\"layer1.0.conv1.weight\",\"op\":\"conv2d\",\"weight_before\":"
                      "[16,16,3,3],\"weight_after\":[10,16,3,3],\"macs_before\":2359296,"
                      "\"macs_after\":1474560,\"macs_reduction_percent\":37.5"),
            std::string::npos);
}

TEST(SfpFlops, TracedExtendedResidualGroup) {
  const ResNet56& net = resnet56();
  pruning::PrunePlan plan = block_internal_plan(net.graph);
  // The option-A stream is one group: channels first made by stage S's width increase are zero
  // padding in stage S's first shortcut. A stage's channels are those its conv2 makes; prune
  // floor(N * 0.4) cumulatively so the streams keep 10, 20 and 39 channels.
  const pruning::Group* stream = net.graph.group_of("conv1.weight");
  ASSERT_NE(stream, nullptr);
  ASSERT_TRUE(stream->residual);
  std::vector<std::int64_t> removed;
  std::int64_t previous = 0;
  for (const char* producer :
       {"layer1.0.conv2.weight", "layer2.0.conv2.weight", "layer3.0.conv2.weight"}) {
    const pruning::Member* m = stream->member(producer, 0);
    ASSERT_NE(m, nullptr) << producer;
    std::vector<std::int64_t> present;
    for (std::int64_t k = 0; k < stream->size; ++k)
      if (!m->positions[static_cast<std::size_t>(k)].empty()) present.push_back(k);
    const auto n = static_cast<std::int64_t>(present.size());
    const std::int64_t target = pruning::pruned_count_floor(n, 0.4);
    for (std::int64_t i = previous; i < n && static_cast<std::int64_t>(removed.size()) < target;
         ++i) {
      removed.push_back(present[static_cast<std::size_t>(i)]);
    }
    previous = n;
  }
  ASSERT_EQ(removed.size(), 25u);  // 6 + 6 + 13
  plan[stream->id] = removed;
  pruning::SurgeryResult r = pruning::apply_surgery(*net.model, net.graph, plan);
  EXPECT_EQ(r.arch.width("conv1"), 10);
  EXPECT_EQ(r.arch.width("layer2.5.conv2"), 20);
  EXPECT_EQ(r.arch.width("layer3.8.conv2"), 39);
  const pruning::CostReport pruned = pruning::count_cost(*r.model, kCifar);
  EXPECT_EQ(conv_macs(pruned), kExtendedConvMacs);
  EXPECT_EQ(pruned.macs, kExtendedMacs);
  EXPECT_NEAR(pruning::reduction_percent(125485696, pruned.macs), 61.48040, 1e-5);
}

TEST(CostComparison, UnmatchedLayersAndDuplicates) {
  pruning::CostReport a, b;
  a.layers.push_back({"x.weight", "conv2d", {4, 2, 1, 1}, {4, 2, 2}, 32, 8, {}});
  a.layers.push_back({"y.weight", "linear", {3, 4}, {3}, 12, 15, {}});
  a.macs = 44;
  a.params = 23;
  b.layers.push_back({"y.weight", "linear", {3, 2}, {3}, 6, 9, {}});
  b.layers.push_back({"z.weight", "linear", {1, 3}, {1}, 3, 3, {}});
  b.macs = 9;
  b.params = 12;
  const pruning::CostComparison c = pruning::compare_costs(a, b);
  ASSERT_EQ(c.layers.size(), 3u);
  EXPECT_EQ(c.layers[0].name, "x.weight");
  EXPECT_EQ(c.layers[0].macs_after, 0);
  EXPECT_TRUE(c.layers[0].weight_after.empty());
  EXPECT_DOUBLE_EQ(c.layers[0].macs_reduction_percent, 100.0);
  EXPECT_DOUBLE_EQ(c.layers[1].macs_reduction_percent, 50.0);
  EXPECT_EQ(c.layers[2].name, "z.weight");
  EXPECT_EQ(c.layers[2].macs_before, 0);
  EXPECT_DOUBLE_EQ(c.macs_reduction_percent, 100.0 * (1.0 - 9.0 / 44.0));
  EXPECT_DOUBLE_EQ(c.params_reduction_percent, 100.0 * (1.0 - 12.0 / 23.0));
  b.layers.push_back(b.layers[0]);
  EXPECT_THROW_MSG(pruning::compare_costs(a, b), Error, "names layer y.weight twice");
}

}  // namespace
}  // namespace shears::testing
