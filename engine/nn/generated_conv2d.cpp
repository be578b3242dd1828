#include "engine/nn/generated_conv2d.h"

#include "engine/ops/activation.h"
#include "engine/ops/conv.h"
#include "engine/ops/linear.h"
#include "engine/ops/shape.h"

namespace shears::nn {

Tensor generated_conv_weight(const Tensor& code, const Tensor& w1, const Tensor& b1,
                             const Tensor& w2, const Tensor& b2, const Shape& max_shape,
                             std::int64_t out, std::int64_t in) {
  SHEARS_CHECK_AS(ShapeError, max_shape.size() == 4,
                  "generated conv weight: max shape must be 4-D");
  std::int64_t elements = 1;
  for (std::int64_t d : max_shape) elements *= d;
  SHEARS_CHECK_AS(ShapeError, w2.dim() == 2 && w2.size(0) == elements,
                  "generated conv weight: generator output ", w2.dim() == 2 ? w2.size(0) : -1,
                  " != ", elements, " elements of ", shape_str(max_shape));
  SHEARS_CHECK_AS(ShapeError, out >= 1 && out <= max_shape[0] && in >= 1 && in <= max_shape[1],
                  "generated conv weight: widths ", out, "x", in, " outside the maximum shape ",
                  shape_str(max_shape));
  Tensor c = code.dim() == 1 ? reshape(code, {1, code.size(0)}) : code;
  Tensor flat = linear(relu(linear(c, w1, b1)), w2, b2);
  Tensor full = reshape(flat, max_shape);
  if (out < max_shape[0]) full = narrow(full, 0, 0, out);
  if (in < max_shape[1]) full = narrow(full, 1, 0, in);
  return full;
}

GeneratedConv2d::GeneratedConv2d(const GeneratedConv2dOptions& o) : options_(o) {
  SHEARS_CHECK(
      o.in_channels > 0 && o.out_channels > 0 && o.kernel > 0 && o.code_size > 0 && o.hidden > 0,
      "GeneratedConv2d: sizes must be positive");
  SHEARS_CHECK(!o.depthwise || o.in_channels == o.out_channels,
               "GeneratedConv2d: a depthwise layer has equal input and output widths, got ",
               o.in_channels, " and ", o.out_channels);
  Shape s = max_shape();
  fc1 = register_module("fc1", std::make_shared<Linear>(o.code_size, o.hidden));
  fc2 = register_module("fc2", std::make_shared<Linear>(o.hidden, s[0] * s[1] * s[2] * s[3]));
}

Shape GeneratedConv2d::max_shape() const {
  return {options_.out_channels, options_.depthwise ? 1 : options_.in_channels, options_.kernel,
          options_.kernel};
}

Conv2dParams GeneratedConv2d::params(std::int64_t groups) const {
  Conv2dParams p;
  p.stride_h = p.stride_w = options_.stride;
  p.pad_h = p.pad_w = options_.padding;
  p.groups = static_cast<int>(groups);
  return p;
}

Tensor GeneratedConv2d::weight_for(const Tensor& code, std::int64_t out, std::int64_t in) {
  return generated_conv_weight(code, fc1->weight, fc1->bias, fc2->weight, fc2->bias, max_shape(),
                               out, options_.depthwise ? 1 : in);
}

Tensor GeneratedConv2d::forward(const Tensor& x, const Tensor& code, std::int64_t out) {
  SHEARS_CHECK_AS(ShapeError, x.dim() == 4, "GeneratedConv2d: input must be (N,C,H,W), got ",
                  shape_str(x.shape()));
  const std::int64_t in = x.size(1);
  if (options_.depthwise) {
    return conv2d(x, weight_for(code, in, 1), Tensor(), params(in));
  }
  return conv2d(x, weight_for(code, out, in), Tensor(), params(1));
}

void GeneratedConv2d::set_code(const Tensor& code, std::int64_t out) {
  code_ = code;
  out_ = out;
}

Tensor GeneratedConv2d::forward(const Tensor& x) {
  SHEARS_CHECK(code_.defined(), "GeneratedConv2d: forward without a code (set_code)");
  return forward(x, code_, out_);
}

std::string GeneratedConv2d::extra_repr() const {
  return "max " + std::to_string(options_.in_channels) + ", " +
         std::to_string(options_.out_channels) + ", kernel=" + std::to_string(options_.kernel) +
         ", stride=" + std::to_string(options_.stride) + (options_.depthwise ? ", depthwise" : "") +
         ", generator=" + std::to_string(options_.code_size) + "-" +
         std::to_string(options_.hidden);
}

}  // namespace shears::nn
