#include "tests/cli/cli_runner.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace shears::testing {

std::string shears_exe() {
  if (const char* env = std::getenv("SHEARS_EXE")) return env;
  return SHEARS_EXE_PATH;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw std::runtime_error("cannot write " + path);
}

pid_t start_shears(const std::vector<std::string>& args, const std::string& scratch_dir,
                   const CliOptions& options) {
  const std::string exe = shears_exe();
  const std::string out_path = scratch_dir + "/shears.stdout";
  const std::string err_path = scratch_dir + "/shears.stderr";
  std::vector<std::string> argv_s{exe};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0) ::_exit(126);
    ::dup2(out, 1);
    ::dup2(err, 2);
    // One OpenMP thread, waiting passively (no self re-exec in main to set it).
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    ::setenv("OMP_NUM_THREADS", "1", 1);
    for (const auto& [k, v] : options.env) ::setenv(k.c_str(), v.c_str(), 1);
    if (options.file_size_limit > 0) {
      std::signal(SIGXFSZ, SIG_IGN);  // survives exec: writes fail with EFBIG instead
      rlimit limit{options.file_size_limit, options.file_size_limit};
      if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(125);
    }
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

CliResult wait_shears(pid_t pid, const std::string& scratch_dir) {
  CliResult r;
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) throw std::runtime_error("wait4 failed");
  }
  if (WIFEXITED(status)) r.status = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.max_rss_kb = usage.ru_maxrss;
  r.out = read_bytes(scratch_dir + "/shears.stdout");
  r.err = read_bytes(scratch_dir + "/shears.stderr");
  return r;
}

CliResult run_shears(const std::vector<std::string>& args, const std::string& scratch_dir,
                     const CliOptions& options) {
  return wait_shears(start_shears(args, scratch_dir, options), scratch_dir);
}

}  // namespace shears::testing
