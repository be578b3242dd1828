// Training the pruned architecture from scratch (Liu et al., "Rethinking the Value of Network
// Pruning", ICLR 2019): a pruned architecture with fresh random weights, trained for the same
// epochs (scratch-E) or for as many more as keep the FLOPs budget of the dense training
// (scratch-B).
#include "pruning/methods/scratch.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "engine/io/safetensors.h"
#include "engine/log.h"
#include "models/model.h"
#include "models/registry.h"
#include "pruning/cost_model.h"
#include "pruning/surgery.h"

namespace shears::pruning {

namespace {
std::string where(const Config& s, const std::string& key) {
  return s.location(key) + ": key '" + s.path() + "." + key + "'";
}
}  // namespace

ScratchMethod::ScratchMethod(const Config& s) : selector_(s, Criterion::L1) {
  budget_ = s.get<std::string>("budget", "epochs");
  if (budget_ != "epochs" && budget_ != "flops") {
    throw ConfigError(where(s, "budget") +
                      " must be epochs (scratch-E) or flops (scratch-B), got '" + budget_ + "'");
  }
  if (s.has("architecture")) {
    if (s.has("rate") || s.has("rates") || s.has("flops_target")) {
      throw ConfigError(where(s, "architecture") +
                        " names the architecture; rate, rates and flops_target belong to the "
                        "L1 plan used without it, choose one");
    }
    Config a = s.child("architecture");
    int sources = a.has("checkpoint") + a.has("run") + a.has("method");
    if (sources != 1) {
      throw ConfigError(where(s, "architecture") +
                        " must name exactly one of checkpoint, run or method");
    }
    if (a.has("checkpoint")) {
      arch_checkpoint_ = a.get<std::string>("checkpoint");
      arch_source_ = "checkpoint " + arch_checkpoint_;
    } else if (a.has("run")) {
      arch_checkpoint_ = a.get<std::string>("run") + "/pruned.safetensors";
      arch_source_ = "run " + arch_checkpoint_;
    } else {
      if (a.get<std::string>("method") == "scratch") {
        throw ConfigError(where(a, "method") + " cannot be scratch itself");
      }
      arch_method_ = make_method(a);
      arch_source_ = arch_method_->name() + " plan";
    }
  }
}

PruneResult ScratchMethod::run(PruneContext& ctx) {
  models::Arch arch;
  double rate = 0;
  if (!arch_checkpoint_.empty()) {
    SafetensorsContents c = load_safetensors(arch_checkpoint_);
    auto it = c.metadata.find("arch");
    SHEARS_CHECK_AS(CheckpointError, it != c.metadata.end(), arch_checkpoint_,
                    ": metadata field 'arch' is missing, so the file names no architecture");
    arch = models::arch_from_json(it->second);
  } else if (arch_method_) {
    // The method runs on a copy with no training: only the shape of its export is kept.
    const Generator saved = default_generator();
    std::shared_ptr<nn::Module> copy = models::build_model(models::arch_of(*ctx.model));
    default_generator() = saved;
    copy->to(ctx.device);
    copy->load_state_dict(ctx.model->state_dict());
    PruneContext shape_ctx = ctx;
    shape_ctx.model = copy;
    shape_ctx.recipe.epochs = 0;
    arch = arch_method_->run(shape_ctx).arch;
  } else {
    DependencyGraph graph = DependencyGraph::build(*ctx.model, ctx.input);
    std::unique_ptr<WidthChooser> widths = selector_.width_chooser(ctx);
    PrunePlan plan = selector_.plan(*ctx.model, graph, ctx.input, ctx.seed, &rate, widths.get());
    arch = apply_surgery(*ctx.model, graph, plan).arch;
  }
  // Same architecture, fresh initialisation; a folded constant belongs to trained weights only.
  arch.constant_inputs.clear();
  manual_seed(ctx.seed + 1);
  std::shared_ptr<nn::Module> model = models::build_model(arch);
  model->to(ctx.device);
  std::int64_t dense = count_cost(*ctx.model, ctx.input).macs;
  std::int64_t pruned = count_cost(*model, ctx.input).macs;
  TrainRecipe recipe = ctx.recipe;
  double ratio =
      static_cast<double>(dense) / static_cast<double>(std::max<std::int64_t>(pruned, 1));
  if (budget_ == "flops") {
    // main_B.py: epochs = int(epochs * R); the schedule scales its milestones to the new length.
    recipe.epochs =
        static_cast<std::int64_t>(std::floor(static_cast<double>(recipe.epochs) * ratio));
  }
  log_info("scratch-" + std::string(budget_ == "flops" ? "B" : "E") +
           ": training the pruned architecture (" + arch_source_ + ") from random weights for " +
           std::to_string(recipe.epochs) + " epochs");
  if (recipe.epochs > 0) ctx.train_model(*model, recipe, nullptr, "scratch", nullptr);
  nlohmann::json report = {{"variant", budget_ == "flops" ? "scratch-B" : "scratch-E"},
                           {"architecture_from", arch_source_},
                           {"flops_ratio", ratio},
                           {"base_epochs", ctx.recipe.epochs},
                           {"epochs", recipe.epochs}};
  if (arch_checkpoint_.empty() && !arch_method_) report["rate"] = rate;
  return PruneResult{model, arch, report.dump(), nullptr};
}

}  // namespace shears::pruning
