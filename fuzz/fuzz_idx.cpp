// The idx (MNIST) reader: the first input byte picks whether the images or the labels file is
// the fuzzed one (the other is a valid two-image file); plain and gzip streams both reach it.
#include <filesystem>

#include "data/mnist.h"
#include "fuzz/fuzz_util.h"

namespace {
const std::uint8_t kImages[16 + 2 * 4] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2,
                                          0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};
const std::uint8_t kLabels[8 + 2] = {0, 0, 8, 1, 0, 0, 0, 2, 3, 9};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string& dir = shears::fuzz::scratch_dir();
  const bool images = (data[0] & 1) == 0;
  shears::fuzz::write_input(dir + "/train-images-idx3-ubyte", images ? data + 1 : kImages,
                            images ? size - 1 : sizeof kImages);
  shears::fuzz::write_input(dir + "/train-labels-idx1-ubyte", images ? kLabels : data + 1,
                            images ? sizeof kLabels : size - 1);
  try {
    shears::data::MnistOptions o;
    o.root = dir;
    o.split = shears::data::Split::Train;
    shears::data::MnistDataset set(o);
    for (std::int64_t i = 0; i < set.size() && i < 4; ++i) (void)set.get(i);
  } catch (const shears::DataError&) {
  }
  return 0;
}
