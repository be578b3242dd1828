#pragma once

// Where the tests find real data, and the guards of tests that need it: a user's clone may lack
// ../shared/data or Debian's dataset-fashion-mnist; CI has both.

#include <cstdlib>
#include <filesystem>
#include <string>

namespace shears::testing {

/// ../shared/data of the checkout, or $SHEARS_SHARED_DATA where set.
inline std::string shared_data_dir() {
  const char* env = std::getenv("SHEARS_SHARED_DATA");
  return env != nullptr && *env != '\0' ? env : SHEARS_SHARED_DATA_DEFAULT;
}

/// The CIFAR-10 binary folder (one training batch and the test batch) under shared_data_dir().
inline std::string cifar10_batch_dir() {
  return shared_data_dir() + "/cifar10/cifar-10-batches-bin";
}

inline bool fashion_mnist_installed() {
  return std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
}

}  // namespace shears::testing

#define SKIP_WITHOUT_FASHION_MNIST()                 \
  if (!::shears::testing::fashion_mnist_installed()) \
  GTEST_SKIP() << "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"

#define SKIP_WITHOUT_CIFAR10_BATCH(root)                      \
  if (!std::filesystem::exists((root) + "/data_batch_1.bin")) \
  GTEST_SKIP() << "CIFAR-10 batch not found under " << (root) << " (set SHEARS_SHARED_DATA)"
