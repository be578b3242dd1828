// CPU vs CUDA parity of the structured-pruning channel kernels: gather and scatter must match the
// CPU byte for byte for every dtype, dimension, row width (so every copy unit, 1 to 16 bytes, is
// exercised) and keep list (empty, keep-all, every other, single, random subset); masks and the
// soft-mask forward are exact too; the soft-mask gradient of the mask is a sum and is compared
// with a tolerance. Bad keep lists are rejected with the CPU's messages. Skipped without a GPU.

#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/common/error.h"
#include "tests/cuda/parity_support.h"

namespace shears::testing {
namespace {

struct TensorCase {
  const char* name;
  Shape shape;
  int dim;
  DType dtype;
};

enum class KeepKind { Empty, All, EveryOther, Last, RandomSubset };

const char* keep_name(KeepKind k) {
  switch (k) {
    case KeepKind::Empty:
      return "Empty";
    case KeepKind::All:
      return "All";
    case KeepKind::EveryOther:
      return "EveryOther";
    case KeepKind::Last:
      return "Last";
    case KeepKind::RandomSubset:
      return "RandomSubset";
  }
  return "?";
}

std::vector<std::int64_t> make_keep(KeepKind kind, std::int64_t size) {
  std::vector<std::int64_t> keep;
  switch (kind) {
    case KeepKind::Empty:
      break;
    case KeepKind::All:
      for (std::int64_t i = 0; i < size; ++i) keep.push_back(i);
      break;
    case KeepKind::EveryOther:
      for (std::int64_t i = 0; i < size; i += 2) keep.push_back(i);
      break;
    case KeepKind::Last:
      keep.push_back(size - 1);
      break;
    case KeepKind::RandomSubset: {
      std::mt19937 rng(static_cast<std::uint32_t>(size));
      for (std::int64_t i = 0; i < size; ++i) {
        if (rng() % 5 < 3) keep.push_back(i);
      }
      break;
    }
  }
  return keep;
}

// Test names and ctest show the cases by name.
void PrintTo(const TensorCase& c, std::ostream* os) { *os << c.name; }
void PrintTo(KeepKind k, std::ostream* os) { *os << keep_name(k); }

class ChannelCopyParity : public CudaParity,
                          public ::testing::WithParamInterface<std::tuple<TensorCase, KeepKind>> {
 protected:
  // The shape with dimension `dim` cut to `count` entries.
  static Shape kept_shape(const TensorCase& tc, std::int64_t count) {
    Shape s = tc.shape;
    s[static_cast<std::size_t>(axis(tc))] = count;
    return s;
  }
  static int axis(const TensorCase& tc) {
    return tc.dim < 0 ? tc.dim + static_cast<int>(tc.shape.size()) : tc.dim;
  }
  Twin random_any(const Shape& shape, DType dtype, std::uint32_t seed) {
    Twin t{cpu_buffer(shape, dtype), gpu_buffer(shape, dtype)};
    const auto bytes = random_bytes(t.cpu.bytes(), seed);
    if (!bytes.empty()) {
      t.cpu.set_bytes(bytes.data());
      t.gpu.set_bytes(bytes.data());
    }
    return t;
  }
};

TEST_P(ChannelCopyParity, GatherIsExact) {
  const auto& [tc, kind] = GetParam();
  const std::int64_t size = tc.shape[static_cast<std::size_t>(axis(tc))];
  const std::vector<std::int64_t> keep = make_keep(kind, size);
  Twin x = random_any(tc.shape, tc.dtype, 1);
  Twin k = index_twin(keep);
  Twin out = output_twin(kept_shape(tc, static_cast<std::int64_t>(keep.size())), tc.dtype);
  cpu_.channel_gather(x.c(), tc.dim, k.c(), out.c());
  gpu_->channel_gather(x.g(), tc.dim, k.g(), out.g());
  EXPECT_TRUE(same_bytes(out.gpu, out.cpu));
}

TEST_P(ChannelCopyParity, ScatterIsExactAndLeavesTheRest) {
  const auto& [tc, kind] = GetParam();
  const std::int64_t size = tc.shape[static_cast<std::size_t>(axis(tc))];
  const std::vector<std::int64_t> keep = make_keep(kind, size);
  Twin src = random_any(kept_shape(tc, static_cast<std::int64_t>(keep.size())), tc.dtype, 2);
  Twin k = index_twin(keep);
  Twin out = random_any(tc.shape, tc.dtype, 3);
  cpu_.channel_scatter(src.c(), tc.dim, k.c(), out.c());
  gpu_->channel_scatter(src.g(), tc.dim, k.g(), out.g());
  EXPECT_TRUE(same_bytes(out.gpu, out.cpu));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ChannelCopyParity,
    ::testing::Combine(::testing::Values(TensorCase{"Nchw13", {2, 13, 5, 7}, 1, DType::F32},
                                         TensorCase{"Nchw27Vector", {4, 27, 8, 8}, 1, DType::F32},
                                         TensorCase{"ConvWeightOut", {27, 13, 3, 3}, 0, DType::F32},
                                         TensorCase{"ConvWeightIn", {27, 13, 3, 3}, 1, DType::F32},
                                         TensorCase{"LastDim", {4, 27}, -1, DType::F32},
                                         TensorCase{"Bytes", {3, 13, 5}, 1, DType::U8},
                                         TensorCase{"BytePairs", {2, 13, 6}, 1, DType::U8},
                                         TensorCase{"Int64", {2, 27, 2}, 1, DType::I64},
                                         TensorCase{"Large", {16, 64, 32, 32}, 1, DType::F32}),
                       ::testing::Values(KeepKind::Empty, KeepKind::All, KeepKind::EveryOther,
                                         KeepKind::Last, KeepKind::RandomSubset)),
    [](const ::testing::TestParamInfo<std::tuple<TensorCase, KeepKind>>& info) {
      return std::string(std::get<0>(info.param).name) + keep_name(std::get<1>(info.param));
    });

// ---- keep validation
// -----------------------------------------------------------------------------

class ChannelKeepErrors : public CudaParity {
 protected:
  // The message of the ShapeError channel_gather throws for `keep` on a (2, 13, 3) tensor: the
  // keep check runs on the device and is reported at the next synchronisation.
  std::string gather_error(const std::vector<std::int64_t>& keep) {
    Twin x = random_twin({2, 13, 3}, 5);
    Twin k = index_twin(keep);
    Twin out = output_twin({2, static_cast<std::int64_t>(keep.size()), 3});
    try {
      gpu_->channel_gather(x.g(), 1, k.g(), out.g());
      gpu_->synchronize();
    } catch (const ShapeError& e) {
      return e.what();
    }
    return "(no error)";
  }
};

TEST_F(ChannelKeepErrors, UnsortedKeepIsRejected) {
  const std::string msg = gather_error({0, 5, 1});
  EXPECT_NE(msg.find("keep is not sorted: keep[2] = 1 comes after keep[1] = 5"), std::string::npos)
      << msg;
}

TEST_F(ChannelKeepErrors, DuplicateKeepIsRejected) {
  const std::string msg = gather_error({0, 4, 4, 7});
  EXPECT_NE(msg.find("keep has a duplicate: keep[2] = 4 repeats keep[1]"), std::string::npos)
      << msg;
}

TEST_F(ChannelKeepErrors, OutOfRangeKeepIsRejected) {
  const std::string msg = gather_error({3, 13});
  EXPECT_NE(msg.find("keep[1] = 13 is out of range for dimension 1 of size 13"), std::string::npos)
      << msg;
  const std::string negative = gather_error({-1});
  EXPECT_NE(negative.find("keep[0] = -1 is out of range"), std::string::npos) << negative;
}

TEST_F(ChannelKeepErrors, ScatterKeepIsCheckedOnTheDeviceAndReportedAtTheNextSync) {
  Twin src = random_twin({2, 3, 3}, 6);
  Twin k = index_twin({0, 9, 4});
  Twin out = random_twin({2, 13, 3}, 7);
  // The call itself does not wait for the device.
  gpu_->channel_scatter(src.g(), 1, k.g(), out.g());
  try {
    gpu_->synchronize();
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "channel_scatter: keep is not sorted: keep[2] = 4 comes after keep[1] = 9"),
              std::string::npos)
        << e.what();
  }
  // Reported once; the backend goes on.
  EXPECT_NO_THROW(gpu_->synchronize());
}

TEST_F(ChannelKeepErrors, ScatterChecksTheSourceShape) {
  Twin src = random_twin({2, 3, 3}, 6);
  Twin k = index_twin({0, 1});
  Twin out = random_twin({2, 13, 3}, 7);
  try {
    gpu_->channel_scatter(src.g(), 1, k.g(), out.g());
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("with 2 kept entries along dimension 1"),
              std::string::npos)
        << e.what();
  }
}

// ---- masks
// ---------------------------------------------------------------------------------------

TEST_F(CudaParity, ChannelMaskIsExact) {
  struct MaskCase {
    Shape shape;
    int dim;
  };
  for (MaskCase mc : {MaskCase{{2, 13, 5, 7}, 1}, MaskCase{{4, 27, 8, 8}, 1},
                      MaskCase{{27, 13, 3, 3}, 0}, MaskCase{{4, 27}, -1}}) {
    for (DType mask_dtype : {DType::F32, DType::F64}) {
      SCOPED_TRACE(shape_str(mc.shape) + " dim " + std::to_string(mc.dim) + " " +
                   dtype_name(mask_dtype));
      const int axis = mc.dim < 0 ? mc.dim + static_cast<int>(mc.shape.size()) : mc.dim;
      const std::int64_t size = mc.shape[static_cast<std::size_t>(axis)];
      Twin x = random_twin(mc.shape, 11);
      std::vector<double> m(static_cast<std::size_t>(size));
      for (std::int64_t c = 0; c < size; ++c) {
        m[static_cast<std::size_t>(c)] = c % 3 == 0 ? 0.0 : 0.1 * static_cast<double>(c) + 0.3;
      }
      Twin mask = mask_dtype == DType::F64 ? twin({size}, m)
                                           : twin({size}, std::vector<float>(m.begin(), m.end()));
      cpu_.channel_mask(x.c(), mc.dim, mask.c());
      gpu_->channel_mask(x.g(), mc.dim, mask.g());
      EXPECT_TRUE(same_bytes(x.gpu, x.cpu));
    }
  }
}

class SoftMaskParity : public CudaParity, public ::testing::WithParamInterface<TensorCase> {};

TEST_P(SoftMaskParity, ForwardAndBackward) {
  const TensorCase& tc = GetParam();
  const std::int64_t c = tc.shape[1];
  Twin x = random_twin(tc.shape, 21);
  Twin mask = random_twin({c}, 22, 0.0f, 1.0f);
  Twin y = output_twin(tc.shape);
  cpu_.soft_mask_forward(x.c(), mask.c(), y.c());
  gpu_->soft_mask_forward(x.g(), mask.g(), y.g());
  EXPECT_TRUE(same_bytes(y.gpu, y.cpu)) << "y";

  Twin gy = random_twin(tc.shape, 23);
  Twin gx = output_twin(tc.shape), gm = output_twin({c});
  const TensorView gxc = gx.c(), gxg = gx.g(), gmc = gm.c(), gmg = gm.g();
  cpu_.soft_mask_backward(x.c(), mask.c(), gy.c(), &gxc, &gmc);
  gpu_->soft_mask_backward(x.g(), mask.g(), gy.g(), &gxg, &gmg);
  EXPECT_TRUE(same_bytes(gx.gpu, gx.cpu)) << "grad_x";
  // Both accumulate in double and round once.
  EXPECT_TRUE(close_f32(gm.gpu, gm.cpu, 1e-6, 4)) << "grad_mask";

  // Only the mask gradient; then only grad_x, with an x view that has no data (as the engine
  // passes when the mask needs no gradient).
  Twin gm2 = output_twin({c});
  const TensorView gm2c = gm2.c(), gm2g = gm2.g();
  cpu_.soft_mask_backward(x.c(), mask.c(), gy.c(), nullptr, &gm2c);
  gpu_->soft_mask_backward(x.g(), mask.g(), gy.g(), nullptr, &gm2g);
  EXPECT_TRUE(same_bytes(gm2.gpu, gm.gpu)) << "grad_mask alone";
  Twin gx2 = output_twin(tc.shape);
  const TensorView gx2g = gx2.g();
  TensorView no_data = x.g();
  no_data.data = nullptr;
  gpu_->soft_mask_backward(no_data, mask.g(), gy.g(), &gx2g, nullptr);
  EXPECT_TRUE(same_bytes(gx2.gpu, gx.cpu)) << "grad_x alone";
}

INSTANTIATE_TEST_SUITE_P(Shapes, SoftMaskParity,
                         ::testing::Values(TensorCase{"Nchw13", {2, 13, 5, 7}, 1, DType::F32},
                                           TensorCase{"Vectors27", {1024, 27}, 1, DType::F32},
                                           TensorCase{"TwoByTwo", {256, 27, 2, 2}, 1, DType::F32},
                                           TensorCase{"Large", {64, 13, 32, 32}, 1, DType::F32},
                                           TensorCase{"EmptyBatch", {0, 13, 4, 4}, 1, DType::F32}),
                         [](const ::testing::TestParamInfo<TensorCase>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace shears::testing
