// CudaBackend::conv2d_forward / conv2d_backward_data / conv2d_backward_weight through cuDNN.
//
// Algorithm policy: for each distinct problem (direction, shapes, geometry, groups and the
// CudaPolicy's TF32 / deterministic / find settings) a plan is built once and cached in the
// backend: the descriptors and the acceptable algorithms in preference order. The order is
// cuDNN's heuristics' (cudnnGet*Algorithm_v7, which rank the algorithms without running them) or,
// with CudaPolicy::conv_find, measured: cudnnFind*Ex times every algorithm once on the call's own
// tensors, with a workspace from our pool. An algorithm is acceptable when it reports success,
// fits the workspace limit, respects the TF32 setting and, with CudaPolicy::deterministic, is
// reported deterministic (cuDNN's atomics-based backward algorithms are not). Deterministic runs
// never use Find: timings differ from run to run and so would the algorithm, and with it the
// rounding. A call runs the plan's current candidate; when cuDNN rejects it at run time (or its
// workspace cannot be allocated), the plan drops it and the call tries the next one.
//
// TF32: with allow_tf32_conv() the descriptor asks for CUDNN_TENSOR_OP_MATH and runs with the math
// type the chosen algorithm reports; without it, CUDNN_FMA_MATH (plain f32 FMA, no tensor cores),
// and only algorithms reported for FMA or default maths are accepted, then run as FMA. Algorithms
// that would convert f32 data to half precision (CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) are never
// used.
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

ConvKey make_key(Direction dir, const ConvGeometry& g, const CudaPolicy& policy) {
  const Conv2dParams& p = g.p;
  const bool find = policy.conv_find && !policy.deterministic;
  return ConvKey{dir,
                 g.n,
                 g.c,
                 g.h,
                 g.w,
                 g.k,
                 g.kh,
                 g.kw,
                 p.stride_h,
                 p.stride_w,
                 p.pad_h,
                 p.pad_w,
                 p.dilation_h,
                 p.dilation_w,
                 p.groups,
                 policy.tf32_conv ? 1 : 0,
                 policy.deterministic ? 1 : 0,
                 find ? 1 : 0,
                 0,
                 0};
}

// Whether an algorithm reported with `math` may run under the TF32 setting.
bool math_allowed(cudnnMathType_t math, bool tf32) {
  if (math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return false;
  return tf32 || math == CUDNN_FMA_MATH || math == CUDNN_DEFAULT_MATH;
}

// The math type to run a chosen algorithm with.
cudnnMathType_t run_math(cudnnMathType_t reported, bool tf32) {
  return tf32 ? reported : CUDNN_FMA_MATH;
}

std::string problem_str(const ConvGeometry& g, const CudaPolicy& policy) {
  return detail::cat("x ", shape_str({g.n, g.c, g.h, g.w}), ", weight ",
                     shape_str({g.k, g.c / g.p.groups, g.kh, g.kw}), " with ", params_str(g.p),
                     policy.tf32_conv ? " (TF32 allowed" : " (TF32 off",
                     policy.deterministic ? ", deterministic)" : ")");
}

// The acceptable entries of `perf` (heuristic or measured order), with their workspace sizes
// from `get_workspace` (heuristics) or from the measurement.
template <typename Perf, typename GetWorkspace>
std::vector<ConvChoice> acceptable(const std::vector<Perf>& perf, int returned, ConvPlan& plan,
                                   const CudaPolicy& policy, bool measured,
                                   GetWorkspace get_workspace, std::string& rejected) {
  std::vector<ConvChoice> out;
  for (int i = 0; i < returned; ++i) {
    const Perf& pf = perf[static_cast<std::size_t>(i)];
    if (pf.status != CUDNN_STATUS_SUCCESS) continue;
    if (!math_allowed(pf.mathType, policy.tf32_conv)) continue;
    if (policy.deterministic && pf.determinism != CUDNN_DETERMINISTIC) continue;
    ConvChoice choice;
    choice.algo = static_cast<int>(pf.algo);
    choice.math = run_math(pf.mathType, policy.tf32_conv);
    std::size_t bytes = pf.memory;
    if (!measured) {
      plan.conv.set_math(choice.math);
      if (get_workspace(pf.algo, &bytes) != CUDNN_STATUS_SUCCESS) continue;
    }
    if (bytes > kMaxWorkspace) {
      rejected += detail::cat(" algorithm ", choice.algo, " wants ", bytes, " bytes;");
      continue;
    }
    choice.workspace = bytes;
    const bool seen = std::any_of(out.begin(), out.end(), [&](const ConvChoice& c) {
      return c.algo == choice.algo && c.math == choice.math;
    });
    if (!seen) out.push_back(choice);
  }
  return out;
}

// Fills plan.candidates: measured (Find) when the policy asks for it and the workspace for the
// measurement can be had, else from the heuristics. `find` runs cudnnFind*Ex with the given
// workspace; `heuristics` runs cudnnGet*Algorithm_v7. Called with s.library_mutex held.
template <typename Perf, typename Heuristics, typename Find, typename GetWorkspace>
void fill_candidates(CudaBackend::State& s, const char* op, const ConvGeometry& g, ConvPlan& plan,
                     const CudaPolicy& policy, int max_count, Heuristics heuristics, Find find,
                     GetWorkspace get_workspace) {
  std::vector<Perf> perf(static_cast<std::size_t>(std::max(max_count, 1)));
  int returned = 0;
  std::string rejected;
  heuristics(static_cast<int>(perf.size()), &returned, perf.data());
  std::vector<ConvChoice> ranked =
      acceptable(perf, returned, plan, policy, false, get_workspace, rejected);
  if (policy.conv_find && !policy.deterministic && !ranked.empty()) {
    std::size_t largest = 0;
    for (const ConvChoice& c : ranked) largest = std::max(largest, c.workspace);
    try {
      DeviceBuffer workspace(s, largest, "the cuDNN algorithm-timing workspace");
      plan.conv.set_math(policy.tf32_conv ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH);
      int measured = 0;
      std::vector<Perf> timed(perf.size());
      if (find(static_cast<int>(timed.size()), &measured, timed.data(), workspace.get(), largest) ==
          CUDNN_STATUS_SUCCESS) {
        std::string ignored;
        std::vector<ConvChoice> fastest =
            acceptable(timed, measured, plan, policy, true, get_workspace, ignored);
        // Measured order first; the heuristics' candidates stay behind as fallbacks.
        for (const ConvChoice& c : ranked) {
          const bool seen = std::any_of(fastest.begin(), fastest.end(), [&](const ConvChoice& f) {
            return f.algo == c.algo && f.math == c.math;
          });
          if (!seen) fastest.push_back(c);
        }
        ranked = std::move(fastest);
      } else {
        cudaGetLastError();
      }
    } catch (const OutOfMemoryError&) {
      // No memory to time the candidates in: the heuristics' order stands.
    }
  }
  if (ranked.empty()) {
    throw CudaError(detail::cat(op, ": cuDNN offers no usable algorithm for ",
                                problem_str(g, policy), rejected.empty() ? "" : ";", rejected));
  }
  plan.candidates = std::move(ranked);
}

// The plan for `dir` and this problem, built on first use. Called with s.library_mutex held.
// `x`, `w`, `y` are the call's tensors in forward naming (input, filter, output) for Find.
ConvPlan& plan_for(CudaBackend::State& s, const char* op, Direction dir, const ConvGeometry& g,
                   const CudaPolicy& policy, void* x, void* w, void* y) {
  const ConvKey key = make_key(dir, g, policy);
  const auto found = s.conv_plans.find(key);
  if (found != s.conv_plans.end()) return *found->second;
  auto plan = std::make_unique<ConvPlan>(op, g.n, g.c, g.h, g.w, g.k, g.kh, g.kw, g.ho, g.wo, g.p,
                                         policy.tf32_conv ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH);
  ConvPlan& d = *plan;
  if (dir == kForward) {
    int count = 0;
    SHEARS_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(s.cudnn, &count));
    fill_candidates<cudnnConvolutionFwdAlgoPerf_t>(
        s, op, g, d, policy, count,
        [&](int requested, int* returned, cudnnConvolutionFwdAlgoPerf_t* perf) {
          SHEARS_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(
              s.cudnn, d.x.get(), d.filter.get(), d.conv.get(), d.y.get(), requested, returned,
              perf));
        },
        [&](int requested, int* returned, cudnnConvolutionFwdAlgoPerf_t* perf, void* ws,
            std::size_t bytes) {
          return cudnnFindConvolutionForwardAlgorithmEx(s.cudnn, d.x.get(), x, d.filter.get(), w,
                                                        d.conv.get(), d.y.get(), y, requested,
                                                        returned, perf, ws, bytes);
        },
        [&](cudnnConvolutionFwdAlgo_t algo, std::size_t* bytes) {
          return cudnnGetConvolutionForwardWorkspaceSize(s.cudnn, d.x.get(), d.filter.get(),
                                                         d.conv.get(), d.y.get(), algo, bytes);
        });
  } else if (dir == kBackwardData) {
    int count = 0;
    SHEARS_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(s.cudnn, &count));
    fill_candidates<cudnnConvolutionBwdDataAlgoPerf_t>(
        s, op, g, d, policy, count,
        [&](int requested, int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
          SHEARS_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
              s.cudnn, d.filter.get(), d.y.get(), d.conv.get(), d.x.get(), requested, returned,
              perf));
        },
        [&](int requested, int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf, void* ws,
            std::size_t bytes) {
          return cudnnFindConvolutionBackwardDataAlgorithmEx(s.cudnn, d.filter.get(), w, d.y.get(),
                                                             y, d.conv.get(), d.x.get(), x,
                                                             requested, returned, perf, ws, bytes);
        },
        [&](cudnnConvolutionBwdDataAlgo_t algo, std::size_t* bytes) {
          return cudnnGetConvolutionBackwardDataWorkspaceSize(s.cudnn, d.filter.get(), d.y.get(),
                                                              d.conv.get(), d.x.get(), algo, bytes);
        });
  } else {
    int count = 0;
    SHEARS_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(s.cudnn, &count));
    fill_candidates<cudnnConvolutionBwdFilterAlgoPerf_t>(
        s, op, g, d, policy, count,
        [&](int requested, int* returned, cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
          SHEARS_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
              s.cudnn, d.x.get(), d.y.get(), d.conv.get(), d.filter.get(), requested, returned,
              perf));
        },
        [&](int requested, int* returned, cudnnConvolutionBwdFilterAlgoPerf_t* perf, void* ws,
            std::size_t bytes) {
          return cudnnFindConvolutionBackwardFilterAlgorithmEx(
              s.cudnn, d.x.get(), x, d.y.get(), y, d.conv.get(), d.filter.get(), w, requested,
              returned, perf, ws, bytes);
        },
        [&](cudnnConvolutionBwdFilterAlgo_t algo, std::size_t* bytes) {
          return cudnnGetConvolutionBackwardFilterWorkspaceSize(
              s.cudnn, d.x.get(), d.y.get(), d.conv.get(), d.filter.get(), algo, bytes);
        });
  }
  return *s.conv_plans.emplace(key, std::move(plan)).first->second;
}

// Runs `call(choice, workspace)` with the plan's current candidate; when cuDNN rejects it (or its
// workspace cannot be allocated) the candidate is dropped for good and the next one tried.
// Throws CudaError naming every failure when none is left. Called with s.library_mutex held.
template <typename Call>
void run_plan(CudaBackend::State& s, const char* op, ConvPlan& plan, const ConvGeometry& g,
              const CudaPolicy& policy, const char* what, Call call) {
  while (plan.next < plan.candidates.size()) {
    const ConvChoice choice = plan.candidates[plan.next];
    plan.conv.set_math(choice.math);
    cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
    try {
      DeviceBuffer workspace(s, choice.workspace, what);
      status = call(choice, workspace.get());
    } catch (const OutOfMemoryError& e) {
      plan.failures += detail::cat(" algorithm ", choice.algo, ": ", e.what(), ";");
      ++plan.next;
      continue;
    }
    if (status == CUDNN_STATUS_SUCCESS) {
      check_detail::sync_point(op, __FILE__, __LINE__);
      return;
    }
    char text[512] = {0};
    cudnnGetLastErrorString(text, sizeof(text));
    plan.failures +=
        detail::cat(" algorithm ", choice.algo, ": ", cudnnGetErrorString(status),
                    text[0] != '\0' ? " (" : "", text, text[0] != '\0' ? ")" : "", ";");
    ++plan.next;
  }
  throw CudaError(detail::cat(op, ": every cuDNN algorithm failed for ", problem_str(g, policy),
                              ":", plan.failures));
}

// cuDNN's name of a forward algorithm and of a math type (profiles).
const char* forward_algo_name(int algo) {
  switch (static_cast<cudnnConvolutionFwdAlgo_t>(algo)) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM:
      return "IMPLICIT_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM:
      return "IMPLICIT_PRECOMP_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM:
      return "GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT:
      return "DIRECT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT:
      return "FFT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING:
      return "FFT_TILING";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD:
      return "WINOGRAD";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED:
      return "WINOGRAD_NONFUSED";
    default:
      return "UNKNOWN";
  }
}

const char* math_name(cudnnMathType_t math) {
  switch (math) {
    case CUDNN_DEFAULT_MATH:
      return "default";
    case CUDNN_TENSOR_OP_MATH:
      return "tensor-op";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION:
      return "tensor-op-tf32";
    case CUDNN_FMA_MATH:
      return "fma";
    default:
      return "unknown";
  }
}

}  // namespace

std::string CudaBackend::last_conv_algorithm() {
  std::lock_guard<std::mutex> lock(state_->library_mutex);
  return state_->last_forward_algo;
}

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
  const CudaPolicy policy = cuda_policy();
  std::lock_guard<std::mutex> lock(s.library_mutex);
  s.point_handles();
  ConvPlan& d = plan_for(s, op, kForward, g, policy, x.data, w.data, y.data);
  const float one = 1.0f, zero = 0.0f;
  run_plan(s, op, d, g, policy, "the cuDNN forward-convolution workspace",
           [&](const ConvChoice& c, void* ws) {
             return cudnnConvolutionForward(s.cudnn, &one, d.x.get(), x.data, d.filter.get(),
                                            w.data, d.conv.get(),
                                            static_cast<cudnnConvolutionFwdAlgo_t>(c.algo), ws,
                                            c.workspace, &zero, d.y.get(), y.data);
           });
  const ConvChoice& used = d.candidates[d.next];
  s.last_forward_algo = std::string(forward_algo_name(used.algo)) + "/" + math_name(used.math);
  if (pb != nullptr) {
    SHEARS_CUDNN_CHECK(cudnnAddTensor(s.cudnn, &one, d.bias.get(), pb, &one, d.y.get(), y.data));
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
  const CudaPolicy policy = cuda_policy();
  std::lock_guard<std::mutex> lock(s.library_mutex);
  s.point_handles();
  ConvPlan& d = plan_for(s, op, kBackwardData, g, policy, grad_x.data, w.data, grad_y.data);
  const float one = 1.0f, zero = 0.0f;
  run_plan(s, op, d, g, policy, "the cuDNN backward-data workspace",
           [&](const ConvChoice& c, void* ws) {
             return cudnnConvolutionBackwardData(s.cudnn, &one, d.filter.get(), w.data, d.y.get(),
                                                 grad_y.data, d.conv.get(),
                                                 static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo),
                                                 ws, c.workspace, &zero, d.x.get(), grad_x.data);
           });
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
  const CudaPolicy policy = cuda_policy();
  std::lock_guard<std::mutex> lock(s.library_mutex);
  s.point_handles();
  ConvPlan& d = plan_for(s, op, kBackwardFilter, g, policy, x.data, grad_w.data, grad_y.data);
  const float one = 1.0f, zero = 0.0f;
  run_plan(s, op, d, g, policy, "the cuDNN backward-filter workspace",
           [&](const ConvChoice& c, void* ws) {
             return cudnnConvolutionBackwardFilter(
                 s.cudnn, &one, d.x.get(), x.data, d.y.get(), grad_y.data, d.conv.get(),
                 static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo), ws, c.workspace, &zero,
                 d.filter.get(), grad_w.data);
           });
}

}  // namespace shears::kernels::cuda
