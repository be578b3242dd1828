// CpuBackend losses: negative log-likelihood with label smoothing over (N,C) log-probabilities,
// and binary cross-entropy on logits. Both reduce by the mean, accumulating in double.
//
// nll: loss = mean_i[(1-s) * (-logp[i, label_i]) + s * mean_c(-logp[i, c])], which is PyTorch's
// cross_entropy(label_smoothing=s) when logp = log_softmax(logits). Its gradient is
// grad_logp[i, c] = grad_loss / N * (-(1-s) * [c == label_i] - s / C).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/kernel_util.h"

namespace shears::kernels::cpu {
namespace {

void check_scalar(const char* op, const char* what, const TensorView& t, const TensorView& ref) {
  check_cpu(op, what, t);
  SHEARS_CHECK_AS(ShapeError, t.numel() == 1 && t.dim() <= 1 && t.dtype == ref.dtype, op, ": ",
                  what, " must be a ", dtype_name(ref.dtype), " scalar, got ", view_str(t));
}

// Checks labels (I64, shape [N]) against (N, C) and every value against [0, C). The scan is
// serial and cheap (N values) and runs before any output is written.
void check_labels(const char* op, const TensorView& labels, std::int64_t n, std::int64_t c) {
  check_cpu(op, "labels", labels);
  SHEARS_CHECK_AS(ShapeError,
                  labels.dtype == DType::I64 && labels.dim() == 1 && labels.shape[0] == n, op,
                  ": labels must be I64 [", n, "], got ", view_str(labels));
  const std::int64_t* lab = labels.as<const std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i) {
    SHEARS_CHECK_AS(ShapeError, lab[i] >= 0 && lab[i] < c, op, ": label ", lab[i], " at row ", i,
                    " is out of range for ", c, " classes");
  }
}

void check_smoothing(const char* op, double smoothing) {
  SHEARS_CHECK_AS(Error, smoothing >= 0.0 && smoothing <= 1.0, op,
                  ": label smoothing must be in [0, 1], got ", smoothing);
}

template <typename T>
void nll_forward(const T* logp, const std::int64_t* labels, std::int64_t n, std::int64_t c,
                 double s, T* loss) {
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (n * c >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) {
    const T* row = logp + i * c;
    double term = -(1.0 - s) * static_cast<double>(row[labels[i]]);
    if (s != 0.0) {
      double row_sum = 0.0;
      for (std::int64_t k = 0; k < c; ++k) row_sum += static_cast<double>(row[k]);
      term -= s * row_sum / static_cast<double>(c);
    }
    total += term;
  }
  // An empty batch has no mean: 0/0 gives NaN, as torch.nn.functional.nll_loss does.
  loss[0] = static_cast<T>(n > 0 ? total / static_cast<double>(n)
                                 : std::numeric_limits<double>::quiet_NaN());
}

template <typename T>
void nll_backward(const std::int64_t* labels, std::int64_t n, std::int64_t c, double s,
                  double grad_loss, T* grad) {
  const double scale = grad_loss / static_cast<double>(n);
  const T off = static_cast<T>(-scale * s / static_cast<double>(c));
  const T on = static_cast<T>(-scale * (1.0 - s) - scale * s / static_cast<double>(c));
#pragma omp parallel for schedule(static) if (n * c >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) {
    T* row = grad + i * c;
    for (std::int64_t k = 0; k < c; ++k) row[k] = off;
    row[labels[i]] = on;
  }
}

template <typename T>
void bce_forward(const T* x, const T* t, std::int64_t n, T* loss) {
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (n >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) {
    // max(x, 0) - x*t + log(1 + exp(-|x|)): exp's argument is never positive, so no overflow.
    const double xv = static_cast<double>(x[i]), tv = static_cast<double>(t[i]);
    total += std::max(xv, 0.0) - xv * tv + std::log1p(std::exp(-std::fabs(xv)));
  }
  loss[0] = static_cast<T>(n > 0 ? total / static_cast<double>(n)
                                 : std::numeric_limits<double>::quiet_NaN());
}

template <typename T>
void bce_backward(const T* x, const T* t, std::int64_t n, double grad_loss, T* grad) {
  const double scale = grad_loss / static_cast<double>(n);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) {
    const double xv = static_cast<double>(x[i]);
    const double e = std::exp(-std::fabs(xv));
    const double sig = xv >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
    grad[i] = static_cast<T>(scale * (sig - static_cast<double>(t[i])));
  }
}

}  // namespace

void CpuBackend::nll_loss_forward(const TensorView& logp, const TensorView& labels,
                                  double smoothing, const TensorView& loss) {
  const char* op = "nll_loss_forward";
  check_cpu(op, "logp", logp);
  check_floating(op, "logp", logp);
  check_dim(op, "logp", logp, 2);
  check_scalar(op, "loss", loss, logp);
  check_smoothing(op, smoothing);
  check_labels(op, labels, logp.shape[0], logp.shape[1]);
  dispatch_floating(op, logp, [&](auto tag) {
    using T = decltype(tag);
    nll_forward(logp.as<const T>(), labels.as<const std::int64_t>(), logp.shape[0], logp.shape[1],
                smoothing, loss.as<T>());
  });
}

void CpuBackend::nll_loss_backward(const TensorView& labels, double smoothing,
                                   const TensorView& grad_loss, const TensorView& grad_logp) {
  const char* op = "nll_loss_backward";
  check_cpu(op, "grad_logp", grad_logp);
  check_floating(op, "grad_logp", grad_logp);
  check_dim(op, "grad_logp", grad_logp, 2);
  check_scalar(op, "grad_loss", grad_loss, grad_logp);
  check_smoothing(op, smoothing);
  check_labels(op, labels, grad_logp.shape[0], grad_logp.shape[1]);
  dispatch_floating(op, grad_logp, [&](auto tag) {
    using T = decltype(tag);
    nll_backward(labels.as<const std::int64_t>(), grad_logp.shape[0], grad_logp.shape[1], smoothing,
                 static_cast<double>(grad_loss.as<const T>()[0]), grad_logp.as<T>());
  });
}

void CpuBackend::accuracy_count(const TensorView& logits, const TensorView& labels, int k,
                                const TensorView& counts) {
  const char* op = "accuracy_count";
  check_cpu(op, "logits", logits);
  check_cpu(op, "labels", labels);
  check_cpu(op, "counts", counts);
  check_floating(op, "logits", logits);
  check_dim(op, "logits", logits, 2);
  const std::int64_t n = logits.shape[0], c = logits.shape[1];
  SHEARS_CHECK_AS(ShapeError,
                  labels.dtype == DType::I64 && labels.dim() == 1 && labels.shape[0] == n, op,
                  ": labels must be I64 [", n, "], got ", view_str(labels));
  SHEARS_CHECK_AS(ShapeError, counts.dtype == DType::I64 && counts.numel() == 2, op,
                  ": counts must be I64 [2], got ", view_str(counts));
  SHEARS_CHECK_AS(ShapeError, k >= 1, op, ": k must be >= 1, got ", k);
  const auto* y = labels.as<const std::int64_t>();
  auto* out = counts.as<std::int64_t>();
  dispatch_floating(op, logits, [&](auto tag) {
    using T = decltype(tag);
    const T* v = logits.as<const T>();
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t label = y[i];
      if (label < 0 || label >= c) continue;
      const T* row = v + i * c;
      const T target = row[label];
      std::int64_t better = 0;
      for (std::int64_t j = 0; j < c; ++j) {
        if (row[j] > target || (row[j] == target && j < label)) ++better;
      }
      if (better < 1) ++out[0];
      if (better < k) ++out[1];
    }
  });
}

void CpuBackend::bce_with_logits_forward(const TensorView& x, const TensorView& target,
                                         const TensorView& loss) {
  const char* op = "bce_with_logits_forward";
  check_cpu(op, "x", x);
  check_cpu(op, "target", target);
  check_floating(op, "x", x);
  check_same(op, "x", x, "target", target);
  check_scalar(op, "loss", loss, x);
  dispatch_floating(op, x, [&](auto tag) {
    using T = decltype(tag);
    bce_forward(x.as<const T>(), target.as<const T>(), x.numel(), loss.as<T>());
  });
}

void CpuBackend::bce_with_logits_backward(const TensorView& x, const TensorView& target,
                                          const TensorView& grad_loss, const TensorView& grad_x) {
  const char* op = "bce_with_logits_backward";
  check_cpu(op, "x", x);
  check_cpu(op, "target", target);
  check_cpu(op, "grad_x", grad_x);
  check_floating(op, "x", x);
  check_same(op, "x", x, "target", target);
  check_same(op, "x", x, "grad_x", grad_x);
  check_scalar(op, "grad_loss", grad_loss, x);
  dispatch_floating(op, x, [&](auto tag) {
    using T = decltype(tag);
    bce_backward(x.as<const T>(), target.as<const T>(), x.numel(),
                 static_cast<double>(grad_loss.as<const T>()[0]), grad_x.as<T>());
  });
}

}  // namespace shears::kernels::cpu
