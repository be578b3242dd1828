// The NCCL communicator (CUDA device memory), built as the plugin libshears_dist_nccl.so when
// nccl.h and libnccl are found beside the CUDA toolkit (SHEARS_NCCL=AUTO). Ranks meet through
// NCCL's unique id, which the engine creates on rank 0 and broadcasts over MPI. Collectives run
// on the communicator's own stream; the engine synchronises the compute stream before handing
// buffers over, and every call returns once its stream is done. The wait polls the stream and
// NCCL's asynchronous error, and aborts the communicator after the collective timeout
// (SHEARS_DIST_TIMEOUT seconds), so a dead peer ends this rank with an error, not a hang.
#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "kernels/common/comm_backend.h"

namespace shears {
namespace {

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    throw std::runtime_error(std::string("NCCL communicator: ") + what + ": " +
                             cudaGetErrorString(e));
  }
}

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::F32:
      return ncclFloat32;
    case DType::F64:
      return ncclFloat64;
    case DType::I32:
      return ncclInt32;
    case DType::I64:
      return ncclInt64;
    case DType::U8:
      return ncclUint8;
  }
  throw std::runtime_error("NCCL communicator: unknown dtype");
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return ncclSum;
    case ReduceOp::Max:
      return ncclMax;
    case ReduceOp::Min:
      return ncclMin;
  }
  throw std::runtime_error("NCCL communicator: unknown reduction");
}

class NcclBackend final : public CommBackend {
 public:
  NcclBackend(const char* id_bytes, int rank, int size, int device)
      : rank_(rank), size_(size), device_(device) {
    timeout_ = comm_timeout_seconds(std::getenv("SHEARS_DIST_TIMEOUT"));
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    ncclUniqueId id;
    std::memcpy(&id, id_bytes, sizeof id);
    check(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
  }
  ~NcclBackend() override {
    if (comm_ != nullptr) ncclCommDestroy(comm_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "nccl"; }
  bool device_memory() const override { return true; }

  void allreduce(void* data, std::size_t count, DType dtype, ReduceOp op) override {
    check(ncclAllReduce(data, data, count, nccl_type(dtype), nccl_op(op), comm_, stream_),
          "ncclAllReduce");
    wait("allreduce");
  }
  // Started allreduces are queued on the communicator's stream, which runs them in order: a
  // request has completed when the stream has passed it, and waiting for the stream waits for it.
  std::uint64_t allreduce_start(void* data, std::size_t count, DType dtype, ReduceOp op) override {
    check(ncclAllReduce(data, data, count, nccl_type(dtype), nccl_op(op), comm_, stream_),
          "ncclAllReduce");
    return ++last_request_;
  }
  bool test_request(std::uint64_t /*request*/) override {
    cudaError_t q = cudaStreamQuery(stream_);
    if (q == cudaErrorNotReady) return false;
    check_cuda(q, "allreduce");
    return true;
  }
  void wait_request(std::uint64_t /*request*/) override { wait("allreduce"); }
  void broadcast(void* data, std::size_t bytes, int root) override {
    check(ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_), "ncclBroadcast");
    wait("broadcast");
  }
  void allgather(const void* in, void* out, std::size_t bytes) override {
    check(ncclAllGather(in, out, bytes, ncclUint8, comm_, stream_), "ncclAllGather");
    wait("allgather");
  }
  void barrier() override {
    // NCCL has no barrier: an allreduce of one byte orders every rank the same way.
    unsigned char* one = nullptr;
    check_cuda(cudaMallocAsync(reinterpret_cast<void**>(&one), 1, stream_), "cudaMallocAsync");
    check_cuda(cudaMemsetAsync(one, 0, 1, stream_), "cudaMemsetAsync");
    check(ncclAllReduce(one, one, 1, ncclUint8, ncclSum, comm_, stream_), "barrier");
    wait("barrier");
    check_cuda(cudaFreeAsync(one, stream_), "cudaFreeAsync");
    check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  [[noreturn]] void abort(int code) override {
    if (comm_ != nullptr) ncclCommAbort(comm_);
    std::_Exit(code);
  }

 private:
  void check(ncclResult_t r, const char* what) const {
    if (r != ncclSuccess && r != ncclInProgress) {
      throw std::runtime_error(std::string("NCCL ") + what + " failed on rank " +
                               std::to_string(rank_) + ": " + ncclGetErrorString(r));
    }
  }
  void wait(const char* what) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_);
    for (;;) {
      cudaError_t q = cudaStreamQuery(stream_);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) check_cuda(q, what);
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        throw std::runtime_error(std::string("NCCL ") + what + " failed on rank " +
                                 std::to_string(rank_) + ": " + ncclGetErrorString(async));
      }
      if (Clock::now() > deadline) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        throw std::runtime_error(
            std::string("collective ") + what + " on rank " + std::to_string(rank_) + " of " +
            std::to_string(size_) + " (NCCL) did not complete within the collective timeout of " +
            std::to_string(static_cast<int>(timeout_)) +
            " s (SHEARS_DIST_TIMEOUT): another rank died, hangs, or runs a different "
            "configuration");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }

  int rank_, size_, device_;
  double timeout_ = 300;
  cudaStream_t stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
  std::uint64_t last_request_ = 0;
};

}  // namespace
}  // namespace shears

extern "C" bool shears_nccl_unique_id(char* out, std::string* error) {
  static_assert(sizeof(ncclUniqueId) == shears::kNcclUniqueIdBytes, "NCCL unique id size");
  ncclUniqueId id;
  ncclResult_t r = ncclGetUniqueId(&id);
  if (r != ncclSuccess) {
    *error = std::string("ncclGetUniqueId: ") + ncclGetErrorString(r);
    return false;
  }
  std::memcpy(out, &id, sizeof id);
  return true;
}

extern "C" shears::CommBackend* shears_nccl_create(const char* id, int rank, int size, int device,
                                                   std::string* error) {
  try {
    return new shears::NcclBackend(id, rank, size, device);
  } catch (const std::exception& e) {
    *error = e.what();
    return nullptr;
  }
}
