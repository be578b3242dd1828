// The YAML config loader and the experiment schema on arbitrary text: any result but a
// ConfigError (or another shears::Error for a value the schema passes on) is a bug.
#include "app/schema.h"
#include "engine/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    shears::Config config = shears::Config::parse(text, "fuzz.yaml");
    // What dump writes must load back.
    shears::Config again = shears::Config::parse(config.dump(), "dump.yaml");
    (void)again;
    shears::app::ExperimentSpec spec = shears::app::parse_experiment(config);
    (void)spec;
    config.check_all_read();
  } catch (const shears::Error&) {
  }
  return 0;
}
