#include "kernels/common/error.h"

namespace shears::detail {

void throw_check_failure(const char* file, int line, const char* condition,
                         const std::string& message) {
  std::string text = message.empty() ? std::string("check failed: ") + condition : message;
  throw Error(cat(text, " [", file, ":", line, "]"));
}

}  // namespace shears::detail
