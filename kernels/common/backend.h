#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/common/params.h"
#include "kernels/common/view.h"

namespace shears {

/// One tensor of a multi-tensor SGD step (Backend::sgd_update_many): the views, and what differs
/// between tensors (weight decay, whether the momentum buffer is fresh).
struct SgdItem {
  TensorView param, grad, momentum_buf;
  bool has_momentum_buf = false;
  double weight_decay = 0.0;
  bool first_step = false;
};

struct MemoryInfo {
  std::size_t free_bytes = 0;
  std::size_t total_bytes = 0;
};

/// Work recorded once by Backend::end_capture and replayed by launch(): a CUDA graph. Replays
/// read and write the same device addresses as the captured calls did.
class DeviceGraph {
 public:
  virtual ~DeviceGraph() = default;
  /// Queues one replay of the captured work on the backend's stream (returns without waiting).
  virtual void launch() = 0;
  /// Base pointers of the device memory allocated during the capture and not freed in it (the
  /// step's outputs and gradients, say): a replay writes them again at the same addresses. Every
  /// one of them is still owned by whatever tensor held it at the end of the capture.
  const std::vector<void*>& escaped() const { return escaped_; }

 protected:
  std::vector<void*> escaped_;
};

/// The contract between the engine and a device: memory plus every primitive op. All tensors are
/// contiguous row-major (NCHW) views on this backend's device; outputs are allocated by the caller
/// with the right shape and written (not accumulated) unless a method says otherwise. Floating
/// primitives accept F32 and, on the CPU, F64 (for gradient checks). Optional arguments are
/// pointers that may be null. Each backend checks what only it can check (index ranges, library
/// status) and throws shears::Error kinds; the engine checks shapes before calling.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  // ---- memory -------------------------------------------------------------------------------
  /// Allocates `bytes` (64-byte aligned on CPU); throws OutOfMemoryError with free/total.
  virtual void* allocate(std::size_t bytes) = 0;
  virtual void deallocate(void* ptr, std::size_t bytes) noexcept = 0;
  virtual void copy_from_host(void* dst, const void* src, std::size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, std::size_t bytes) = 0;
  /// Copy within this device.
  virtual void copy(void* dst, const void* src, std::size_t bytes) = 0;
  /// Waits until all queued work is done.
  virtual void synchronize() = 0;
  virtual MemoryInfo memory_info() = 0;

  // ---- elementwise --------------------------------------------------------------------------
  /// x[i] = value for every element (any dtype).
  virtual void fill(const TensorView& x, double value) = 0;
  /// out = convert(x); dtypes may differ, shapes are equal.
  virtual void convert(const TensorView& x, const TensorView& out) = 0;
  /// out = a op b with numpy broadcasting (right-aligned; a size-1 dimension stretches).
  virtual void binary(BinaryOp op, const TensorView& a, const TensorView& b,
                      const TensorView& out) = 0;
  /// y = alpha*x + beta*y in place; beta == 0 assigns (y's old values, even NaN, are ignored).
  virtual void axpby(double alpha, const TensorView& x, double beta, const TensorView& y) = 0;
  /// y = f(x) for the activation kind; `alpha` is the leaky-ReLU slope (> 0).
  virtual void activation_forward(ActivationKind kind, double alpha, const TensorView& x,
                                  const TensorView& y) = 0;
  /// grad_x = f'(x) * grad_y, computed from the forward output y (all kinds allow this).
  virtual void activation_backward(ActivationKind kind, double alpha, const TensorView& y,
                                   const TensorView& grad_y, const TensorView& grad_x) = 0;

  /// y = op(x): |x|; sign(x) (-1, 0 or 1; NaN stays NaN); clamp(x, lo, hi) = min(max(x, lo), hi).
  /// lo and hi are read by Clamp only (lo <= hi).
  virtual void pointwise_forward(PointwiseOp op, double lo, double hi, const TensorView& x,
                                 const TensorView& y) = 0;
  /// grad_x = op'(x) * grad_y from the input x: sign(x) for Abs (0 at 0), 0 for Sign, and for
  /// Clamp grad_y where lo <= x <= hi and 0 outside (PyTorch's clamp_backward).
  virtual void pointwise_backward(PointwiseOp op, double lo, double hi, const TensorView& x,
                                  const TensorView& grad_y, const TensorView& grad_x) = 0;

  // ---- reductions ---------------------------------------------------------------------------
  /// out = x summed over the dimensions in which out's (broadcast-compatible) shape is 1 or
  /// absent. out of shape {} or {1} gives the total sum.
  virtual void sum_to(const TensorView& x, const TensorView& out) = 0;

  // ---- dense maths --------------------------------------------------------------------------
  /// c = alpha * op(a) @ op(b) + beta * c on 2-D views; op transposes when the flag is set.
  virtual void gemm(bool trans_a, bool trans_b, double alpha, const TensorView& a,
                    const TensorView& b, double beta, const TensorView& c) = 0;
  /// y (N,Cout,Ho,Wo) = conv(x (N,Cin,H,W), w (Cout,Cin/groups,Kh,Kw)) + bias (Cout).
  virtual void conv2d_forward(const TensorView& x, const TensorView& w, const TensorView* bias,
                              const TensorView& y, const Conv2dParams& p) = 0;
  /// grad_x = d(conv)/dx applied to grad_y.
  virtual void conv2d_backward_data(const TensorView& grad_y, const TensorView& w,
                                    const TensorView& grad_x, const Conv2dParams& p) = 0;
  /// grad_w = d(conv)/dw applied to grad_y (bias gradient: sum_to over N,H,W).
  virtual void conv2d_backward_weight(const TensorView& x, const TensorView& grad_y,
                                      const TensorView& grad_w, const Conv2dParams& p) = 0;

  // ---- linear algebra -----------------------------------------------------------------------
  /// Thin singular value decomposition of the 2-D matrix a (m x n), k = min(m, n):
  /// a = u (m x k) @ diag(s (k)) @ vt (k x n), s descending and >= 0, the columns of u and the
  /// rows of vt orthonormal. `a` is left unchanged; u, s and vt share a's dtype. A vendor
  /// library does the work (LAPACK gesdd on the CPU, F32 and F64; cuSOLVER gesvdj on CUDA, F32).
  /// Singular vectors are unique only up to sign (and rotations within repeated singular
  /// values); callers needing one choice fix it (engine/linalg does). Throws Error when the
  /// library reports that the decomposition did not converge.
  virtual void svd(const TensorView& a, const TensorView& u, const TensorView& s,
                   const TensorView& vt) = 0;

  // ---- normalisation ------------------------------------------------------------------------
  /// x, y: (N,C,H,W); weight/bias/running stats: (C). Writes save_mean and save_invstd (C):
  /// the statistics used (batch ones in training, running ones in eval).
  virtual void batch_norm_forward(const TensorView& x, const TensorView* weight,
                                  const TensorView* bias, const TensorView* running_mean,
                                  const TensorView* running_var, const TensorView& y,
                                  const TensorView& save_mean, const TensorView& save_invstd,
                                  const BatchNormParams& p) = 0;
  /// Gradients for whichever of grad_x / grad_weight / grad_bias are non-null. In eval mode the
  /// statistics are constants. `eps` is the forward's (BatchNormParams::eps); save_invstd already
  /// holds it, but a library that checks the two against each other (cuDNN) gets it too.
  virtual void batch_norm_backward(const TensorView& x, const TensorView& grad_y,
                                   const TensorView* weight, const TensorView& save_mean,
                                   const TensorView& save_invstd, const TensorView* grad_x,
                                   const TensorView* grad_weight, const TensorView* grad_bias,
                                   bool training, double eps) = 0;

  // ---- pooling ------------------------------------------------------------------------------
  /// indices (I64, shape of y) hold the argmax position h*W+w inside each input plane.
  virtual void max_pool2d_forward(const TensorView& x, const TensorView& y,
                                  const TensorView& indices, const Pool2dParams& p) = 0;
  virtual void max_pool2d_backward(const TensorView& grad_y, const TensorView& indices,
                                   const TensorView& grad_x) = 0;
  virtual void avg_pool2d_forward(const TensorView& x, const TensorView& y,
                                  const Pool2dParams& p) = 0;
  virtual void avg_pool2d_backward(const TensorView& grad_y, const TensorView& grad_x,
                                   const Pool2dParams& p) = 0;

  // ---- softmax and losses (2-D (N,C) inputs, classes along dim 1) ---------------------------
  virtual void softmax_forward(const TensorView& x, const TensorView& y, bool log) = 0;
  /// grad_x from the forward output y.
  virtual void softmax_backward(const TensorView& y, const TensorView& grad_y,
                                const TensorView& grad_x, bool log) = 0;
  /// loss (shape {}) = mean_i[(1-s)(-logp[i,label_i]) + s*mean_c(-logp[i,c])], labels I64 in
  /// [0,C); an out-of-range label throws.
  virtual void nll_loss_forward(const TensorView& logp, const TensorView& labels, double smoothing,
                                const TensorView& loss) = 0;
  /// grad_logp from grad_loss (shape {}).
  virtual void nll_loss_backward(const TensorView& labels, double smoothing,
                                 const TensorView& grad_loss, const TensorView& grad_logp) = 0;
  /// counts (I64 [2]) += the number of rows of logits (N,C) whose label (I64 [N]) is the largest
  /// entry (counts[0]) and among the k largest (counts[1]), ties going to the lower class index as
  /// a stable sort would; a label outside [0,C) counts as wrong. For running accuracy without a
  /// host round trip per batch: the caller reads counts when it reports.
  virtual void accuracy_count(const TensorView& logits, const TensorView& labels, int k,
                              const TensorView& counts) = 0;
  /// loss (shape {}) = mean(max(x,0) - x*t + log(1+exp(-|x|))).
  virtual void bce_with_logits_forward(const TensorView& x, const TensorView& target,
                                       const TensorView& loss) = 0;
  virtual void bce_with_logits_backward(const TensorView& x, const TensorView& target,
                                        const TensorView& grad_loss, const TensorView& grad_x) = 0;

  // ---- random -------------------------------------------------------------------------------
  /// mask[i] = (u(seed, i) >= p) / (1 - p), with u a counter-based uniform in [0,1) that every
  /// backend computes identically, so masks match across devices.
  virtual void dropout_mask(const TensorView& mask, double p, std::uint64_t seed) = 0;

  // ---- indexing and data movement -----------------------------------------------------------
  /// out = x indexed along `dim` by index (I64, values in [0, x.size(dim))).
  virtual void index_select(const TensorView& x, int dim, const TensorView& index,
                            const TensorView& out) = 0;
  /// out[..., index[i], ...] += src[..., i, ...] along `dim` (duplicates accumulate).
  virtual void index_add(const TensorView& src, int dim, const TensorView& index,
                         const TensorView& out) = 0;
  /// dst[dim range dst_start..+length] = src[dim range src_start..+length].
  virtual void slice_copy(const TensorView& src, int dim, std::int64_t src_start,
                          const TensorView& dst, std::int64_t dst_start, std::int64_t length) = 0;

  // ---- structured-pruning channel kernels ---------------------------------------------------
  /// out = x with only the `keep` (I64, sorted, unique) entries along `dim`, in one pass.
  virtual void channel_gather(const TensorView& x, int dim, const TensorView& keep,
                              const TensorView& out) = 0;
  /// out[..., keep[i], ...] = src[..., i, ...]; entries of out not in keep are left as they are.
  virtual void channel_scatter(const TensorView& src, int dim, const TensorView& keep,
                               const TensorView& out) = 0;
  /// x[..., c, ...] *= mask[c] in place along `dim` (mask: F32/F64 of length x.size(dim)).
  virtual void channel_mask(const TensorView& x, int dim, const TensorView& mask) = 0;
  /// y (N,C,H,W) = x * mask (C) per channel.
  virtual void soft_mask_forward(const TensorView& x, const TensorView& mask,
                                 const TensorView& y) = 0;
  /// grad_x = grad_y * mask; grad_mask[c] = sum over n,h,w of grad_y * x (either may be null).
  virtual void soft_mask_backward(const TensorView& x, const TensorView& mask,
                                  const TensorView& grad_y, const TensorView* grad_x,
                                  const TensorView* grad_mask) = 0;

  // ---- optimiser ----------------------------------------------------------------------------
  /// One fused SGD update of `param` in place (see SgdParams); momentum_buf may be null when
  /// momentum is 0.
  virtual void sgd_update(const TensorView& param, const TensorView& grad,
                          const TensorView* momentum_buf, const SgdParams& p) = 0;
  /// sgd_update of every item in order, with p's lr, momentum, dampening and nesterov and each
  /// item's weight decay and first-step flag. This default makes one call per item; a backend
  /// may do them all in one launch (CUDA does), with the same arithmetic per element.
  virtual void sgd_update_many(const std::vector<SgdItem>& items, const SgdParams& p) {
    for (const SgdItem& item : items) {
      SgdParams q = p;
      q.weight_decay = item.weight_decay;
      q.first_step = item.first_step;
      sgd_update(item.param, item.grad, item.has_momentum_buf ? &item.momentum_buf : nullptr, q);
    }
  }

  /// A new device allocation holding a copy of `bytes` host bytes (Tensor::to from the CPU). The
  /// default allocates and calls copy_from_host; CUDA copies on its copy stream, so an input
  /// batch moves while the compute stream still runs the previous step.
  virtual void* allocate_from_host(const void* src, std::size_t bytes) {
    void* ptr = allocate(bytes);
    try {
      copy_from_host(ptr, src, bytes);
    } catch (...) {
      deallocate(ptr, bytes);
      throw;
    }
    return ptr;
  }

  // ---- step graphs --------------------------------------------------------------------------
  /// Why this backend cannot capture a graph now; empty when it can (CUDA with stream-ordered
  /// memory pools). The default: never.
  virtual std::string graph_unsupported_reason() { return name() + " has no graphs"; }
  /// Starts recording, instead of running, the work the calling thread queues on this backend.
  /// While recording, a host read (copy_to_host, synchronize, time_ms) throws GraphCaptureError.
  /// Throws GraphCaptureError when graph_unsupported_reason() is not empty.
  virtual void begin_capture() { throw GraphCaptureError(graph_unsupported_reason()); }
  /// Ends the recording and returns the graph (nothing has run yet: launch it). Throws
  /// GraphCaptureError, having discarded the recording, when the work could not be recorded.
  virtual std::unique_ptr<DeviceGraph> end_capture() {
    throw GraphCaptureError(graph_unsupported_reason());
  }
  /// Discards a recording (after an exception in the recorded code); nothing recorded runs, and
  /// memory allocated while recording must no longer be used. No-op when not recording.
  virtual void abort_capture() noexcept {}
  virtual bool capturing() const { return false; }

  // ---- timing -------------------------------------------------------------------------------
  /// The algorithm the last conv2d_forward of this backend ran, for per-layer profiles (CUDA:
  /// cuDNN's algorithm and math type, e.g. "IMPLICIT_PRECOMP_GEMM/tensor-op"); empty when the
  /// backend does not choose among algorithms.
  virtual std::string last_conv_algorithm() { return {}; }
  /// Milliseconds the device spends on the work `work` queues on this backend (benchmarks). The
  /// default waits for earlier work, then times `work` plus a final synchronize on a steady
  /// clock; CUDA overrides it with events recorded on its stream around `work`.
  virtual double time_ms(const std::function<void()>& work) {
    synchronize();
    const auto start = std::chrono::steady_clock::now();
    work();
    synchronize();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  }
};

}  // namespace shears
