#pragma once

// A PruneContext over a ResNet-20 at width 4 on 48 synthetic 8x8 images whose labels are
// learnable from the input, trained in memory: the end-to-end fixture of the search methods'
// tests (ABCPruner, MetaPruning).

#include <functional>
#include <memory>
#include <string>

#include "engine/ops.h"
#include "engine/optim/lr_schedule.h"
#include "models/model.h"
#include "models/registry.h"
#include "pruning/methods/method.h"
#include "pruning/search/driver.h"
#include "tests/support/memory_source.h"

namespace shears::testing {

struct TinySearch {
  std::shared_ptr<nn::Module> model;
  Tensor x, y;
  pruning::PruneContext ctx;
  std::unique_ptr<MemorySource> shared;
};

/// The fixture with its method state under `run_dir`, on `device`; every training (the recipe's
/// own and the method's candidates) runs `epochs` epochs at lr 0.05 with `momentum`, constant.
inline std::unique_ptr<TinySearch> make_tiny_search(const std::string& run_dir, Device device,
                                                    std::int64_t epochs, double momentum) {
  auto t = std::make_unique<TinySearch>();
  manual_seed(4);
  t->model = models::build_model(models::default_arch("resnet20", 4, {3, 8, 8}));
  t->model->to(device);
  t->ctx.device = device;
  Generator gen(2);
  t->x = rand_uniform({48, 3, 8, 8}, -1, 1, gen);
  t->y = two_channel_sign_labels(t->x);  // learnable from the input
  t->shared = std::make_unique<MemorySource>(t->x, t->y, 16, 4, true, 3);
  t->ctx.model = t->model;
  t->ctx.input = {3, 8, 8};
  t->ctx.train = t->shared.get();
  t->ctx.val = t->shared.get();
  t->ctx.seed = 17;
  t->ctx.run_dir = run_dir;
  t->ctx.recipe.epochs = epochs;
  t->ctx.recipe.sgd.lr = 0.05;
  t->ctx.recipe.sgd.momentum = momentum;
  t->ctx.recipe.schedule = [](double base, std::int64_t) {
    return std::make_unique<optim::ConstantLr>(base);
  };
  TinySearch* raw = t.get();
  t->ctx.make_source = [raw](const std::string& split) -> std::unique_ptr<BatchSource> {
    return std::make_unique<MemorySource>(raw->x, raw->y, 16, 4, split == "train", 3);
  };
  t->ctx.train_model = [raw, device](nn::Module& m, const pruning::TrainRecipe& r, TrainerHooks*,
                                     const std::string&, const std::function<void(optim::Sgd&)>&) {
    return pruning::search::train_ephemeral(m, r, *raw->shared, device);
  };
  return t;
}

}  // namespace shears::testing
