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
/// In a job of several ranks: tags every line with `rank`, and on every rank but 0 keeps only
/// warnings and errors (rank 0 speaks for the job). -1 (the default): one process, no tag.
void set_log_rank(int rank);
/// Number of warnings logged so far (tests fail on warnings they did not expect).
long warning_count();

}  // namespace shears
