#pragma once

#include "kernels/common/backend.h"

namespace shears::kernels::cpu {

/// The reference backend: plain loops with OpenMP, oneDNN for f32 convolution and OpenBLAS for
/// GEMM (f64 paths, used by gradient checks, run im2col + dgemm). Memory is 64-byte aligned.
/// Each family of primitives is defined in its own file (conv2d.cpp, batch_norm.cpp, ...).
class CpuBackend final : public Backend {
 public:
  std::string name() const override;
  void* allocate(std::size_t bytes) override;
  void deallocate(void* ptr, std::size_t bytes) noexcept override;
  void copy_from_host(void* dst, const void* src, std::size_t bytes) override;
  void copy_to_host(void* dst, const void* src, std::size_t bytes) override;
  void copy(void* dst, const void* src, std::size_t bytes) override;
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
};

/// OpenMP threads of the calling thread (omp_get_max_threads), and setting them for it.
int max_threads();
void set_max_threads(int threads);

}  // namespace shears::kernels::cpu
