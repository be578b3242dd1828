// The CIFAR-10 and CIFAR-100 binary readers on an arbitrary batch file (the first input byte
// picks the variant).
#include "data/cifar.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string& dir = shears::fuzz::scratch_dir();
  shears::fuzz::write_input(dir + "/batch.bin", data + 1, size - 1);
  try {
    shears::data::CifarOptions o;
    o.root = dir;
    o.variant = (data[0] & 1) != 0 ? shears::data::CifarVariant::Cifar100
                                   : shears::data::CifarVariant::Cifar10;
    o.coarse_labels = (data[0] & 3) == 3;
    o.files = {"batch.bin"};
    shears::data::CifarDataset set(o);
    for (std::int64_t i = 0; i < set.size() && i < 4; ++i) (void)set.get(i);
  } catch (const shears::DataError&) {
  }
  return 0;
}
