#pragma once

#include <vector>

#include "app/bench.h"

namespace shears::app {

/// The Python of the ONNX Runtime venv: $SHEARS_ORT_PYTHON, else onnxruntime-venv/bin/python3
/// beside the running `shears` executable (scripts/onnxruntime-venv BUILD_DIR makes it). Throws
/// Error saying how to install it when neither exists.
std::string onnxruntime_python();

/// Times every network of `result` in ONNX Runtime's CPU provider at every batch of `options`:
/// each network is exported (models::export_onnx, dynamic batch, batch norms as written) to a
/// temporary directory and run by a Python process of the ONNX Runtime venv with
/// intra_op_num_threads set to shears' thread count, graph optimisations on, with the timing
/// protocol of shears (warm-up, calls per sample so that a sample lasts >= min_sample_s, samples
/// until min_samples and min_time_s), on the same input shape. Sequential, after shears' own
/// interleaved rounds. Fills BenchRow::ort / has_ort and BenchResult::ort_version. Throws Error
/// naming what failed (no venv, an export, the Python process).
void time_onnxruntime(std::vector<BenchNetwork>& networks, BenchResult& result,
                      const BenchOptions& options);

}  // namespace shears::app
