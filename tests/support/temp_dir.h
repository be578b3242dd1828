#pragma once

#include <string>

namespace shears::testing {

/// A fresh, empty directory for one test, created under $TMPDIR (or /tmp) with the running
/// test's name in it, and removed with everything inside when the object is destroyed.
class TempDir {
 public:
  /// Creates the directory; throws std::runtime_error when it cannot.
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// The directory's absolute path.
  const std::string& path() const { return path_; }
  /// `path()/name` (the file is not created).
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace shears::testing
