#include "engine/nn/conv2d.h"

#include "engine/nn/init.h"
#include "engine/ops/conv.h"

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

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, params()); }

std::string Conv2d::extra_repr() const {
  std::string s = std::to_string(in_channels()) + ", " + std::to_string(out_channels()) +
                  ", kernel=" + std::to_string(weight.size(2)) +
                  ", stride=" + std::to_string(options_.stride);
  if (options_.padding) s += ", padding=" + std::to_string(options_.padding);
  if (options_.dilation != 1) s += ", dilation=" + std::to_string(options_.dilation);
  if (groups() != 1) s += ", groups=" + std::to_string(groups());
  if (!bias.defined()) s += ", bias=false";
  return s;
}

}  // namespace shears::nn
