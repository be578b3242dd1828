#include "data/split.h"

#include <algorithm>
#include <random>
#include <string>

namespace shears::data {

void stratified_split(const Dataset& dataset, std::int64_t per_class, std::uint64_t seed,
                      std::vector<std::int64_t>& kept, std::vector<std::int64_t>& held) {
  SHEARS_CHECK_AS(ConfigError, per_class >= 1, "stratified split: images per class must be >= 1, ",
                  "got ", per_class);
  const int classes = dataset.num_classes();
  std::vector<std::vector<std::int64_t>> by_class(static_cast<std::size_t>(classes));
  for (std::int64_t i = 0; i < dataset.size(); ++i) {
    const std::int64_t label = dataset.label(i);
    SHEARS_CHECK_AS(DataError, label >= 0 && label < classes, dataset.describe(), ": label ", label,
                    " of sample ", i, " outside [0, ", classes, ")");
    by_class[static_cast<std::size_t>(label)].push_back(i);
  }
  kept.clear();
  held.clear();
  for (int c = 0; c < classes; ++c) {
    std::vector<std::int64_t>& idx = by_class[static_cast<std::size_t>(c)];
    const auto n = static_cast<std::int64_t>(idx.size());
    const std::vector<std::string>& names = dataset.class_names();
    SHEARS_CHECK_AS(ConfigError, n > per_class, "stratified split: class ", c,
                    names.size() > static_cast<std::size_t>(c) ? " (" + names[c] + ")" : "", " of ",
                    dataset.describe(), " has ", n, " image(s); holding out ", per_class,
                    " per class leaves none of it to train on");
    std::mt19937_64 gen(seed ^ (0x73756276616cULL + static_cast<std::uint64_t>(c) * 0x9e3779b9ULL));
    std::shuffle(idx.begin(), idx.end(), gen);
    held.insert(held.end(), idx.begin(), idx.begin() + per_class);
    kept.insert(kept.end(), idx.begin() + per_class, idx.end());
  }
  std::sort(held.begin(), held.end());
  std::sort(kept.begin(), kept.end());
}

}  // namespace shears::data
