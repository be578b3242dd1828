#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"

namespace shears::testing {
namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
  return s;
}

/// A safetensors file built by hand: length prefix, header text as given, then `data`.
std::string make_file(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

template <typename T>
std::string raw(const std::vector<T>& values) {
  std::string s(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(s.data(), values.data(), s.size());
  return s;
}

std::string bytes_of(const Tensor& t) {
  return std::string(static_cast<const char*>(t.raw_data()), t.nbytes());
}

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::uint8_t> all_bytes() {
  std::vector<std::uint8_t> v(256);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint8_t>(i);
  return v;
}

float float_bits(std::uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

double double_bits(std::uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, sizeof(d));
  return d;
}

/// Writes `bytes` to a file in `dir` and expects load_safetensors to reject it with a
/// CheckpointError naming the file and containing `substring`.
void expect_rejected(const TempDir& dir, const std::string& bytes, const std::string& substring) {
  const std::string path = dir.file("bad.safetensors");
  write_bytes(path, bytes);
  EXPECT_THROW_MSG(load_safetensors(path), CheckpointError, substring);
  EXPECT_THROW_MSG(load_safetensors(path), CheckpointError, path + ": ");
}

void expect_same(const TensorList& expected, const TensorList& actual) {
  ASSERT_EQ(expected.size(), actual.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(expected[i].first);
    EXPECT_EQ(expected[i].first, actual[i].first);
    EXPECT_EQ(expected[i].second.dtype(), actual[i].second.dtype());
    EXPECT_EQ(expected[i].second.shape(), actual[i].second.shape());
    EXPECT_TRUE(actual[i].second.device().is_cpu());
    EXPECT_EQ(bytes_of(expected[i].second), bytes_of(actual[i].second));
  }
}

// ---- round trips ----------------------------------------------------------------------------

TEST(Safetensors, RoundTripsEveryDTypeBitExact) {
  TempDir dir;
  const TensorList tensors = {
      {"f32", Tensor::from_vector<float>(
                  {1.5f, -0.0f, std::numeric_limits<float>::infinity(), float_bits(0x7fc00123u),
                   std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max()},
                  {2, 3})},
      {"mid_empty", Tensor::empty({0}, DType::F32)},
      {"f64", Tensor::from_vector<double>({3.25, double_bits(0xfff8000000000abcull),
                                           -std::numeric_limits<double>::infinity(), 1e-310},
                                          {4})},
      {"i32", Tensor::from_vector<std::int32_t>({std::numeric_limits<std::int32_t>::min(), -1, 0,
                                                 std::numeric_limits<std::int32_t>::max()},
                                                {2, 2})},
      {"i64", Tensor::from_vector<std::int64_t>({std::numeric_limits<std::int64_t>::min(), 7,
                                                 std::numeric_limits<std::int64_t>::max()},
                                                {3, 1})},
      {"u8", Tensor::from_vector<std::uint8_t>(all_bytes(), {16, 16})},
      {"scalar", Tensor::from_vector<double>({-2.5}, {})},
      {"empty_a", Tensor::empty({3, 0, 2}, DType::I32)},
      {"empty_b", Tensor::empty({0}, DType::U8)},
  };
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"arch", "{\"widths\": [16, 32]}"}, {"note", "caf\xc3\xa9"}, {"empty", ""}};
  const std::string path = dir.file("all.safetensors");
  save_safetensors(path, tensors, metadata);

  SafetensorsContents loaded = load_safetensors(path);
  expect_same(tensors, loaded.tensors);
  EXPECT_EQ(metadata, loaded.metadata);
  EXPECT_EQ(loaded.tensors[6].second.dim(), 0);
}

TEST(Safetensors, KeepsTheGivenOrder) {
  TempDir dir;
  const TensorList tensors = {{"zeta", Tensor::from_vector<float>({1, 2}, {2})},
                              {"alpha", Tensor::from_vector<std::int64_t>({3}, {1})},
                              {"mu", Tensor::from_vector<double>({4, 5, 6}, {3})}};
  save_safetensors(dir.file("m.safetensors"), tensors);
  SafetensorsContents loaded = load_safetensors(dir.file("m.safetensors"));
  expect_same(tensors, loaded.tensors);
  EXPECT_TRUE(loaded.metadata.empty());
}

TEST(Safetensors, RoundTripsFilesWithoutData) {
  TempDir dir;
  save_safetensors(dir.file("none.safetensors"), {});
  EXPECT_EQ(read_bytes(dir.file("none.safetensors")), le64(8) + "{}      ");
  SafetensorsContents loaded = load_safetensors(dir.file("none.safetensors"));
  EXPECT_TRUE(loaded.tensors.empty());

  const TensorList empties = {{"a", Tensor::empty({0, 4}, DType::F32)}};
  save_safetensors(dir.file("empty.safetensors"), empties, {{"k", "v"}});
  loaded = load_safetensors(dir.file("empty.safetensors"));
  expect_same(empties, loaded.tensors);
  EXPECT_EQ(loaded.metadata.at("k"), "v");
}

TEST(Safetensors, WritesTheReferenceLayout) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  save_safetensors(path,
                   {{"w", Tensor::from_vector<float>({1.0f, 2.0f}, {2})},
                    {"step", Tensor::from_vector<std::int64_t>({9}, {})}},
                   {{"k", "v"}});
  const std::string bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), 8u);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + n + 16);
  const std::string json =
      R"({"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("step":{"dtype":"I64","shape":[],"data_offsets":[8,16]}})";
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.substr(0, json.size()), json);
  EXPECT_EQ(header.substr(json.size()), std::string(n - json.size(), ' '));
  EXPECT_LT(n - json.size(), 8u);
  EXPECT_EQ(bytes.substr(8 + n), raw<float>({1.0f, 2.0f}) + raw<std::int64_t>({9}));
}

TEST(Safetensors, ReadsAHandWrittenReferenceFile) {
  TempDir dir;
  // As the reference writer lays it out: data sorted by dtype then name, so the header's key
  // order differs from the data order; metadata last; padded with spaces.
  std::string header =
      R"({"b":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
      R"("a":{"dtype":"F32","shape":[1,2],"data_offsets":[16,24]},)"
      R"("c":{"dtype":"U8","shape":[3],"data_offsets":[24,27]},"__metadata__":{"format":"pt"}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  const std::string data =
      raw<std::int64_t>({-5, 1LL << 40}) + raw<float>({0.25f, -8.0f}) + std::string("\x01\x02\xff");
  const std::string path = dir.file("ref.safetensors");
  write_bytes(path, make_file(header, data));

  SafetensorsContents loaded = load_safetensors(path);
  ASSERT_EQ(loaded.tensors.size(), 3u);
  EXPECT_EQ(loaded.tensors[0].first, "b");
  EXPECT_EQ(loaded.tensors[0].second.to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{-5, 1LL << 40}));
  EXPECT_EQ(loaded.tensors[1].first, "a");
  EXPECT_EQ(loaded.tensors[1].second.shape(), (Shape{1, 2}));
  EXPECT_EQ(loaded.tensors[1].second.to_vector<float>(), (std::vector<float>{0.25f, -8.0f}));
  EXPECT_EQ(loaded.tensors[2].first, "c");
  EXPECT_EQ(loaded.tensors[2].second.to_vector<std::uint8_t>(),
            (std::vector<std::uint8_t>{1, 2, 255}));
  EXPECT_EQ(loaded.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));

  // Unpadded headers, whitespace inside the JSON and unknown entry fields are accepted too.
  const std::string loose =
      "{\n  \"x\" : {\"shape\": [1], \"dtype\": \"F64\", \"data_offsets\": [0, 8], "
      "\"extra\": null}\n}";
  write_bytes(path, make_file(loose, raw<double>({2.5})));
  loaded = load_safetensors(path);
  ASSERT_EQ(loaded.tensors.size(), 1u);
  EXPECT_EQ(loaded.tensors[0].second.to_vector<double>(), (std::vector<double>{2.5}));
}

// ---- damaged files --------------------------------------------------------------------------

/// A valid two-tensor file ("a": 2 x F32 at [0, 8), "b": 2 x I64 at [8, 24)) and its header size.
std::string valid_file(std::uint64_t* header_size = nullptr) {
  std::string header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"I64","shape":[2],"data_offsets":[8,24]},"__metadata__":{"k":"v"}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  if (header_size != nullptr) *header_size = header.size();
  return make_file(header, raw<float>({1, 2}) + raw<std::int64_t>({3, 4}));
}

/// A file with one tensor entry `w` whose JSON is `entry`, followed by `data_size` zero bytes.
std::string one_entry(const std::string& entry, std::size_t data_size) {
  return make_file("{\"w\":" + entry + "}", std::string(data_size, '\0'));
}

TEST(SafetensorsDamaged, TruncatedAtEveryHeaderByte) {
  TempDir dir;
  std::uint64_t n = 0;
  const std::string bytes = valid_file(&n);
  for (std::size_t cut = 0; cut < 8 + n; ++cut) {
    SCOPED_TRACE("cut at byte " + std::to_string(cut));
    expect_rejected(dir, bytes.substr(0, cut),
                    cut < 8 ? "shorter than the 8-byte header length"
                            : "header length " + std::to_string(n) + " exceeds the " +
                                  std::to_string(cut - 8) + " bytes that follow it");
  }
}

TEST(SafetensorsDamaged, TruncatedInTheData) {
  TempDir dir;
  std::uint64_t n = 0;
  const std::string bytes = valid_file(&n);
  for (std::size_t keep : {0, 1, 7, 8, 9, 16, 23}) {
    SCOPED_TRACE("data bytes kept: " + std::to_string(keep));
    expect_rejected(dir, bytes.substr(0, 8 + n + keep),
                    "reach past the end of the data section (" + std::to_string(keep) + " bytes)");
  }
}

TEST(SafetensorsDamaged, TrailingBytes) {
  TempDir dir;
  expect_rejected(dir, valid_file() + "xyz",
                  "bytes [24, 27) at the end of the data section are not covered by any tensor");
}

TEST(SafetensorsDamaged, WrongHeaderLength) {
  TempDir dir;
  std::uint64_t n = 0;
  const std::string bytes = valid_file(&n);
  const std::string body = bytes.substr(8);
  expect_rejected(dir, le64(std::numeric_limits<std::uint64_t>::max()) + body,
                  "header length 18446744073709551615 is larger than the limit of 100000000");
  expect_rejected(dir, le64(100'000'001) + body, "is larger than the limit");
  expect_rejected(dir, le64(body.size() + 1) + body, "exceeds the");
  expect_rejected(dir, le64(n - 9) + body, "header is not valid JSON");
  expect_rejected(dir, le64(n + 8) + body, "header is not valid JSON");
}

TEST(SafetensorsDamaged, NotAJsonObject) {
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "header is not valid JSON"},
      {"{", "header is not valid JSON"},
      {"not json", "header is not valid JSON"},
      {"{\"w\": }", "header is not valid JSON"},
      {"{\"\xff\": 1}", "header is not valid JSON"},
      {"{} trailing", "header is not valid JSON"},
      {std::string("{}\0trailing", 11), "header is not valid JSON: NUL byte at header offset 2"},
      {"[1, 2]", "header must be a JSON object, got an array"},
      {"\"text\"", "header must be a JSON object, got a string"},
      {"null", "header must be a JSON object, got null"},
      {"42", "header must be a JSON object, got an integer"},
  };
  for (const auto& [header, message] : cases) {
    SCOPED_TRACE(header);
    expect_rejected(dir, make_file(header, ""), message);
  }
}

TEST(SafetensorsDamaged, BadTensorEntries) {
  TempDir dir;
  struct Case {
    std::string entry;
    std::size_t data_size;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"5", 0, "tensor 'w': entry must be a JSON object, got an integer"},
      {"[]", 0, "tensor 'w': entry must be a JSON object, got an array"},
      {R"({"shape":[1],"data_offsets":[0,4]})", 4, "tensor 'w': missing field 'dtype'"},
      {R"({"dtype":"F32","data_offsets":[0,4]})", 4, "tensor 'w': missing field 'shape'"},
      {R"({"dtype":"F32","shape":[1]})", 4, "tensor 'w': missing field 'data_offsets'"},
      {R"({"dtype":5,"shape":[1],"data_offsets":[0,4]})", 4,
       "tensor 'w': field 'dtype' must be a string, got an integer"},
      {R"({"dtype":"F16","shape":[1],"data_offsets":[0,2]})", 2,
       "tensor 'w': unsupported dtype 'F16' (supported: F32, F64, I32, I64, U8)"},
      {R"({"dtype":"f32","shape":[1],"data_offsets":[0,4]})", 4, "unsupported dtype 'f32'"},
      {R"({"dtype":"F32","shape":"1","data_offsets":[0,4]})", 4,
       "tensor 'w': field 'shape' must be an array of non-negative integers, got a string"},
      {R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})", 4,
       "tensor 'w': shape[0] must be a non-negative integer below 2^63, got -1"},
      {R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})", 4,
       "shape[0] must be a non-negative integer below 2^63, got 1.5"},
      {R"({"dtype":"F32","shape":[1,"2"],"data_offsets":[0,8]})", 8,
       "shape[1] must be a non-negative integer below 2^63, got a string"},
      {R"({"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]})", 4,
       "shape[0] must be a non-negative integer below 2^63, got 18446744073709551615"},
      {R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]})", 4,
       "tensor 'w': shape [4294967296, 4294967296] overflows the element count"},
      {R"({"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]})", 0,
       "shape [0, 4294967296, 4294967296] overflows the element count"},
      {R"({"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]})", 8,
       "shape [2305843009213693952] of F64 overflows the byte count"},
      {R"({"dtype":"F32","shape":[1099511627776],"data_offsets":[0,4]})", 4,
       "data_offsets [0, 4] hold 4 bytes but shape [1099511627776] of F32 needs 4398046511104"},
      {R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})", 8,
       "tensor 'w': data_offsets [0, 8] hold 8 bytes but shape [3] of F32 needs 12"},
      {R"({"dtype":"F32","shape":[1],"data_offsets":[0]})", 4,
       "tensor 'w': field 'data_offsets' must be [begin, end] with non-negative integers"},
      {R"({"dtype":"F32","shape":[1],"data_offsets":[0,4,8]})", 8, "must be [begin, end]"},
      {R"({"dtype":"F32","shape":[1],"data_offsets":"0,4"})", 4, "must be [begin, end]"},
      {R"({"dtype":"F32","shape":[1],"data_offsets":[-4,0]})", 4, "must be [begin, end]"},
      {R"({"dtype":"F32","shape":[1],"data_offsets":[0.0,4]})", 4, "must be [begin, end]"},
      {R"({"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]})", 4,
       "must be [begin, end]"},
      {R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})", 8,
       "tensor 'w': data_offsets [8, 4] has begin > end"},
      {R"({"dtype":"F32","shape":[3],"data_offsets":[0,12]})", 8,
       "tensor 'w': data_offsets [0, 12] reach past the end of the data section (8 bytes)"},
      {R"({"dtype":"U8","shape":[1],"data_offsets":[9223372036854775807,9223372036854775807]})", 1,
       "reach past the end of the data section (1 bytes)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.entry);
    expect_rejected(dir, one_entry(c.entry, c.data_size), c.message);
  }
}

TEST(SafetensorsDamaged, OverlapsAndGaps) {
  TempDir dir;
  const std::string f32x2 = R"("dtype":"F32","shape":[2],)";
  const std::string f32x1 = R"("dtype":"F32","shape":[1],)";
  expect_rejected(dir,
                  make_file("{\"a\":{" + f32x2 + "\"data_offsets\":[0,8]},\"b\":{" + f32x2 +
                                "\"data_offsets\":[4,12]}}",
                            std::string(12, '\0')),
                  "tensor 'b': data_offsets [4, 12] overlap tensor 'a' at [0, 8]");
  expect_rejected(dir,
                  make_file("{\"a\":{" + f32x2 + "\"data_offsets\":[0,8]},\"b\":{" + f32x2 +
                                "\"data_offsets\":[0,8]}}",
                            std::string(8, '\0')),
                  "tensor 'b': data_offsets [0, 8] overlap tensor 'a' at [0, 8]");
  expect_rejected(dir,
                  make_file("{\"a\":{" + f32x1 + "\"data_offsets\":[0,4]},\"b\":{" + f32x1 +
                                "\"data_offsets\":[8,12]}}",
                            std::string(12, '\0')),
                  "bytes [4, 8) of the data section are not covered by any tensor (before tensor "
                  "'b')");
  expect_rejected(dir,
                  make_file("{\"a\":{" + f32x1 + "\"data_offsets\":[4,8]}}", std::string(8, '\0')),
                  "bytes [0, 4) of the data section are not covered");
  expect_rejected(dir,
                  make_file("{\"a\":{" + f32x1 + "\"data_offsets\":[0,4]}}", std::string(8, '\0')),
                  "bytes [4, 8) at the end of the data section are not covered");
}

TEST(SafetensorsDamaged, BadMetadata) {
  TempDir dir;
  expect_rejected(dir, make_file(R"({"__metadata__":{"k":5}})", ""),
                  "'__metadata__' value for key 'k' must be a string, got an integer");
  expect_rejected(dir, make_file(R"({"__metadata__":{"k":{"x":"y"}}})", ""),
                  "value for key 'k' must be a string, got an object");
  expect_rejected(dir, make_file(R"({"__metadata__":["a"]})", ""),
                  "'__metadata__' must be a JSON object of strings, got an array");
}

TEST(SafetensorsDamaged, DeeplyNestedJson) {
  TempDir dir;
  constexpr std::size_t kDepth = 200000;
  expect_rejected(dir, make_file(std::string(kDepth, '[') + std::string(kDepth, ']'), ""),
                  "header must be a JSON object, got an array");
  expect_rejected(
      dir, make_file("{\"w\":" + std::string(kDepth, '[') + std::string(kDepth, ']') + "}", ""),
      "tensor 'w': entry must be a JSON object, got an array");
  expect_rejected(dir, make_file(std::string(kDepth, '['), ""), "header is not valid JSON");
}

TEST(SafetensorsDamaged, LongNamesAreShortenedInMessages) {
  TempDir dir;
  const std::string name(5000, 'n');
  const std::string bytes = make_file("{\"" + name + "\":7}", "");
  write_bytes(dir.file("long.safetensors"), bytes);
  try {
    load_safetensors(dir.file("long.safetensors"));
    FAIL() << "no error";
  } catch (const CheckpointError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("...' (5000 characters): entry must be a JSON object"),
              std::string::npos)
        << message;
    EXPECT_LT(message.size(), 1000u);
  }
}

TEST(SafetensorsDamaged, MissingFileAndDirectory) {
  TempDir dir;
  EXPECT_THROW_MSG(
      load_safetensors(dir.file("absent.safetensors")), CheckpointError,
      dir.file("absent.safetensors") + ": cannot open file: No such file or directory");
  EXPECT_THROW_MSG(load_safetensors(dir.path()), CheckpointError,
                   dir.path() + ": not a regular file");
}

// ---- save errors and atomicity --------------------------------------------------------------

TEST(SafetensorsSave, RejectsBadNamesAndKeepsTheOldFile) {
  TempDir dir;
  const std::string path = dir.file("keep.safetensors");
  save_safetensors(path, {{"w", Tensor::from_vector<float>({1}, {1})}});
  const std::string before = read_bytes(path);
  const Tensor t = Tensor::from_vector<float>({2}, {1});

  EXPECT_THROW_MSG(save_safetensors(path, {{"a", t}, {"b", t}, {"a", t}}), CheckpointError,
                   path + ": tensor 'a': the name appears more than once");
  EXPECT_THROW_MSG(save_safetensors(path, {{"__metadata__", t}}), CheckpointError,
                   "tensor '__metadata__': the name is reserved");
  EXPECT_THROW_MSG(save_safetensors(path, {{"", t}}), CheckpointError,
                   path + ": a tensor has an empty name");
  EXPECT_THROW_MSG(save_safetensors(path, {{"u", Tensor()}}), CheckpointError,
                   "tensor 'u': the tensor is undefined");
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(dir_entries(dir.path()), (std::vector<std::string>{"keep.safetensors"}));
}

TEST(SafetensorsSave, ReplacesAnExistingFile) {
  TempDir dir;
  const std::string path = dir.file("r.safetensors");
  save_safetensors(path, {{"old", Tensor::from_vector<float>({1, 2, 3}, {3})}});
  const TensorList now = {{"new", Tensor::from_vector<std::int32_t>({4}, {1})}};
  save_safetensors(path, now);
  expect_same(now, load_safetensors(path).tensors);
  EXPECT_EQ(dir_entries(dir.path()), (std::vector<std::string>{"r.safetensors"}));
}

TEST(AtomicFile, WritesAndReplaces) {
  TempDir dir;
  const std::string path = dir.file("f.txt");
  write_file_atomic(path, [](std::ostream& out) { out << "hello"; });
  EXPECT_EQ(read_bytes(path), "hello");
  write_file_atomic(path, [](std::ostream& out) { out << "world!"; });
  EXPECT_EQ(read_bytes(path), "world!");
  EXPECT_EQ(dir_entries(dir.path()), (std::vector<std::string>{"f.txt"}));
}

TEST(AtomicFile, WritesLargeBlocksExactly) {
  TempDir dir;
  std::string big(3'000'017, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  write_file_atomic(dir.file("big.bin"), [&](std::ostream& out) {
    out << "head";
    out.write(big.data(), static_cast<std::streamsize>(big.size()));
    out.put('!');
  });
  EXPECT_EQ(read_bytes(dir.file("big.bin")), "head" + big + "!");
}

TEST(AtomicFile, WriterExceptionKeepsTheOldFile) {
  TempDir dir;
  const std::string path = dir.file("f.txt");
  write_file_atomic(path, [](std::ostream& out) { out << "old"; });
  EXPECT_THROW_MSG(write_file_atomic(path,
                                     [](std::ostream& out) {
                                       out << std::string(200000, 'x');
                                       throw std::runtime_error("writer failed");
                                     }),
                   std::runtime_error, "writer failed");
  EXPECT_THROW_MSG(write_file_atomic(path,
                                     [](std::ostream& out) {
                                       out << "partial";
                                       throw CheckpointError("kind is kept");
                                     }),
                   CheckpointError, "kind is kept");
  EXPECT_EQ(read_bytes(path), "old");
  EXPECT_EQ(dir_entries(dir.path()), (std::vector<std::string>{"f.txt"}));

  // Nor is a file created when there was none before.
  EXPECT_THROW(
      write_file_atomic(dir.file("g.txt"), [](std::ostream&) { throw std::runtime_error("no"); }),
      std::runtime_error);
  EXPECT_EQ(dir_entries(dir.path()), (std::vector<std::string>{"f.txt"}));
}

TEST(AtomicFile, IoFailuresNameThePathAndReason) {
  TempDir dir;
  const std::string missing = dir.file("no_such_dir/f.bin");
  EXPECT_THROW_MSG(
      write_file_atomic(missing, [](std::ostream& out) { out << "x"; }), Error,
      "cannot write '" + missing + "': cannot create temporary file '" + missing + ".tmp.");
  EXPECT_THROW_MSG(write_file_atomic(missing, [](std::ostream& out) { out << "x"; }), Error,
                   "No such file or directory");

  const std::string occupied = dir.file("occupied");
  std::filesystem::create_directories(occupied + "/inside");
  EXPECT_THROW_MSG(write_file_atomic(occupied, [](std::ostream& out) { out << "x"; }), Error,
                   "cannot write '" + occupied + "': rename from '" + occupied + ".tmp.");
  EXPECT_EQ(dir_entries(dir.path()), (std::vector<std::string>{"occupied"}));
}

}  // namespace
}  // namespace shears::testing
