#include "engine/nn/batch_norm_bank.h"

namespace shears::nn {

BatchNormBank::BatchNormBank(std::vector<std::int64_t> widths, double eps, double momentum)
    : widths_(std::move(widths)) {
  SHEARS_CHECK(!widths_.empty(), "BatchNormBank: no widths");
  for (std::size_t i = 0; i < widths_.size(); ++i) {
    bns_.push_back(register_module(
        std::to_string(i), std::make_shared<BatchNorm2d>(widths_[i], eps, momentum, false)));
  }
}

void BatchNormBank::select(std::int64_t index) {
  SHEARS_CHECK(index >= 0 && index < size(), "BatchNormBank: index ", index, " outside [0, ",
               size(), ")");
  selected_ = index;
}

BatchNorm2d& BatchNormBank::at(std::int64_t index) {
  SHEARS_CHECK(index >= 0 && index < size(), "BatchNormBank: index ", index, " outside [0, ",
               size(), ")");
  return *bns_[static_cast<std::size_t>(index)];
}

Tensor BatchNormBank::forward(const Tensor& x) {
  const std::int64_t w = widths_[static_cast<std::size_t>(selected_)];
  SHEARS_CHECK_AS(ShapeError, x.dim() >= 2 && x.size(1) == w, "BatchNormBank: BN ", selected_,
                  " normalises ", w, " channels, input is ", shape_str(x.shape()));
  return bns_[static_cast<std::size_t>(selected_)]->forward(x);
}

std::string BatchNormBank::extra_repr() const {
  return std::to_string(widths_.size()) + " widths " + std::to_string(widths_.front()) + ".." +
         std::to_string(widths_.back());
}

}  // namespace shears::nn
