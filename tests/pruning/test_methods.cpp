// The pruning methods end to end on a tiny network and data: what each removes, what stays
// masked, and the architectures they produce.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/autograd/grad_mode.h"
#include "engine/config/config.h"
#include "engine/optim/lr_schedule.h"
#include "models/model.h"
#include "models/registry.h"
#include "pruning/cost_model.h"
#include "pruning/criteria/criterion.h"
#include "pruning/methods/method.h"
#include "tests/support/memory_source.h"

namespace shears::testing {
namespace {

struct Fixture {
  std::shared_ptr<nn::Module> model;
  std::unique_ptr<MemorySource> data;
  pruning::PruneContext ctx;
  int trained_epochs = 0;
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
    Trainer t(m, sgd, *schedule, o);
    if (hooks) t.add_hooks(hooks);
    raw->trained_epochs += static_cast<int>(r.epochs);
    return t.fit(*raw->data, nullptr);
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
  auto f = make_fixture(1);
  pruning::PruneResult scratch = run_method(*f, "method: scratch\nrate: 0.5\nbudget: flops\n");
  auto g = make_fixture(0);
  pruning::PruneResult l1 = run_method(*g, "method: l1\nrate: 0.5\n");
  EXPECT_EQ(scratch.arch, l1.arch);
  // scratch-B trains dense_flops / pruned_flops times the recipe's epochs.
  EXPECT_GT(f->trained_epochs, 1);
  auto report = nlohmann::json::parse(scratch.report_json);
  EXPECT_EQ(report["variant"], "scratch-B");
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
  EXPECT_THROW(run_method(*f, "method: l1\nrate: 1.5\n"), ConfigError);
}

}  // namespace
}  // namespace shears::testing
