// CudaBackend::conv2d_forward / conv2d_backward_data / conv2d_backward_weight through cuDNN.
//
// Algorithm policy: for each distinct problem (direction, shapes, geometry, groups, TF32 setting)
// the algorithm is chosen once, from cuDNN's heuristics (cudnnGet*Algorithm_v7, which rank the
// algorithms without running them), and cached in the backend. The first algorithm, in cuDNN's
// order, that reports success, fits the workspace limit and respects the TF32 setting is taken.
// Heuristics rather than cudnnFind*: Find times every algorithm on the first call of each shape
// (seconds over a network whose last batch is smaller), allocates outside our pool, and picks
// differently from run to run; the heuristic choice is deterministic and close to Find's for the
// CNN shapes we train.
//
// TF32: with allow_tf32() the descriptor asks for CUDNN_TENSOR_OP_MATH and runs with the math type
// the chosen algorithm reports; without it, CUDNN_FMA_MATH (plain f32 FMA, no tensor cores), and
// only algorithms reported for FMA or default maths are accepted, then run as FMA. Algorithms that
// would convert f32 data to half precision (CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) are never used.
//
// The workspace comes from the stream-ordered pool for the duration of the call. Empty problems
// (no images, or no channels after pruning) never reach cuDNN, which rejects zero sizes: the
// result is the bias, or zeros, as the mathematics says.

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <string>

#include "kernels/common/error.h"
#include "kernels/common/registry.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cudnn_desc.h"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/state.h"
#include "kernels/cuda/util.h"

namespace shears::kernels::cuda {
namespace {

enum Direction : int { kForward = 0, kBackwardData = 1, kBackwardFilter = 2 };

// Largest workspace an algorithm may ask for: FFT and Winograd variants can want gigabytes for a
// small speed-up.
constexpr std::size_t kMaxWorkspace = std::size_t{1} << 30;

struct ConvGeometry {
  std::int64_t n, c, h, w;  // input
  std::int64_t k, kh, kw;   // filter (k, c / groups, kh, kw)
  std::int64_t ho, wo;      // output
  Conv2dParams p;
};

std::string params_str(const Conv2dParams& p) {
  return detail::cat("stride (", p.stride_h, ", ", p.stride_w, "), padding (", p.pad_h, ", ",
                     p.pad_w, "), dilation (", p.dilation_h, ", ", p.dilation_w, "), groups ",
                     p.groups);
}

// Validates one convolution's tensors, as the CPU backend does, and returns its geometry.
// `names` are the tensors' names in this direction (x-like, weight-like, y-like).
ConvGeometry make_geometry(CudaBackend::State& s, const char* op, const char* const (&names)[3],
                           const TensorView& x, const TensorView& w, const TensorView& y,
                           const Conv2dParams& p) {
  auto describe = [&] {
    return detail::cat(op, ": ", names[0], " ", shape_str(x.shape), ", ", names[1], " ",
                       shape_str(w.shape), ", ", names[2], " ", shape_str(y.shape), " with ",
                       params_str(p));
  };
  check_device(op, names[0], x, s.device);
  check_device(op, names[1], w, s.device);
  check_device(op, names[2], y, s.device);
  SHEARS_CHECK_AS(ShapeError, x.dim() == 4 && w.dim() == 4 && y.dim() == 4, describe(),
                  ": all three tensors must be 4-D (NCHW and (out, in/groups, kh, kw))");
  SHEARS_CHECK_AS(ShapeError,
                  p.stride_h >= 1 && p.stride_w >= 1 && p.dilation_h >= 1 && p.dilation_w >= 1 &&
                      p.pad_h >= 0 && p.pad_w >= 0 && p.groups >= 1,
                  describe(), ": stride and dilation must be >= 1, padding >= 0, groups >= 1");
  SHEARS_CHECK_AS(ShapeError,
                  x.dtype == DType::F32 && w.dtype == DType::F32 && y.dtype == DType::F32,
                  describe(), ": the CUDA backend convolves F32, got ", dtype_name(x.dtype), ", ",
                  dtype_name(w.dtype), ", ", dtype_name(y.dtype));
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
  const bool fits = g.h + 2 * p.pad_h >= p.dilation_h * (g.kh - 1) + 1 &&
                    g.w + 2 * p.pad_w >= p.dilation_w * (g.kw - 1) + 1;
  SHEARS_CHECK_AS(ShapeError, fits, describe(), ": the dilated kernel is larger than the padded ",
                  "input");
  g.ho = (g.h + 2 * p.pad_h - p.dilation_h * (g.kh - 1) - 1) / p.stride_h + 1;
  g.wo = (g.w + 2 * p.pad_w - p.dilation_w * (g.kw - 1) - 1) / p.stride_w + 1;
  const Shape expected{g.n, g.k, g.ho, g.wo};
  SHEARS_CHECK_AS(ShapeError, y.shape == expected, describe(), ": ", names[2], " must be ",
                  shape_str(expected));
  return g;
}

constexpr const char* kForwardNames[3] = {"x", "weight", "y"};
constexpr const char* kBackwardDataNames[3] = {"grad_x", "weight", "grad_y"};
constexpr const char* kBackwardWeightNames[3] = {"x", "grad_weight", "grad_y"};

ConvKey make_key(Direction dir, const ConvGeometry& g, bool tf32) {
  const Conv2dParams& p = g.p;
  return ConvKey{
      dir,        g.n,        g.c,     g.h,     g.w,          g.k,          g.kh,     g.kw,
      p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dilation_h, p.dilation_w, p.groups, tf32 ? 1 : 0,
      0,          0,          0,       0};
}

// The convolution's descriptors, with the descriptor's math type set for the TF32 setting.
struct ConvDescs {
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
  ConvDescs(const char* op, const ConvGeometry& g, bool tf32)
      : x(op, g.n, g.c, g.h, g.w),
        y(op, g.n, g.k, g.ho, g.wo),
        w(op, g.k, g.c / g.p.groups, g.kh, g.kw),
        conv(g.p, tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH) {}
};

// Whether an algorithm reported with `math` may run under the TF32 setting.
bool math_allowed(cudnnMathType_t math, bool tf32) {
  if (math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return false;
  return tf32 || math == CUDNN_FMA_MATH || math == CUDNN_DEFAULT_MATH;
}

// The math type to run a chosen algorithm with.
cudnnMathType_t run_math(cudnnMathType_t reported, bool tf32) {
  return tf32 ? reported : CUDNN_FMA_MATH;
}

// Asks the heuristics for `dir` and picks the first acceptable algorithm (see the policy above).
// Called with s.library_mutex held.
template <typename Perf, typename GetAlgos, typename GetWorkspace>
ConvChoice pick(const char* op, const ConvGeometry& g, ConvDescs& d, bool tf32, int max_count,
                GetAlgos get_algos, GetWorkspace get_workspace) {
  std::vector<Perf> perf(static_cast<std::size_t>(std::max(max_count, 1)));
  int returned = 0;
  get_algos(static_cast<int>(perf.size()), &returned, perf.data());
  std::string rejected;
  for (int i = 0; i < returned; ++i) {
    const Perf& pf = perf[static_cast<std::size_t>(i)];
    if (pf.status != CUDNN_STATUS_SUCCESS) continue;
    if (!math_allowed(pf.mathType, tf32)) continue;
    ConvChoice choice;
    choice.algo = static_cast<int>(pf.algo);
    choice.math = run_math(pf.mathType, tf32);
    d.conv.set_math(choice.math);
    std::size_t bytes = 0;
    if (get_workspace(pf.algo, &bytes) != CUDNN_STATUS_SUCCESS) continue;
    if (bytes > kMaxWorkspace) {
      rejected += detail::cat(" algorithm ", choice.algo, " wants ", bytes, " bytes;");
      continue;
    }
    choice.workspace = bytes;
    return choice;
  }
  throw CudaError(detail::cat(
      op, ": cuDNN offers no usable algorithm for x ", shape_str({g.n, g.c, g.h, g.w}), ", weight ",
      shape_str({g.k, g.c / g.p.groups, g.kh, g.kw}), " with ", params_str(g.p),
      tf32 ? " (TF32 allowed)" : " (TF32 off)", rejected.empty() ? "" : ";", rejected));
}

// The cached choice for `key`, or a new one from the heuristics. Called with s.library_mutex held.
ConvChoice choose(CudaBackend::State& s, const char* op, Direction dir, const ConvGeometry& g,
                  ConvDescs& d, bool tf32) {
  const ConvKey key = make_key(dir, g, tf32);
  std::lock_guard<std::mutex> lock(s.conv_mutex);
  const auto found = s.conv_cache.find(key);
  if (found != s.conv_cache.end()) return found->second;
  ConvChoice choice;
  if (dir == kForward) {
    int count = 0;
    SHEARS_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(s.cudnn, &count));
    choice = pick<cudnnConvolutionFwdAlgoPerf_t>(
        op, g, d, tf32, count,
        [&](int requested, int* returned, cudnnConvolutionFwdAlgoPerf_t* perf) {
          SHEARS_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(
              s.cudnn, d.x.get(), d.w.get(), d.conv.get(), d.y.get(), requested, returned, perf));
        },
        [&](cudnnConvolutionFwdAlgo_t algo, std::size_t* bytes) {
          return cudnnGetConvolutionForwardWorkspaceSize(s.cudnn, d.x.get(), d.w.get(),
                                                         d.conv.get(), d.y.get(), algo, bytes);
        });
  } else if (dir == kBackwardData) {
    int count = 0;
    SHEARS_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(s.cudnn, &count));
    choice = pick<cudnnConvolutionBwdDataAlgoPerf_t>(
        op, g, d, tf32, count,
        [&](int requested, int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
          SHEARS_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
              s.cudnn, d.w.get(), d.y.get(), d.conv.get(), d.x.get(), requested, returned, perf));
        },
        [&](cudnnConvolutionBwdDataAlgo_t algo, std::size_t* bytes) {
          return cudnnGetConvolutionBackwardDataWorkspaceSize(s.cudnn, d.w.get(), d.y.get(),
                                                              d.conv.get(), d.x.get(), algo, bytes);
        });
  } else {
    int count = 0;
    SHEARS_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(s.cudnn, &count));
    choice = pick<cudnnConvolutionBwdFilterAlgoPerf_t>(
        op, g, d, tf32, count,
        [&](int requested, int* returned, cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
          SHEARS_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
              s.cudnn, d.x.get(), d.y.get(), d.conv.get(), d.w.get(), requested, returned, perf));
        },
        [&](cudnnConvolutionBwdFilterAlgo_t algo, std::size_t* bytes) {
          return cudnnGetConvolutionBackwardFilterWorkspaceSize(
              s.cudnn, d.x.get(), d.y.get(), d.conv.get(), d.w.get(), algo, bytes);
        });
  }
  s.conv_cache.emplace(key, choice);
  return choice;
}

}  // namespace

void CudaBackend::conv2d_forward(const TensorView& x, const TensorView& w, const TensorView* bias,
                                 const TensorView& y, const Conv2dParams& p) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "conv2d_forward";
  const ConvGeometry g = make_geometry(s, op, kForwardNames, x, w, y, p);
  const float* pb = nullptr;
  if (bias != nullptr) {
    check_device(op, "bias", *bias, s.device);
    SHEARS_CHECK_AS(ShapeError,
                    bias->dtype == DType::F32 && bias->dim() == 1 && bias->shape[0] == g.k, op,
                    ": bias ", view_str(*bias), " must be F32 [", g.k, "]");
    pb = bias->as<const float>();
  }
  if (y.numel() == 0) return;
  if (x.numel() == 0 || w.numel() == 0) {
    launch_channel_broadcast_f32(s, y.as<float>(), g.n, g.k, g.ho * g.wo, pb);
    return;
  }
  const bool tf32 = allow_tf32();
  std::lock_guard<std::mutex> lock(s.library_mutex);
  ConvDescs d(op, g, tf32);
  const ConvChoice choice = choose(s, op, kForward, g, d, tf32);
  d.conv.set_math(choice.math);
  DeviceBuffer workspace(s, choice.workspace, "the cuDNN forward-convolution workspace");
  const float one = 1.0f, zero = 0.0f;
  SHEARS_CUDNN_CHECK(
      cudnnConvolutionForward(s.cudnn, &one, d.x.get(), x.data, d.w.get(), w.data, d.conv.get(),
                              static_cast<cudnnConvolutionFwdAlgo_t>(choice.algo), workspace.get(),
                              choice.workspace, &zero, d.y.get(), y.data));
  if (pb != nullptr) {
    const TensorDesc bias_desc(op, 1, g.k, 1, 1);
    SHEARS_CUDNN_CHECK(cudnnAddTensor(s.cudnn, &one, bias_desc.get(), pb, &one, d.y.get(), y.data));
  }
}

void CudaBackend::conv2d_backward_data(const TensorView& grad_y, const TensorView& w,
                                       const TensorView& grad_x, const Conv2dParams& p) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "conv2d_backward_data";
  const ConvGeometry g = make_geometry(s, op, kBackwardDataNames, grad_x, w, grad_y, p);
  if (grad_x.numel() == 0) return;
  if (grad_y.numel() == 0 || w.numel() == 0) {
    fill(grad_x, 0.0);
    return;
  }
  const bool tf32 = allow_tf32();
  std::lock_guard<std::mutex> lock(s.library_mutex);
  ConvDescs d(op, g, tf32);
  const ConvChoice choice = choose(s, op, kBackwardData, g, d, tf32);
  d.conv.set_math(choice.math);
  DeviceBuffer workspace(s, choice.workspace, "the cuDNN backward-data workspace");
  const float one = 1.0f, zero = 0.0f;
  SHEARS_CUDNN_CHECK(cudnnConvolutionBackwardData(
      s.cudnn, &one, d.w.get(), w.data, d.y.get(), grad_y.data, d.conv.get(),
      static_cast<cudnnConvolutionBwdDataAlgo_t>(choice.algo), workspace.get(), choice.workspace,
      &zero, d.x.get(), grad_x.data));
}

void CudaBackend::conv2d_backward_weight(const TensorView& x, const TensorView& grad_y,
                                         const TensorView& grad_w, const Conv2dParams& p) {
  State& s = *state_;
  DeviceGuard guard(s.device);
  const char* op = "conv2d_backward_weight";
  const ConvGeometry g = make_geometry(s, op, kBackwardWeightNames, x, grad_w, grad_y, p);
  if (grad_w.numel() == 0) return;
  if (x.numel() == 0 || grad_y.numel() == 0) {
    fill(grad_w, 0.0);
    return;
  }
  const bool tf32 = allow_tf32();
  std::lock_guard<std::mutex> lock(s.library_mutex);
  ConvDescs d(op, g, tf32);
  const ConvChoice choice = choose(s, op, kBackwardFilter, g, d, tf32);
  d.conv.set_math(choice.math);
  DeviceBuffer workspace(s, choice.workspace, "the cuDNN backward-filter workspace");
  const float one = 1.0f, zero = 0.0f;
  SHEARS_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
      s.cudnn, &one, d.x.get(), x.data, d.y.get(), grad_y.data, d.conv.get(),
      static_cast<cudnnConvolutionBwdFilterAlgo_t>(choice.algo), workspace.get(), choice.workspace,
      &zero, d.w.get(), grad_w.data));
}

}  // namespace shears::kernels::cuda
