// CpuBackend::conv2d_forward / conv2d_backward_data / conv2d_backward_weight.
//
// Two implementations of f32 convolution, chosen by conv_library() (conv_library.h):
//   * oneDNN primitives, cached per shape and parameters, either on layouts oneDNN chooses
//     (format_tag::any: blocked nChw8c/nChw16c and matching weights, reordered from and to NCHW
//     around each call) or on plain NCHW;
//   * im2col / col2im with OpenBLAS sgemm.
// F64 (used only by gradient checks) always takes the im2col path with dgemm: oneDNN has no f64
// convolution.

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "kernels/common/error.h"
#include "kernels/cpu/blas.h"
#include "kernels/cpu/conv_library.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/im2col.h"

namespace shears::kernels::cpu {

// ---- library choice -----------------------------------------------------------------------------

namespace {

constexpr const char* kConvLibraryEnv = "SHEARS_CPU_CONV";

ConvLibrary library_from_env() {
  const char* value = std::getenv(kConvLibraryEnv);
  // The default is oneDNN on its own layouts: on 2 cores it ran a ResNet-56 training step faster
  // than im2col + OpenBLAS and than oneDNN on plain NCHW, and won on nearly every conv shape of
  // bench_conv (the measurements are in README.md, "CPU dense-maths library").
  if (value == nullptr || *value == '\0') return ConvLibrary::OneDnn;
  for (ConvLibrary library : {ConvLibrary::OneDnn, ConvLibrary::OneDnnPlain, ConvLibrary::Blas}) {
    if (std::strcmp(value, conv_library_name(library)) == 0) return library;
  }
  throw Error(detail::cat(kConvLibraryEnv, "='", value, "' is not a CPU convolution library (",
                          "expected onednn, onednn-plain or blas)"));
}

// -1 until set_conv_library is called; otherwise the ConvLibrary value.
std::atomic<int> g_library_override{-1};

}  // namespace

ConvLibrary conv_library() {
  const int forced = g_library_override.load(std::memory_order_relaxed);
  if (forced >= 0) return static_cast<ConvLibrary>(forced);
  static const ConvLibrary from_env = library_from_env();
  return from_env;
}

void set_conv_library(ConvLibrary library) {
  g_library_override.store(static_cast<int>(library), std::memory_order_relaxed);
}

const char* conv_library_name(ConvLibrary library) {
  switch (library) {
    case ConvLibrary::OneDnn:
      return "onednn";
    case ConvLibrary::OneDnnPlain:
      return "onednn-plain";
    case ConvLibrary::Blas:
      return "blas";
  }
  return "?";
}

std::string cpu_math_libraries() {
  const dnnl_version_t* v = dnnl_version();
  const char* runtime = v->cpu_runtime == DNNL_RUNTIME_OMP   ? "OpenMP"
                        : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB"
                        : v->cpu_runtime == DNNL_RUNTIME_SEQ ? "sequential"
                                                             : "other";
  return detail::cat("oneDNN ", v->major, ".", v->minor, ".", v->patch, " (", runtime, " runtime, ",
                     omp_get_max_threads(), " OpenMP threads); ", openblas_get_config(), " (",
                     openblas_get_num_threads(), " threads)");
}

namespace {

// ---- argument checks ----------------------------------------------------------------------------

std::string params_str(const Conv2dParams& p) {
  return detail::cat("stride (", p.stride_h, ", ", p.stride_w, "), padding (", p.pad_h, ", ",
                     p.pad_w, "), dilation (", p.dilation_h, ", ", p.dilation_w, "), groups ",
                     p.groups);
}

// Validates one convolution's tensors and returns its geometry. `names` are the three tensors'
// names in this direction ("x", "weight", "y" for the forward), used in the messages together with
// every shape and the parameters. Throws ShapeError.
ConvGeometry make_geometry(const char* op, const char* const (&names)[3], const TensorView& x,
                           const TensorView& w, const TensorView& y, const Conv2dParams& p) {
  auto describe = [&] {
    return detail::cat(op, ": ", names[0], " ", shape_str(x.shape), ", ", names[1], " ",
                       shape_str(w.shape), ", ", names[2], " ", shape_str(y.shape), " with ",
                       params_str(p));
  };
  SHEARS_CHECK_AS(ShapeError, x.dim() == 4 && w.dim() == 4 && y.dim() == 4, describe(),
                  ": all three tensors must be 4-D (NCHW and (out, in/groups, kh, kw))");
  SHEARS_CHECK_AS(ShapeError,
                  p.stride_h >= 1 && p.stride_w >= 1 && p.dilation_h >= 1 && p.dilation_w >= 1 &&
                      p.pad_h >= 0 && p.pad_w >= 0 && p.groups >= 1,
                  describe(), ": stride and dilation must be >= 1, padding >= 0, groups >= 1");
  SHEARS_CHECK_AS(ShapeError, x.dtype == w.dtype && x.dtype == y.dtype, describe(),
                  ": dtypes differ (", dtype_name(x.dtype), ", ", dtype_name(w.dtype), ", ",
                  dtype_name(y.dtype), ")");
  SHEARS_CHECK_AS(ShapeError, x.dtype == DType::F32 || x.dtype == DType::F64, describe(),
                  ": the CPU backend convolves F32 or F64, got ", dtype_name(x.dtype));
  SHEARS_CHECK_AS(ShapeError, x.device.is_cpu() && w.device.is_cpu() && y.device.is_cpu(),
                  describe(), ": tensors must be on the CPU");
  ConvGeometry g;
  g.p = p;
  g.n = x.shape[0], g.c = x.shape[1], g.h = x.shape[2], g.w = x.shape[3];
  g.k = w.shape[0], g.kh = w.shape[2], g.kw = w.shape[3];
  SHEARS_CHECK_AS(ShapeError, g.c % p.groups == 0 && g.k % p.groups == 0, describe(),
                  ": input channels ", g.c, " and output channels ", g.k,
                  " must both be divisible by groups");
  SHEARS_CHECK_AS(ShapeError, w.shape[1] == g.c / p.groups, describe(), ": ", names[1], " has ",
                  w.shape[1], " input channels per group, expected ", g.c / p.groups);
  SHEARS_CHECK_AS(ShapeError, g.kh >= 1 && g.kw >= 1, describe(), ": empty kernel");
  g.ho = (g.h + 2 * p.pad_h - p.dilation_h * (g.kh - 1) - 1) / p.stride_h + 1;
  g.wo = (g.w + 2 * p.pad_w - p.dilation_w * (g.kw - 1) - 1) / p.stride_w + 1;
  const bool fits = g.h + 2 * p.pad_h >= p.dilation_h * (g.kh - 1) + 1 &&
                    g.w + 2 * p.pad_w >= p.dilation_w * (g.kw - 1) + 1;
  SHEARS_CHECK_AS(ShapeError, fits, describe(), ": the dilated kernel is larger than the padded ",
                  "input");
  const Shape expected{g.n, g.k, g.ho, g.wo};
  SHEARS_CHECK_AS(ShapeError, y.shape == expected, describe(), ": ", names[2], " must be ",
                  shape_str(expected));
  return g;
}

constexpr const char* kForwardNames[3] = {"x", "weight", "y"};
constexpr const char* kBackwardDataNames[3] = {"grad_x", "weight", "grad_y"};
constexpr const char* kBackwardWeightNames[3] = {"x", "grad_weight", "grad_y"};

// ---- im2col + GEMM path -------------------------------------------------------------------------
//
// One GEMM per image and group, Caffe-style: y[n, group] (k/g, ho*wo) = w[group] (k/g, rows) @
// col (rows, ho*wo). With at least as many images as threads, the images are spread over OpenMP
// threads, each with its own column buffer and a single-threaded BLAS: whole images per thread
// balance well and keep the two thread pools from competing. With fewer images (inference on one
// image), images run in turn and im2col and BLAS each use every thread.

struct ImageSchedule {
  int threads;
  bool over_images;
};

ImageSchedule schedule_for(std::int64_t images) {
  const int threads = omp_get_max_threads();
  return {threads, threads > 1 && images >= threads};
}

template <typename T>
void blas_forward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y) {
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group(), rows = g.col_rows();
  const std::int64_t hw_in = g.h * g.w, hw_out = g.ho * g.wo;
  const bool direct = g.pointwise();
  const ImageSchedule s = schedule_for(g.n);
  const std::int64_t col_size = direct ? 0 : rows * hw_out;
  std::vector<T> cols(static_cast<std::size_t>(col_size * (s.over_images ? s.threads : 1)));

  auto image = [&](std::int64_t i, T* col, bool inner_parallel) {
    for (std::int64_t grp = 0; grp < g.p.groups; ++grp) {
      const T* in = x + (i * g.c + grp * cg) * hw_in;
      T* out = y + (i * g.k + grp * kg) * hw_out;
      const T* a = direct ? in : col;
      if (!direct) im2col(in, col, g, inner_parallel);
      T beta = 0;
      if (bias != nullptr) {
        for (std::int64_t o = 0; o < kg; ++o) {
          std::fill(out + o * hw_out, out + (o + 1) * hw_out, bias[grp * kg + o]);
        }
        beta = 1;
      }
      blas::gemm(false, false, kg, hw_out, rows, T(1), w + grp * kg * rows, rows, a, hw_out, beta,
                 out, hw_out);
    }
  };
  if (s.over_images) {
    blas::ThreadsGuard single(1);
#pragma omp parallel num_threads(s.threads)
    {
      T* col = cols.data() + omp_get_thread_num() * col_size;
#pragma omp for schedule(static)
      for (std::int64_t i = 0; i < g.n; ++i) image(i, col, false);
    }
  } else {
    for (std::int64_t i = 0; i < g.n; ++i) image(i, cols.data(), true);
  }
}

template <typename T>
void blas_backward_data(const ConvGeometry& g, const T* grad_y, const T* w, T* grad_x) {
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group(), rows = g.col_rows();
  const std::int64_t hw_in = g.h * g.w, hw_out = g.ho * g.wo;
  const bool direct = g.pointwise();
  const ImageSchedule s = schedule_for(g.n);
  const std::int64_t col_size = direct ? 0 : rows * hw_out;
  std::vector<T> cols(static_cast<std::size_t>(col_size * (s.over_images ? s.threads : 1)));

  // col (rows, ho*wo) = w[group]^T @ grad_y[n, group], folded back onto grad_x by col2im. For a
  // pointwise kernel the product is grad_x itself.
  auto image = [&](std::int64_t i, T* col, bool inner_parallel) {
    for (std::int64_t grp = 0; grp < g.p.groups; ++grp) {
      const T* dy = grad_y + (i * g.k + grp * kg) * hw_out;
      T* dx = grad_x + (i * g.c + grp * cg) * hw_in;
      blas::gemm(true, false, rows, hw_out, kg, T(1), w + grp * kg * rows, rows, dy, hw_out, T(0),
                 direct ? dx : col, hw_out);
      if (!direct) col2im(col, dx, g, inner_parallel);
    }
  };
  if (s.over_images) {
    blas::ThreadsGuard single(1);
#pragma omp parallel num_threads(s.threads)
    {
      T* col = cols.data() + omp_get_thread_num() * col_size;
#pragma omp for schedule(static)
      for (std::int64_t i = 0; i < g.n; ++i) image(i, col, false);
    }
  } else {
    for (std::int64_t i = 0; i < g.n; ++i) image(i, cols.data(), true);
  }
}

template <typename T>
void blas_backward_weight(const ConvGeometry& g, const T* x, const T* grad_y, T* grad_w) {
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group(), rows = g.col_rows();
  const std::int64_t hw_in = g.h * g.w, hw_out = g.ho * g.wo;
  const std::int64_t w_size = g.k * rows;
  const bool direct = g.pointwise();
  const ImageSchedule s = schedule_for(g.n);
  const std::int64_t col_size = direct ? 0 : rows * hw_out;
  std::vector<T> cols(static_cast<std::size_t>(col_size * (s.over_images ? s.threads : 1)));
  std::fill(grad_w, grad_w + w_size, T(0));

  // grad_w[group] (k/g, rows) += grad_y[n, group] (k/g, ho*wo) @ col^T, summed over images. When
  // images are spread over threads, thread 0 accumulates into grad_w and the others into private
  // copies that are added at the end in thread order, so the result does not depend on timing.
  auto image = [&](std::int64_t i, T* col, T* acc, bool inner_parallel) {
    for (std::int64_t grp = 0; grp < g.p.groups; ++grp) {
      const T* in = x + (i * g.c + grp * cg) * hw_in;
      const T* dy = grad_y + (i * g.k + grp * kg) * hw_out;
      if (!direct) im2col(in, col, g, inner_parallel);
      blas::gemm(false, true, kg, rows, hw_out, T(1), dy, hw_out, direct ? in : col, hw_out, T(1),
                 acc + grp * kg * rows, rows);
    }
  };
  if (s.over_images) {
    std::vector<T> partial(static_cast<std::size_t>(w_size * (s.threads - 1)), T(0));
    {
      blas::ThreadsGuard single(1);
#pragma omp parallel num_threads(s.threads)
      {
        const int t = omp_get_thread_num();
        T* col = cols.data() + t * col_size;
        T* acc = t == 0 ? grad_w : partial.data() + (t - 1) * w_size;
#pragma omp for schedule(static)
        for (std::int64_t i = 0; i < g.n; ++i) image(i, col, acc, false);
      }
    }
#pragma omp parallel for schedule(static) num_threads(s.threads)
    for (std::int64_t j = 0; j < w_size; ++j) {
      for (int t = 1; t < s.threads; ++t) grad_w[j] += partial[(t - 1) * w_size + j];
    }
  } else {
    for (std::int64_t i = 0; i < g.n; ++i) image(i, cols.data(), grad_w, true);
  }
}

// ---- oneDNN path --------------------------------------------------------------------------------
//
// Primitive creation costs milliseconds, so each (direction, geometry, bias) gets its primitive
// built once and kept in a process-wide map guarded by a mutex. The scratchpad is user-managed:
// each call brings its own (from a per-thread buffer), so one cached primitive may run on several
// threads at once.

using dnnl::memory;

enum class Direction { Forward, BackwardData, BackwardWeight };

dnnl::engine& dnnl_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// One tensor argument of a cached primitive: the caller's plain layout, the layout the primitive
// wants, and the reorder between them when they differ.
struct DnnlOperand {
  int arg = 0;
  bool output = false;
  memory::desc user;
  memory::desc internal;
  bool reorder = false;
  dnnl::reorder convert;
};

struct DnnlConv {
  dnnl::primitive conv;
  std::vector<DnnlOperand> operands;
  memory::desc scratchpad;
};

DnnlOperand make_operand(int arg, bool output, const memory::desc& user,
                         const memory::desc& internal) {
  DnnlOperand op;
  op.arg = arg;
  op.output = output;
  op.user = user;
  op.internal = internal;
  op.reorder = user != internal;
  if (op.reorder) {
    auto& engine = dnnl_engine();
    op.convert = output
                     ? dnnl::reorder(dnnl::reorder::primitive_desc(engine, internal, engine, user))
                     : dnnl::reorder(dnnl::reorder::primitive_desc(engine, user, engine, internal));
  }
  return op;
}

// `any_layout`: let oneDNN choose the layouts of x, weights and y (reordering from and to the
// caller's plain ones), or run on the plain layouts themselves.
std::shared_ptr<const DnnlConv> build_dnnl_conv(Direction dir, const ConvGeometry& g, bool has_bias,
                                                bool any_layout) {
  using tag = memory::format_tag;
  const auto f32 = memory::data_type::f32;
  auto& engine = dnnl_engine();
  const bool grouped = g.p.groups > 1;
  const memory::dims x_dims{g.n, g.c, g.h, g.w};
  const memory::dims y_dims{g.n, g.k, g.ho, g.wo};
  // Grouped weights are the same memory seen as (groups, k/g, c/g, kh, kw): goihw.
  const memory::dims w_dims =
      grouped ? memory::dims{g.p.groups, g.k_per_group(), g.c_per_group(), g.kh, g.kw}
              : memory::dims{g.k, g.c, g.kh, g.kw};
  const memory::desc x_user(x_dims, f32, tag::nchw);
  const memory::desc y_user(y_dims, f32, tag::nchw);
  const memory::desc w_user(w_dims, f32, grouped ? tag::goihw : tag::oihw);
  const memory::desc b_user({g.k}, f32, tag::x);
  const bool any = any_layout;
  const memory::desc x_md = any ? memory::desc(x_dims, f32, tag::any) : x_user;
  const memory::desc y_md = any ? memory::desc(y_dims, f32, tag::any) : y_user;
  const memory::desc w_md = any ? memory::desc(w_dims, f32, tag::any) : w_user;

  // oneDNN counts dilation from 0 and wants the right/bottom padding that makes its output size
  // formula give PyTorch's floor; that padding may be negative (a strided 1x1 on an even size).
  const memory::dims strides{g.p.stride_h, g.p.stride_w};
  const memory::dims dilates{g.p.dilation_h - 1, g.p.dilation_w - 1};
  const memory::dims pad_l{g.p.pad_h, g.p.pad_w};
  const memory::dims pad_r{
      (g.ho - 1) * g.p.stride_h + (g.kh - 1) * g.p.dilation_h + 1 - g.h - g.p.pad_h,
      (g.wo - 1) * g.p.stride_w + (g.kw - 1) * g.p.dilation_w + 1 - g.w - g.p.pad_w};
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);

  const auto algo = dnnl::algorithm::convolution_direct;
  const auto fwd_desc =
      has_bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, x_md,
                                                 w_md, b_user, y_md, strides, dilates, pad_l, pad_r)
               : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, x_md,
                                                 w_md, y_md, strides, dilates, pad_l, pad_r);
  const dnnl::convolution_forward::primitive_desc fwd_pd(fwd_desc, attr, engine);

  auto conv = std::make_shared<DnnlConv>();
  switch (dir) {
    case Direction::Forward: {
      conv->conv = dnnl::convolution_forward(fwd_pd);
      conv->operands.push_back(make_operand(DNNL_ARG_SRC, false, x_user, fwd_pd.src_desc()));
      conv->operands.push_back(
          make_operand(DNNL_ARG_WEIGHTS, false, w_user, fwd_pd.weights_desc()));
      if (has_bias) {
        conv->operands.push_back(make_operand(DNNL_ARG_BIAS, false, b_user, fwd_pd.bias_desc()));
      }
      conv->operands.push_back(make_operand(DNNL_ARG_DST, true, y_user, fwd_pd.dst_desc()));
      conv->scratchpad = fwd_pd.scratchpad_desc();
      break;
    }
    case Direction::BackwardData: {
      const dnnl::convolution_backward_data::desc desc(algo, x_md, w_md, y_md, strides, dilates,
                                                       pad_l, pad_r);
      const dnnl::convolution_backward_data::primitive_desc pd(desc, attr, engine, fwd_pd);
      conv->conv = dnnl::convolution_backward_data(pd);
      conv->operands.push_back(make_operand(DNNL_ARG_DIFF_DST, false, y_user, pd.diff_dst_desc()));
      conv->operands.push_back(make_operand(DNNL_ARG_WEIGHTS, false, w_user, pd.weights_desc()));
      conv->operands.push_back(make_operand(DNNL_ARG_DIFF_SRC, true, x_user, pd.diff_src_desc()));
      conv->scratchpad = pd.scratchpad_desc();
      break;
    }
    case Direction::BackwardWeight: {
      const dnnl::convolution_backward_weights::desc desc(algo, x_md, w_md, y_md, strides, dilates,
                                                          pad_l, pad_r);
      const dnnl::convolution_backward_weights::primitive_desc pd(desc, attr, engine, fwd_pd);
      conv->conv = dnnl::convolution_backward_weights(pd);
      conv->operands.push_back(make_operand(DNNL_ARG_SRC, false, x_user, pd.src_desc()));
      conv->operands.push_back(make_operand(DNNL_ARG_DIFF_DST, false, y_user, pd.diff_dst_desc()));
      conv->operands.push_back(
          make_operand(DNNL_ARG_DIFF_WEIGHTS, true, w_user, pd.diff_weights_desc()));
      conv->scratchpad = pd.scratchpad_desc();
      break;
    }
  }
  return conv;
}

// The primitive cache: least recently used entries go first once it holds kCacheCapacity of them.
// Pruning searches try many channel counts, and each primitive keeps its JIT-compiled code.
class DnnlConvCache {
 public:
  static constexpr std::size_t kCacheCapacity = 512;

  std::shared_ptr<const DnnlConv> get(Direction dir, const ConvGeometry& g, bool has_bias,
                                      bool any_layout) {
    const Key key{static_cast<std::int64_t>(dir),
                  has_bias,
                  any_layout,
                  g.n,
                  g.c,
                  g.h,
                  g.w,
                  g.k,
                  g.kh,
                  g.kw,
                  g.p.stride_h,
                  g.p.stride_w,
                  g.p.pad_h,
                  g.p.pad_w,
                  g.p.dilation_h,
                  g.p.dilation_w,
                  g.p.groups};
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      recency_.splice(recency_.begin(), recency_, it->second.second);
      return it->second.first;
    }
    std::shared_ptr<const DnnlConv> conv;
    try {
      conv = build_dnnl_conv(dir, g, has_bias, any_layout);
    } catch (const dnnl::error& e) {
      throw Error(detail::cat("oneDNN could not create a convolution primitive for x [", g.n, ", ",
                              g.c, ", ", g.h, ", ", g.w, "], weight [", g.k, ", ", g.c_per_group(),
                              ", ", g.kh, ", ", g.kw, "] with ", params_str(g.p), ": ", e.what()));
    }
    if (entries_.size() >= kCacheCapacity) {
      entries_.erase(recency_.back());
      recency_.pop_back();
    }
    recency_.push_front(key);
    entries_.emplace(key, std::make_pair(conv, recency_.begin()));
    return conv;
  }

 private:
  using Key = std::vector<std::int64_t>;
  std::mutex mutex_;
  std::list<Key> recency_;  // most recently used first
  std::map<Key, std::pair<std::shared_ptr<const DnnlConv>, std::list<Key>::iterator>> entries_;
};

std::shared_ptr<const DnnlConv> dnnl_conv_for(Direction dir, const ConvGeometry& g, bool has_bias) {
  static DnnlConvCache cache;
  return cache.get(dir, g, has_bias, conv_library() == ConvLibrary::OneDnn);
}

// Per-thread, grow-only buffers for reordered tensors and the scratchpad, so steady-state calls
// allocate nothing.
class ScratchBuffers {
 public:
  void* get(std::size_t slot, std::size_t bytes) {
    if (slot >= buffers_.size()) buffers_.resize(slot + 1);
    Buffer& b = buffers_[slot];
    if (b.bytes < bytes) {
      b.data.reset(static_cast<unsigned char*>(std::aligned_alloc(64, round_up(bytes))));
      SHEARS_CHECK(b.data != nullptr, "could not allocate ", bytes, " bytes of oneDNN scratch");
      b.bytes = round_up(bytes);
    }
    return b.data.get();
  }

 private:
  static std::size_t round_up(std::size_t bytes) { return (bytes + 63) / 64 * 64; }
  struct Free {
    void operator()(unsigned char* p) const { std::free(p); }
  };
  struct Buffer {
    std::unique_ptr<unsigned char, Free> data;
    std::size_t bytes = 0;
  };
  std::vector<Buffer> buffers_;
};

// Runs a cached primitive on the caller's buffers, given in the order of conv.operands.
void dnnl_execute(const DnnlConv& conv, const std::vector<const void*>& buffers) {
  auto& engine = dnnl_engine();
  thread_local dnnl::stream stream(engine);
  thread_local ScratchBuffers scratch;
  std::unordered_map<int, memory> args;
  std::vector<std::pair<const DnnlOperand*, memory>> outputs;
  for (std::size_t i = 0; i < conv.operands.size(); ++i) {
    const DnnlOperand& op = conv.operands[i];
    memory user(op.user, engine, const_cast<void*>(buffers[i]));
    if (!op.reorder) {
      args.emplace(op.arg, user);
      continue;
    }
    memory internal(op.internal, engine, scratch.get(i, op.internal.get_size()));
    if (op.output) {
      outputs.emplace_back(&op, user);
    } else {
      op.convert.execute(stream, user, internal);
    }
    args.emplace(op.arg, internal);
  }
  const std::size_t scratch_bytes = conv.scratchpad.get_size();
  if (scratch_bytes > 0) {
    args.emplace(DNNL_ARG_SCRATCHPAD,
                 memory(conv.scratchpad, engine, scratch.get(conv.operands.size(), scratch_bytes)));
  }
  conv.conv.execute(stream, args);
  for (auto& [op, user] : outputs) op->convert.execute(stream, args.at(op->arg), user);
  stream.wait();
}

void run_dnnl(Direction dir, const ConvGeometry& g, bool has_bias,
              const std::vector<const void*>& buffers) {
  const auto conv = dnnl_conv_for(dir, g, has_bias);
  try {
    dnnl_execute(*conv, buffers);
  } catch (const dnnl::error& e) {
    throw Error(detail::cat("oneDNN convolution failed for x [", g.n, ", ", g.c, ", ", g.h, ", ",
                            g.w, "] with ", params_str(g.p), ": ", e.what()));
  }
}

// With no input channels every output is its bias (or zero); neither library takes empty
// operands.
template <typename T>
void fill_with_bias(const ConvGeometry& g, const T* bias, T* y) {
  const std::int64_t hw_out = g.ho * g.wo;
  for (std::int64_t i = 0; i < g.n * g.k; ++i) {
    std::fill_n(y + i * hw_out, hw_out, bias == nullptr ? T(0) : bias[i % g.k]);
  }
}

bool use_dnnl(DType dtype) { return dtype == DType::F32 && conv_library() != ConvLibrary::Blas; }

}  // namespace

// ---- backend entry points -----------------------------------------------------------------------

void CpuBackend::conv2d_forward(const TensorView& x, const TensorView& w, const TensorView* bias,
                                const TensorView& y, const Conv2dParams& p) {
  const ConvGeometry g = make_geometry("conv2d_forward", kForwardNames, x, w, y, p);
  if (bias != nullptr) {
    SHEARS_CHECK_AS(ShapeError,
                    bias->shape == Shape{g.k} && bias->dtype == x.dtype && bias->device.is_cpu(),
                    "conv2d_forward: bias ", shape_str(bias->shape), " (", dtype_name(bias->dtype),
                    ") must be [", g.k, "] of ", dtype_name(x.dtype), " on the CPU");
  }
  if (y.numel() == 0) return;
  if (g.c == 0) {
    if (x.dtype == DType::F32) {
      fill_with_bias<float>(g, bias ? bias->as<const float>() : nullptr, y.as<float>());
    } else {
      fill_with_bias<double>(g, bias ? bias->as<const double>() : nullptr, y.as<double>());
    }
    return;
  }
  if (use_dnnl(x.dtype)) {
    std::vector<const void*> buffers{x.data, w.data};
    if (bias != nullptr) buffers.push_back(bias->data);
    buffers.push_back(y.data);
    run_dnnl(Direction::Forward, g, bias != nullptr, buffers);
  } else if (x.dtype == DType::F32) {
    blas_forward<float>(g, x.as<const float>(), w.as<const float>(),
                        bias ? bias->as<const float>() : nullptr, y.as<float>());
  } else {
    blas_forward<double>(g, x.as<const double>(), w.as<const double>(),
                         bias ? bias->as<const double>() : nullptr, y.as<double>());
  }
}

void CpuBackend::conv2d_backward_data(const TensorView& grad_y, const TensorView& w,
                                      const TensorView& grad_x, const Conv2dParams& p) {
  const ConvGeometry g =
      make_geometry("conv2d_backward_data", kBackwardDataNames, grad_x, w, grad_y, p);
  if (grad_x.numel() == 0) return;
  if (g.k == 0) {
    std::memset(grad_x.data, 0,
                static_cast<std::size_t>(grad_x.numel()) * dtype_size(grad_x.dtype));
    return;
  }
  if (use_dnnl(grad_y.dtype)) {
    run_dnnl(Direction::BackwardData, g, false, {grad_y.data, w.data, grad_x.data});
  } else if (grad_y.dtype == DType::F32) {
    blas_backward_data<float>(g, grad_y.as<const float>(), w.as<const float>(), grad_x.as<float>());
  } else {
    blas_backward_data<double>(g, grad_y.as<const double>(), w.as<const double>(),
                               grad_x.as<double>());
  }
}

void CpuBackend::conv2d_backward_weight(const TensorView& x, const TensorView& grad_y,
                                        const TensorView& grad_w, const Conv2dParams& p) {
  const ConvGeometry g =
      make_geometry("conv2d_backward_weight", kBackwardWeightNames, x, grad_w, grad_y, p);
  if (grad_w.numel() == 0) return;
  if (g.n == 0) {
    std::memset(grad_w.data, 0,
                static_cast<std::size_t>(grad_w.numel()) * dtype_size(grad_w.dtype));
    return;
  }
  if (use_dnnl(x.dtype)) {
    run_dnnl(Direction::BackwardWeight, g, false, {x.data, grad_y.data, grad_w.data});
  } else if (x.dtype == DType::F32) {
    blas_backward_weight<float>(g, x.as<const float>(), grad_y.as<const float>(),
                                grad_w.as<float>());
  } else {
    blas_backward_weight<double>(g, x.as<const double>(), grad_y.as<const double>(),
                                 grad_w.as<double>());
  }
}

}  // namespace shears::kernels::cpu
