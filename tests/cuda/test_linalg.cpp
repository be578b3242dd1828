// CPU (LAPACK gesdd) and CUDA (cuSOLVER gesvdj) SVDs agree, with linalg::svd's canonical signs.
// Skipped without a GPU.

#include <gtest/gtest.h>

#include <string>

#include "engine/linalg/svd.h"
#include "engine/rng.h"
#include "tests/support/allclose.h"
#include "tests/support/cuda_test.h"

namespace shears::testing {
namespace {

class CudaSvd : public CudaTest {};

TEST_F(CudaSvd, MatchesCpu) {
  Generator gen(21);
  // Tall, wide, square and a filter-matrix shape (FilterSketch's l x d buffers).
  for (const Shape& shape : std::vector<Shape>{{27, 13}, {13, 27}, {16, 16}, {9, 144}, {38, 576}}) {
    SCOPED_TRACE(shape_str(shape));
    Tensor a = randn(shape, gen);
    linalg::Svd cpu = linalg::svd(a);
    linalg::Svd gpu = linalg::svd(a.to(Device::cuda(0)));
    EXPECT_EQ(gpu.s.device(), Device::cuda(0));
    EXPECT_TRUE(allclose(gpu.s.cpu(), cpu.s, 1e-5, 1e-4));
    EXPECT_TRUE(allclose(gpu.vt.cpu(), cpu.vt, 1e-4, 1e-3));
    EXPECT_TRUE(allclose(gpu.u.cpu(), cpu.u, 1e-4, 1e-3));
  }
}

TEST_F(CudaSvd, RejectsF64) {
  Tensor a = Tensor::zeros({3, 3}, DType::F64, Device::cuda(0));
  EXPECT_THROW(linalg::svd(a), ShapeError);
}

}  // namespace
}  // namespace shears::testing
