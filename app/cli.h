#pragma once

#include <string>
#include <vector>

namespace shears::app {

/// Runs the `shears` command line with argv[1..]; returns the process exit code. Throws
/// shears::Error for user errors (main prints them).
int run_cli(const std::vector<std::string>& args);

/// Parsed "--flag value" / "--flag=value" / "--switch" arguments plus positionals.
class Args {
 public:
  Args(const std::vector<std::string>& args, const std::vector<std::string>& with_value,
       const std::vector<std::string>& switches, const std::string& command);
  bool has(const std::string& flag) const;
  std::string value(const std::string& flag, const std::string& fallback = "") const;
  /// Every value of a repeatable flag (--set).
  std::vector<std::string> values(const std::string& flag) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::vector<std::pair<std::string, std::string>> flags_;
  std::vector<std::string> positional_;
};

/// What `command_run` does with the experiment: `shears run` (train, prune, fine-tune, report) or
/// `shears train` (the dense training only).
enum class RunMode { Full, TrainOnly };

int command_run(const std::vector<std::string>& args, RunMode mode);
int command_eval(const std::vector<std::string>& args);
int command_flops(const std::vector<std::string>& args);
int command_inspect(const std::vector<std::string>& args);
int command_bench(const std::vector<std::string>& args);
int command_report(const std::vector<std::string>& args);
int command_export(const std::vector<std::string>& args);

}  // namespace shears::app
