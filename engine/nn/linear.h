#pragma once

#include "engine/nn/module.h"

namespace shears::nn {

/// Fully connected layer: (N,in) → (N,out); weight (out,in), bias (out). PyTorch-default init.
class Linear : public Module {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;
  std::int64_t in_features() const { return weight.size(1); }
  std::int64_t out_features() const { return weight.size(0); }

  Tensor weight, bias;
};

}  // namespace shears::nn
