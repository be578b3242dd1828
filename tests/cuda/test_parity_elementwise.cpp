// CPU-vs-CUDA parity of the backend primitives alone (dtypes, broadcasting, messages, bit
// identity where the maths allows it): elementwise ops, reductions and the dropout mask. The
// engine-level parity of every op is test_parity_ops.cpp, driven by the gradient-check table.
// Both sides get the same random inputs, CpuBackend being the reference, TF32 off; arithmetic
// is compared with atol + |ref| * eps * k, data movement must match exactly. Skipped without a
// GPU.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "tests/cuda/parity_support.h"

namespace shears::testing {
namespace {

// ---- elementwise
// ---------------------------------------------------------------------------------

TEST_F(CudaParity, FillEveryDtype) {
  for (DType dtype : {DType::F32, DType::F64, DType::I32, DType::I64, DType::U8}) {
    SCOPED_TRACE(dtype_name(dtype));
    for (double value : {0.0, 3.0, -2.5}) {
      if (dtype == DType::U8 && value < 0) continue;
      Twin t = output_twin({3, 13, 5}, dtype);
      cpu_.fill(t.c(), value);
      gpu_->fill(t.g(), value);
      EXPECT_TRUE(same_bytes(t.gpu, t.cpu));
    }
  }
}

TEST_F(CudaParity, ConvertEveryDtypePair) {
  // Values exact in every dtype, plus out-of-range and NaN values that integer targets saturate.
  const std::vector<double> values = {0, 1, 2, 7, 100, 255, -3, 1e10, -1e10, 3.75, NAN};
  const DType all[] = {DType::F32, DType::F64, DType::I32, DType::I64, DType::U8};
  for (DType from : all) {
    for (DType to : all) {
      SCOPED_TRACE(std::string(dtype_name(from)) + " -> " + dtype_name(to));
      const Shape shape{static_cast<std::int64_t>(values.size())};
      // The source values in `from`, built by the CPU backend's own conversion from F64.
      Buffer src64 = cpu_buffer(shape, DType::F64);
      src64.set(values);
      Buffer src_c = cpu_buffer(shape, from);
      cpu_.convert(src64.view(), src_c.view());
      Buffer src_g = gpu_buffer(shape, from);
      src_g.set_bytes(src_c.get_bytes().data());
      Twin out = output_twin(shape, to);
      cpu_.convert(src_c.view(), out.c());
      gpu_->convert(src_g.view(), out.g());
      EXPECT_TRUE(same_bytes(out.gpu, out.cpu));
    }
  }
}

struct BroadcastCase {
  Shape a, b, out;
};

TEST_F(CudaParity, BinaryWithBroadcasting) {
  const std::vector<BroadcastCase> cases = {
      {{2, 13, 4, 5}, {2, 13, 4, 5}, {2, 13, 4, 5}},
      {{2, 13, 4, 5}, {13, 1, 1}, {2, 13, 4, 5}},
      {{27}, {4, 27}, {4, 27}},
      {{1}, {3, 7}, {3, 7}},
      {{4, 1, 6}, {5, 1}, {4, 5, 6}},
      {{}, {}, {}},
      {{2, 1, 3, 1, 5, 1}, {1, 4, 1, 6, 1, 8}, {2, 4, 3, 6, 5, 8}},
  };
  const BinaryOp ops[] = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div};
  std::uint32_t seed = 1;
  for (const BroadcastCase& bc : cases) {
    for (BinaryOp op : ops) {
      SCOPED_TRACE(shape_str(bc.a) + " op " + shape_str(bc.b) + " #" +
                   std::to_string(static_cast<int>(op)));
      Twin a = random_twin(bc.a, seed++);
      Twin b = random_twin(bc.b, seed++, 0.5f, 2.0f);
      Twin out = output_twin(bc.out);
      cpu_.binary(op, a.c(), b.c(), out.c());
      gpu_->binary(op, a.g(), b.g(), out.g());
      EXPECT_TRUE(close_f32(out.gpu, out.cpu, 0.0, 2));
    }
  }
}

TEST_F(CudaParity, BinaryInPlaceBiasAdd) {
  Twin y = random_twin({8, 27}, 3);
  Twin bias = random_twin({27}, 4);
  cpu_.binary(BinaryOp::Add, y.c(), bias.c(), y.c());
  gpu_->binary(BinaryOp::Add, y.g(), bias.g(), y.g());
  EXPECT_TRUE(close_f32(y.gpu, y.cpu, 0.0, 2));
}

TEST_F(CudaParity, BinaryRejectsShapesThatDoNotBroadcast) {
  Twin a = random_twin({3, 4}, 1), b = random_twin({5}, 2);
  Twin out = output_twin({3, 4});
  try {
    gpu_->binary(BinaryOp::Add, a.g(), b.g(), out.g());
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("[5]"), std::string::npos) << e.what();
  }
}

TEST_F(CudaParity, Axpby) {
  for (double beta : {0.0, 1.0, -0.5}) {
    SCOPED_TRACE(beta);
    Twin x = random_twin({13, 27}, 5);
    Twin y = random_twin({13, 27}, 6);
    if (beta == 0.0) {
      // beta == 0 ignores y entirely, NaN included.
      const std::vector<float> nans(13 * 27, std::numeric_limits<float>::quiet_NaN());
      y.cpu.set(nans);
      y.gpu.set(nans);
    }
    cpu_.axpby(1.5, x.c(), beta, y.c());
    gpu_->axpby(1.5, x.g(), beta, y.g());
    EXPECT_TRUE(close_f32(y.gpu, y.cpu, 1e-7, 4));
  }
}

TEST_F(CudaParity, ActivationsForwardAndBackward) {
  const ActivationKind kinds[] = {ActivationKind::Relu, ActivationKind::LeakyRelu,
                                  ActivationKind::Sigmoid, ActivationKind::Tanh,
                                  ActivationKind::Exp};
  for (ActivationKind kind : kinds) {
    SCOPED_TRACE(static_cast<int>(kind));
    Twin x = random_twin({2, 13, 7, 3}, 7, -3.0f, 3.0f);
    Twin y = output_twin(x.cpu.shape());
    cpu_.activation_forward(kind, 0.1, x.c(), y.c());
    gpu_->activation_forward(kind, 0.1, x.g(), y.g());
    EXPECT_TRUE(close_f32(y.gpu, y.cpu, 1e-7, 8));
    // Backward from the CPU's forward output on both sides.
    Twin y_ref = twin(y.cpu.shape(), y.cpu.get<float>());
    Twin gy = random_twin(x.cpu.shape(), 8);
    Twin gx = output_twin(x.cpu.shape());
    cpu_.activation_backward(kind, 0.1, y_ref.c(), gy.c(), gx.c());
    gpu_->activation_backward(kind, 0.1, y_ref.g(), gy.g(), gx.g());
    EXPECT_TRUE(close_f32(gx.gpu, gx.cpu, 1e-7, 8));
  }
}

// ---- reductions
// ----------------------------------------------------------------------------------

struct SumCase {
  Shape x, out;
};

TEST_F(CudaParity, SumTo) {
  const std::vector<SumCase> cases = {
      {{2, 13, 5, 7}, {13, 1, 1}},
      {{2, 13, 5, 7}, {}},
      {{2, 13, 5, 7}, {1}},
      {{64, 27}, {27}},
      {{3, 4, 5}, {3, 1, 5}},
      {{5, 1, 7}, {1, 1, 7}},
      {{300000, 3}, {3}},
      {{3, 200000}, {3, 1}},
      {{4, 27}, {4, 27}},
      {{1000, 2}, {1000, 1}},
      {{0, 13}, {13}},
      {{2, 3, 4, 5, 6}, {3, 1, 5, 1}},
  };
  std::uint32_t seed = 11;
  for (const SumCase& sc : cases) {
    SCOPED_TRACE(shape_str(sc.x) + " -> " + shape_str(sc.out));
    Twin x = random_twin(sc.x, seed++);
    Twin out = output_twin(sc.out);
    cpu_.sum_to(x.c(), out.c());
    gpu_->sum_to(x.g(), out.g());
    // Both sides accumulate in double; the f32 results differ by rounding only.
    EXPECT_TRUE(close_f32(out.gpu, out.cpu, 1e-6, 4));
  }
}

// ---- random
// --------------------------------------------------------------------------------------

TEST_F(CudaParity, DropoutMaskIsBitIdentical) {
  for (double p : {0.0, 0.3, 0.5, 0.9}) {
    for (std::int64_t n : {1, 1000, 123457}) {
      SCOPED_TRACE(std::to_string(p) + " " + std::to_string(n));
      Twin mask = output_twin({n});
      cpu_.dropout_mask(mask.c(), p, 0x5eed + static_cast<std::uint64_t>(n));
      gpu_->dropout_mask(mask.g(), p, 0x5eed + static_cast<std::uint64_t>(n));
      EXPECT_TRUE(same_bytes(mask.gpu, mask.cpu));
    }
  }
}

}  // namespace
}  // namespace shears::testing
