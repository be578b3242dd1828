#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace shears::data {

/// The whole content of `path`. Throws DataError naming the file when it is missing, not a
/// regular file, or cannot be read completely.
std::vector<std::uint8_t> read_file(const std::string& path);

/// The content of `path`, gunzipped when the file is gzip-compressed (zlib detects this from the
/// magic bytes, so plain files pass through unchanged). Throws DataError naming the file when it
/// is missing, unreadable or a corrupt gzip stream.
std::vector<std::uint8_t> read_maybe_gzip(const std::string& path);

/// Writes `bytes` to `path` (gzip-compressed when `gzip`), replacing any file there. Throws
/// DataError naming the file on failure.
void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes, bool gzip = false);

/// Non-empty lines of a text file with surrounding whitespace trimmed. Throws DataError naming
/// the file when it cannot be opened.
std::vector<std::string> read_lines(const std::string& path);

/// Whether `path` names an existing regular file.
bool is_file(const std::string& path);
/// Whether `path` names an existing directory.
bool is_directory(const std::string& path);
/// `dir` + "/" + `name` (no separator doubled).
std::string join_path(const std::string& dir, const std::string& name);

}  // namespace shears::data
