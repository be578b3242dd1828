// CPU-vs-CUDA parity of the backend primitives alone: softmax and losses (smoothing, deferred
// label checks), indexing (deferred index checks, slice copies) and the SGD update.
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

// ---- softmax and losses
// --------------------------------------------------------------------------

TEST_F(CudaParity, SoftmaxAndLogSoftmax) {
  for (const Shape& shape : {Shape{8, 13}, Shape{3, 1000}, Shape{1, 1}}) {
    for (bool log : {false, true}) {
      SCOPED_TRACE(shape_str(shape) + (log ? " log" : ""));
      Twin x = random_twin(shape, 71, -5.0f, 5.0f);
      Twin y = output_twin(shape);
      cpu_.softmax_forward(x.c(), y.c(), log);
      gpu_->softmax_forward(x.g(), y.g(), log);
      EXPECT_TRUE(close_f32(y.gpu, y.cpu, 1e-6, 32));
      Twin y_ref = twin(shape, y.cpu.get<float>());
      Twin gy = random_twin(shape, 72);
      Twin gx = output_twin(shape);
      cpu_.softmax_backward(y_ref.c(), gy.c(), gx.c(), log);
      gpu_->softmax_backward(y_ref.g(), gy.g(), gx.g(), log);
      EXPECT_TRUE(close_f32(gx.gpu, gx.cpu, 1e-5, 64));
    }
  }
}

TEST_F(CudaParity, NllLossWithSmoothing) {
  const std::int64_t n = 37, c = 13;
  std::vector<std::int64_t> labels(n);
  for (std::int64_t i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = (i * 7) % c;
  for (double s : {0.0, 0.1}) {
    SCOPED_TRACE(s);
    Twin logp = random_twin({n, c}, 81, -6.0f, 0.0f);
    Twin lab = twin({n}, labels);
    Twin loss = output_twin({});
    cpu_.nll_loss_forward(logp.c(), lab.c(), s, loss.c());
    gpu_->nll_loss_forward(logp.g(), lab.g(), s, loss.g());
    EXPECT_TRUE(close_f32(loss.gpu, loss.cpu, 1e-7, 4));
    Twin g = twin({}, std::vector<float>{0.75f});
    Twin grad = output_twin({n, c});
    cpu_.nll_loss_backward(lab.c(), s, g.c(), grad.c());
    gpu_->nll_loss_backward(lab.g(), s, g.g(), grad.g());
    EXPECT_TRUE(close_f32(grad.gpu, grad.cpu, 0.0, 2));
  }
}

TEST_F(CudaParity, NllLossNamesAnOutOfRangeLabel) {
  Twin logp = random_twin({4, 13}, 82);
  Twin lab = twin({4}, std::vector<std::int64_t>{0, 12, 13, 5});
  Twin loss = output_twin({});
  try {
    gpu_->nll_loss_forward(logp.g(), lab.g(), 0.0, loss.g());
    // The label check is deferred: the device records it, the next synchronisation throws it.
    gpu_->synchronize();
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("label 13 at row 2 is out of range for 13 classes"),
              std::string::npos)
        << e.what();
  }
  // The backend stays usable afterwards.
  Twin ok = twin({4}, std::vector<std::int64_t>{0, 12, 3, 5});
  EXPECT_NO_THROW(gpu_->nll_loss_forward(logp.g(), ok.g(), 0.0, loss.g()));
  EXPECT_NO_THROW(gpu_->synchronize());
}

TEST_F(CudaParity, BceWithLogits) {
  for (const Shape& shape : {Shape{64, 27}, Shape{100003}}) {
    SCOPED_TRACE(shape_str(shape));
    Twin x = random_twin(shape, 91, -8.0f, 8.0f), t = random_twin(shape, 92, 0.0f, 1.0f);
    Twin loss = output_twin({});
    cpu_.bce_with_logits_forward(x.c(), t.c(), loss.c());
    gpu_->bce_with_logits_forward(x.g(), t.g(), loss.g());
    EXPECT_TRUE(close_f32(loss.gpu, loss.cpu, 1e-7, 4));
    Twin g = twin({}, std::vector<float>{1.5f});
    Twin gx = output_twin(shape);
    cpu_.bce_with_logits_backward(x.c(), t.c(), g.c(), gx.c());
    gpu_->bce_with_logits_backward(x.g(), t.g(), g.g(), gx.g());
    EXPECT_TRUE(close_f32(gx.gpu, gx.cpu, 1e-12, 4));
  }
}

// ---- indexing
// ------------------------------------------------------------------------------------

TEST_F(CudaParity, IndexSelectIsExact) {
  const std::vector<std::int64_t> index = {4, 0, 4, 12, 7};
  for (int dim : {0, 1, -1}) {
    SCOPED_TRACE(dim);
    const Shape shape{13, 13, 3};
    Twin x = random_twin(shape, 101);
    Shape out_shape = shape;
    out_shape[static_cast<std::size_t>(dim < 0 ? dim + 3 : dim)] = 5;
    const std::vector<std::int64_t> idx =
        dim == -1 ? std::vector<std::int64_t>{2, 0, 1, 1, 0} : index;
    Twin ix = index_twin(idx);
    Twin out = output_twin(out_shape);
    cpu_.index_select(x.c(), dim, ix.c(), out.c());
    gpu_->index_select(x.g(), dim, ix.g(), out.g());
    EXPECT_TRUE(same_bytes(out.gpu, out.cpu));
  }
}

TEST_F(CudaParity, IndexAddAccumulatesDuplicates) {
  Twin src = random_twin({3, 6, 5}, 111);
  Twin ix = index_twin({2, 0, 2, 26, 2, 13});
  Twin out = random_twin({3, 27, 5}, 112);
  cpu_.index_add(src.c(), 1, ix.c(), out.c());
  gpu_->index_add(src.g(), 1, ix.g(), out.g());
  EXPECT_TRUE(close_f32(out.gpu, out.cpu, 1e-6, 4));
}

TEST_F(CudaParity, IndexOutOfRangeIsNamed) {
  Twin x = random_twin({13, 4}, 113);
  Twin ix = index_twin({1, 13});
  Twin out = output_twin({2, 4});
  try {
    gpu_->index_select(x.g(), 0, ix.g(), out.g());
    gpu_->synchronize();
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("index[1] = 13 is out of range"), std::string::npos)
        << e.what();
  }
}

TEST_F(CudaParity, SliceCopyIsExact) {
  struct SliceCase {
    Shape src, dst;
    int dim;
    std::int64_t src_start, dst_start, length;
  };
  const std::vector<SliceCase> cases = {
      {{2, 13, 4, 4}, {2, 27, 4, 4}, 1, 3, 10, 7},
      {{13, 5}, {4, 5}, 0, 9, 0, 4},
      {{3, 27}, {3, 13}, 1, 1, 0, 13},
      {{3, 7}, {3, 7}, 1, 0, 0, 7},
      {{3, 7}, {3, 9}, 1, 0, 9, 0},
  };
  for (const SliceCase& sc : cases) {
    SCOPED_TRACE(shape_str(sc.src) + " -> " + shape_str(sc.dst));
    Twin src = random_twin(sc.src, 121);
    Twin dst = output_twin(sc.dst);
    cpu_.slice_copy(src.c(), sc.dim, sc.src_start, dst.c(), sc.dst_start, sc.length);
    gpu_->slice_copy(src.g(), sc.dim, sc.src_start, dst.g(), sc.dst_start, sc.length);
    EXPECT_TRUE(same_bytes(dst.gpu, dst.cpu));
  }
}

// ---- optimiser
// -----------------------------------------------------------------------------------

TEST_F(CudaParity, SgdUpdate) {
  struct SgdCase {
    double momentum, dampening, weight_decay;
    bool nesterov, first_step;
  };
  for (SgdCase sc : {SgdCase{0.0, 0.0, 0.0, false, false}, SgdCase{0.0, 0.0, 5e-4, false, false},
                     SgdCase{0.9, 0.0, 5e-4, false, true}, SgdCase{0.9, 0.0, 5e-4, false, false},
                     SgdCase{0.9, 0.1, 0.0, false, false}, SgdCase{0.9, 0.0, 1e-4, true, false}}) {
    SCOPED_TRACE(std::to_string(sc.momentum) + " " + std::to_string(sc.nesterov));
    SgdParams p;
    p.lr = 0.05;
    p.momentum = sc.momentum;
    p.dampening = sc.dampening;
    p.weight_decay = sc.weight_decay;
    p.nesterov = sc.nesterov;
    p.first_step = sc.first_step;
    Twin param = random_twin({27, 13, 3, 3}, 131), grad = random_twin({27, 13, 3, 3}, 132);
    Twin buf = random_twin({27, 13, 3, 3}, 133);
    const TensorView bc = buf.c(), bg = buf.g();
    cpu_.sgd_update(param.c(), grad.c(), sc.momentum != 0.0 ? &bc : nullptr, p);
    gpu_->sgd_update(param.g(), grad.g(), sc.momentum != 0.0 ? &bg : nullptr, p);
    EXPECT_TRUE(close_f32(param.gpu, param.cpu, 1e-7, 4));
    if (sc.momentum != 0.0) {
      EXPECT_TRUE(close_f32(buf.gpu, buf.cpu, 1e-7, 4));
    }
  }
}

}  // namespace
}  // namespace shears::testing
