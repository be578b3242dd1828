#include "models/torch_import.h"

#include <map>
#include <vector>

#include "engine/autograd/grad_mode.h"
#include "engine/io/safetensors.h"
#include "kernels/common/error.h"

namespace shears::models {

namespace {

constexpr const char* kDataParallelPrefix = "module.";
constexpr const char* kBatchCounter = ".num_batches_tracked";

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

std::string from_torchvision_name(const std::string& name) {
  const std::string prefix = kDataParallelPrefix;
  if (name.compare(0, prefix.size(), prefix) == 0) return name.substr(prefix.size());
  return name;
}

void load_torchvision_state(nn::Module& model, const TensorList& state, const std::string& source) {
  std::map<std::string, std::pair<std::string, Tensor>> given;  // our name -> (their name, tensor)
  std::vector<std::string> problems;
  for (const auto& [their_name, t] : state) {
    const std::string ours = from_torchvision_name(their_name);
    if (!given.emplace(ours, std::make_pair(their_name, t)).second) {
      problems.push_back("'" + their_name + "' appears twice (as '" + ours + "')");
    }
  }
  const TensorList expected = model.state_dict();
  TensorList matched;
  for (const auto& [name, target] : expected) {
    auto it = given.find(name);
    if (it == given.end()) {
      if (ends_with(name, kBatchCounter)) {
        matched.emplace_back(name, Tensor::zeros(target.shape(), target.dtype()));
      } else {
        problems.push_back("missing '" + name + "' " + shape_str(target.shape()));
      }
      continue;
    }
    const auto& [their_name, t] = it->second;
    if (t.shape() != target.shape()) {
      problems.push_back("'" + their_name + "' has shape " + shape_str(t.shape()) +
                         ", the model's '" + name + "' has " + shape_str(target.shape()));
    } else {
      matched.emplace_back(name, t);
    }
    given.erase(it);
  }
  for (const auto& [ours, entry] : given) {
    problems.push_back("unexpected '" + entry.first + "' " + shape_str(entry.second.shape()));
  }
  if (!problems.empty()) {
    std::string msg = source + ": torchvision state dict does not fit the model (" +
                      std::to_string(problems.size()) + " problem" +
                      (problems.size() == 1 ? "" : "s") + "):";
    for (const auto& p : problems) msg += "\n  " + p;
    throw CheckpointError(msg);
  }
  NoGrad no_grad;
  model.load_state_dict(matched, /*strict=*/true);
}

void load_torchvision(nn::Module& model, const std::string& path) {
  SafetensorsContents contents = load_safetensors(path);
  load_torchvision_state(model, contents.tensors, path);
}

}  // namespace shears::models
