#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "kernels/common/dtype.h"

namespace shears {

/// Reductions a communicator performs element-wise across ranks.
enum class ReduceOp { Sum, Max, Min };

/// The contract a communicator library implements (kernels/mpi over MPI for host memory,
/// kernels/nccl over NCCL for CUDA memory), on raw buffers so that an implementation needs
/// nothing of the engine. Implementations live in plugins (libshears_dist_mpi.so,
/// libshears_dist_nccl.so) that the engine loads only when a launcher started the process, so
/// the single-process executable never depends on MPI or NCCL. Every call is collective: each
/// rank makes the same calls in the same order with the same counts. A call that does not
/// complete within the collective timeout throws shears::Error naming the call, the rank and the
/// timeout (a rank died, or ranks disagree on what to call).
class CommBackend {
 public:
  virtual ~CommBackend() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// "mpi", "nccl", "local".
  virtual std::string name() const = 0;
  /// Whether the buffers are CUDA device memory (NCCL) or host memory (MPI, local).
  virtual bool device_memory() const = 0;
  /// In place: `data` (count elements of `dtype`) becomes the reduction over all ranks.
  virtual void allreduce(void* data, std::size_t count, DType dtype, ReduceOp op) = 0;
  /// `bytes` at `data` on rank `root` are copied to every rank's `data`.
  virtual void broadcast(void* data, std::size_t bytes, int root) = 0;
  /// `bytes` from every rank, concatenated in rank order into `out` (size() * bytes).
  virtual void allgather(const void* in, void* out, std::size_t bytes) = 0;
  virtual void barrier() = 0;
  /// Starts an in-place allreduce that completes later, at wait_request (the buffer must stay
  /// untouched until then); returns its request number. Collective like allreduce: every rank
  /// starts the same requests in the same order. The default completes it now (blocking).
  virtual std::uint64_t allreduce_start(void* data, std::size_t count, DType dtype, ReduceOp op) {
    allreduce(data, count, dtype, op);
    return 0;
  }
  /// Lets started requests progress (MPI's non-blocking collectives progress only inside MPI
  /// calls) and returns whether `request` has completed; never waits.
  virtual bool test_request(std::uint64_t /*request*/) { return true; }
  /// Waits until `request` has completed (the collective timeout applies).
  virtual void wait_request(std::uint64_t /*request*/) {}
  /// Ends every rank of the job now with `code` (after an error on this rank), never returns.
  [[noreturn]] virtual void abort(int code) = 0;
};

/// Element size of `dtype` (header-only, for the plugins, which link no project library).
inline std::size_t comm_dtype_size(DType t) {
  switch (t) {
    case DType::F32:
    case DType::I32:
      return 4;
    case DType::F64:
    case DType::I64:
      return 8;
    case DType::U8:
      return 1;
  }
  return 0;
}

/// The collective timeout in seconds: SHEARS_DIST_TIMEOUT, default 300.
inline double comm_timeout_seconds(const char* env_value) {
  if (env_value == nullptr || *env_value == '\0') return 300.0;
  char* end = nullptr;
  double v = std::strtod(env_value, &end);
  return (end != env_value && v > 0) ? v : 300.0;
}

// Entry points of the plugins (extern "C", resolved with dlsym):
//   MPI:  CommBackend* shears_mpi_create(std::string* error)   (MPI_Init; null + error on failure)
//   NCCL: bool shears_nccl_unique_id(char out[128], std::string* error)
//         CommBackend* shears_nccl_create(const char id[128], int rank, int size, int device,
//                                         std::string* error)
inline constexpr std::size_t kNcclUniqueIdBytes = 128;

}  // namespace shears
