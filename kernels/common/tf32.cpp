// The process-wide TF32 switch declared in kernels/common/registry.h.

#include <atomic>

#include "kernels/common/registry.h"

namespace shears {
namespace {
std::atomic<bool> g_allow_tf32{true};
}
void set_allow_tf32(bool allow) { g_allow_tf32.store(allow); }
bool allow_tf32() { return g_allow_tf32.load(); }
}  // namespace shears
