#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace shears::app {

/// One epoch of one training stage, from <stage>/metrics.jsonl.
struct EpochPoint {
  double epoch = 0, train_loss = 0, train_top1 = 0, val_loss = 0, val_top1 = 0, seconds = 0;
};
struct StageCurve {
  std::string stage;
  std::vector<EpochPoint> epochs;
};

/// What `shears report` shows of one run directory. Accuracies are top-1 in percent; NaN where
/// the run does not record the figure.
struct RunInfo {
  std::string dir, name, method, model, dataset, mode;
  double val_top1 = 0, test_top1 = 0, dense_val_top1 = 0, dense_test_top1 = 0, drop = 0;
  std::string val_split, test_split;    // short: "held-out train (5000 images)"
  std::string val_source, test_source;  // summary.json's full description, when it has one
  std::int64_t dense_flops = 0, flops = 0, dense_params = 0, params = 0;
  double flops_reduction = 0, params_reduction = 0;
  double analytic_flops_reduction = 0;  // the paper's analytic count, NaN where none
  double speedup = 0;            // measured (summary.json latency ratio), NaN when not measured
  double predicted_speedup = 0;  // cost model at the run's bench batch, NaN when not computed
  std::int64_t bench_batch = 1;
  double train_seconds = 0;  // every stage's epochs together (training and search)
  std::vector<std::pair<std::string, std::int64_t>> dense_widths, widths;
  std::vector<StageCurve> curves;
  bool pruned() const { return method != "dense"; }
};

/// Reads DIR/summary.json (required: Error naming it when absent or malformed), DIR/config.yaml
/// for the split sizes and every DIR/<stage>/metrics.jsonl. With `predict`, computes the cost
/// model's predicted speedup from the architectures and the cached peak rates.
RunInfo load_run(const std::string& dir, bool predict);

/// The comparison table in Markdown (one row per run).
std::string report_markdown(const std::vector<RunInfo>& runs);
/// One self-contained HTML page: table, accuracy-vs-FLOPs scatter, speedup-vs-FLOPs-reduction,
/// kept-width bars and training curves, as inline SVG (no scripts, no external resources).
std::string report_html(const std::vector<RunInfo>& runs);

}  // namespace shears::app
