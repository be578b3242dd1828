#include "engine/dist/communicator.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/node.h"
#include "engine/log.h"
#include "engine/ops/common.h"
#include "engine/ops/shape.h"
#include "kernels/common/registry.h"

#ifndef SHEARS_DIST_BUILD_DIR
#define SHEARS_DIST_BUILD_DIR ""
#endif

namespace shears::dist {

namespace {

/// One process: every collective is the identity (allgather copies).
class LocalBackend final : public CommBackend {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "local"; }
  bool device_memory() const override { return false; }
  void allreduce(void*, std::size_t, DType, ReduceOp) override {}
  void broadcast(void*, std::size_t, int) override {}
  void allgather(const void* in, void* out, std::size_t bytes) override {
    if (bytes) std::memcpy(out, in, bytes);
  }
  void barrier() override {}
  [[noreturn]] void abort(int code) override { std::_Exit(code); }
};

/// Runs a backend call, turning what a plugin throws (std::runtime_error: plugins link no
/// project library) into shears::Error.
template <typename F>
void guarded(F&& f) {
  try {
    f();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(e.what());
  }
}

}  // namespace

std::unique_ptr<CommBackend> make_local_backend() { return std::make_unique<LocalBackend>(); }

Communicator::Communicator(std::unique_ptr<CommBackend> host, std::unique_ptr<CommBackend> device)
    : host_(std::move(host)), device_(std::move(device)) {
  SHEARS_CHECK(host_ != nullptr, "Communicator needs a host backend");
  rank_ = host_->rank();
  size_ = host_->size();
  if (device_ != nullptr) {
    SHEARS_CHECK(device_->rank() == rank_ && device_->size() == size_,
                 "device communicator has rank ", device_->rank(), " of ", device_->size(),
                 " but the host communicator rank ", rank_, " of ", size_);
  }
}

Communicator::~Communicator() {
  // The device communicator goes first: NCCL's teardown may still talk to its peers.
  device_.reset();
  host_.reset();
}

std::string Communicator::describe() const {
  return host_->name() + (device_ ? "+" + device_->name() : std::string());
}

CommBackend& Communicator::backend_for(const Tensor& t, bool& via_host) {
  via_host = false;
  if (t.device().is_cpu()) return *host_;
  if (device_ != nullptr) {
    // The device communicator runs on its own stream: the compute stream's work on `t` first.
    ops_detail::backend_of(t).synchronize();
    return *device_;
  }
  via_host = true;
  return *host_;
}

void Communicator::allreduce_(const Tensor& t, ReduceOp op) {
  if (size_ == 1 || t.numel() == 0) return;
  bool via_host = false;
  CommBackend& b = backend_for(t, via_host);
  Tensor buf = via_host ? t.cpu() : t;
  guarded(
      [&] { b.allreduce(buf.raw_data(), static_cast<std::size_t>(buf.numel()), buf.dtype(), op); });
  if (via_host) t.copy_(buf);
}

Communicator::Request Communicator::allreduce_start_(const Tensor& t, ReduceOp op) {
  Request r;
  r.tensor = t;
  if (size_ == 1 || t.numel() == 0) return r;
  bool via_host = false;
  CommBackend& b = backend_for(t, via_host);
  if (via_host) {
    allreduce_(t, op);  // through a host copy: completes now
    return r;
  }
  guarded([&] {
    r.id = b.allreduce_start(t.raw_data(), static_cast<std::size_t>(t.numel()), t.dtype(), op);
  });
  r.backend = &b;
  return r;
}

bool Communicator::test(Request& r) {
  if (r.backend == nullptr) return true;
  bool done = false;
  guarded([&] { done = r.backend->test_request(r.id); });
  if (done) r.backend = nullptr;
  return done;
}

void Communicator::wait(Request& r) {
  if (r.backend == nullptr) return;
  guarded([&] { r.backend->wait_request(r.id); });
  r.backend = nullptr;
}

void Communicator::allreduce_bucketed_(const std::vector<Tensor>& tensors,
                                       std::size_t bucket_bytes) {
  if (size_ == 1) return;
  // Groups of one device and dtype, each cut into buckets, in the order the tensors came.
  std::map<std::pair<std::string, int>, std::vector<Tensor>> groups;
  std::vector<std::pair<std::string, int>> order;
  for (const Tensor& t : tensors) {
    if (!t.defined() || t.numel() == 0) continue;
    auto key = std::make_pair(t.device().str(), static_cast<int>(t.dtype()));
    if (!groups.count(key)) order.push_back(key);
    groups[key].push_back(t);
  }
  for (const auto& key : order) {
    const std::vector<Tensor>& members = groups[key];
    const std::size_t elem = dtype_size(members.front().dtype());
    const std::size_t cap = std::max<std::size_t>(bucket_bytes / elem, 1);
    std::size_t first = 0;
    while (first < members.size()) {
      std::size_t last = first, count = 0;
      while (last < members.size() &&
             (count == 0 || count + static_cast<std::size_t>(members[last].numel()) <= cap)) {
        count += static_cast<std::size_t>(members[last].numel());
        ++last;
      }
      if (last == first + 1) {
        allreduce_(members[first]);
      } else {
        NoGrad no_grad;
        std::vector<Tensor> flat;
        for (std::size_t i = first; i < last; ++i) {
          flat.push_back(reshape(members[i].detach(), {members[i].numel()}));
        }
        Tensor bucket = concat(flat, 0);
        allreduce_(bucket);
        std::int64_t offset = 0;
        for (std::size_t i = first; i < last; ++i) {
          const Tensor& m = members[i];
          m.copy_(reshape(narrow(bucket, 0, offset, m.numel()), m.shape()));
          offset += m.numel();
        }
      }
      first = last;
    }
  }
}

void Communicator::broadcast_(const Tensor& t, int root) {
  if (size_ == 1 || t.numel() == 0) return;
  bool via_host = false;
  CommBackend& b = backend_for(t, via_host);
  Tensor buf = via_host ? t.cpu() : t;
  guarded([&] { b.broadcast(buf.raw_data(), buf.nbytes(), root); });
  if (via_host) t.copy_(buf);
}

Tensor Communicator::allgather(const Tensor& t) {
  Shape shape = t.shape();
  shape.insert(shape.begin(), size_);
  bool via_host = false;
  CommBackend& b = size_ == 1 ? *host_ : backend_for(t, via_host);
  if (size_ == 1 && !t.device().is_cpu()) {
    Tensor out = Tensor::empty(shape, t.dtype(), t.device());
    Tensor::from_storage(out.storage(), t.shape(), t.dtype()).copy_(t);
    return out;
  }
  Tensor in = via_host ? t.cpu() : t;
  Tensor out = Tensor::empty(shape, t.dtype(), in.device());
  if (t.numel() > 0) guarded([&] { b.allgather(in.raw_data(), out.raw_data(), in.nbytes()); });
  return via_host ? out.to(t.device()) : out;
}

void Communicator::barrier() {
  if (size_ == 1) return;
  guarded([&] { host_->barrier(); });
}

std::string Communicator::broadcast_string(const std::string& s, int root) {
  if (size_ == 1) return s;
  Tensor len =
      Tensor::from_vector(std::vector<std::int64_t>{static_cast<std::int64_t>(s.size())}, {1});
  broadcast_(len, root);
  const std::int64_t n = len.data<std::int64_t>()[0];
  Tensor bytes = Tensor::zeros({n}, DType::U8);
  if (rank_ == root && n > 0) std::memcpy(bytes.raw_data(), s.data(), s.size());
  broadcast_(bytes, root);
  return std::string(static_cast<const char*>(bytes.raw_data()), static_cast<std::size_t>(n));
}

std::vector<std::string> Communicator::allgather_string(const std::string& s) {
  if (size_ == 1) return {s};
  Tensor len =
      Tensor::from_vector(std::vector<std::int64_t>{static_cast<std::int64_t>(s.size())}, {1});
  Tensor lens = allgather(len);
  std::int64_t longest = 0;
  for (int r = 0; r < size_; ++r) longest = std::max(longest, lens.data<std::int64_t>()[r]);
  Tensor mine = Tensor::zeros({longest}, DType::U8);
  if (!s.empty()) std::memcpy(mine.raw_data(), s.data(), s.size());
  Tensor all = allgather(mine);
  std::vector<std::string> out;
  const char* base = static_cast<const char*>(all.raw_data());
  for (int r = 0; r < size_; ++r) {
    out.emplace_back(base + r * longest, static_cast<std::size_t>(lens.data<std::int64_t>()[r]));
  }
  return out;
}

void Communicator::check_same(const std::string& value, const std::string& what) {
  if (size_ == 1) return;
  std::vector<std::string> all = allgather_string(fingerprint(value));
  std::string differing;
  for (int r = 1; r < size_; ++r) {
    if (all[static_cast<std::size_t>(r)] != all[0]) {
      differing += (differing.empty() ? "" : ", ") + std::to_string(r);
    }
  }
  if (!differing.empty()) {
    throw ConfigError("the ranks disagree on " + what + ": rank(s) " + differing +
                      " differ from rank 0 (fingerprint " + all[0] +
                      "); every rank must be started with the same configuration, overrides and "
                      "files");
  }
}

void Communicator::abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  // The host communicator (MPI) ends the whole job, NCCL's peers included.
  host_->abort(code);
  std::_Exit(code);  // abort() of a backend never returns; this keeps [[noreturn]] visible
}

std::string fingerprint(const std::string& bytes) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// ---- the launcher's environment ----------------------------------------------------------------

LaunchInfo launch_info(const std::function<const char*(const char*)>& getenv_fn) {
  auto get = [&](const char* name) -> const char* {
    const char* v = getenv_fn ? getenv_fn(name) : std::getenv(name);
    return (v != nullptr && *v != '\0') ? v : nullptr;
  };
  auto number = [&](const char* name, int fallback) {
    const char* v = get(name);
    if (v == nullptr) return fallback;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    if (end == v || *end != '\0' || n < 0 || n > (1 << 24)) {
      throw ConfigError(std::string("environment variable ") + name + " is '" + v +
                        "', not a rank or task count");
    }
    return static_cast<int>(n);
  };
  LaunchInfo info;
  if (get("OMPI_COMM_WORLD_SIZE")) {
    info.launcher = "mpirun";
    info.size = number("OMPI_COMM_WORLD_SIZE", 1);
    info.rank = number("OMPI_COMM_WORLD_RANK", 0);
    info.local_rank = number("OMPI_COMM_WORLD_LOCAL_RANK", 0);
  } else if (get("SLURM_PROCID") &&
             (get("SLURM_STEP_NUM_TASKS") || get("SLURM_STEP_ID") || get("SLURM_STEPID"))) {
    info.launcher = "srun";
    info.size =
        get("SLURM_STEP_NUM_TASKS") ? number("SLURM_STEP_NUM_TASKS", 1) : number("SLURM_NTASKS", 1);
    info.rank = number("SLURM_PROCID", 0);
    info.local_rank = number("SLURM_LOCALID", 0);
  } else if (get("PMIX_RANK") && get("PMIX_SIZE")) {
    info.launcher = "pmix";
    info.size = number("PMIX_SIZE", 1);
    info.rank = number("PMIX_RANK", 0);
    info.local_rank = number("PMIX_LOCAL_RANK", 0);
  } else if (get("PMI_SIZE")) {
    info.launcher = "pmi";
    info.size = number("PMI_SIZE", 1);
    info.rank = number("PMI_RANK", 0);
    info.local_rank = number("MPI_LOCALRANKID", 0);
  }
  if (info.size < 1 || info.rank >= info.size) {
    throw ConfigError("the launcher (" + info.launcher + ") gives rank " +
                      std::to_string(info.rank) + " of " + std::to_string(info.size) +
                      " processes: the rank must be below the count");
  }
  return info;
}

int local_gpu(int rank) {
  const LaunchInfo launch = launch_info();
  const int local = launch.launcher.empty() ? rank : launch.local_rank;
  return local % std::max(1, cuda_device_count());
}

// ---- the job's communicator --------------------------------------------------------------------

namespace {

std::unique_ptr<Communicator>& world_slot() {
  static std::unique_ptr<Communicator> comm;
  return comm;
}

std::vector<std::string> plugin_dirs() {
  std::vector<std::string> dirs;
  if (const char* d = std::getenv("SHEARS_DIST_PLUGIN_DIR")) dirs.emplace_back(d);
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    dirs.push_back(exe.parent_path().string());
    dirs.push_back((exe.parent_path().parent_path() / "lib" / "shears").string());
  }
  if (*SHEARS_DIST_BUILD_DIR) dirs.emplace_back(SHEARS_DIST_BUILD_DIR);
  return dirs;
}

/// dlopen of the first `file` found in plugin_dirs(); null (and `tried` filled) when none.
void* open_plugin(const std::string& file, std::string& tried) {
  for (const std::string& dir : plugin_dirs()) {
    std::string path = dir + "/" + file;
    if (!std::filesystem::exists(path)) {
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    // RTLD_GLOBAL: Open MPI opens its own components, which need libmpi's symbols.
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (h == nullptr) throw Error("cannot load " + path + ": " + dlerror());
    return h;
  }
  return nullptr;
}

std::unique_ptr<CommBackend> make_mpi_backend(int expected) {
  std::string tried;
  void* h = open_plugin("libshears_dist_mpi.so", tried);
  if (h == nullptr) {
    throw Error("a launcher started " + std::to_string(expected) +
                " ranks, but this shears has no MPI communicator (libshears_dist_mpi.so not "
                "found; looked for " +
                tried +
                "); build with Open MPI's development files (libopenmpi-dev) installed, or "
                "run one process (SHEARS_DIST=none)");
  }
  using Create = CommBackend* (*)(std::string*);
  auto create = reinterpret_cast<Create>(dlsym(h, "shears_mpi_create"));
  if (create == nullptr) throw Error("libshears_dist_mpi.so lacks shears_mpi_create");
  std::string error;
  CommBackend* b = create(&error);
  if (b == nullptr) throw Error("cannot start MPI: " + error);
  return std::unique_ptr<CommBackend>(b);
}

std::unique_ptr<CommBackend> make_nccl_backend(CommBackend& host, int local_rank, int gpu) {
  std::string tried;
  void* h = open_plugin("libshears_dist_nccl.so", tried);
  // NCCL needs the plugin and a GPU of its own on every rank (it refuses two ranks on one GPU);
  // decided over all ranks, so that every rank takes the same path.
  const int devices = std::max(1, cuda_device_count());
  Tensor ok = Tensor::from_vector(
      std::vector<std::int32_t>{h != nullptr ? 1 : 0, local_rank < devices ? 1 : 0}, {2});
  guarded([&] { host.allreduce(ok.raw_data(), 2, DType::I32, ReduceOp::Min); });
  if (ok.data<std::int32_t>()[0] == 0 || ok.data<std::int32_t>()[1] == 0) {
    if (host.rank() == 0) {
      log_warning(ok.data<std::int32_t>()[0] == 0
                      ? "no NCCL communicator (libshears_dist_nccl.so not found on every rank): "
                        "collectives of CUDA tensors go through host copies over MPI"
                      : "no NCCL communicator: more ranks than GPUs on a node (NCCL needs one "
                        "GPU per rank); collectives of CUDA tensors go through host copies over "
                        "MPI");
    }
    return nullptr;
  }
  using Id = bool (*)(char*, std::string*);
  using Create = CommBackend* (*)(const char*, int, int, int, std::string*);
  auto unique_id = reinterpret_cast<Id>(dlsym(h, "shears_nccl_unique_id"));
  auto create = reinterpret_cast<Create>(dlsym(h, "shears_nccl_create"));
  if (unique_id == nullptr || create == nullptr) {
    throw Error("libshears_dist_nccl.so lacks its entry points");
  }
  char id[kNcclUniqueIdBytes] = {};
  std::string error;
  if (host.rank() == 0 && !unique_id(id, &error)) throw Error("cannot start NCCL: " + error);
  guarded([&] { host.broadcast(id, sizeof id, 0); });
  CommBackend* b = create(id, host.rank(), host.size(), gpu, &error);
  if (b == nullptr)
    throw Error("cannot start NCCL on rank " + std::to_string(host.rank()) + ": " + error);
  return std::unique_ptr<CommBackend>(b);
}

}  // namespace

Communicator& world() {
  auto& slot = world_slot();
  if (!slot) slot = std::make_unique<Communicator>(make_local_backend());
  return *slot;
}

void set_world(std::unique_ptr<Communicator> comm) { world_slot() = std::move(comm); }

Communicator& init_world(bool cuda) {
  auto& slot = world_slot();
  if (slot && slot->size() > 1) return *slot;
  const char* mode = std::getenv("SHEARS_DIST");
  const std::string m = mode ? mode : "auto";
  if (m != "auto" && m != "mpi" && m != "none") {
    throw ConfigError("SHEARS_DIST is '" + m + "' (known: auto, mpi, none)");
  }
  const LaunchInfo launch = launch_info();
  const int expected = launch.size;
  if (m == "none" || (m == "auto" && expected <= 1)) return world();
  std::unique_ptr<CommBackend> host = make_mpi_backend(expected);
  if (!launch.launcher.empty() && (host->size() != launch.size || host->rank() != launch.rank)) {
    // Typically srun starting an MPI that cannot talk to Slurm: every task a world of its own.
    throw Error(launch.launcher + " started this process as rank " + std::to_string(launch.rank) +
                " of " + std::to_string(launch.size) + ", but MPI sees rank " +
                std::to_string(host->rank()) + " of " + std::to_string(host->size()) +
                (launch.launcher == "srun"
                     ? "; Open MPI under srun needs Slurm's PMIx plugin (srun --mpi=pmix, see "
                       "srun --mpi=list), or launch with mpirun inside the allocation"
                     : "; launch every rank with the same MPI's launcher"));
  }
  std::unique_ptr<CommBackend> device;
  if (cuda && cuda_device_count() > 0 && host->size() > 1) {
    device = make_nccl_backend(*host, launch.launcher.empty() ? host->rank() : launch.local_rank,
                               local_gpu(host->rank()));
  }
  slot = std::make_unique<Communicator>(std::move(host), std::move(device));
  return *slot;
}

// ---- differentiable sum ------------------------------------------------------------------------

Tensor all_reduce_sum(const Tensor& x, Communicator& comm) {
  if (comm.size() == 1) return x;
  Tensor y = x.detach().clone();
  comm.allreduce_(y);
  Communicator* c = &comm;
  record_op(y, Op::AllReduceSum, {x}, [c](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = g.detach().clone();
    c->allreduce_(gx);
    return {gx};
  });
  return y;
}

}  // namespace shears::dist
