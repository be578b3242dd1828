// The pruning methods end to end on a tiny network and data: what each removes, what stays
// masked, and the architectures they produce.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "engine/autograd/grad_mode.h"
#include "engine/config/config.h"
#include "engine/io/safetensors.h"
#include "engine/optim/lr_schedule.h"
#include "models/model.h"
#include "models/registry.h"
#include "pruning/cost_model.h"
#include "pruning/criteria/criterion.h"
#include "pruning/dependency.h"
#include "pruning/methods/method.h"
#include "pruning/methods/selection.h"
#include "pruning/surgery.h"
#include "tests/support/allclose.h"
#include "tests/support/expect_error.h"
#include "tests/support/memory_source.h"
#include "tests/support/temp_dir.h"

namespace shears::testing {
namespace {

struct Fixture {
  std::shared_ptr<nn::Module> model;
  std::unique_ptr<MemorySource> data;
  pruning::PruneContext ctx;
  int trained_epochs = 0;
  std::string checkpoint_dir;           // empty: none
  bool validate = false;                // evaluate on `data` after every epoch
  TrainerHooks* extra_hooks = nullptr;  // registered after the method's
  std::vector<EpochMetrics> history;
};

std::unique_ptr<Fixture> make_fixture(std::int64_t epochs) {
  auto f = std::make_unique<Fixture>();
  manual_seed(4);
  f->model = models::build_model(models::default_arch("resnet20", 4, {3, 8, 8}));
  Generator gen(2);
  Tensor x = rand_uniform({32, 3, 8, 8}, -1, 1, gen);
  std::vector<std::int64_t> y(32);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<std::int64_t>(i % 4);
  f->data = std::make_unique<MemorySource>(x, Tensor::from_vector(y, {32}), 16, 4, true, 3);
  f->ctx.model = f->model;
  f->ctx.input = {3, 8, 8};
  f->ctx.train = f->data.get();
  f->ctx.val = f->data.get();
  f->ctx.recipe.epochs = epochs;
  f->ctx.recipe.sgd.lr = 0.05;
  f->ctx.recipe.sgd.momentum = 0.9;
  f->ctx.recipe.schedule = [](double base, std::int64_t) {
    return std::make_unique<optim::ConstantLr>(base);
  };
  Fixture* raw = f.get();
  f->ctx.train_model = [raw](nn::Module& m, const pruning::TrainRecipe& r, TrainerHooks* hooks,
                             const std::string&, const std::function<void(optim::Sgd&)>& on_opt) {
    optim::Sgd sgd(m.named_parameters(), r.sgd);
    if (on_opt) on_opt(sgd);
    auto schedule = r.schedule(r.sgd.lr, r.epochs);
    TrainerOptions o;
    o.epochs = r.epochs;
    o.progress = false;
    o.checkpoint_dir = raw->checkpoint_dir;
    Trainer t(m, sgd, *schedule, o);
    if (hooks) t.add_hooks(hooks);
    if (raw->extra_hooks) t.add_hooks(raw->extra_hooks);
    raw->trained_epochs += static_cast<int>(r.epochs);
    raw->history = t.fit(*raw->data, raw->validate ? raw->data.get() : nullptr);
    return raw->history;
  };
  return f;
}

pruning::PruneResult run_method(Fixture& f, const std::string& yaml) {
  Config c = Config::parse(yaml, "test.yaml");
  std::unique_ptr<pruning::Method> m = pruning::make_method(c);
  c.check_all_read();
  return m->run(f.ctx);
}

std::int64_t zero_filters(const Tensor& w) {
  std::int64_t zeros = 0;
  for (double n : pruning::filter_l1(w)) zeros += n == 0.0;
  return zeros;
}

TEST(L1Method, RemovesTheSmallestL1FiltersOfBlockFirstConvs) {
  auto f = make_fixture(0);
  // Make filters 3 and 7 of layer1.0.conv1 the weakest by far.
  {
    NoGrad no_grad;
    Tensor& w = f->model->tensor_at("layer1.0.conv1.weight");
    std::vector<float> v = w.to_vector<float>();
    std::int64_t per = w.numel() / w.size(0);
    for (std::int64_t k : {3, 7})
      for (std::int64_t i = 0; i < per; ++i) v[static_cast<std::size_t>(k * per + i)] *= 1e-3f;
    w.copy_(Tensor::from_vector(v, w.shape()));
  }
  Tensor before = f->model->tensor_at("layer1.0.conv1.weight").clone();
  pruning::PruneResult r = run_method(*f, "method: l1\nrate: 0.125\n");
  // int(16 * 0.875) = 14 kept: exactly filters 3 and 7 removed, the others kept in order.
  EXPECT_EQ(r.arch.width("layer1.0.conv1"), 14);
  EXPECT_EQ(r.arch.width("layer1.0.conv2"), 16);  // residual channels untouched
  EXPECT_EQ(r.arch.width("conv1"), 16);
  auto old_l1 = pruning::filter_l1(before);
  auto new_l1 = pruning::filter_l1(r.model->tensor_at("layer1.0.conv1.weight"));
  std::vector<double> expected;
  for (std::size_t k = 0; k < old_l1.size(); ++k)
    if (k != 3 && k != 7) expected.push_back(old_l1[k]);
  EXPECT_EQ(new_l1, expected);
}

TEST(L1Method, GroupModePrunesResidualStreams) {
  auto f = make_fixture(0);
  pruning::PruneResult r = run_method(*f, "method: l1\nrate: 0.25\nresidual: group\n");
  // One plan over the coupled stream: int(64 * 0.75) = 48 of the 64 stream channels survive, and
  // every producer of a stage keeps the same width.
  EXPECT_EQ(r.arch.width("layer3.2.conv2"), 48);
  EXPECT_EQ(r.arch.width("conv1"), r.arch.width("layer1.2.conv2"));
  EXPECT_EQ(r.arch.width("layer2.0.conv2"), r.arch.width("layer2.2.conv2"));
  r.model->forward(Tensor::zeros({1, 3, 8, 8}));
}

TEST(L1Method, FlopsTargetIsReached) {
  auto f = make_fixture(0);
  std::int64_t dense = pruning::count_cost(*f->model, {3, 8, 8}).macs;
  pruning::PruneResult r = run_method(*f, "method: l1\nflops_target: 0.2\nresidual: group\n");
  std::int64_t pruned = pruning::count_cost(*r.model, {3, 8, 8}).macs;
  EXPECT_GE(pruning::reduction_percent(dense, pruned), 20.0);
  EXPECT_LT(pruning::reduction_percent(dense, pruned), 35.0);
}

TEST(SfpMethod, MasksEveryConvAndRemovesInnerChannels) {
  auto f = make_fixture(2);
  pruning::PruneResult r = run_method(*f, "method: sfp\nrate: 0.3\n");
  EXPECT_EQ(f->trained_epochs, 2);
  // Block-internal groups: floor(16 * 0.3) = 4 removed physically; floor(64 * 0.3) = 19.
  EXPECT_EQ(r.arch.width("layer1.0.conv1"), 12);
  EXPECT_EQ(r.arch.width("layer3.2.conv1"), 45);
  // Residual convs keep their width with floor(N * 0.3) zero filters (the faithful mode).
  EXPECT_EQ(r.arch.width("layer1.1.conv2"), 16);
  EXPECT_EQ(zero_filters(r.model->tensor_at("layer1.1.conv2.weight")), 4);
  EXPECT_EQ(zero_filters(r.model->tensor_at("conv1.weight")), 4);
  EXPECT_EQ(zero_filters(r.model->tensor_at("layer3.0.conv2.weight")), 19);
  auto report = nlohmann::json::parse(r.report_json);
  EXPECT_EQ(report["residual_convs_masked_full_width"].get<int>(), 10);
}

TEST(FpgmMethod, MixedNormAndDistanceCounts) {
  auto f = make_fixture(1);
  pruning::PruneResult r =
      run_method(*f, "method: fpgm\ndist_rate: 0.3\nnorm_rate: 0.1\nresidual: mask\n");
  // floor(16 * 0.1) = 1 by norm + floor(16 * 0.3) = 4 by distance = 5 of 16.
  EXPECT_EQ(r.arch.width("layer1.0.conv1"), 11);
  EXPECT_EQ(zero_filters(r.model->tensor_at("layer2.1.conv2.weight")), 3 + 9);
  EXPECT_THROW(run_method(*f, "method: fpgm\nrate: 0.3\n"), ConfigError);
}

TEST(ScratchMethod, SameArchitectureAsL1FreshWeights) {
  auto f = make_fixture(2);
  pruning::PruneResult scratch = run_method(*f, "method: scratch\nrate: 0.5\nbudget: flops\n");
  auto g = make_fixture(0);
  pruning::PruneResult l1 = run_method(*g, "method: l1\nrate: 0.5\n");
  EXPECT_EQ(scratch.arch, l1.arch);
  // scratch-B trains floor(epochs * dense_flops / pruned_flops) epochs.
  auto report = nlohmann::json::parse(scratch.report_json);
  EXPECT_EQ(report["variant"], "scratch-B");
  EXPECT_EQ(f->trained_epochs,
            static_cast<int>(std::floor(2 * report["flops_ratio"].get<double>())));
  EXPECT_GT(f->trained_epochs, 2);
}

// The epoch's validation sees the re-masked network (the reference validates after masking):
// the last epoch's logged validation equals an evaluation of the final masked network.
TEST(SfpMethod, ValidationSeesTheRemaskedNetwork) {
  auto f = make_fixture(2);
  f->validate = true;
  pruning::PruneResult r = run_method(*f, "method: sfp\nrate: 0.3\n");
  ASSERT_EQ(f->history.size(), 2u);
  optim::Sgd none(TensorList{}, optim::SgdOptions{});
  optim::ConstantLr zero(0.0);
  Trainer eval(*r.trained, none, zero, TrainerOptions{});
  EpochMetrics m = eval.evaluate(*f->data);
  EXPECT_DOUBLE_EQ(f->history.back().val_loss, m.val_loss);
}

/// Stops training when epoch `stop_at` (0-based) is about to start, after the previous epoch's
/// checkpoint was written.
class StopAt : public TrainerHooks {
 public:
  explicit StopAt(std::int64_t epoch) : stop_at_(epoch) {}
  void on_epoch_begin(Trainer&, std::int64_t epoch) override {
    if (epoch == stop_at_) throw Interrupted("stopped for the test");
  }

 private:
  std::int64_t stop_at_;
};

// A resumed SFP/FPGM run continues with the masks it had and ends bit-identical to an
// uninterrupted one (masks are method state saved in the checkpoint, neither re-chosen nor
// re-applied on resume). With interval 2 the run stops after epoch 1, whose weights have regrown.
class SoftResume : public ::testing::TestWithParam<std::string> {};

TEST_P(SoftResume, IsBitIdentical) {
  const std::string yaml = GetParam();
  TempDir dir;
  auto whole = make_fixture(3);
  whole->checkpoint_dir = dir.file("whole");
  pruning::PruneResult a = run_method(*whole, yaml);

  auto first = make_fixture(3);
  first->checkpoint_dir = dir.file("resumed");
  StopAt stop(2);
  first->extra_hooks = &stop;
  EXPECT_THROW(run_method(*first, yaml), Interrupted);
  auto second = make_fixture(3);
  second->checkpoint_dir = dir.file("resumed");
  pruning::PruneResult b = run_method(*second, yaml);
  EXPECT_EQ(second->history.size(), 1u);  // only the last epoch ran again
  EXPECT_EQ(a.arch, b.arch);
  TensorList sa = a.trained->state_dict(), sb = b.trained->state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (std::size_t i = 0; i < sa.size(); ++i) {
    SCOPED_TRACE(sa[i].first);
    EXPECT_TRUE(equal(sb[i].second, sa[i].second));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Methods, SoftResume,
    ::testing::Values("method: sfp\nrate: 0.3\ninterval: 2\n",
                      "method: fpgm\ndist_rate: 0.3\nnorm_rate: 0.1\ninterval: 2\n",
                      "method: fpgm\ndist_rate: 0.4\ninterval: 2\ngrad_mask: false\n"));

// Re-masking after epoch e (0-based) when e % interval == 0 and after the last, as the reference:
// with interval 2 over 3 epochs, after epochs 0 and 2.
TEST(SfpMethod, IntervalCountsEpochsFromZero) {
  class Watch : public TrainerHooks {
   public:
    void on_epoch_end(Trainer& t, const EpochMetrics&) override {
      zeros.push_back(zero_filters(t.model().tensor_at("layer1.0.conv2.weight")));
    }
    std::vector<std::int64_t> zeros;
  } watch;
  auto f = make_fixture(3);
  f->extra_hooks = &watch;
  run_method(*f, "method: sfp\nrate: 0.3\ninterval: 2\n");
  // Masked right after epochs 0 and 2 (4 of 16 zero); after epoch 1 the filters have regrown.
  EXPECT_EQ(watch.zeros, (std::vector<std::int64_t>{4, 0, 4}));
}

// FPGM ranks each producer of a residual group over the channels it makes: on option-A ResNets
// the stem makes only the first 16 of the 64 stream channels.
TEST(FpgmMethod, ResidualGroupsOnOptionA) {
  auto f = make_fixture(0);
  pruning::PruneResult r = run_method(*f, "method: fpgm\ndist_rate: 0.25\nresidual: group\n");
  // floor(64 * 0.25) = 16 stream channels removed, every stage keeps at least one.
  EXPECT_EQ(r.arch.width("layer3.2.conv2"), 48);
  EXPECT_GE(r.arch.width("conv1"), 1);
  EXPECT_EQ(r.arch.width("conv1"), r.arch.width("layer1.2.conv2"));
  r.model->forward(Tensor::zeros({1, 3, 8, 8}));
}

// round_to: kept widths are multiples of N, never zero, never above the original.
TEST(Selection, RoundToRoundsKeptWidths) {
  pruning::SelectionSpec s;
  s.round_to = 8;
  EXPECT_EQ(s.rounded_removed(64, 19), 64 - 48);  // 45 kept -> 48
  EXPECT_EQ(s.rounded_removed(64, 21), 64 - 40);  // 43 kept -> 40
  EXPECT_EQ(s.rounded_removed(16, 14), 16 - 8);   // 2 kept -> never 0: 8
  EXPECT_EQ(s.rounded_removed(6, 3), 0);          // narrower than N: kept whole
  EXPECT_EQ(s.rounded_removed(20, 0), 20 - 16);   // 20 -> 24 is above the original: 16
  s.round_to = 1;
  EXPECT_EQ(s.rounded_removed(64, 19), 19);
  auto f = make_fixture(0);
  pruning::PruneResult r = run_method(*f, "method: l1\nrate: 0.3\nround_to: 8\n");
  auto report = nlohmann::json::parse(r.report_json);
  for (const auto& g : report["groups"]) {
    EXPECT_EQ(g["kept"].get<int>() % 8, 0) << g.dump();
    EXPECT_NE(g["kept"], g["kept_before_rounding"]) << g.dump();  // 16 * 0.7 = 11 -> 8 etc.
  }
  EXPECT_EQ(r.arch.width("layer3.0.conv1"), 48);  // int(64 * 0.7) = 44 -> 48
  EXPECT_THROW(run_method(*f, "method: l1\nrate: 0.3\nround_to: 0\n"), ConfigError);
}

// round_to: auto through PruneContext::width_latency, with an injected table of known answer:
// latency 1 + 0.01 c, plus 0.5 for widths that are not multiples of 4 (an odd-width penalty).
double fake_latency(std::int64_t c) {
  return 1.0 + 0.01 * static_cast<double>(c) + (c % 4 ? 0.5 : 0.0);
}

struct FakeWidthTable {
  std::vector<pruning::WidthSite> sites;
  pruning::WidthLatencyFn fn() {
    return [this](const pruning::WidthSite& s, const std::vector<std::int64_t>& widths) {
      sites.push_back(s);
      std::map<std::int64_t, double> t;
      for (std::int64_t c : widths) t[c] = fake_latency(c);
      return t;
    };
  }
};

// Every kept width is one no larger candidate (up to auto_width_cap) beats by more than 2 %.
void expect_never_slower_than_a_larger(std::int64_t kept, std::int64_t wanted, std::int64_t size) {
  EXPECT_GE(kept, wanted);
  for (std::int64_t c = kept + 1; c <= pruning::auto_width_cap(wanted, size); ++c)
    EXPECT_LT(fake_latency(kept), fake_latency(c) * 1.02) << "kept " << kept << ", larger " << c;
}

TEST(Selection, RoundToAutoChoosesFromTheInjectedLatencyTable) {
  auto f = make_fixture(0);
  FakeWidthTable table;
  f->ctx.width_latency = table.fn();
  pruning::PruneResult r = run_method(*f, "method: l1\nrate: 0.3\nround_to: auto\n");
  // int(16 * 0.7) = 11 -> 12 (11 pays the penalty, 16 is 3.6 % slower than 12);
  // int(32 * 0.7) = 22 -> 24; int(64 * 0.7) = 44 stays (a multiple of 4 is the fastest).
  for (int b = 0; b < 3; ++b) {
    EXPECT_EQ(r.arch.width("layer1." + std::to_string(b) + ".conv1"), 12);
    EXPECT_EQ(r.arch.width("layer2." + std::to_string(b) + ".conv1"), 24);
    EXPECT_EQ(r.arch.width("layer3." + std::to_string(b) + ".conv1"), 44);
  }
  auto report = nlohmann::json::parse(r.report_json);
  EXPECT_EQ(report["round_to"], "auto");
  ASSERT_EQ(report["groups"].size(), 9u);
  for (const auto& g : report["groups"]) {
    expect_never_slower_than_a_larger(g["kept"].get<std::int64_t>(),
                                      g["kept_before_rounding"].get<std::int64_t>(),
                                      g["size"].get<std::int64_t>());
  }
  // The sites are the blocks' layers: layer2.0 is conv 16 -> c, stride 2 (8x8 -> 4x4), c -> 32.
  bool stride2 = false;
  for (const auto& s : table.sites) {
    EXPECT_EQ(s.kernel, 3);
    if (s.stride == 2) {
      stride2 = true;
      EXPECT_EQ(s.in_channels * 2, s.out_channels);
      EXPECT_EQ(s.height, s.in_channels == 16 ? 4 : 2);
    } else {
      EXPECT_EQ(s.in_channels, s.out_channels);
    }
  }
  EXPECT_TRUE(stride2);
  // A pruned network that runs, and the same choice from SFP's masks (floor counts: 16 * 0.35
  // -> 5 removed, 11 wanted -> 12; 32 -> 21 wanted -> 24; 64 -> 42 wanted -> 44).
  r.model->forward(Tensor::zeros({1, 3, 8, 8}));
  pruning::PruneResult s =
      run_method(*f, "method: sfp\nrate: 0.35\nresidual: skip\nround_to: auto\n");
  auto sr = nlohmann::json::parse(s.report_json);
  ASSERT_EQ(sr["units"].size(), 9u);
  for (const auto& u : sr["units"]) {
    const std::int64_t size = u["size"].get<std::int64_t>();
    const std::int64_t want = size == 16 ? 12 : size == 32 ? 24 : 44;
    EXPECT_EQ(u["kept"].get<std::int64_t>(), want) << u.dump();
    EXPECT_EQ(u["masked"].get<std::int64_t>(), size - want) << u.dump();
  }
}

TEST(Selection, RoundToAutoErrorsNameTheKey) {
  auto f = make_fixture(0);
  // No table from the runner.
  EXPECT_THROW_MSG(run_method(*f, "method: l1\nrate: 0.3\nround_to: auto\n"), ConfigError,
                   "test.yaml:3");
  EXPECT_THROW_MSG(run_method(*f, "method: l1\nrate: 0.3\nround_to: eight\n"), ConfigError,
                   "round_to");
}

// Per-layer ratios are reported with the kept widths, not as "rate": 0.
TEST(L1Method, ReportsPerGroupRatiosAndWidths) {
  auto f = make_fixture(0);
  pruning::PruneResult r = run_method(*f, "method: l1\nrates: {layer1: 0.5, layer2: 0.25}\n");
  auto report = nlohmann::json::parse(r.report_json);
  EXPECT_FALSE(report.contains("rate")) << report.dump();
  EXPECT_EQ(report["rates"]["layer1"].get<double>(), 0.5);
  int seen = 0;
  for (const auto& g : report["groups"]) {
    std::string p = g["producers"][0];
    if (p.rfind("layer1.", 0) == 0) {
      EXPECT_EQ(g["kept"].get<int>(), 8);
      ++seen;
    }
    if (p.rfind("layer2.", 0) == 0) {
      EXPECT_EQ(g["kept"].get<int>(), 24);
      ++seen;
    }
  }
  EXPECT_EQ(seen, 6);
}

// Surgery leaves the default generator where it was, so a FLOPs-target bisection (14 surgeries)
// does not change the fine-tuning that follows.
TEST(Surgery, DoesNotMoveTheDefaultGenerator) {
  auto f = make_fixture(0);
  pruning::DependencyGraph g = pruning::DependencyGraph::build(*f->model, {3, 8, 8});
  pruning::PrunePlan plan;
  for (const pruning::Group& gr : g.groups())
    if (gr.prunable() && !gr.residual && gr.size == 16) plan[gr.id] = {0, 1};
  manual_seed(77);
  const std::uint64_t expected = Generator(default_generator()).next_u64();
  pruning::apply_surgery(*f->model, g, plan);
  EXPECT_EQ(default_generator().next_u64(), expected);
  manual_seed(77);
  run_method(*f, "method: l1\nflops_target: 0.2\n");
  EXPECT_EQ(default_generator().next_u64(), expected);
}

// Scratch-B: floor(epochs * R) epochs (Rethinking's main_B.py), any method's architecture.
TEST(ScratchMethod, FloorsEpochsAndTakesAnyMethodsArchitecture) {
  auto f = make_fixture(2);
  pruning::PruneResult r =
      run_method(*f, "method: scratch\nbudget: flops\narchitecture: {method: sfp, rate: 0.4}\n");
  auto report = nlohmann::json::parse(r.report_json);
  double ratio = report["flops_ratio"].get<double>();
  EXPECT_GT(ratio, 1.2);
  EXPECT_EQ(report["epochs"].get<std::int64_t>(), static_cast<std::int64_t>(std::floor(2 * ratio)));
  EXPECT_EQ(report["architecture_from"], "sfp plan");
  EXPECT_EQ(r.arch.width("layer1.0.conv1"), 10);  // 16 - floor(16 * 0.4)
  EXPECT_TRUE(r.arch.constant_inputs.empty());    // fresh weights carry no folded constants
  EXPECT_THROW(run_method(*f, "method: scratch\nrate: 0.3\narchitecture: {method: l1}\n"),
               ConfigError);
}

TEST(ScratchMethod, ArchitectureFromACheckpoint) {
  TempDir dir;
  auto f = make_fixture(0);
  pruning::PruneResult l1 = run_method(*f, "method: l1\nrate: 0.5\n");
  save_safetensors(dir.file("pruned.safetensors"), l1.model->state_dict(),
                   {{"arch", models::arch_to_json(l1.arch)}});
  auto g = make_fixture(1);
  pruning::PruneResult r =
      run_method(*g, "method: scratch\narchitecture: {run: " + dir.path() + "}\n");
  EXPECT_EQ(r.arch, l1.arch);
  EXPECT_EQ(g->trained_epochs, 1);  // scratch-E: the recipe's epochs
}

TEST(MethodRegistry, UnknownMethodAndKeysAreNamed) {
  auto f = make_fixture(0);
  try {
    run_method(*f, "method: obd\n");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("known: l1, random, sfp, fpgm, scratch"),
              std::string::npos)
        << e.what();
  }
  try {
    run_method(*f, "method: l1\nrate: 0.5\nratio: 0.3\n");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'ratio'"), std::string::npos) << e.what();
  }
  EXPECT_THROW_MSG(run_method(*f, "method: l1\nrate: 1.5\n"), ConfigError,
                   "test.yaml:2: key 'rate' must be a prune ratio in [0, 1), got 1.5");
  // Range errors name the line of the offending key, not the section's.
  EXPECT_THROW_MSG(run_method(*f, "method: sfp\nrate: 0.3\n\ninterval: 0\n"), ConfigError,
                   "test.yaml:4: key 'interval' must be >= 1");
  EXPECT_THROW_MSG(run_method(*f, "method: l1\nrates:\n  layer1: 0.2\n  layer2: 1.0\n"),
                   ConfigError, "test.yaml:4: key 'rates.layer2' must be a prune ratio");
}

}  // namespace
}  // namespace shears::testing
