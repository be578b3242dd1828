#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "app/cli.h"
#include "engine/train/trainer.h"
#include "kernels/common/error.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    return shears::app::run_cli(args);
  } catch (const shears::Interrupted& e) {
    std::fprintf(stderr, "shears: %s\n", e.what());
    return 130;
  } catch (const shears::Error& e) {
    std::fprintf(stderr, "shears: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shears: internal error: %s\n", e.what());
    return 3;
  }
}
