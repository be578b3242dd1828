// CudaBackend losses: negative log-likelihood with label smoothing over (N,C) log-probabilities,
// and binary cross-entropy on logits. As on the CPU, terms and sums are computed in double and
// reduced by the mean.
//
// nll: loss = mean_i[(1-s) * (-logp[i, label_i]) + s * mean_c(-logp[i, c])]; its gradient is
// grad_logp[i, c] = grad_loss / N * (-(1-s) * [c == label_i] - s / C).
//
// Reductions are deterministic: per-row (nll) or per-block (bce) terms go to a scratch buffer and
// one block adds them in a fixed order. Labels are checked on the device while the loss is
// computed: a row with a label outside [0, C) records itself with atomicMin in a flag word, and
// a one-thread kernel copies the first bad row and its label into the backend's deferred-error
// record, which the host reads at its next synchronisation (the loss read at a log interval, say)
// and throws as ShapeError naming the row and the label. The host never waits here.
// The backward pass reads grad_loss on the device, so it queues without waiting; it trusts the
// labels the forward pass checked (an out-of-range label there matches no class).

#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/deferred.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/state.h"
#include "kernels/cuda/util.h"

namespace shears::kernels::cuda {
namespace {

constexpr unsigned long long kNoBadRow = ~0ULL;

// logp: (n, c) f32; labels: (n) I64. One warp per row (grid-stride over rows): terms[i] =
// (1-s) * (-logp[i, label]) - s * sum_c logp[i, c] / c in double; a label outside [0, c) sets
// *bad_row = min(*bad_row, i) and gives term 0.
__global__ void nll_rows_kernel(const float* __restrict__ logp,
                                const std::int64_t* __restrict__ labels, std::int64_t n,
                                std::int64_t c, double s, double* __restrict__ terms,
                                unsigned long long* bad_row) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const std::int64_t warps_per_block = blockDim.x / 32;
  const std::int64_t warp = blockIdx.x * warps_per_block + threadIdx.x / 32;
  const std::int64_t warp_stride = static_cast<std::int64_t>(gridDim.x) * warps_per_block;
  for (std::int64_t i = warp; i < n; i += warp_stride) {
    const float* row = logp + i * c;
    double row_sum = 0.0;
    if (s != 0.0) {
      for (std::int64_t k = lane; k < c; k += 32) row_sum += static_cast<double>(row[k]);
      row_sum = warp_sum(row_sum);
    }
    if (lane == 0) {
      const std::int64_t label = labels[i];
      double term = 0.0;
      if (label < 0 || label >= c) {
        atomicMin(bad_row, static_cast<unsigned long long>(i));
      } else {
        term = -(1.0 - s) * static_cast<double>(row[label]);
        if (s != 0.0) term -= s * row_sum / static_cast<double>(c);
      }
      terms[i] = term;
    }
  }
}

// One thread: when nll_rows_kernel flagged a row, records its label in the deferred-error record.
__global__ void nll_record_kernel(const unsigned long long* __restrict__ bad_row,
                                  const std::int64_t* __restrict__ labels, std::int64_t c,
                                  DeferredError* err) {
  const unsigned long long row = *bad_row;
  if (row != kNoBadRow) {
    record_deferred(err, kBadLabel, 1, static_cast<long long>(row),
                    static_cast<long long>(labels[row]), static_cast<long long>(c));
  }
}

// terms: n doubles; *loss = float(sum / n), summed by one block in a fixed order.
__global__ void mean_kernel(const double* __restrict__ terms, std::int64_t n, double divisor,
                            float* __restrict__ loss) {
  double acc = 0.0;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += terms[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) *loss = static_cast<float>(acc / divisor);
}

// grad: (n, c) f32 written whole; grad_loss: one f32 on the device.
__global__ void nll_backward_kernel(const std::int64_t* __restrict__ labels, std::int64_t n,
                                    std::int64_t c, double s, const float* __restrict__ grad_loss,
                                    float* __restrict__ grad) {
  const double scale = static_cast<double>(*grad_loss) / static_cast<double>(n);
  const auto off = static_cast<float>(-scale * s / static_cast<double>(c));
  const auto on = static_cast<float>(-scale * (1.0 - s) - scale * s / static_cast<double>(c));
  const std::int64_t total = n * c;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t v = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; v < total;
       v += stride) {
    const std::int64_t i = v / c;
    grad[v] = labels[i] == v - i * c ? on : off;
  }
}

// x, t: n f32; partial[block] = sum over the block's grid-stride elements of
// max(x,0) - x*t + log1p(exp(-|x|)), in double.
__global__ void bce_partial_kernel(const float* __restrict__ x, const float* __restrict__ t,
                                   std::int64_t n, double* __restrict__ partial) {
  double acc = 0.0;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += stride) {
    const double xv = static_cast<double>(x[i]), tv = static_cast<double>(t[i]);
    acc += fmax(xv, 0.0) - xv * tv + log1p(exp(-fabs(xv)));
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// x, t, grad: n f32; grad = grad_loss / n * (sigmoid(x) - t), sigmoid computed without overflow.
__global__ void bce_backward_kernel(const float* __restrict__ x, const float* __restrict__ t,
                                    std::int64_t n, const float* __restrict__ grad_loss,
                                    float* __restrict__ grad) {
  const double scale = static_cast<double>(*grad_loss) / static_cast<double>(n);
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += stride) {
    const double xv = static_cast<double>(x[i]);
    const double e = exp(-fabs(xv));
    const double sig = xv >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
    grad[i] = static_cast<float>(scale * (sig - static_cast<double>(t[i])));
  }
}

// One warp per row: the classes that beat the label (greater, or equal at a lower index); rows
// with fewer than 1 (k) such classes add one to counts[0] (counts[1]). Integer atomics: exact.
__global__ void accuracy_kernel(const float* __restrict__ logits,
                                const std::int64_t* __restrict__ labels, std::int64_t n,
                                std::int64_t c, int k, unsigned long long* counts) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const std::int64_t warps_per_block = blockDim.x / 32;
  const std::int64_t warp = blockIdx.x * warps_per_block + threadIdx.x / 32;
  const std::int64_t warp_stride = static_cast<std::int64_t>(gridDim.x) * warps_per_block;
  for (std::int64_t i = warp; i < n; i += warp_stride) {
    const std::int64_t label = labels[i];
    if (label < 0 || label >= c) continue;
    const float* row = logits + i * c;
    const float target = row[label];
    unsigned better = 0;
    for (std::int64_t j = lane; j < c; j += 32) {
      better += (row[j] > target || (row[j] == target && j < label)) ? 1u : 0u;
    }
    better = warp_sum(better);
    if (lane == 0) {
      if (better < 1u) atomicAdd(counts, 1ULL);
      if (better < static_cast<unsigned>(k)) atomicAdd(counts + 1, 1ULL);
    }
  }
}

void check_scalar(CudaBackend::State& s, const char* op, const char* what, const TensorView& t,
                  const TensorView& ref) {
  check_device(op, what, t, s.device);
  SHEARS_CHECK_AS(ShapeError, t.numel() == 1 && t.dim() <= 1 && t.dtype == ref.dtype, op, ": ",
                  what, " must be a ", dtype_name(ref.dtype), " scalar, got ", view_str(t));
}

void check_labels(CudaBackend::State& s, const char* op, const TensorView& labels, std::int64_t n) {
  check_device(op, "labels", labels, s.device);
  SHEARS_CHECK_AS(ShapeError,
                  labels.dtype == DType::I64 && labels.dim() == 1 && labels.shape[0] == n, op,
                  ": labels must be I64 [", n, "], got ", view_str(labels));
}

void check_smoothing(const char* op, double smoothing) {
  SHEARS_CHECK_AS(Error, smoothing >= 0.0 && smoothing <= 1.0, op,
                  ": label smoothing must be in [0, 1], got ", smoothing);
}

}  // namespace

void CudaBackend::nll_loss_forward(const TensorView& logp, const TensorView& labels,
                                   double smoothing, const TensorView& loss) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "nll_loss_forward";
  check_device(op, "logp", logp, s.device);
  check_f32(op, "logp", logp);
  check_dim(op, "logp", logp, 2);
  check_scalar(s, op, "loss", loss, logp);
  check_smoothing(op, smoothing);
  const std::int64_t n = logp.shape[0], c = logp.shape[1];
  check_labels(s, op, labels, n);
  if (n == 0) {
    // An empty batch has no mean: NaN, as on the CPU and in PyTorch.
    fill(loss, std::numeric_limits<double>::quiet_NaN());
    return;
  }
  DeviceBuffer terms(s, static_cast<std::size_t>(n) * sizeof(double), "nll_loss row terms");
  DeviceBuffer flag(s, sizeof(unsigned long long), "nll_loss label check");
  SHEARS_CUDA_CHECK(cudaMemsetAsync(flag.get(), 0xFF, sizeof(unsigned long long), s.current()));
  // One warp (32 threads) per row.
  const unsigned grid = grid_for(n * 32, s.sm_count);
  nll_rows_kernel<<<grid, kBlock, 0, s.current()>>>(
      logp.as<const float>(), labels.as<const std::int64_t>(), n, c, smoothing, terms.as<double>(),
      flag.as<unsigned long long>());
  SHEARS_CUDA_CHECK_LAUNCH();
  mean_kernel<<<1, 1024, 0, s.current()>>>(terms.as<const double>(), n, static_cast<double>(n),
                                           loss.as<float>());
  SHEARS_CUDA_CHECK_LAUNCH();
  nll_record_kernel<<<1, 1, 0, s.current()>>>(flag.as<const unsigned long long>(),
                                              labels.as<const std::int64_t>(), c, s.deferred);
  SHEARS_CUDA_CHECK_LAUNCH();
}

void CudaBackend::nll_loss_backward(const TensorView& labels, double smoothing,
                                    const TensorView& grad_loss, const TensorView& grad_logp) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "nll_loss_backward";
  check_device(op, "grad_logp", grad_logp, s.device);
  check_f32(op, "grad_logp", grad_logp);
  check_dim(op, "grad_logp", grad_logp, 2);
  check_scalar(s, op, "grad_loss", grad_loss, grad_logp);
  check_smoothing(op, smoothing);
  const std::int64_t n = grad_logp.shape[0], c = grad_logp.shape[1];
  check_labels(s, op, labels, n);
  if (n * c == 0) return;
  nll_backward_kernel<<<grid_for(n * c, s.sm_count), kBlock, 0, s.current()>>>(
      labels.as<const std::int64_t>(), n, c, smoothing, grad_loss.as<const float>(),
      grad_logp.as<float>());
  SHEARS_CUDA_CHECK_LAUNCH();
}

void CudaBackend::accuracy_count(const TensorView& logits, const TensorView& labels, int k,
                                 const TensorView& counts) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "accuracy_count";
  check_device(op, "logits", logits, s.device);
  check_device(op, "counts", counts, s.device);
  check_f32(op, "logits", logits);
  check_dim(op, "logits", logits, 2);
  const std::int64_t n = logits.shape[0], c = logits.shape[1];
  check_labels(s, op, labels, n);
  SHEARS_CHECK_AS(ShapeError, counts.dtype == DType::I64 && counts.numel() == 2, op,
                  ": counts must be I64 [2], got ", view_str(counts));
  SHEARS_CHECK_AS(ShapeError, k >= 1, op, ": k must be >= 1, got ", k);
  if (n == 0 || c == 0) return;
  accuracy_kernel<<<grid_for(n * 32, s.sm_count), kBlock, 0, s.current()>>>(
      logits.as<const float>(), labels.as<const std::int64_t>(), n, c, k,
      static_cast<unsigned long long*>(counts.data));
  SHEARS_CUDA_CHECK_LAUNCH();
}

void CudaBackend::bce_with_logits_forward(const TensorView& x, const TensorView& target,
                                          const TensorView& loss) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "bce_with_logits_forward";
  check_device(op, "x", x, s.device);
  check_device(op, "target", target, s.device);
  check_f32(op, "x", x);
  check_same(op, "x", x, "target", target);
  check_scalar(s, op, "loss", loss, x);
  const std::int64_t n = x.numel();
  if (n == 0) {
    fill(loss, std::numeric_limits<double>::quiet_NaN());
    return;
  }
  const unsigned grid = grid_for(n, s.sm_count);
  DeviceBuffer partial(s, grid * sizeof(double), "bce_with_logits partial sums");
  bce_partial_kernel<<<grid, kBlock, 0, s.current()>>>(
      x.as<const float>(), target.as<const float>(), n, partial.as<double>());
  SHEARS_CUDA_CHECK_LAUNCH();
  mean_kernel<<<1, 1024, 0, s.current()>>>(partial.as<const double>(), grid, static_cast<double>(n),
                                           loss.as<float>());
  SHEARS_CUDA_CHECK_LAUNCH();
}

void CudaBackend::bce_with_logits_backward(const TensorView& x, const TensorView& target,
                                           const TensorView& grad_loss, const TensorView& grad_x) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "bce_with_logits_backward";
  check_device(op, "x", x, s.device);
  check_device(op, "target", target, s.device);
  check_device(op, "grad_x", grad_x, s.device);
  check_f32(op, "x", x);
  check_same(op, "x", x, "target", target);
  check_same(op, "x", x, "grad_x", grad_x);
  check_scalar(s, op, "grad_loss", grad_loss, x);
  const std::int64_t n = x.numel();
  if (n == 0) return;
  bce_backward_kernel<<<grid_for(n, s.sm_count), kBlock, 0, s.current()>>>(
      x.as<const float>(), target.as<const float>(), n, grad_loss.as<const float>(),
      grad_x.as<float>());
  SHEARS_CUDA_CHECK_LAUNCH();
}

}  // namespace shears::kernels::cuda
