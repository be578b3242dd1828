#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "app/cli.h"
#include "engine/dist/communicator.h"
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
  // In a job of several ranks an error on one rank ends them all (the launcher cannot know that
  // the others would wait for it until the collective timeout): message first, then the abort.
  auto fail = [](const char* kind, const char* what, int code) {
    shears::dist::Communicator& comm = shears::dist::world();
    if (comm.size() > 1) {
      std::fprintf(stderr, "shears: rank %d of %d: %s%s\n", comm.rank(), comm.size(), kind, what);
      comm.abort(code);
    }
    std::fprintf(stderr, "shears: %s%s\n", kind, what);
    return code;
  };
  try {
    return shears::app::run_cli(args);
  } catch (const shears::Interrupted& e) {
    return fail("", e.what(), 130);
  } catch (const shears::Error& e) {
    return fail("error: ", e.what(), 1);
  } catch (const std::filesystem::filesystem_error& e) {
    // A path that cannot be created or read is the user's to fix, not a bug.
    return fail("error: ", e.what(), 1);
  } catch (const std::exception& e) {
    return fail("internal error: ", e.what(), 3);
  }
}
