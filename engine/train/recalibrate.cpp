#include "engine/train/recalibrate.h"

#include <vector>

#include "engine/autograd/grad_mode.h"
#include "engine/nn/batch_norm2d.h"
#include "engine/train/trainer.h"

namespace shears {

std::int64_t recalibrate_bn(nn::Module& model, BatchSource& source, std::int64_t batches,
                            const Device& device) {
  std::vector<nn::BatchNorm2d*> bns;
  for (const auto& [name, m] : model.named_modules()) {
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) bns.push_back(bn);
  }
  for (nn::BatchNorm2d* bn : bns) {
    bn->reset_running_stats();
    bn->set_cumulative(true);
  }
  const bool was_training = model.is_training();
  model.train(true);
  std::int64_t used = 0;
  try {
    NoGrad no_grad;
    source.start_epoch(0);
    Batch batch;
    while ((batches <= 0 || used < batches) && source.next(batch)) {
      model.forward(to_device(batch, device).images);
      ++used;
    }
  } catch (...) {
    for (nn::BatchNorm2d* bn : bns) bn->set_cumulative(false);
    model.train(was_training);
    throw;
  }
  for (nn::BatchNorm2d* bn : bns) bn->set_cumulative(false);
  model.train(was_training);
  SHEARS_CHECK(used > 0, "recalibrate_bn: the batch source gave no batch");
  return used;
}

}  // namespace shears
