#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "kernels/common/backend.h"

namespace shears::kernels::cuda {

/// Number of usable CUDA devices. Any error from the runtime (no driver: "insufficient driver";
/// no GPU: "no device") counts as zero devices, and the error state is cleared afterwards. Never
/// throws; safe to call before anything else touches CUDA.
int device_count() noexcept;

/// The backend of CUDA device `index` (0-based), created on first use and then shared. Creation is
/// thread-safe. Backends live until the process ends (they are never destroyed, so that tensors
/// released during static destruction can still return their memory). Throws shears::Error when
/// `index` is not a usable device and CudaError when the device cannot be initialised.
Backend& backend(int index);

/// Device memory held by a backend's allocator: reserved from the driver (used plus cached free
/// blocks) and handed out to tensors and scratch, now and at the peak since the last reset.
struct PoolStats {
  std::uint64_t reserved_bytes = 0, reserved_high_bytes = 0;
  std::uint64_t used_bytes = 0, used_high_bytes = 0;
  /// The device's graph memory (allocations recorded in graphs), reserved now and at the peak.
  std::uint64_t graph_reserved_bytes = 0, graph_reserved_high_bytes = 0;
};

/// The CUDA backend of one device. Every primitive is queued on the backend's own stream, in
/// order, and returns without waiting, except copy_from_host / copy_to_host (which return when the
/// host buffer may be reused or read), synchronize and svd (which reads its solver's status).
/// Labels, indices and keep lists are checked on the device; a bad entry is thrown at the next
/// synchronisation. Uploads of new tensors (allocate_from_host) run on a second, copy stream
/// that the compute stream waits for by an event. Memory comes from the device's default
/// stream-ordered pool (cudaMallocAsync), which keeps freed blocks for reuse instead of returning
/// them to the driver; on a device without such pools (or with SHEARS_CUDA_ALLOCATOR=caching) from
/// a caching cudaMalloc allocator, with a warning on stderr. With SHEARS_CUDA_SYNC=1 every kernel
/// and library call is followed by a device synchronisation and fault check, so a fault is reported
/// by the op that caused it.
///
/// Floating primitives take F32 only (F64 exists for gradient checks on the CPU); fill, convert and
/// the data-movement primitives (index_select, slice_copy, channel_gather, channel_scatter) take
/// any dtype. Convolutions use cuDNN with a per-shape plan (descriptors and algorithms, with
/// fallback to the next algorithm when one fails); GEMM uses cuBLAS. TF32 tensor-core maths
/// follows allow_tf32_conv() / allow_tf32_matmul() at each call, the algorithm choice the
/// CudaPolicy (deterministic, conv_find). Errors: ShapeError for tensors that do not
/// fit (names the shapes), CudaError for a failed CUDA/cuDNN/cuBLAS call (names the call, status
/// and source location), OutOfMemoryError for failed allocations (bytes asked, free and total).
///
/// Methods may be called from several threads; the cuDNN and cuBLAS handles are used by one thread
/// at a time.
class CudaBackend final : public Backend {
 public:
  /// Creates the stream, memory-pool settings and library handles of `device`. Throws CudaError.
  explicit CudaBackend(int device);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  /// The device ordinal this backend runs on.
  int device() const;
  /// False when memory comes from the caching cudaMalloc fallback.
  bool uses_stream_ordered_pool() const;
  /// The allocator's reserved and used bytes (peaks since reset_peak_memory or the start).
  PoolStats pool_stats();
  void reset_peak_memory();

  /// Gives the calling thread a stream of its own on this device until the returned handle is
  /// destroyed (on the same thread): every primitive the thread calls meanwhile is queued there,
  /// so threads that each hold one run their kernels concurrently. The stream first waits for
  /// the work the thread had queued before (on the backend's stream), and destroying the handle
  /// waits until the stream is idle, so tensors made under the binding may be used and freed from
  /// any thread afterwards. Tensors that two bound threads share must only be read by them. The
  /// deferred data-fault record and the library handles stay shared (the handles are pointed at
  /// the caller's stream under their lock). Throws CudaError when no stream can be created.
  std::shared_ptr<void> bind_thread_stream();

  std::string name() const override;
  void* allocate(std::size_t bytes) override;
  void deallocate(void* ptr, std::size_t bytes) noexcept override;
  void copy_from_host(void* dst, const void* src, std::size_t bytes) override;
  void copy_to_host(void* dst, const void* src, std::size_t bytes) override;
  void copy(void* dst, const void* src, std::size_t bytes) override;
  /// Allocated on the copy stream and copied there through its own pinned staging buffers; the
  /// compute stream waits for the copy (an event), not the host. While capturing: as
  /// allocate + copy_from_host on the compute stream.
  void* allocate_from_host(const void* src, std::size_t bytes) override;
  void synchronize() override;
  MemoryInfo memory_info() override;
  void fill(const TensorView& x, double value) override;
  void convert(const TensorView& x, const TensorView& out) override;
  void binary(BinaryOp op, const TensorView& a, const TensorView& b,
              const TensorView& out) override;
  void axpby(double alpha, const TensorView& x, double beta, const TensorView& y) override;
  void activation_forward(ActivationKind kind, double alpha, const TensorView& x,
                          const TensorView& y) override;
  void activation_backward(ActivationKind kind, double alpha, const TensorView& y,
                           const TensorView& grad_y, const TensorView& grad_x) override;
  void pointwise_forward(PointwiseOp op, double lo, double hi, const TensorView& x,
                         const TensorView& y) override;
  void pointwise_backward(PointwiseOp op, double lo, double hi, const TensorView& x,
                          const TensorView& grad_y, const TensorView& grad_x) override;
  void sum_to(const TensorView& x, const TensorView& out) override;
  void gemm(bool trans_a, bool trans_b, double alpha, const TensorView& a, const TensorView& b,
            double beta, const TensorView& c) override;
  void conv2d_forward(const TensorView& x, const TensorView& w, const TensorView* bias,
                      const TensorView& y, const Conv2dParams& p) override;
  void conv2d_backward_data(const TensorView& grad_y, const TensorView& w, const TensorView& grad_x,
                            const Conv2dParams& p) override;
  void conv2d_backward_weight(const TensorView& x, const TensorView& grad_y,
                              const TensorView& grad_w, const Conv2dParams& p) override;
  void svd(const TensorView& a, const TensorView& u, const TensorView& s,
           const TensorView& vt) override;
  void batch_norm_forward(const TensorView& x, const TensorView* weight, const TensorView* bias,
                          const TensorView* running_mean, const TensorView* running_var,
                          const TensorView& y, const TensorView& save_mean,
                          const TensorView& save_invstd, const BatchNormParams& p) override;
  void batch_norm_backward(const TensorView& x, const TensorView& grad_y, const TensorView* weight,
                           const TensorView& save_mean, const TensorView& save_invstd,
                           const TensorView* grad_x, const TensorView* grad_weight,
                           const TensorView* grad_bias, bool training, double eps) override;
  void max_pool2d_forward(const TensorView& x, const TensorView& y, const TensorView& indices,
                          const Pool2dParams& p) override;
  void max_pool2d_backward(const TensorView& grad_y, const TensorView& indices,
                           const TensorView& grad_x) override;
  void avg_pool2d_forward(const TensorView& x, const TensorView& y, const Pool2dParams& p) override;
  void avg_pool2d_backward(const TensorView& grad_y, const TensorView& grad_x,
                           const Pool2dParams& p) override;
  void softmax_forward(const TensorView& x, const TensorView& y, bool log) override;
  void softmax_backward(const TensorView& y, const TensorView& grad_y, const TensorView& grad_x,
                        bool log) override;
  void nll_loss_forward(const TensorView& logp, const TensorView& labels, double smoothing,
                        const TensorView& loss) override;
  void nll_loss_backward(const TensorView& labels, double smoothing, const TensorView& grad_loss,
                         const TensorView& grad_logp) override;
  void accuracy_count(const TensorView& logits, const TensorView& labels, int k,
                      const TensorView& counts) override;
  void bce_with_logits_forward(const TensorView& x, const TensorView& target,
                               const TensorView& loss) override;
  void bce_with_logits_backward(const TensorView& x, const TensorView& target,
                                const TensorView& grad_loss, const TensorView& grad_x) override;
  void dropout_mask(const TensorView& mask, double p, std::uint64_t seed) override;
  void index_select(const TensorView& x, int dim, const TensorView& index,
                    const TensorView& out) override;
  void index_add(const TensorView& src, int dim, const TensorView& index,
                 const TensorView& out) override;
  void slice_copy(const TensorView& src, int dim, std::int64_t src_start, const TensorView& dst,
                  std::int64_t dst_start, std::int64_t length) override;
  void channel_gather(const TensorView& x, int dim, const TensorView& keep,
                      const TensorView& out) override;
  void channel_scatter(const TensorView& src, int dim, const TensorView& keep,
                       const TensorView& out) override;
  void channel_mask(const TensorView& x, int dim, const TensorView& mask) override;
  void soft_mask_forward(const TensorView& x, const TensorView& mask, const TensorView& y) override;
  void soft_mask_backward(const TensorView& x, const TensorView& mask, const TensorView& grad_y,
                          const TensorView* grad_x, const TensorView* grad_mask) override;
  void sgd_update(const TensorView& param, const TensorView& grad, const TensorView* momentum_buf,
                  const SgdParams& p) override;
  /// Every item in one kernel launch (a table of per-tensor chunks), unless an item is empty.
  void sgd_update_many(const std::vector<SgdItem>& items, const SgdParams& p) override;
  /// GPU time between two events recorded on the stream before and after `work`, waiting for the
  /// second (no host wait inside: the channel ops check their keep lists on the device). Host-side
  /// pauses inside `work` would count, since the stream idles through them.
  double time_ms(const std::function<void()>& work) override;
  std::string last_conv_algorithm() override;

  /// Graphs (kernels/cuda/graph.cpp): the compute stream is captured in relaxed mode; memory
  /// allocated while capturing comes from the graph's own pool (graph memory nodes) and the graph
  /// is instantiated to free what a launch left allocated when it is launched again, so a replay
  /// writes its outputs at the captured addresses. Unsupported with the caching cudaMalloc
  /// fallback (no stream-ordered allocation to record).
  std::string graph_unsupported_reason() override;
  void begin_capture() override;
  std::unique_ptr<DeviceGraph> end_capture() override;
  void abort_capture() noexcept override;
  bool capturing() const override;

  /// The stream, pool, handles and caches (kernels/cuda/state.h). Only files in kernels/cuda see
  /// its definition, so this header names no CUDA type.
  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace shears::kernels::cuda
