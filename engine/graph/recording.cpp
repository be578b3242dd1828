#include "engine/graph/recording.h"

#include <utility>

#include "kernels/common/error.h"

namespace shears::graph {
namespace {
thread_local Effects* t_effects = nullptr;
}

bool recording() { return t_effects != nullptr; }

void host_effect(std::function<void()> effect) {
  if (t_effects == nullptr) {
    effect();
  } else {
    t_effects->after.push_back(std::move(effect));
  }
}

void before_launch(std::function<void()> prepare) {
  if (t_effects != nullptr) t_effects->before.push_back(std::move(prepare));
}

void require_eager(const std::string& why) {
  if (t_effects != nullptr) throw GraphCaptureError(why);
}

Recording::Recording() {
  SHEARS_CHECK(t_effects == nullptr, "graph recordings do not nest");
  t_effects = &effects_;
}

Recording::~Recording() { t_effects = nullptr; }

Effects Recording::take() { return std::exchange(effects_, Effects{}); }

}  // namespace shears::graph
