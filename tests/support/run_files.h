#pragma once

// Readers of a run directory's files shared by the resume and crash tests of the searches.

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/io/safetensors.h"

namespace shears::testing {

/// The records of a search log (`search.jsonl`) without their wall-clock field `seconds`, in
/// order. A last line without its newline (a torn append) is a test failure.
inline std::vector<nlohmann::json> search_log(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<nlohmann::json> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t nl = text.find('\n', start);
    EXPECT_NE(nl, std::string::npos) << "torn last line in " << path;
    if (nl == std::string::npos) break;
    nlohmann::json j = nlohmann::json::parse(text.substr(start, nl - start));
    j.erase("seconds");
    lines.push_back(std::move(j));
    start = nl + 1;
  }
  return lines;
}

/// Expects two safetensors files to hold the same tensor names in the same order and equal
/// float32 values.
inline void expect_same_f32_tensors(const std::string& a_path, const std::string& b_path) {
  SafetensorsContents a = load_safetensors(a_path);
  SafetensorsContents b = load_safetensors(b_path);
  ASSERT_EQ(a.tensors.size(), b.tensors.size()) << a_path << " vs " << b_path;
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    ASSERT_EQ(a.tensors[i].first, b.tensors[i].first);
    if (a.tensors[i].second.dtype() == DType::F32) {
      EXPECT_EQ(a.tensors[i].second.to_vector<float>(), b.tensors[i].second.to_vector<float>())
          << a.tensors[i].first;
    }
  }
}

}  // namespace shears::testing
