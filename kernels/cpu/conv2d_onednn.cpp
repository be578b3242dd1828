// The oneDNN implementation of CpuBackend's f32 convolution (conv2d.cpp chooses it), on the
// layouts oneDNN chooses or on plain NCHW (conv_library()).

#include <omp.h>

#include <algorithm>
#include <cstdint>
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
#include "kernels/cpu/conv2d_paths.h"
#include "kernels/cpu/conv_library.h"

namespace shears::kernels::cpu {

namespace {

// ---- oneDNN path --------------------------------------------------------------------------------
//
// Primitive creation costs milliseconds, so each (direction, geometry, bias) gets its primitive
// built once and kept in a process-wide map guarded by a mutex. The scratchpad is user-managed:
// each call brings its own (from a per-thread buffer), so one cached primitive may run on several
// threads at once.

using dnnl::memory;

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

}  // namespace

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

}  // namespace shears::kernels::cpu
