#include "tests/support/temp_dir.h"

#include <stdlib.h>

#include <filesystem>
#include <system_error>

#include "kernels/common/error.h"

namespace shears::testing {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "shears-test-XXXXXX").string();
  char* made = mkdtemp(pattern.data());
  SHEARS_CHECK(made != nullptr, "cannot create a temporary directory from ", pattern);
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace shears::testing
