#include "engine/log.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>

namespace shears {

namespace {
std::atomic<long> g_warnings{0};
std::atomic<int> g_rank{-1};  // -1: one process, no rank in the tag; >0: only warnings and up

LogLevel threshold() {
  static const LogLevel level = [] {
    const char* env = std::getenv("SHEARS_LOG");
    if (env == nullptr) return LogLevel::Info;
    if (std::strcmp(env, "debug") == 0) return LogLevel::Debug;
    if (std::strcmp(env, "warning") == 0) return LogLevel::Warning;
    if (std::strcmp(env, "error") == 0) return LogLevel::Error;
    return LogLevel::Info;
  }();
  return level;
}
}  // namespace

void log_message(LogLevel level, const std::string& message) {
  if (level == LogLevel::Warning) g_warnings.fetch_add(1);
  if (level < threshold()) return;
  const int rank = g_rank.load();
  if (rank > 0 && level < LogLevel::Warning) return;
  static std::mutex mutex;
  const char* tag = level == LogLevel::Warning ? "warning: "
                    : level == LogLevel::Error ? "error: "
                                               : "";
  std::lock_guard<std::mutex> lock(mutex);
  if (rank >= 0) {
    std::cerr << "[shears rank " << rank << "] " << tag << message << "\n";
  } else {
    std::cerr << "[shears] " << tag << message << "\n";
  }
}

void set_log_rank(int rank) { g_rank.store(rank); }

long warning_count() { return g_warnings.load(); }

}  // namespace shears
