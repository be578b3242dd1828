// PruneContext's helpers: evaluation on a named split and per-candidate generators.
#include "engine/optim/lr_schedule.h"
#include "pruning/methods/method.h"
#include "pruning/search/driver.h"

namespace shears::pruning {

std::string LayerShape::key() const {
  if (op == "linear")
    return "linear:in=" + std::to_string(in_channels) + ",out=" + std::to_string(out_channels) +
           ",n=" + std::to_string(batch);
  return op + ":in=" + std::to_string(in_channels) + ",out=" + std::to_string(out_channels) +
         ",hw=" + std::to_string(height) + "x" + std::to_string(width) +
         ",k=" + std::to_string(kernel) + ",s=" + std::to_string(stride) +
         ",p=" + std::to_string(padding) + ",g=" + std::to_string(groups) +
         ",n=" + std::to_string(batch);
}

std::shared_ptr<BatchSource> PruneContext::source(const std::string& split) const {
  SHEARS_CHECK(split == "train" || split == "val" || split == "test", "unknown split '", split,
               "' (known: train, val, test)");
  if (make_source) {
    std::unique_ptr<BatchSource> own = make_source(split);
    SHEARS_CHECK(own != nullptr, "no batch source for split '", split, "'");
    return std::shared_ptr<BatchSource>(std::move(own));
  }
  BatchSource* shared = split == "train" ? train : val;
  SHEARS_CHECK(shared != nullptr, "no batch source for split '", split, "'");
  return std::shared_ptr<BatchSource>(shared, [](BatchSource*) {});
}

EpochMetrics PruneContext::evaluate(nn::Module& model, const std::string& split,
                                    std::int64_t max_batches) const {
  std::shared_ptr<BatchSource> data = source(split);
  search::LimitedSource limited(*data, max_batches);
  optim::Sgd none(TensorList{}, optim::SgdOptions{});
  optim::ConstantLr zero(0.0);
  TrainerOptions o;
  o.device = device;
  o.progress = false;
  Trainer trainer(model, none, zero, o);
  return trainer.evaluate(limited);
}

Generator PruneContext::candidate_generator(std::int64_t cycle, std::int64_t candidate) const {
  return Generator(search::candidate_seed(seed, cycle, candidate));
}

}  // namespace shears::pruning
