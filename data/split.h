#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"

namespace shears::data {

/// A stratified held-out split (MetaPruning's sub-val: a fixed number of images per class):
/// `per_class` indices of every class drawn at random (seeded; each class from its own shuffle,
/// so the choice depends only on the labels and the seed) into `held`, every other index into
/// `kept`; both sorted. Reads labels only. Throws ConfigError naming the class and its count when
/// a class has `per_class` images or fewer (nothing of it would be left to train on), and for
/// per_class < 1.
void stratified_split(const Dataset& dataset, std::int64_t per_class, std::uint64_t seed,
                      std::vector<std::int64_t>& kept, std::vector<std::int64_t>& held);

}  // namespace shears::data
