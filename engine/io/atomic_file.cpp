#include "engine/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <streambuf>
#include <vector>

#include "kernels/common/error.h"

namespace shears {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

[[noreturn]] void throw_io(const std::string& path, const std::string& step, int err) {
  throw Error(detail::cat("cannot write '", path, "': ", step, ": ", errno_text(err)));
}

/// Owns a POSIX file descriptor; closes it (ignoring errors) unless released by `close`.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  /// Closes the descriptor; returns 0 or the errno of a failed close.
  int close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

/// Writes all `n` bytes, retrying on EINTR and short writes; returns 0 or the errno.
int write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    ssize_t done = ::write(fd, data, n);
    if (done < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += done;
    n -= static_cast<std::size_t>(done);
  }
  return 0;
}

/// A streambuf over a file descriptor. It records the first write error (errno) instead of
/// throwing, so the caller can report the system's reason once the writer has returned.
class FdStreamBuf : public std::streambuf {
 public:
  explicit FdStreamBuf(int fd) : fd_(fd), buffer_(1 << 16) {
    setp(buffer_.data(), buffer_.data() + buffer_.size());
  }
  int error() const { return error_; }

 protected:
  int_type overflow(int_type ch) override {
    if (flush_buffer() != 0) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }

  std::streamsize xsputn(const char* data, std::streamsize n) override {
    // Large blocks (tensor data) bypass the buffer instead of being copied through it.
    if (n >= static_cast<std::streamsize>(buffer_.size())) {
      if (flush_buffer() != 0) return 0;
      error_ = write_all(fd_, data, static_cast<std::size_t>(n));
      return error_ == 0 ? n : 0;
    }
    return std::streambuf::xsputn(data, n);
  }

  int sync() override { return flush_buffer() == 0 ? 0 : -1; }

 private:
  int flush_buffer() {
    if (error_ != 0) return error_;
    error_ = write_all(fd_, pbase(), static_cast<std::size_t>(pptr() - pbase()));
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    return error_;
  }

  int fd_;
  std::vector<char> buffer_;
  int error_ = 0;
};

int fsync_retry(int fd) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

void write_and_rename(const std::string& path, const std::string& tmp,
                      const std::function<void(std::ostream&)>& writer) {
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
  if (fd.get() < 0) throw_io(path, "cannot create temporary file '" + tmp + "'", errno);

  FdStreamBuf buf(fd.get());
  std::ostream out(&buf);
  writer(out);
  out.flush();
  if (buf.error() != 0) throw_io(path, "write to '" + tmp + "' failed", buf.error());
  if (!out) throw Error(detail::cat("cannot write '", path, "': the output stream failed"));

  if (int err = fsync_retry(fd.get())) throw_io(path, "fsync of '" + tmp + "' failed", err);
  if (int err = fd.close()) throw_io(path, "close of '" + tmp + "' failed", err);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    throw_io(path, "rename from '" + tmp + "' failed", errno);
  }
}

}  // namespace

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& writer) {
  SHEARS_CHECK(!path.empty(), "write_file_atomic needs a file path");
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    write_and_rename(path, tmp, writer);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }

  // The rename is durable only once the directory entry itself reaches the disk.
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) throw_io(path, "cannot open directory '" + dir + "' to fsync it", errno);
  if (int err = fsync_retry(dir_fd.get())) {
    throw_io(path, "fsync of directory '" + dir + "' failed", err);
  }
}

void remove_stale_temporaries(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const std::size_t tmp = name.rfind(".tmp.");
    if (tmp == std::string::npos || tmp == 0 || tmp + 5 == name.size()) continue;
    if (name.find_first_not_of("0123456789", tmp + 5) != std::string::npos) continue;
    std::filesystem::remove(entry.path(), ec);
  }
}

void append_file_durable(const std::string& path, const std::string& text) {
  SHEARS_CHECK(!path.empty(), "append_file_durable needs a file path");
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666));
  if (fd.get() < 0) throw_io(path, "cannot open for appending", errno);
  if (int err = write_all(fd.get(), text.data(), text.size())) throw_io(path, "append failed", err);
  if (int err = fsync_retry(fd.get())) throw_io(path, "fsync failed", err);
  if (int err = fd.close()) throw_io(path, "close failed", err);
}

}  // namespace shears
