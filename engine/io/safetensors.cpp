#include "engine/io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/io/atomic_file.h"
#include "kernels/common/error.h"

namespace shears {
namespace {

// Tensor bytes are copied as they are in memory, and the format is little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the safetensors reader and writer assume a little-endian host");

using nlohmann::json;

constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";
constexpr DType kDTypes[] = {DType::F32, DType::F64, DType::I32, DType::I64, DType::U8};

/// A name from the file as it appears in messages: quoted, and cut short if it is long.
std::string quoted(const std::string& text) {
  constexpr std::size_t kMax = 120;
  if (text.size() <= kMax) return "'" + text + "'";
  return "'" + text.substr(0, kMax) + "...' (" + std::to_string(text.size()) + " characters)";
}

/// "a string", "an array", ... for messages. Never prints the value itself: a hostile header
/// could nest it deeply enough to make printing it expensive.
const char* json_kind(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a fractional number";
    case json::value_t::binary:
      return "binary data";
    case json::value_t::discarded:
      return "invalid";
  }
  return "invalid";
}

bool parse_dtype(const std::string& name, DType& out) {
  for (DType t : kDTypes) {
    if (name == dtype_name(t)) {
      out = t;
      return true;
    }
  }
  return false;
}

std::string supported_dtypes() {
  std::string s;
  for (DType t : kDTypes) s += std::string(s.empty() ? "" : ", ") + dtype_name(t);
  return s;
}

/// Reads a JSON value as a non-negative integer that fits in int64.
bool as_index(const json& value, std::uint64_t& out) {
  if (value.is_number_unsigned()) {
    out = value.get<std::uint64_t>();
  } else if (value.is_number_integer()) {
    std::int64_t v = value.get<std::int64_t>();
    if (v < 0) return false;
    out = static_cast<std::uint64_t>(v);
  } else {
    return false;
  }
  return out <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
}

/// One tensor entry of the header, validated.
struct Entry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

/// Owns a read-only file descriptor.
class InputFile {
 public:
  explicit InputFile(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail("cannot open file: ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail("cannot stat file: ", std::strerror(errno));
    if (!S_ISREG(st.st_mode)) fail("not a regular file");
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  ~InputFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  std::uint64_t size() const { return size_; }

  /// Reads exactly `n` bytes at `offset` into `dst`.
  void read(void* dst, std::uint64_t n, std::uint64_t offset, const char* what) const {
    auto* out = static_cast<char*>(dst);
    while (n > 0) {
      ssize_t got = ::pread(fd_, out, static_cast<std::size_t>(n), static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) fail("reading ", what, " failed: ", std::strerror(errno));
      if (got == 0) fail("unexpected end of file while reading ", what, " (the file shrank?)");
      out += got;
      n -= static_cast<std::uint64_t>(got);
      offset += static_cast<std::uint64_t>(got);
    }
  }

  template <typename... Parts>
  [[noreturn]] void fail(Parts&&... parts) const {
    throw CheckpointError(detail::cat(path_, ": ", std::forward<Parts>(parts)...));
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

Entry parse_entry(const InputFile& file, const std::string& name, const json& info,
                  std::uint64_t data_size) {
  const std::string where = "tensor " + quoted(name);
  if (!info.is_object()) {
    file.fail(where, ": entry must be a JSON object, got ", json_kind(info));
  }
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!info.contains(field)) file.fail(where, ": missing field '", field, "'");
  }
  Entry e;
  e.name = name;

  const json& dtype = info.at("dtype");
  if (!dtype.is_string()) {
    file.fail(where, ": field 'dtype' must be a string, got ", json_kind(dtype));
  }
  const auto& dtype_text = dtype.get_ref<const std::string&>();
  if (!parse_dtype(dtype_text, e.dtype)) {
    file.fail(where, ": unsupported dtype ", quoted(dtype_text),
              " (supported: ", supported_dtypes(), ")");
  }

  const json& shape = info.at("shape");
  if (!shape.is_array()) {
    file.fail(where, ": field 'shape' must be an array of non-negative integers, got ",
              json_kind(shape));
  }
  for (std::size_t i = 0; i < shape.size(); ++i) {
    std::uint64_t dim = 0;
    if (!as_index(shape[i], dim)) {
      file.fail(where, ": shape[", i, "] must be a non-negative integer below 2^63, got ",
                shape[i].is_number() ? shape[i].dump() : json_kind(shape[i]));
    }
    e.shape.push_back(static_cast<std::int64_t>(dim));
  }
  // The product of the non-zero dimensions must fit in int64, so that numel, strides and
  // byte counts of this shape (and of any view of it) can be computed without overflow.
  std::int64_t nonzero_product = 1;
  bool has_zero = false;
  for (std::int64_t dim : e.shape) {
    if (dim == 0) {
      has_zero = true;
    } else if (__builtin_mul_overflow(nonzero_product, dim, &nonzero_product)) {
      file.fail(where, ": shape ", shape_str(e.shape), " overflows the element count");
    }
  }
  const std::int64_t numel = has_zero ? 0 : nonzero_product;
  std::uint64_t nbytes = 0;
  if (__builtin_mul_overflow(static_cast<std::uint64_t>(numel),
                             static_cast<std::uint64_t>(dtype_size(e.dtype)), &nbytes)) {
    file.fail(where, ": shape ", shape_str(e.shape), " of ", dtype_name(e.dtype),
              " overflows the byte count");
  }

  const json& offsets = info.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !as_index(offsets[0], e.begin) ||
      !as_index(offsets[1], e.end)) {
    file.fail(where, ": field 'data_offsets' must be [begin, end] with non-negative integers");
  }
  if (e.begin > e.end) {
    file.fail(where, ": data_offsets [", e.begin, ", ", e.end, "] has begin > end");
  }
  if (e.end > data_size) {
    file.fail(where, ": data_offsets [", e.begin, ", ", e.end,
              "] reach past the end of the data section (", data_size, " bytes)");
  }
  if (e.end - e.begin != nbytes) {
    file.fail(where, ": data_offsets [", e.begin, ", ", e.end, "] hold ", e.end - e.begin,
              " bytes but shape ", shape_str(e.shape), " of ", dtype_name(e.dtype), " needs ",
              nbytes);
  }
  return e;
}

void parse_metadata(const InputFile& file, const json& value,
                    std::map<std::string, std::string>& out) {
  if (!value.is_object()) {
    file.fail("'", kMetadataKey, "' must be a JSON object of strings, got ", json_kind(value));
  }
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      file.fail("'", kMetadataKey, "' value for key ", quoted(key), " must be a string, got ",
                json_kind(item));
    }
    out[key] = item.get<std::string>();
  }
}

}  // namespace

void save_safetensors(const std::string& path, const TensorList& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // ordered_json keeps "__metadata__" first and the tensors in the order given.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    auto& meta = header[kMetadataKey];
    meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
  }

  std::vector<Tensor> host;
  host.reserve(tensors.size());
  std::set<std::string> seen;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const std::string where = path + ": tensor " + quoted(name);
    SHEARS_CHECK_AS(CheckpointError, !name.empty(), path, ": a tensor has an empty name");
    SHEARS_CHECK_AS(CheckpointError, name != kMetadataKey, where, ": the name is reserved");
    SHEARS_CHECK_AS(CheckpointError, seen.insert(name).second, where,
                    ": the name appears more than once");
    SHEARS_CHECK_AS(CheckpointError, tensor.defined(), where, ": the tensor is undefined");
    host.push_back(tensor.device().is_cpu() ? tensor : tensor.cpu());
    const std::uint64_t nbytes = host.back().nbytes();
    header[name] = {{"dtype", dtype_name(tensor.dtype())},
                    {"shape", tensor.shape()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }

  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const std::uint64_t length = text.size();

  write_file_atomic(path, [&](std::ostream& out) {
    char prefix[8];
    std::memcpy(prefix, &length, sizeof(prefix));
    out.write(prefix, sizeof(prefix));
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const Tensor& t : host) {
      if (t.nbytes() == 0) continue;
      out.write(static_cast<const char*>(t.raw_data()), static_cast<std::streamsize>(t.nbytes()));
    }
  });
}

SafetensorsContents load_safetensors(const std::string& path) {
  InputFile file(path);
  if (file.size() < 8) {
    file.fail("file is ", file.size(), " bytes, shorter than the 8-byte header length");
  }
  unsigned char prefix[8];
  file.read(prefix, 8, 0, "the header length");
  std::uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | prefix[i];
  if (length > kMaxHeaderBytes) {
    file.fail("header length ", length, " is larger than the limit of ", kMaxHeaderBytes, " bytes");
  }
  if (length > file.size() - 8) {
    file.fail("header length ", length, " exceeds the ", file.size() - 8,
              " bytes that follow it (truncated file?)");
  }
  std::string text(static_cast<std::size_t>(length), '\0');
  file.read(text.data(), length, 8, "the header");

  // nlohmann's parser stops at a NUL byte as if the input ended there; JSON allows none, so
  // reject them rather than ignore what follows.
  if (const std::size_t nul = text.find('\0'); nul != std::string::npos) {
    file.fail("header is not valid JSON: NUL byte at header offset ", nul);
  }
  json header;
  try {
    header = json::parse(text);
  } catch (const json::exception& e) {
    file.fail("header is not valid JSON: ", e.what());
  }
  if (!header.is_object()) {
    file.fail("header must be a JSON object, got ", json_kind(header));
  }

  const std::uint64_t data_start = 8 + length;
  const std::uint64_t data_size = file.size() - data_start;
  SafetensorsContents contents;
  std::vector<Entry> entries;
  for (const auto& [name, info] : header.items()) {
    if (name == kMetadataKey) {
      parse_metadata(file, info, contents.metadata);
    } else {
      entries.push_back(parse_entry(file, name, info, data_size));
    }
  }

  // The tensors must tile the data section exactly: no overlap, no gap, nothing left over.
  // Ties (empty tensors at one offset) keep the header's key order, which is by name.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < covered) {
      file.fail("tensor ", quoted(e.name), ": data_offsets [", e.begin, ", ", e.end,
                "] overlap tensor ", quoted(previous->name), " at [", previous->begin, ", ",
                previous->end, "]");
    }
    if (e.begin > covered) {
      file.fail("bytes [", covered, ", ", e.begin,
                ") of the data section are not covered by any tensor (before tensor ",
                quoted(e.name), ")");
    }
    covered = e.end;
    previous = &e;
  }
  if (covered != data_size) {
    file.fail("bytes [", covered, ", ", data_size,
              ") at the end of the data section are not covered by any tensor");
  }

  contents.tensors.reserve(entries.size());
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (e.end > e.begin) {
      file.read(t.raw_data(), e.end - e.begin, data_start + e.begin,
                ("the data of tensor " + quoted(e.name)).c_str());
    }
    contents.tensors.emplace_back(e.name, std::move(t));
  }
  return contents;
}

}  // namespace shears
