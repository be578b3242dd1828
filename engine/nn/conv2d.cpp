#include "engine/nn/conv2d.h"

#include "engine/nn/init.h"
#include "engine/ops/conv.h"
#include "engine/ops/elementwise.h"

namespace shears::nn {

Conv2d::Conv2d(const Conv2dOptions& o)
    : options_(o),
      groups_(o.groups),
      depthwise_(o.groups > 1 && o.groups == o.in_channels && o.groups == o.out_channels) {
  SHEARS_CHECK(o.in_channels > 0 && o.out_channels > 0 && o.groups > 0 &&
                   o.in_channels % o.groups == 0 && o.out_channels % o.groups == 0,
               "Conv2d: channels ", o.in_channels, " -> ", o.out_channels,
               " are not divisible by groups ", o.groups);
  weight = Tensor::empty({o.out_channels, o.in_channels / o.groups, o.kernel, o.kernel});
  if (o.bias) bias = Tensor::empty({o.out_channels});
  init::pytorch_default_(weight, bias);
  register_parameter("weight", weight);
  register_parameter("bias", bias);
}

Conv2dParams Conv2d::params() const {
  Conv2dParams p;
  p.stride_h = p.stride_w = options_.stride;
  p.pad_h = p.pad_w = options_.padding;
  p.dilation_h = p.dilation_w = options_.dilation;
  p.groups = groups();
  return p;
}

void Conv2d::set_constant_kernel(const Tensor& kernel) {
  SHEARS_CHECK_AS(ShapeError,
                  kernel.dim() == 4 && kernel.size(0) == weight.size(0) && kernel.size(1) == 1 &&
                      kernel.size(2) == weight.size(2) && kernel.size(3) == weight.size(3),
                  "Conv2d: constant kernel must be ", weight.size(0), "x1x", weight.size(2), "x",
                  weight.size(3), ", got ", shape_str(kernel.shape()));
  const bool first = !constant_kernel.defined();
  constant_kernel = kernel.to(weight.device()).clone();
  if (first) register_buffer("constant_kernel", constant_kernel);
}

Tensor Conv2d::forward(const Tensor& x) {
  Tensor y = conv2d(x, weight, bias, params());
  if (!constant_kernel.defined()) return apply_forward_hooks(y);
  // The ones plane does not depend on the batch: one sample, broadcast by the add.
  Conv2dParams p = params();
  p.groups = 1;
  Tensor ones = Tensor::ones({1, 1, x.size(2), x.size(3)}, x.dtype(), x.device());
  return apply_forward_hooks(add(y, conv2d(ones, constant_kernel, Tensor(), p)));
}

std::string Conv2d::extra_repr() const {
  std::string s = std::to_string(in_channels()) + ", " + std::to_string(out_channels()) +
                  ", kernel=" + std::to_string(weight.size(2)) +
                  ", stride=" + std::to_string(options_.stride);
  if (options_.padding) s += ", padding=" + std::to_string(options_.padding);
  if (options_.dilation != 1) s += ", dilation=" + std::to_string(options_.dilation);
  if (groups() != 1) s += ", groups=" + std::to_string(groups());
  if (!bias.defined()) s += ", bias=false";
  if (constant_kernel.defined()) s += ", constant_kernel";
  return s;
}

}  // namespace shears::nn
