#pragma once

#include <string>

namespace shears {

enum class LogLevel { Debug, Info, Warning, Error };

/// Writes "[shears] message" to stderr when `level` is at or above the threshold (Info by
/// default; SHEARS_LOG=debug|info|warning|error sets it). Thread-safe, one line per call.
void log_message(LogLevel level, const std::string& message);
inline void log_info(const std::string& m) { log_message(LogLevel::Info, m); }
inline void log_warning(const std::string& m) { log_message(LogLevel::Warning, m); }
inline void log_debug(const std::string& m) { log_message(LogLevel::Debug, m); }
/// Number of warnings logged so far (tests fail on warnings they did not expect).
long warning_count();

}  // namespace shears
