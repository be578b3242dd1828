#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace shears::testing {

/// The outcome of one run of the `shears` executable.
struct CliResult {
  int status = -1;      // exit status, or -1 when it died from a signal
  int signal = 0;       // the signal that ended it, 0 when it exited
  std::string out;      // stdout
  std::string err;      // stderr
  long max_rss_kb = 0;  // peak resident memory of the process
};

/// Limits and environment of a run.
struct CliOptions {
  /// RLIMIT_FSIZE in bytes (0: unlimited); SIGXFSZ is then ignored, so a write past the limit
  /// fails with EFBIG as on a full disk instead of killing the process.
  std::uint64_t file_size_limit = 0;
  /// Extra environment variables.
  std::map<std::string, std::string> env;
};

/// Path of the `shears` executable under test.
std::string shears_exe();

/// Runs `shears args...` and waits for it; stdout and stderr are captured through files in
/// `scratch_dir`.
CliResult run_shears(const std::vector<std::string>& args, const std::string& scratch_dir,
                     const CliOptions& options = {});

/// Starts `shears args...` in the background (output to files in `scratch_dir`); returns its pid.
pid_t start_shears(const std::vector<std::string>& args, const std::string& scratch_dir,
                   const CliOptions& options = {});
/// Waits for `pid`; fills status/signal (and the captured output from `scratch_dir`).
CliResult wait_shears(pid_t pid, const std::string& scratch_dir);

/// The bytes of a file ("" when it does not exist).
std::string read_bytes(const std::string& path);
/// Writes `text` to `path`, replacing it.
void write_text(const std::string& path, const std::string& text);

}  // namespace shears::testing
