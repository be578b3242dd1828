#include "data/dataset.h"

#include <stdexcept>

namespace shears::data {

Split parse_split(const std::string& text) {
  if (text == "train") return Split::Train;
  if (text == "test" || text == "val") return Split::Test;
  throw ConfigError(detail::cat("unknown dataset split '", text, "' (known: train, test, val)"));
}

const char* split_name(Split split) { return split == Split::Train ? "train" : "test"; }

BadImagePolicy parse_bad_image_policy(const std::string& text) {
  if (text == "fatal") return BadImagePolicy::Fatal;
  if (text == "skip") return BadImagePolicy::Skip;
  throw ConfigError(detail::cat("unknown bad-image policy '", text, "' (known: fatal, skip)"));
}

void check_sample_index(std::int64_t index, std::int64_t size, const char* dataset) {
  if (index < 0 || index >= size) {
    throw std::out_of_range(
        detail::cat(dataset, ": sample index ", index, " out of range [0, ", size, ")"));
  }
}

}  // namespace shears::data
