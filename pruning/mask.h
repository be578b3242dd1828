#pragma once

#include <string>
#include <vector>

#include "engine/nn/module.h"
#include "engine/optim/sgd.h"
#include "pruning/dependency.h"

namespace shears::pruning {

/// Soft pruning: zeroes the filters `filters` (dim-0 slices) of parameter `name` in place
/// through the channel mask kernel, and of its momentum buffer when `optimizer` holds one.
void mask_filters(nn::Module& model, const std::string& name,
                  const std::vector<std::int64_t>& filters, optim::Sgd* optimizer = nullptr);

/// Zeroes channels `channels` of `group` in place: every producer's filters and the group's
/// biases (dim-0 members of rank 1 that belong to conv/linear layers) and, with `zero_bn`, the
/// BN weights and biases of the group too, so those channels output exactly zero in eval mode
/// and physically removing them leaves the network's function unchanged.
void mask_channels(nn::Module& model, const Group& group, const std::vector<std::int64_t>& channels,
                   bool zero_bn, optim::Sgd* optimizer = nullptr);

/// Multiplies the gradient of parameter `name` by a 0/1 filter mask (FPGM's gradient masking).
void mask_gradient(nn::Module& model, const std::string& name,
                   const std::vector<std::int64_t>& filters);

}  // namespace shears::pruning
