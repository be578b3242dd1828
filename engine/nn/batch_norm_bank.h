#pragma once

// MetaPruning's BN bank: one affine-free BatchNorm per possible width of a layer, the one in use
// chosen by the encoding, so each width keeps its own statistics.

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/nn/batch_norm2d.h"
#include "engine/nn/module.h"

namespace shears::nn {

class BatchNormBank : public Module {
 public:
  /// One BatchNorm2d(widths[i], affine=false) per entry, children "0", "1", ... Equal widths
  /// still get separate BNs (the choice is by index, as the encoding's scale index).
  explicit BatchNormBank(std::vector<std::int64_t> widths, double eps = 1e-5,
                         double momentum = 0.1);
  /// The BN the next forward uses. Throws Error for an index outside [0, size()).
  void select(std::int64_t index);
  std::int64_t selected() const { return selected_; }
  /// Normalises with the selected BN; throws ShapeError when x's channels differ from its width.
  Tensor forward(const Tensor& x) override;
  BatchNorm2d& at(std::int64_t index);
  std::int64_t size() const { return static_cast<std::int64_t>(bns_.size()); }
  const std::vector<std::int64_t>& widths() const { return widths_; }
  std::string type_name() const override { return "BatchNormBank"; }
  std::string extra_repr() const override;

 private:
  std::vector<std::int64_t> widths_;
  std::vector<std::shared_ptr<BatchNorm2d>> bns_;
  std::int64_t selected_ = 0;
};

}  // namespace shears::nn
