#include <cstdio>
#include <fstream>

#include "app/cli.h"
#include "app/run_report.h"
#include "kernels/common/error.h"

namespace shears::app {

namespace {
const char* kHelp =
    "usage: shears report RUN_DIR... [--out report.html] [--format html|md] [--no-predict]\n"
    "\n"
    "Compares run directories (each with the summary.json `shears run` writes): a table of every\n"
    "run (method, model, dataset, mode, validation and test top-1 with their splits, drop,\n"
    "FLOPs and params reduction, traced and the paper's analytic figure where the method has\n"
    "one, measured and predicted speedup, training + search time), an accuracy-vs-FLOPs\n"
    "scatter, speedup vs FLOPs reduction with the ideal line and the cost model's prediction,\n"
    "kept widths per layer and training curves. The HTML is one self-contained file (inline\n"
    "SVG, no scripts, no network). --format md prints the table in Markdown to stdout (or\n"
    "--out). --no-predict skips the cost model (which measures this machine's peak rates on\n"
    "first use and caches them).\n";
}  // namespace

int command_report(const std::vector<std::string>& args) {
  Args a(args, {"--out", "--format"}, {"--help", "--no-predict"}, "report");
  if (a.has("--help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  const std::string format = a.value("--format", "html");
  if (format != "html" && format != "md") {
    throw ConfigError("--format '" + format + "': expected html or md");
  }
  if (a.positional().empty()) {
    throw ConfigError("shears report: no run directory given (usage: shears report RUN_DIR...)");
  }
  std::vector<RunInfo> runs;
  for (const std::string& dir : a.positional())
    runs.push_back(load_run(dir, !a.has("--no-predict")));
  std::string text = format == "md" ? report_markdown(runs) : report_html(runs);
  std::string out = a.value("--out", format == "md" ? "" : "report.html");
  if (out.empty()) {
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  std::ofstream f(out, std::ios::binary);
  if (!f) throw Error(out + ": cannot write the report (--out)");
  f << text;
  if (!f.flush()) throw Error(out + ": write failed (--out)");
  std::fprintf(stderr, "shears report: wrote %s (%zu runs)\n", out.c_str(), runs.size());
  return 0;
}

}  // namespace shears::app
