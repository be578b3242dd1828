#include "data/file_io.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include <zlib.h>

#include "kernels/common/error.h"

namespace shears::data {

namespace fs = std::filesystem;

namespace {
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

void check_regular_file(const std::string& path) {
  std::error_code ec;
  auto status = fs::status(path, ec);
  SHEARS_CHECK_AS(DataError, fs::exists(status), "missing file: ", path);
  SHEARS_CHECK_AS(DataError, fs::is_regular_file(status), "not a regular file: ", path);
}
}  // namespace

std::vector<std::uint8_t> read_file(const std::string& path) {
  check_regular_file(path);
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  SHEARS_CHECK_AS(DataError, file != nullptr, "cannot open ", path, ": ", std::strerror(errno));
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  SHEARS_CHECK_AS(DataError, !ec, "cannot size ", path, ": ", ec.message());
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  const std::size_t got = bytes.empty() ? 0 : std::fread(bytes.data(), 1, bytes.size(), file.get());
  SHEARS_CHECK_AS(DataError, got == bytes.size(), "short read of ", path, ": ", got, " of ",
                  bytes.size(), " bytes");
  return bytes;
}

std::vector<std::uint8_t> read_maybe_gzip(const std::string& path) {
  check_regular_file(path);
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  SHEARS_CHECK_AS(DataError, file != nullptr, "cannot open ", path, ": ", std::strerror(errno));
  gzbuffer(file.get(), 1 << 18);
  std::vector<std::uint8_t> bytes;
  constexpr unsigned kChunk = 1u << 20;
  for (;;) {
    const std::size_t old = bytes.size();
    bytes.resize(old + kChunk);
    const int got = gzread(file.get(), bytes.data() + old, kChunk);
    if (got < 0) {
      int code = 0;
      const char* message = gzerror(file.get(), &code);
      throw DataError(detail::cat("corrupt gzip data in ", path, ": ", message));
    }
    bytes.resize(old + static_cast<std::size_t>(got));
    if (got == 0) break;
  }
  // gzread reports a stream cut short only through gzerror: Z_BUF_ERROR at end of input.
  int code = Z_OK;
  const char* message = gzerror(file.get(), &code);
  SHEARS_CHECK_AS(DataError, code == Z_OK || code == Z_STREAM_END, "corrupt gzip data in ", path,
                  ": ", message);
  return bytes;
}

void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes, bool gzip) {
  if (gzip) {
    std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "wb"));
    SHEARS_CHECK_AS(DataError, file != nullptr, "cannot create ", path, ": ", std::strerror(errno));
    std::size_t done = 0;
    while (done < bytes.size()) {
      const unsigned chunk =
          static_cast<unsigned>(std::min<std::size_t>(bytes.size() - done, 1u << 20));
      const int put = gzwrite(file.get(), bytes.data() + done, chunk);
      SHEARS_CHECK_AS(DataError, put == static_cast<int>(chunk), "cannot write ", path);
      done += chunk;
    }
    SHEARS_CHECK_AS(DataError, gzclose(file.release()) == Z_OK, "cannot finish ", path);
    return;
  }
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "wb"));
  SHEARS_CHECK_AS(DataError, file != nullptr, "cannot create ", path, ": ", std::strerror(errno));
  const std::size_t put =
      bytes.empty() ? 0 : std::fwrite(bytes.data(), 1, bytes.size(), file.get());
  SHEARS_CHECK_AS(DataError, put == bytes.size(), "cannot write ", path, ": ",
                  std::strerror(errno));
  SHEARS_CHECK_AS(DataError, std::fclose(file.release()) == 0, "cannot finish ", path, ": ",
                  std::strerror(errno));
}

std::vector<std::string> read_lines(const std::string& path) {
  check_regular_file(path);
  std::ifstream in(path);
  SHEARS_CHECK_AS(DataError, in.good(), "cannot open ", path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    const auto first = line.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) continue;
    const auto last = line.find_last_not_of(" \t\r\n");
    lines.push_back(line.substr(first, last - first + 1));
  }
  return lines;
}

bool is_file(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

bool is_directory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

}  // namespace shears::data
