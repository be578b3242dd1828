#include "engine/config/config.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

#include "kernels/common/error.h"

namespace shears {
namespace detail {

/// One node of a parsed document. The YAML is copied into this tree so that read marks,
/// overrides and locations live beside the values, and yaml-cpp stays out of the header.
struct ConfigNode {
  enum class Kind { Null, Scalar, Map, Sequence };
  Kind kind = Kind::Null;
  std::string scalar;
  /// A quoted, block or `!!str` scalar: a string only, never a number or boolean.
  bool quoted = false;
  std::vector<std::pair<std::string, std::shared_ptr<ConfigNode>>> map;
  std::vector<std::shared_ptr<ConfigNode>> seq;
  int line = 0;
  /// "--set a.b=value" for nodes an override created; empty for nodes from the source.
  std::string origin;
  bool read = false;

  std::shared_ptr<ConfigNode> find(const std::string& key) const {
    for (const auto& [name, child] : map) {
      if (name == key) return child;
    }
    return nullptr;
  }
};

struct ConfigDocument {
  std::string source;
};

}  // namespace detail

namespace {

using detail::ConfigDocument;
using detail::ConfigNode;
using Kind = ConfigNode::Kind;
using NodePtr = std::shared_ptr<ConfigNode>;

// Limits that keep a hostile or accidental document (alias cycles, alias bombs) from exhausting
// the stack or memory while it is copied into the tree.
constexpr int kMaxDepth = 200;
constexpr std::size_t kMaxNodes = 100'000;

std::string location(const ConfigDocument& doc, const ConfigNode& node) {
  if (!node.origin.empty()) return node.origin;
  return doc.source + ":" + std::to_string(node.line);
}

template <typename... Parts>
[[noreturn]] void fail_at(const ConfigDocument& doc, const ConfigNode& node, Parts&&... parts) {
  throw ConfigError(detail::cat(location(doc, node), ": ", std::forward<Parts>(parts)...));
}

std::string join_key(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

/// The value as messages show it.
std::string describe(const ConfigNode& node) {
  switch (node.kind) {
    case Kind::Null:
      return "null";
    case Kind::Map:
      return "a map";
    case Kind::Sequence:
      return "a sequence";
    case Kind::Scalar:
      break;
  }
  constexpr std::size_t kMax = 80;
  std::string text = node.scalar.size() > kMax ? node.scalar.substr(0, kMax) + "..." : node.scalar;
  return (node.quoted ? "the quoted string '" : "'") + text + "'";
}

/// Copies a yaml-cpp node into a ConfigNode tree.
class Converter {
 public:
  Converter(const ConfigDocument& doc, std::string origin)
      : doc_(doc), origin_(std::move(origin)) {}

  /// Converts `y`, whose key (or, for sequence items and the root, the node itself) is at
  /// `mark`; `path` is its dotted key path for messages.
  NodePtr convert(const YAML::Node& y, const YAML::Mark& mark, const std::string& path, int depth) {
    if (++count_ > kMaxNodes) {
      throw ConfigError(detail::cat(where(mark), ": the document has more than ", kMaxNodes,
                                    " nodes (recursive aliases?)"));
    }
    if (depth > kMaxDepth) {
      throw ConfigError(
          detail::cat(where(mark), ": key '", path, "' nests deeper than ", kMaxDepth, " levels"));
    }
    auto node = std::make_shared<ConfigNode>();
    node->line = origin_.empty() ? mark.line + 1 : 0;
    node->origin = origin_;
    switch (y.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        node->kind = Kind::Null;
        break;
      case YAML::NodeType::Scalar:
        node->kind = Kind::Scalar;
        node->scalar = y.Scalar();
        node->quoted = y.Tag() == "!" || y.Tag() == "tag:yaml.org,2002:str";
        break;
      case YAML::NodeType::Sequence: {
        node->kind = Kind::Sequence;
        std::size_t i = 0;
        for (const YAML::Node& item : y) {
          const YAML::Mark item_mark = item.Mark().is_null() ? mark : item.Mark();
          node->seq.push_back(
              convert(item, item_mark, path + "[" + std::to_string(i++) + "]", depth + 1));
        }
        break;
      }
      case YAML::NodeType::Map:
        node->kind = Kind::Map;
        for (const auto& entry : y) {
          const YAML::Node& key = entry.first;
          const YAML::Mark key_mark = key.Mark().is_null() ? mark : key.Mark();
          if (!key.IsScalar()) {
            throw ConfigError(detail::cat(where(key_mark), ": keys of '",
                                          path.empty() ? "<root>" : path, "' must be strings, got ",
                                          key.IsNull() ? "null" : "a structure"));
          }
          const std::string name = key.Scalar();
          NodePtr child = convert(entry.second, key_mark, join_key(path, name), depth + 1);
          if (NodePtr first = node->find(name)) {
            fail_at(doc_, *child, "duplicate key '", join_key(path, name), "' (first at line ",
                    first->line, ")");
          }
          node->map.emplace_back(name, std::move(child));
        }
        break;
    }
    return node;
  }

 private:
  std::string where(const YAML::Mark& mark) const {
    return origin_.empty() ? detail::cat(doc_.source, ":", mark.line + 1) : origin_;
  }

  const ConfigDocument& doc_;
  std::string origin_;
  std::size_t count_ = 0;
};

/// Walks the parser's event stream, without building any node, and throws at the first event
/// past kMaxNodes or deeper than kMaxDepth: a huge or deeply nested document is rejected before
/// yaml-cpp builds its node graph (which costs about 100 bytes per node) or recurses into it.
class LimitScanner : public YAML::EventHandler {
 public:
  explicit LimitScanner(std::string source) : source_(std::move(source)) {}
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { count(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { count(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    count(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    open(mark);
  }
  void OnSequenceEnd() override { --depth_; }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    open(mark);
  }
  void OnMapEnd() override { --depth_; }

 private:
  void count(const YAML::Mark& mark) {
    if (++nodes_ > 2 * kMaxNodes) {  // keys and values are both events
      throw ConfigError(detail::cat(source_, ":", mark.line + 1, ": the document has more than ",
                                    kMaxNodes, " nodes"));
    }
  }
  void open(const YAML::Mark& mark) {
    count(mark);
    if (++depth_ > kMaxDepth) {
      throw ConfigError(detail::cat(source_, ":", mark.line + 1, ":", mark.column + 1,
                                    ": the document nests deeper than ", kMaxDepth, " levels"));
    }
  }
  std::string source_;
  std::size_t nodes_ = 0;
  int depth_ = 0;
};

[[noreturn]] void throw_yaml_error(const std::string& where, const YAML::Exception& e) {
  if (e.mark.is_null()) throw ConfigError(where + ": malformed YAML: " + e.msg);
  throw ConfigError(detail::cat(where, ":", e.mark.line + 1, ":", e.mark.column + 1,
                                ": malformed YAML: ", e.msg));
}

void mark_subtree(ConfigNode& node) {
  node.read = true;
  for (auto& entry : node.map) mark_subtree(*entry.second);
  for (auto& item : node.seq) mark_subtree(*item);
}

void collect_unread(const ConfigDocument& doc, const ConfigNode& node, const std::string& path,
                    std::vector<std::string>& out) {
  auto visit = [&](const ConfigNode& child, const std::string& child_path) {
    if (!child.read) {
      out.push_back("unknown key '" + child_path + "' at " + location(doc, child));
    } else {
      collect_unread(doc, child, child_path, out);
    }
  };
  for (const auto& [name, child] : node.map) visit(*child, join_key(path, name));
  for (std::size_t i = 0; i < node.seq.size(); ++i) {
    visit(*node.seq[i], path + "[" + std::to_string(i) + "]");
  }
}

void emit(YAML::Emitter& out, const ConfigNode& node) {
  switch (node.kind) {
    case Kind::Null:
      out << YAML::Null;
      break;
    case Kind::Scalar:
      if (node.quoted) out << YAML::DoubleQuoted;
      out << node.scalar;
      break;
    case Kind::Map:
      if (node.map.empty()) out << YAML::Flow;
      out << YAML::BeginMap;
      for (const auto& [name, child] : node.map) {
        out << YAML::Key << name << YAML::Value;
        emit(out, *child);
      }
      out << YAML::EndMap;
      break;
    case Kind::Sequence: {
      // Lists of plain values (milestones, kept channels) read best on one line.
      bool flat = true;
      for (const auto& item : node.seq)
        flat = flat && item->kind != Kind::Map && item->kind != Kind::Sequence;
      if (flat) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const auto& item : node.seq) emit(out, *item);
      out << YAML::EndSeq;
      break;
    }
  }
}

// ---- scalar conversions ----------------------------------------------------------------------

bool parse_bool(const std::string& text, bool& out) {
  if (text == "true" || text == "True" || text == "TRUE") {
    out = true;
    return true;
  }
  if (text == "false" || text == "False" || text == "FALSE") {
    out = false;
    return true;
  }
  return false;
}

bool parse_int64(const std::string& text, std::int64_t& out) {
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (begin != end && *begin == '+') ++begin;
  if (begin == end || (*begin == '-' && begin != text.data())) return false;
  auto [ptr, ec] = std::from_chars(begin, end, out);
  return ec == std::errc() && ptr == end;
}

bool parse_double(const std::string& text, double& out) {
  if (text == ".inf" || text == ".Inf" || text == ".INF" || text == "+.inf" || text == "+.Inf" ||
      text == "+.INF") {
    out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (text == "-.inf" || text == "-.Inf" || text == "-.INF") {
    out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (text == ".nan" || text == ".NaN" || text == ".NAN") {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (begin != end && *begin == '+') ++begin;
  if (begin == end || (*begin == '-' && begin != text.data())) return false;
  auto [ptr, ec] = std::from_chars(begin, end, out);
  // Out of range (1e999) is an error rather than a silent infinity.
  return ec == std::errc() && ptr == end;
}

/// Converts one resolved node; `key` is its full dotted path for messages.
struct Decoder {
  const ConfigDocument& doc;

  const std::string& plain_scalar(const ConfigNode& node, const std::string& key,
                                  const char* expected) const {
    if (node.kind != Kind::Scalar || node.quoted) {
      fail_at(doc, node, "key '", key, "' must be ", expected, ", got ", describe(node));
    }
    return node.scalar;
  }

  void operator()(const ConfigNode& node, const std::string& key, bool& out) const {
    if (!parse_bool(plain_scalar(node, key, "a boolean (true or false)"), out)) {
      fail_at(doc, node, "key '", key, "' must be a boolean (true or false), got ", describe(node));
    }
  }
  void operator()(const ConfigNode& node, const std::string& key, std::int64_t& out) const {
    if (!parse_int64(plain_scalar(node, key, "an integer"), out)) {
      fail_at(doc, node, "key '", key, "' must be an integer, got ", describe(node));
    }
  }
  void operator()(const ConfigNode& node, const std::string& key, int& out) const {
    std::int64_t wide = 0;
    (*this)(node, key, wide);
    if (wide < std::numeric_limits<int>::min() || wide > std::numeric_limits<int>::max()) {
      fail_at(doc, node, "key '", key, "' must be an integer in [", std::numeric_limits<int>::min(),
              ", ", std::numeric_limits<int>::max(), "], got ", describe(node));
    }
    out = static_cast<int>(wide);
  }
  void operator()(const ConfigNode& node, const std::string& key, double& out) const {
    if (!parse_double(plain_scalar(node, key, "a number"), out)) {
      fail_at(doc, node, "key '", key, "' must be a number, got ", describe(node));
    }
    // No setting of an experiment means anything as NaN or infinity: rejecting them here keeps
    // them out of every range check downstream (NaN passes `v < 0`).
    if (!std::isfinite(out)) {
      fail_at(doc, node, "key '", key, "' must be a finite number, got ", describe(node));
    }
  }
  void operator()(const ConfigNode& node, const std::string& key, std::string& out) const {
    if (node.kind != Kind::Scalar) {
      fail_at(doc, node, "key '", key, "' must be a string, got ", describe(node));
    }
    out = node.scalar;
  }
  template <typename T>
  void operator()(const ConfigNode& node, const std::string& key, std::vector<T>& out) const {
    if (node.kind != Kind::Sequence) {
      fail_at(doc, node, "key '", key, "' must be a sequence, got ", describe(node));
    }
    out.clear();
    for (std::size_t i = 0; i < node.seq.size(); ++i) {
      T value{};
      (*this)(*node.seq[i], key + "[" + std::to_string(i) + "]", value);
      out.push_back(std::move(value));
    }
  }
};

}  // namespace

// ---- Config ---------------------------------------------------------------------------------

Config::Config() : Config(parse("", "<empty>")) {}

Config::Config(std::shared_ptr<ConfigDocument> doc, std::shared_ptr<ConfigNode> node,
               std::string path)
    : doc_(std::move(doc)), node_(std::move(node)), path_(std::move(path)) {}

Config Config::load_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError("cannot read config file '" + path + "': it is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot open config file '" + path + "': " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError("cannot read config file '" + path + "'");
  return parse(text.str(), path);
}

Config Config::parse(const std::string& text, const std::string& source_name) {
  auto doc = std::make_shared<ConfigDocument>();
  doc->source = source_name;
  std::vector<YAML::Node> documents;
  try {
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    LimitScanner scanner(source_name);
    while (parser.HandleNextDocument(scanner)) {
    }
    documents = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    throw_yaml_error(source_name, e);
  }
  if (documents.size() > 1) {
    throw ConfigError(detail::cat(source_name, ": holds ", documents.size(),
                                  " YAML documents; a config is one document"));
  }
  NodePtr root;
  if (documents.empty() || documents[0].IsNull()) {
    root = std::make_shared<ConfigNode>();
    root->kind = Kind::Map;
    root->line = 1;
  } else {
    const YAML::Node& y = documents[0];
    Converter converter(*doc, "");
    root = converter.convert(y, y.Mark().is_null() ? YAML::Mark() : y.Mark(), "", 0);
    if (root->kind != Kind::Map) {
      fail_at(*doc, *root, "the document must be a map of keys, got ", describe(*root));
    }
  }
  root->read = true;
  return Config(doc, root, "");
}

namespace {

std::vector<std::string> split_key(const std::string& key, const std::string& where) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = key.find('.', start);
    std::string part =
        key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) throw ConfigError(where + ": invalid key '" + key + "'");
    parts.push_back(std::move(part));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

/// The result of walking a dotted key from a node.
struct Lookup {
  NodePtr node;              // the value, or null when absent
  const ConfigNode* parent;  // the deepest section reached (for "missing key" messages)
  std::string path;          // full dotted path of the key
};

/// Walks `key` from `start`; with `mark`, marks every node on the way (the value included).
Lookup lookup(const ConfigDocument& doc, const NodePtr& start, const std::string& start_path,
              const std::string& key, bool mark) {
  Lookup result{nullptr, start.get(), start_path};
  // A map key that itself contains dots (a layer path such as "features.0") is found literally
  // before the key is read as a dotted path.
  if (start->kind == Kind::Map && key.find('.') != std::string::npos) {
    if (NodePtr literal = start->find(key)) {
      if (mark) literal->read = true;
      return Lookup{literal, start.get(), join_key(start_path, key)};
    }
  }
  NodePtr current = start;
  for (const std::string& part : split_key(key, location(doc, *start))) {
    // An empty section (`optim:` with nothing under it) holds no keys.
    if (current->kind == Kind::Null && current != start) {
      result.parent = current.get();
      result.path = join_key(start_path, key);
      return result;
    }
    if (current->kind != Kind::Map) {
      fail_at(doc, *current, "key '", result.path, "' must be a map, got ", describe(*current));
    }
    result.parent = current.get();
    result.path = join_key(result.path, part);
    NodePtr next = current->find(part);
    if (!next) {
      result.path = join_key(start_path, key);
      return result;
    }
    if (mark) next->read = true;
    current = std::move(next);
  }
  result.node = current;
  return result;
}

}  // namespace

bool Config::has(const std::string& key) const {
  return lookup(*doc_, node_, path_, key, false).node != nullptr;
}

namespace {

/// Resolves `key` for a typed read: the node, or null when the key is absent or null and not
/// required. Marks the node read either way.
template <typename T>
bool read_value(const ConfigDocument& doc, const NodePtr& node, const std::string& path,
                const std::string& key, bool required, T& out) {
  Lookup found = lookup(doc, node, path, key, true);
  if (!found.node) {
    if (!required) return false;
    fail_at(doc, *found.parent, "missing key '", found.path, "'");
  }
  if (found.node->kind == Kind::Null && !required) return false;
  Decoder{doc}(*found.node, found.path, out);
  if (found.node->kind == Kind::Sequence) mark_subtree(*found.node);
  return true;
}

}  // namespace

bool Config::read(const std::string& key, bool required, bool& out) const {
  return read_value(*doc_, node_, path_, key, required, out);
}
bool Config::read(const std::string& key, bool required, int& out) const {
  return read_value(*doc_, node_, path_, key, required, out);
}
bool Config::read(const std::string& key, bool required, std::int64_t& out) const {
  return read_value(*doc_, node_, path_, key, required, out);
}
bool Config::read(const std::string& key, bool required, double& out) const {
  return read_value(*doc_, node_, path_, key, required, out);
}
bool Config::read(const std::string& key, bool required, std::string& out) const {
  return read_value(*doc_, node_, path_, key, required, out);
}
bool Config::read(const std::string& key, bool required, std::vector<int>& out) const {
  return read_value(*doc_, node_, path_, key, required, out);
}
bool Config::read(const std::string& key, bool required, std::vector<std::int64_t>& out) const {
  return read_value(*doc_, node_, path_, key, required, out);
}
bool Config::read(const std::string& key, bool required, std::vector<double>& out) const {
  return read_value(*doc_, node_, path_, key, required, out);
}
bool Config::read(const std::string& key, bool required, std::vector<std::string>& out) const {
  return read_value(*doc_, node_, path_, key, required, out);
}

Config Config::child(const std::string& key) const {
  Lookup found = lookup(*doc_, node_, path_, key, true);
  if (!found.node) fail_at(*doc_, *found.parent, "missing key '", found.path, "'");
  if (found.node->kind != Kind::Map) {
    fail_at(*doc_, *found.node, "key '", found.path, "' must be a map, got ",
            describe(*found.node));
  }
  return Config(doc_, found.node, found.path);
}

std::vector<Config> Config::items(const std::string& key) const {
  Lookup found = lookup(*doc_, node_, path_, key, true);
  if (!found.node) fail_at(*doc_, *found.parent, "missing key '", found.path, "'");
  if (found.node->kind != Kind::Sequence) {
    fail_at(*doc_, *found.node, "key '", found.path, "' must be a sequence of maps, got ",
            describe(*found.node));
  }
  std::vector<Config> out;
  for (std::size_t i = 0; i < found.node->seq.size(); ++i) {
    const NodePtr& item = found.node->seq[i];
    const std::string item_path = found.path + "[" + std::to_string(i) + "]";
    if (item->kind != Kind::Map) {
      fail_at(*doc_, *item, "key '", item_path, "' must be a map, got ", describe(*item));
    }
    item->read = true;
    out.push_back(Config(doc_, item, item_path));
  }
  return out;
}

bool Config::is_map() const { return node_->kind == Kind::Map; }

std::vector<std::string> Config::keys() const {
  std::vector<std::string> out;
  for (const auto& entry : node_->map) out.push_back(entry.first);
  return out;
}

int Config::line() const { return node_->line; }

std::string Config::location(const std::string& key) const {
  Lookup found = lookup(*doc_, node_, path_, key, false);
  return shears::location(*doc_, found.node ? *found.node : *node_);
}

ConfigError Config::error(const std::string& key, const std::string& what) const {
  return ConfigError(location(key) + ": key '" + join_key(path_, key) + "' " + what);
}
std::string Config::path() const { return path_; }
std::string Config::file() const { return doc_->source; }

void Config::check_all_read() const {
  std::vector<std::string> unread;
  collect_unread(*doc_, *node_, path_, unread);
  if (unread.empty()) return;
  std::string message =
      unread.size() == 1
          ? std::string()
          : detail::cat(doc_->source, ": ", unread.size(),
                        " keys were not read (misspelt, or not used by this experiment):\n  ");
  for (std::size_t i = 0; i < unread.size(); ++i) message += (i ? "\n  " : "") + unread[i];
  throw ConfigError(message);
}

void Config::mark_read(const std::string& key) const {
  Lookup found = lookup(*doc_, node_, path_, key, true);
  if (!found.node) fail_at(*doc_, *found.parent, "missing key '", found.path, "'");
  mark_subtree(*found.node);
}

void Config::set_override(const std::string& dotted_key, const std::string& value) {
  const std::string origin = "--set " + dotted_key + "=" + value;
  const std::vector<std::string> parts = split_key(dotted_key, origin);

  NodePtr replacement;
  if (value.find_first_not_of(" \t") == std::string::npos) {
    replacement = std::make_shared<ConfigNode>();
    replacement->origin = origin;
  } else {
    YAML::Node y;
    try {
      y = YAML::Load(value);
    } catch (const YAML::Exception& e) {
      throw ConfigError(origin + ": invalid value: " + e.msg);
    }
    if ((y.IsMap() || y.IsSequence()) && y.Style() != YAML::EmitterStyle::Flow) {
      throw ConfigError(origin +
                        ": the value must be a scalar or a flow value ([a, b] or {k: v}), got a "
                        "block " +
                        (y.IsMap() ? "map" : "sequence"));
    }
    Converter converter(*doc_, origin);
    replacement = converter.convert(y, YAML::Mark(), dotted_key, 0);
  }

  NodePtr current = node_;
  std::string path = path_;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (current->kind != Kind::Map) {
      throw ConfigError(detail::cat(origin, ": key '", path, "' is not a map (it is ",
                                    describe(*current), " at ", shears::location(*doc_, *current),
                                    ")"));
    }
    path = join_key(path, parts[i]);
    auto slot = std::find_if(current->map.begin(), current->map.end(),
                             [&](const auto& entry) { return entry.first == parts[i]; });
    if (i + 1 == parts.size()) {
      if (slot != current->map.end()) {
        slot->second = replacement;
      } else {
        current->map.emplace_back(parts[i], replacement);
      }
      return;
    }
    if (slot == current->map.end() || slot->second->kind == Kind::Null) {
      auto section = std::make_shared<ConfigNode>();
      section->kind = Kind::Map;
      section->origin = origin;
      if (slot == current->map.end()) {
        current->map.emplace_back(parts[i], section);
      } else {
        slot->second = section;
      }
      current = section;
    } else {
      current = slot->second;
    }
  }
}

std::string Config::dump() const {
  YAML::Emitter out;
  emit(out, *node_);
  if (!out.good()) throw ConfigError(doc_->source + ": cannot write YAML: " + out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

}  // namespace shears
