// The MPI communicator (host memory), built as the plugin libshears_dist_mpi.so: the only code
// that includes mpi.h or links libmpi. It also bootstraps NCCL (the engine broadcasts NCCL's
// unique id with it). Every collective is started non-blocking and polled, so that a rank that
// died or never makes the matching call ends this one with an error after the collective timeout
// (SHEARS_DIST_TIMEOUT seconds) instead of a hang.
#include <mpi.h>
#include <sched.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "kernels/common/comm_backend.h"

namespace shears {
namespace {

std::string mpi_error(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<std::size_t>(len));
}

MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::F32:
      return MPI_FLOAT;
    case DType::F64:
      return MPI_DOUBLE;
    case DType::I32:
      return MPI_INT32_T;
    case DType::I64:
      return MPI_INT64_T;
    case DType::U8:
      return MPI_UINT8_T;
  }
  throw std::runtime_error("MPI communicator: unknown dtype");
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return MPI_SUM;
    case ReduceOp::Max:
      return MPI_MAX;
    case ReduceOp::Min:
      return MPI_MIN;
  }
  throw std::runtime_error("MPI communicator: unknown reduction");
}

// MPI counts are int: larger buffers go in pieces of this many elements.
constexpr std::size_t kMaxChunk = std::size_t{1} << 30;

class MpiBackend final : public CommBackend {
 public:
  MpiBackend() {
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    timeout_ = comm_timeout_seconds(std::getenv("SHEARS_DIST_TIMEOUT"));
  }
  ~MpiBackend() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }
  bool device_memory() const override { return false; }

  void allreduce(void* data, std::size_t count, DType dtype, ReduceOp op) override {
    auto* p = static_cast<unsigned char*>(data);
    const std::size_t elem = comm_dtype_size(dtype);
    for (std::size_t done = 0; done < count; done += kMaxChunk) {
      const auto n = static_cast<int>(std::min(kMaxChunk, count - done));
      MPI_Request req;
      check(MPI_Iallreduce(MPI_IN_PLACE, p + done * elem, n, mpi_type(dtype), mpi_op(op),
                           MPI_COMM_WORLD, &req),
            "allreduce");
      wait(req, "allreduce");
    }
  }
  std::uint64_t allreduce_start(void* data, std::size_t count, DType dtype, ReduceOp op) override {
    auto* p = static_cast<unsigned char*>(data);
    const std::size_t elem = comm_dtype_size(dtype);
    std::vector<MPI_Request>& reqs = pending_[++last_request_];
    for (std::size_t done = 0; done < count; done += kMaxChunk) {
      const auto n = static_cast<int>(std::min(kMaxChunk, count - done));
      reqs.emplace_back();
      check(MPI_Iallreduce(MPI_IN_PLACE, p + done * elem, n, mpi_type(dtype), mpi_op(op),
                           MPI_COMM_WORLD, &reqs.back()),
            "allreduce");
    }
    return last_request_;
  }
  bool test_request(std::uint64_t request) override {
    auto it = pending_.find(request);
    if (it == pending_.end()) return true;
    std::vector<MPI_Request>& reqs = it->second;
    while (!reqs.empty()) {
      int done = 0;
      check(MPI_Test(&reqs.front(), &done, MPI_STATUS_IGNORE), "allreduce");
      if (!done) return false;
      reqs.erase(reqs.begin());
    }
    pending_.erase(it);
    return true;
  }
  void wait_request(std::uint64_t request) override {
    auto it = pending_.find(request);
    if (it == pending_.end()) return;
    for (MPI_Request& req : it->second) wait(req, "allreduce");
    pending_.erase(it);
  }
  void broadcast(void* data, std::size_t bytes, int root) override {
    auto* p = static_cast<unsigned char*>(data);
    for (std::size_t done = 0; done < bytes; done += kMaxChunk) {
      const auto n = static_cast<int>(std::min(kMaxChunk, bytes - done));
      MPI_Request req;
      check(MPI_Ibcast(p + done, n, MPI_BYTE, root, MPI_COMM_WORLD, &req), "broadcast");
      wait(req, "broadcast");
    }
  }
  void allgather(const void* in, void* out, std::size_t bytes) override {
    if (bytes > static_cast<std::size_t>(INT_MAX)) {
      throw std::runtime_error("MPI allgather of " + std::to_string(bytes) +
                               " bytes per rank is above MPI's int count");
    }
    MPI_Request req;
    check(MPI_Iallgather(in, static_cast<int>(bytes), MPI_BYTE, out, static_cast<int>(bytes),
                         MPI_BYTE, MPI_COMM_WORLD, &req),
          "allgather");
    wait(req, "allgather");
  }
  void barrier() override {
    MPI_Request req;
    check(MPI_Ibarrier(MPI_COMM_WORLD, &req), "barrier");
    wait(req, "barrier");
  }
  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 private:
  void check(int code, const char* what) const {
    if (code != MPI_SUCCESS) {
      throw std::runtime_error(std::string("MPI ") + what + " failed on rank " +
                               std::to_string(rank_) + ": " + mpi_error(code));
    }
  }
  // Polls until the request completes. Open MPI's non-blocking collectives progress only inside
  // MPI calls, so the first milliseconds poll back to back (yielding the core between tests, for
  // a rank that shares it); after that, waiting is for a slower rank, and 100 us sleeps leave it
  // the core.
  void wait(MPI_Request& req, const char* what) {
    using Clock = std::chrono::steady_clock;
    const auto begin = Clock::now();
    const auto busy_until = begin + std::chrono::milliseconds(5);
    const auto deadline = begin + std::chrono::duration<double>(timeout_);
    for (;;) {
      int done = 0;
      check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), what);
      if (done) return;
      const auto now = Clock::now();
      if (now < busy_until) {
        sched_yield();
        continue;
      }
      if (now > deadline) {
        throw std::runtime_error(
            std::string("collective ") + what + " on rank " + std::to_string(rank_) + " of " +
            std::to_string(size_) + " did not complete within the collective timeout of " +
            std::to_string(static_cast<int>(timeout_)) +
            " s (SHEARS_DIST_TIMEOUT): another rank died, hangs, or runs a different "
            "configuration");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  int rank_ = 0, size_ = 1;
  double timeout_ = 300;
  // Started, not yet completed allreduces (allreduce_start), by request number.
  std::unordered_map<std::uint64_t, std::vector<MPI_Request>> pending_;
  std::uint64_t last_request_ = 0;
};

}  // namespace
}  // namespace shears

extern "C" shears::CommBackend* shears_mpi_create(std::string* error) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
      *error = "MPI_Init_thread failed";
      return nullptr;
    }
  }
  try {
    return new shears::MpiBackend();
  } catch (const std::exception& e) {
    *error = e.what();
    return nullptr;
  }
}
