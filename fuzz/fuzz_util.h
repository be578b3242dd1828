#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace shears::fuzz {

/// A private directory for this fuzzing process (under $TMPDIR or /tmp), created on first use.
const std::string& scratch_dir();
/// Writes `size` bytes to `path`, replacing it; aborts when it cannot (a harness failure).
void write_input(const std::string& path, const std::uint8_t* data, std::size_t size);

}  // namespace shears::fuzz
