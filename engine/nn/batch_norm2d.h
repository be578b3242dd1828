#pragma once

#include "engine/nn/module.h"

namespace shears::dist {
class Communicator;
}

namespace shears::nn {

/// Batch normalisation over channels of (N,C,H,W), or of (N,C) (BatchNorm1d has the same maths
/// and parameters). weight = 1, bias = 0, running_mean = 0, running_var = 1 at start;
/// num_batches_tracked counts training forwards (I64, as PyTorch's state dict has it).
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(std::int64_t channels, double eps = 1e-5, double momentum = 0.1,
                       bool affine = true);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "BatchNorm2d"; }
  std::string extra_repr() const override;
  std::int64_t channels() const { return running_mean.size(0); }
  double eps() const { return eps_; }
  /// Training statistics over every rank of `comm` (dist::sync_batch_norm); null: this rank's
  /// batch only (the default). Not owned.
  void set_sync(dist::Communicator* comm) { sync_ = comm; }
  dist::Communicator* sync() const { return sync_; }

  Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  double eps_, momentum_;
  dist::Communicator* sync_ = nullptr;
};

}  // namespace shears::nn
