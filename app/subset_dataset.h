#pragma once

#include <memory>
#include <vector>

#include "data/dataset.h"

namespace shears::app {

/// The samples `indices` of another dataset, in that order (a held-out validation split).
class SubsetDataset : public data::Dataset {
 public:
  SubsetDataset(std::shared_ptr<const data::Dataset> base, std::vector<std::int64_t> indices,
                std::string label);
  std::int64_t size() const override { return static_cast<std::int64_t>(indices_.size()); }
  int num_classes() const override { return base_->num_classes(); }
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }
  data::Sample get(std::int64_t index) const override;
  std::int64_t label(std::int64_t index) const override;
  std::string describe() const override;

 private:
  std::int64_t at(std::int64_t index) const;
  std::shared_ptr<const data::Dataset> base_;
  std::vector<std::int64_t> indices_;
  std::string label_;
};

/// Splits [0, n) into a fixed random (seeded) held-out part of `held_out` indices and the rest,
/// both sorted.
void split_indices(std::int64_t n, std::int64_t held_out, std::uint64_t seed,
                   std::vector<std::int64_t>& kept, std::vector<std::int64_t>& held);

}  // namespace shears::app
