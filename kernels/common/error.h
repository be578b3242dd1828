#pragma once

#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace shears {

/// Base of every error the library throws. `what()` is a complete, user-facing message.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// Bad experiment configuration; the message names the file, line and key path.
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// Bad or missing dataset file; the message names the file and the record or offset.
class DataError : public Error {
 public:
  using Error::Error;
};

/// Unreadable or inconsistent checkpoint; the message names the file and the field.
class CheckpointError : public Error {
 public:
  using Error::Error;
};

/// Tensor shapes, dtypes or devices that do not fit an op; the message names the shapes.
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// A CUDA, cuDNN or cuBLAS call failed; the message carries the call, status and location.
class CudaError : public Error {
 public:
  using Error::Error;
};

/// Work that cannot be recorded into a device graph was queued while recording one (a read of
/// device memory on the host, a host-side random draw), or the device cannot record graphs; the
/// message names the op. The trainer runs such steps eagerly instead.
class GraphCaptureError : public Error {
 public:
  using Error::Error;
};

/// An allocation failed; the message says how many bytes were asked and how many are free.
class OutOfMemoryError : public Error {
 public:
  OutOfMemoryError(const std::string& message, std::size_t requested, std::size_t free_bytes,
                   std::size_t total_bytes)
      : Error(message), requested_(requested), free_(free_bytes), total_(total_bytes) {}
  std::size_t requested() const { return requested_; }
  std::size_t free_bytes() const { return free_; }
  std::size_t total_bytes() const { return total_; }

 private:
  std::size_t requested_, free_, total_;
};

namespace detail {
/// Concatenates any streamable parts into one string.
template <typename... Parts>
std::string cat(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}
[[noreturn]] void throw_check_failure(const char* file, int line, const char* condition,
                                      const std::string& message);
}  // namespace detail

}  // namespace shears

/// Throws shears::Error with file:line and a message built from the (non-empty) parts `...`.
#define SHEARS_CHECK(cond, ...)                                                  \
  do {                                                                           \
    if (!(cond)) {                                                               \
      ::shears::detail::throw_check_failure(__FILE__, __LINE__, #cond,           \
                                            ::shears::detail::cat(__VA_ARGS__)); \
    }                                                                            \
  } while (0)

/// Throws `ErrorType` (a shears::Error kind) with a message built from `...` when cond fails.
#define SHEARS_CHECK_AS(ErrorType, cond, ...)                         \
  do {                                                                \
    if (!(cond)) throw ErrorType(::shears::detail::cat(__VA_ARGS__)); \
  } while (0)
