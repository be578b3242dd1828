#pragma once

#include <string>

// Which library runs f32 convolution on the CPU backend. F64 convolution (gradient checks) always
// runs im2col + dgemm, whatever is chosen here.

namespace shears::kernels::cpu {

enum class ConvLibrary {
  /// oneDNN primitives that choose their own (blocked) layouts, with reorders from and to the
  /// engine's NCHW around each call; cached per shape. The default: fastest by measurement
  /// (see conv2d.cpp and README "CPU dense-maths library").
  OneDnn,
  /// oneDNN primitives on plain NCHW / OIHW memory (no reorders).
  OneDnnPlain,
  /// im2col / col2im with OpenBLAS sgemm.
  Blas,
};

/// The library f32 convolution uses now. Unless set_conv_library was called, it is read once from
/// the environment variable SHEARS_CPU_CONV ("onednn", "onednn-plain" or "blas"; unset means the
/// default). Throws shears::Error naming the variable when it holds anything else.
ConvLibrary conv_library();

/// Overrides the environment's choice for the rest of the process (benchmarks compare both).
/// Thread-safe; takes effect at the next convolution call.
void set_conv_library(ConvLibrary library);

/// "onednn", "onednn-plain" or "blas", the spelling SHEARS_CPU_CONV accepts.
const char* conv_library_name(ConvLibrary library);

/// One line naming the vendor libraries behind CPU convolution and GEMM and their threading, for
/// benchmark context: oneDNN version and CPU runtime, OpenBLAS configuration and thread count.
std::string cpu_math_libraries();

}  // namespace shears::kernels::cpu
