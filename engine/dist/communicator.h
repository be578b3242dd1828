#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "kernels/common/comm_backend.h"

namespace shears::dist {

/// The ranks of one job and the collectives between them, on tensors. Host tensors go through
/// the host communicator (MPI, or the single-process one); CUDA tensors through the device
/// communicator (NCCL) when there is one, else through host copies. Every call is collective
/// (see CommBackend); errors, including the collective timeout, are shears::Error naming the
/// call and the rank.
class Communicator {
 public:
  /// `host` is required; `device` (NCCL) may be null.
  explicit Communicator(std::unique_ptr<CommBackend> host,
                        std::unique_ptr<CommBackend> device = nullptr);
  ~Communicator();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  /// "local", "mpi", "mpi+nccl".
  std::string describe() const;
  bool has_device_backend() const { return device_ != nullptr; }

  /// In place, `t` becomes the reduction of every rank's `t` (same shape and dtype everywhere).
  void allreduce_(const Tensor& t, ReduceOp op = ReduceOp::Sum);
  /// Every tensor summed across ranks, packed into buckets of at most `bucket_bytes` (one
  /// collective per bucket, tensors grouped by device and dtype, in the order given).
  void allreduce_bucketed_(const std::vector<Tensor>& tensors,
                           std::size_t bucket_bytes = std::size_t{25} << 20);
  /// A started allreduce (allreduce_start_), finished by wait().
  struct Request {
    CommBackend* backend = nullptr;  // null: already complete
    std::uint64_t id = 0;
    Tensor tensor;  // kept alive until the collective has completed
  };
  /// Starts summing `t` across ranks in place without waiting (MPI_Iallreduce, NCCL on its
  /// stream): `t` must stay untouched until wait(). Collective: every rank starts the same
  /// requests in the same order. CUDA tensors without a device communicator complete here.
  Request allreduce_start_(const Tensor& t, ReduceOp op = ReduceOp::Sum);
  /// Progresses started requests; whether `r` has completed (never waits).
  bool test(Request& r);
  /// Waits for `r` (collective timeout as for every call).
  void wait(Request& r);
  /// In place, every rank's `t` becomes rank `root`'s.
  void broadcast_(const Tensor& t, int root = 0);
  /// Every rank's `t`, stacked in rank order: shape {size(), t.shape()...}, on t's device.
  Tensor allgather(const Tensor& t);
  void barrier();

  /// Rank `root`'s string on every rank.
  std::string broadcast_string(const std::string& s, int root = 0);
  /// Every rank's string, in rank order.
  std::vector<std::string> allgather_string(const std::string& s);
  /// Throws Error naming the ranks that differ unless every rank passed the same `value`;
  /// `what` says what was compared ("the resolved configuration").
  void check_same(const std::string& value, const std::string& what);

  /// Ends the whole job now with `code` (after an error on this rank).
  [[noreturn]] void abort(int code);

 private:
  CommBackend& backend_for(const Tensor& t, bool& via_host);
  std::unique_ptr<CommBackend> host_, device_;
  int rank_ = 0, size_ = 1;
};

/// Where this process sits in its job, as the launcher's environment says (before MPI starts).
struct LaunchInfo {
  /// "mpirun" (Open MPI: OMPI_COMM_WORLD_*), "srun" (a Slurm job step: SLURM_PROCID,
  /// SLURM_STEP_NUM_TASKS or SLURM_NTASKS, SLURM_LOCALID), "pmix" (PMIX_RANK with PMIX_SIZE),
  /// "pmi" (MPICH/Hydra: PMI_RANK, PMI_SIZE, MPI_LOCALRANKID); empty: no launcher (one process).
  std::string launcher;
  int rank = 0, size = 1;
  int local_rank = 0;  // on this node (which GPU a rank takes)
};
/// Reads LaunchInfo through `getenv` (the process's environment by default). Open MPI's
/// variables come first (mpirun inside a Slurm allocation starts its daemons with srun, so the
/// Slurm variables describe the daemons). A Slurm batch script without srun has SLURM_NTASKS
/// but no job step (SLURM_STEP_ID): it is one process. Throws ConfigError naming the variable
/// when a value is not an integer or is out of range.
LaunchInfo launch_info(const std::function<const char*(const char*)>& getenv = nullptr);

/// The GPU of this process in a job of `rank`: its local rank (its rank without a launcher)
/// modulo the GPUs present, so that the ranks on a node take different GPUs; 0 without GPUs.
int local_gpu(int rank);

/// The job's communicator: the single-process one until init_world() finds a launcher.
Communicator& world();
/// Sets up world() from the environment once: under mpirun (OMPI_COMM_WORLD_SIZE), srun
/// (SLURM_NTASKS / PMI_SIZE / PMIX_RANK) with more than one rank, or SHEARS_DIST=mpi, it loads
/// the MPI plugin (libshears_dist_mpi.so, beside the executable) and, when `cuda` is true, a GPU
/// is present and the NCCL plugin exists, a NCCL communicator on GPU rank % devices (id from
/// rank 0 over MPI). SHEARS_DIST=none forces one process. Throws Error naming what is missing
/// when a launcher started more than one rank but this build cannot join them.
Communicator& init_world(bool cuda = false);
/// Replaces world() (tests); null restores the single-process communicator.
void set_world(std::unique_ptr<Communicator> comm);
/// A communicator of one rank.
std::unique_ptr<CommBackend> make_local_backend();

/// Sum over ranks, differentiable: the gradient of the sum is the sum over ranks of the
/// gradients (each rank's loss depends on every rank's x). Identity on one rank.
Tensor all_reduce_sum(const Tensor& x, Communicator& comm);

/// 64-bit FNV-1a of a byte string, as hex (for configuration and architecture checks).
std::string fingerprint(const std::string& bytes);

}  // namespace shears::dist
