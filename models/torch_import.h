#pragma once

#include <string>

#include "engine/nn/module.h"

namespace shears::models {

/// The name our models give a tensor of a torchvision state dict. The ImageNet ResNets and
/// MobileNetV2 use torchvision's names, so this only strips the "module." prefix that
/// torch.nn.DataParallel adds.
std::string from_torchvision_name(const std::string& name);

/// Copies a torchvision state dict (`state`, as PyTorch names it) into `model`'s parameters and
/// buffers, converting dtypes (F64 → F32, I32 → I64) and devices as needed. Nothing is skipped
/// silently: every model tensor absent from `state`, every entry of `state` the model lacks and
/// every tensor of another shape (both shapes given) is listed in one CheckpointError that names
/// `source` (a file path or other origin). The one tolerated gap is BN's num_batches_tracked,
/// which checkpoints written before PyTorch 0.4.1 lack; it is then set to 0, as PyTorch does.
/// The model is unchanged when it throws.
void load_torchvision_state(nn::Module& model, const TensorList& state, const std::string& source);

/// load_torchvision_state from a safetensors file (for example one written with
/// safetensors.torch.save_file(torchvision_model.state_dict(), path)). Throws CheckpointError
/// naming the file for an unreadable file and as load_torchvision_state.
void load_torchvision(nn::Module& model, const std::string& path);

}  // namespace shears::models
