#include "app/subset_dataset.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <stdexcept>

#include "kernels/common/error.h"

namespace shears::app {

SubsetDataset::SubsetDataset(std::shared_ptr<const data::Dataset> base,
                             std::vector<std::int64_t> indices, std::string label)
    : base_(std::move(base)), indices_(std::move(indices)), label_(std::move(label)) {}

std::int64_t SubsetDataset::at(std::int64_t index) const {
  if (index < 0 || index >= size()) {
    throw std::out_of_range("subset index " + std::to_string(index) + " outside [0, " +
                            std::to_string(size()) + ")");
  }
  return indices_[static_cast<std::size_t>(index)];
}

data::Sample SubsetDataset::get(std::int64_t index) const { return base_->get(at(index)); }
std::int64_t SubsetDataset::label(std::int64_t index) const { return base_->label(at(index)); }

std::string SubsetDataset::describe() const {
  return label_ + " (" + std::to_string(size()) + " of " + base_->describe() + ")";
}

void split_indices(std::int64_t n, std::int64_t held_out, std::uint64_t seed,
                   std::vector<std::int64_t>& kept, std::vector<std::int64_t>& held) {
  SHEARS_CHECK_AS(ConfigError, held_out < n, "data.val_size ", held_out,
                  " leaves no training samples out of ", n);
  std::vector<std::int64_t> all(static_cast<std::size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  std::mt19937_64 gen(seed ^ 0x76616c5f73706c74ULL);
  std::shuffle(all.begin(), all.end(), gen);
  held.assign(all.begin(), all.begin() + held_out);
  kept.assign(all.begin() + held_out, all.end());
  std::sort(held.begin(), held.end());
  std::sort(kept.begin(), kept.end());
}

}  // namespace shears::app
