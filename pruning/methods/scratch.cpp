// Training the pruned architecture from scratch (Liu et al., "Rethinking the Value of Network
// Pruning", ICLR 2019): the architecture an L1 plan would produce, with fresh random weights,
// trained for the same epochs (scratch-E) or for as many more as keep the FLOPs budget of the
// dense training (scratch-B).
#include <cmath>

#include <nlohmann/json.hpp>

#include "engine/log.h"
#include "models/registry.h"
#include "pruning/cost_model.h"
#include "pruning/methods/scratch.h"
#include "pruning/surgery.h"

namespace shears::pruning {

ScratchMethod::ScratchMethod(const Config& s) : selector_(s, Criterion::L1) {
  budget_ = s.get<std::string>("budget", "epochs");
  if (budget_ != "epochs" && budget_ != "flops") {
    throw ConfigError(s.file() + ":" + std::to_string(s.line()) + ": key '" + s.path() +
                      ".budget' must be epochs (scratch-E) or flops (scratch-B), got '" + budget_ +
                      "'");
  }
}
PruneResult ScratchMethod::run(PruneContext& ctx) {
  DependencyGraph graph = DependencyGraph::build(*ctx.model, ctx.input);
  double rate = 0;
  PrunePlan plan = selector_.plan(*ctx.model, graph, ctx.input, ctx.seed, &rate);
  SurgeryResult shape_donor = apply_surgery(*ctx.model, graph, plan);
  // Same architecture, fresh initialisation.
  manual_seed(ctx.seed + 1);
  std::shared_ptr<nn::Module> model = models::build_model(shape_donor.arch);
  model->to(ctx.device);
  std::int64_t dense = count_cost(*ctx.model, ctx.input).macs;
  std::int64_t pruned = count_cost(*model, ctx.input).macs;
  TrainRecipe recipe = ctx.recipe;
  if (budget_ == "flops") {
    recipe.epochs = static_cast<std::int64_t>(
        std::llround(static_cast<double>(recipe.epochs) * static_cast<double>(dense) /
                     static_cast<double>(std::max<std::int64_t>(pruned, 1))));
  }
  log_info("scratch-" + std::string(budget_ == "flops" ? "B" : "E") +
           ": training the pruned "
           "architecture from random weights for " +
           std::to_string(recipe.epochs) + " epochs");
  if (recipe.epochs > 0) ctx.train_model(*model, recipe, nullptr, "scratch", nullptr);
  nlohmann::json report = {{"variant", budget_ == "flops" ? "scratch-B" : "scratch-E"},
                           {"architecture_from", "l1 plan"},
                           {"rate", rate},
                           {"epochs", recipe.epochs}};
  return PruneResult{model, shape_donor.arch, report.dump()};
}

}  // namespace shears::pruning
