// load_safetensors on arbitrary bytes: any result but a CheckpointError is a bug.
#include "engine/io/safetensors.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = shears::fuzz::scratch_dir() + "/input.safetensors";
  shears::fuzz::write_input(path, data, size);
  try {
    shears::SafetensorsContents c = shears::load_safetensors(path);
    // Every tensor it returns must be readable in full.
    for (const auto& [name, t] : c.tensors) {
      volatile std::size_t sum = 0;
      if (t.nbytes() == 0) continue;
      const auto* bytes = static_cast<const std::uint8_t*>(t.raw_data());
      for (std::size_t i = 0; i < t.nbytes(); ++i) sum = sum + bytes[i];
    }
  } catch (const shears::CheckpointError&) {
  }
  return 0;
}
