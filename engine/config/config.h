#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/common/error.h"

namespace shears {

namespace detail {
struct ConfigNode;
struct ConfigDocument;
}  // namespace detail

/// Typed, read-tracked access to a YAML document (an experiment file).
///
/// A Config is a cheap handle to one node of a parsed document; copies share the document. It
/// remembers the source file and its key path (`train`, `prune.methods[1]`), so every error names
/// where the offending value came from: "exp.yaml:12: key 'train.lr' must be a number, got 'abc'".
/// Keys may be dotted paths relative to this node (`get<double>("optim.lr")`).
///
/// Values: bool (true/false), int, int64_t (decimal integers, range-checked), double (any YAML
/// number, .inf, .nan), std::string (any scalar), and std::vector of int, int64_t, double or
/// std::string (a YAML sequence of such scalars). A quoted scalar ("12") is a string only. An
/// explicit null (`key: ~` or `key:`) counts as present for `has`, gives the fallback in
/// `get(key, fallback)` and is a type error in `get(key)`.
///
/// Every value, section and sequence that is accessed is marked as read in the document;
/// `check_all_read` then reports every key nobody read, so a misspelt key is an error rather than a
/// silently ignored setting. Overrides from the command line (`--set a.b=value`) replace values
/// and are reported as `--set a.b=value` instead of a file line.
///
/// Not thread-safe: reads mark the shared document. All errors are ConfigError.
class Config {
 public:
  /// An empty map with source name "<empty>".
  Config();

  /// Parses the YAML file at `path`. Throws ConfigError naming the file and the system's reason
  /// when it cannot be read, and the file, line and column for a YAML syntax error, a duplicate
  /// key, a non-string key, more than one document, or a document that is not a map. An empty
  /// file is an empty map.
  static Config load_file(const std::string& path);
  /// Parses YAML `text`; `source_name` stands for the file in messages. Throws as load_file.
  static Config parse(const std::string& text, const std::string& source_name);

  /// Whether `key` (dotted) is present, null included. Marks nothing as read. A null section
  /// along the path holds no keys; any other non-map section along the path throws.
  bool has(const std::string& key) const;

  /// The value at `key` (dotted; a key of this map that itself contains dots, such as a layer
  /// path "features.0", is matched literally first), marked as read. Throws ConfigError
  /// "file:line: missing key 'train.lr'" when it is absent and
  /// "file:line: key 'train.lr' must be a number, got 'abc'" when it has the wrong type.
  template <typename T>
  T get(const std::string& key) const {
    T value{};
    read(key, true, value);
    return value;
  }
  /// The value at `key`, or `fallback` when the key is absent or null. Wrong types still throw.
  template <typename T>
  T get(const std::string& key, const T& fallback) const {
    T value{};
    return read(key, false, value) ? value : fallback;
  }
  std::string get(const std::string& key, const char* fallback) const {
    return get<std::string>(key, std::string(fallback));
  }

  /// The map at `key` (dotted), marked as read (its own keys are not). Throws when the key is
  /// absent or not a map.
  Config child(const std::string& key) const;
  /// The maps of the sequence at `key`, each marked as read, with paths `key[0]`, `key[1]`, ...
  /// Throws when the key is absent, not a sequence, or an item is not a map.
  std::vector<Config> items(const std::string& key) const;

  bool is_map() const;
  /// The keys of this map in document order (empty when this node is not a map).
  std::vector<std::string> keys() const;
  /// 1-based line of this node's key in the source (0 for a node set by an override).
  int line() const;
  /// Where `key` (dotted) under this node comes from: "file:line" of the key itself, the
  /// `--set` override that set it, or this node's own location when the key is absent.
  std::string location(const std::string& key) const;
  /// A ConfigError "<location(key)>: key '<path>.<key>' <what>", for a value that is read
  /// but not acceptable (out of range, inconsistent with another key).
  ConfigError error(const std::string& key, const std::string& what) const;
  /// Dotted key path of this node; empty for the document root.
  std::string path() const;
  /// Source name of the document (the file path given to load_file or parse).
  std::string file() const;

  /// Throws ConfigError listing every key under this node that nobody read, each with its
  /// location: "unknown key 'trian' at exp.yaml:4". Within an unread section only the section's
  /// key is listed.
  void check_all_read() const;
  /// Marks `key` (dotted) and everything under it as read, for keys deliberately ignored.
  /// Throws when the key is absent.
  void mark_read(const std::string& key) const;

  /// Applies `--set <dotted_key>=<value>`: `value` is parsed as a YAML scalar or flow value
  /// (`0.1`, `abc`, `[1, 2]`, `{a: 1}`; empty means null) and replaces whatever was at the key,
  /// creating missing intermediate maps. The new nodes are unread and report their location as
  /// `--set <dotted_key>=<value>`. Throws ConfigError for an empty key component, a value that
  /// is not valid YAML or is a block structure, or a path through a non-map value.
  void set_override(const std::string& dotted_key, const std::string& value);

  /// This node and everything under it as YAML, overrides applied; loading the result gives back
  /// the same values.
  std::string dump() const;

 private:
  Config(std::shared_ptr<detail::ConfigDocument> doc, std::shared_ptr<detail::ConfigNode> node,
         std::string path);

  // Each finds `key`, marks it read and converts it into `out`. They return false when the key
  // is absent or null and `required` is false, and throw otherwise.
  bool read(const std::string& key, bool required, bool& out) const;
  bool read(const std::string& key, bool required, int& out) const;
  bool read(const std::string& key, bool required, std::int64_t& out) const;
  bool read(const std::string& key, bool required, double& out) const;
  bool read(const std::string& key, bool required, std::string& out) const;
  bool read(const std::string& key, bool required, std::vector<int>& out) const;
  bool read(const std::string& key, bool required, std::vector<std::int64_t>& out) const;
  bool read(const std::string& key, bool required, std::vector<double>& out) const;
  bool read(const std::string& key, bool required, std::vector<std::string>& out) const;

  std::shared_ptr<detail::ConfigDocument> doc_;
  std::shared_ptr<detail::ConfigNode> node_;
  std::string path_;
};

}  // namespace shears
