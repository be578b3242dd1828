#include "models/arch.h"

#include <set>

#include <nlohmann/json.hpp>

#include "kernels/common/error.h"

namespace shears::models {

namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kShortcutNames[] = {"a-avgpool", "a-subsample", "b-conv", "a-avgpool2"};

[[noreturn]] void bad_field(const std::string& field, const std::string& what) {
  throw CheckpointError("architecture JSON: field '" + field + "' " + what);
}

const Json& required(const Json& obj, const std::string& field) {
  auto it = obj.find(field);
  if (it == obj.end()) bad_field(field, "is missing");
  return *it;
}

std::int64_t as_int(const Json& v, const std::string& field) {
  if (!v.is_number_integer()) bad_field(field, "must be an integer, got " + v.dump());
  return v.get<std::int64_t>();
}

std::vector<std::pair<std::string, std::int64_t>> as_counts(const Json& v, const std::string& field,
                                                            std::int64_t min_value) {
  if (!v.is_object()) bad_field(field, "must be an object of integers, got " + v.dump());
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string key = field + "." + it.key();
    const std::int64_t n = as_int(it.value(), key);
    if (n < min_value) bad_field(key, "must be >= " + std::to_string(min_value));
    out.emplace_back(it.key(), n);
  }
  return out;
}

}  // namespace

std::string shortcut_name(Shortcut shortcut) { return kShortcutNames[static_cast<int>(shortcut)]; }

Shortcut parse_shortcut(const std::string& name) {
  for (int i = 0; i < 4; ++i) {
    if (name == kShortcutNames[i]) return static_cast<Shortcut>(i);
  }
  throw ConfigError("unknown shortcut '" + name +
                    "'; known: a-avgpool, a-subsample, b-conv, a-avgpool2");
}

std::int64_t Arch::width(const std::string& layer) const {
  for (const auto& [key, n] : widths) {
    if (key == layer) return n;
  }
  throw ConfigError("architecture '" + name + "' has no width entry '" + layer + "'");
}

void Arch::set_width(const std::string& layer, std::int64_t channels) {
  if (channels < 1) {
    throw ConfigError("architecture '" + name + "': width of '" + layer + "' must be >= 1, got " +
                      std::to_string(channels));
  }
  for (auto& [key, n] : widths) {
    if (key == layer) {
      n = channels;
      return;
    }
  }
  throw ConfigError("architecture '" + name + "' has no width entry '" + layer + "'");
}

bool Arch::has_width(const std::string& layer) const {
  for (const auto& entry : widths) {
    if (entry.first == layer) return true;
  }
  return false;
}

bool Arch::operator==(const Arch& other) const {
  return name == other.name && num_classes == other.num_classes && input == other.input &&
         width_mult == other.width_mult && shortcut == other.shortcut && widths == other.widths &&
         pad_front == other.pad_front && constant_inputs == other.constant_inputs &&
         removed == other.removed;
}

std::string arch_to_json(const Arch& arch) {
  Json j;
  j["name"] = arch.name;
  j["num_classes"] = arch.num_classes;
  j["input"] = arch.input;
  j["width_mult"] = arch.width_mult;
  j["shortcut"] = shortcut_name(arch.shortcut);
  Json widths = Json::object();
  for (const auto& [key, n] : arch.widths) widths[key] = n;
  j["widths"] = widths;
  if (!arch.pad_front.empty()) {
    Json pads = Json::object();
    for (const auto& [key, n] : arch.pad_front) pads[key] = n;
    j["pad_front"] = pads;
  }
  if (!arch.constant_inputs.empty()) j["constant_inputs"] = arch.constant_inputs;
  if (!arch.removed.empty()) j["removed"] = arch.removed;
  return j.dump();
}

Arch arch_from_json(const std::string& json) {
  Json j;
  try {
    j = Json::parse(json);
  } catch (const Json::parse_error& e) {
    throw CheckpointError(std::string("architecture JSON does not parse: ") + e.what());
  }
  if (!j.is_object()) throw CheckpointError("architecture JSON must be an object");
  static const std::set<std::string> known = {"name",       "num_classes",     "input",
                                              "width_mult", "shortcut",        "widths",
                                              "pad_front",  "constant_inputs", "removed"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!known.count(it.key())) bad_field(it.key(), "is not an architecture field");
  }
  Arch arch;
  const Json& name = required(j, "name");
  if (!name.is_string()) bad_field("name", "must be a string, got " + name.dump());
  arch.name = name.get<std::string>();
  arch.num_classes = as_int(required(j, "num_classes"), "num_classes");
  if (arch.num_classes < 1) bad_field("num_classes", "must be >= 1");
  const Json& input = required(j, "input");
  if (!input.is_array() || input.size() != 3) {
    bad_field("input", "must be [C, H, W], got " + input.dump());
  }
  arch.input.clear();
  for (std::size_t i = 0; i < 3; ++i) {
    const std::int64_t d = as_int(input[i], "input");
    if (d < 1) bad_field("input", "entries must be >= 1, got " + input.dump());
    arch.input.push_back(d);
  }
  const Json& mult = required(j, "width_mult");
  if (!mult.is_number() || mult.get<double>() <= 0.0) {
    bad_field("width_mult", "must be a positive number, got " + mult.dump());
  }
  arch.width_mult = mult.get<double>();
  const Json& shortcut = required(j, "shortcut");
  if (!shortcut.is_string()) bad_field("shortcut", "must be a string, got " + shortcut.dump());
  try {
    arch.shortcut = parse_shortcut(shortcut.get<std::string>());
  } catch (const ConfigError& e) {
    bad_field("shortcut", e.what());
  }
  arch.widths = as_counts(required(j, "widths"), "widths", 1);
  if (auto it = j.find("pad_front"); it != j.end()) {
    arch.pad_front = as_counts(*it, "pad_front", 0);
  }
  if (auto it = j.find("constant_inputs"); it != j.end()) {
    if (!it->is_array()) bad_field("constant_inputs", "must be a list of layer paths");
    for (const Json& layer : *it) {
      if (!layer.is_string()) bad_field("constant_inputs", "entries must be strings");
      arch.constant_inputs.push_back(layer.get<std::string>());
    }
  }
  if (auto it = j.find("removed"); it != j.end()) {
    if (!it->is_array()) bad_field("removed", "must be a list of structure paths");
    for (const Json& path : *it) {
      if (!path.is_string()) bad_field("removed", "entries must be strings");
      arch.removed.push_back(path.get<std::string>());
    }
  }
  return arch;
}

}  // namespace shears::models
