#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "app/cli.h"
#include "engine/train/trainer.h"
#include "kernels/common/error.h"

int main(int argc, char** argv) {
  // OpenMP threads that spin at barriers waste whole time slices when the cores are shared
  // (data-loader threads, other processes): wait passively unless the user chose otherwise. The
  // OpenMP runtime reads its environment when it loads, so the process restarts itself once.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    return shears::app::run_cli(args);
  } catch (const shears::Interrupted& e) {
    std::fprintf(stderr, "shears: %s\n", e.what());
    return 130;
  } catch (const shears::Error& e) {
    std::fprintf(stderr, "shears: error: %s\n", e.what());
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    // A path that cannot be created or read is the user's to fix, not a bug.
    std::fprintf(stderr, "shears: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shears: internal error: %s\n", e.what());
    return 3;
  }
}
