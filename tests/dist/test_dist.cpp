// Communicator and data-parallel training tests. ctest runs this program twice: alone (the
// single-process communicator) and as 2 ranks under `mpirun -np 2 --oversubscribe` (one thread
// per rank). Every rank runs every test; tests needing 2 ranks skip when alone. Reference
// results of one process are computed on each rank itself, so no files pass between runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include "data/factory.h"
#include "data/loader.h"
#include "data/synthetic.h"
#include "engine/autograd/grad_mode.h"
#include "engine/autograd/node.h"
#include "engine/dist/communicator.h"
#include "engine/dist/grad_reducer.h"
#include "engine/dist/sync_batch_norm.h"
#include "engine/ops/batch_norm.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/loss.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape.h"
#include "engine/optim/lr_schedule.h"
#include "engine/optim/sgd.h"
#include "engine/rng.h"
#include "engine/train/trainer.h"
#include "kernels/common/registry.h"
#include "models/registry.h"
#include "pruning/methods/gal.h"
#include "pruning/soft_masks.h"
#include "tests/support/allclose.h"
#include "tests/support/expect_error.h"

namespace shears {
namespace {

using testing::allclose;
using testing::equal;
using testing::throws_with_message;

dist::Communicator& comm() { return dist::world(); }

#define NEED_TWO_RANKS()                                         \
  if (comm().size() < 2)                                         \
  GTEST_SKIP() << "needs 2 ranks: ctest runs this under mpirun " \
                  "-np 2 (test Dist.Mpi2Ranks)"

// ---- known answers for every dtype ------------------------------------------------------------

template <typename T>
void check_collectives_for(Device device = Device::cpu()) {
  const int rank = comm().rank(), size = comm().size();
  const std::int64_t n = 37;
  auto value = [](int r, std::int64_t i) { return static_cast<T>((r + 1) * 3 + i % 5); };
  std::vector<T> mine(n);
  for (std::int64_t i = 0; i < n; ++i) mine[static_cast<std::size_t>(i)] = value(rank, i);

  Tensor sum = Tensor::from_vector(mine, {n}).to(device);
  comm().allreduce_(sum, ReduceOp::Sum);
  Tensor mx = Tensor::from_vector(mine, {n}).to(device);
  comm().allreduce_(mx, ReduceOp::Max);
  Tensor mn = Tensor::from_vector(mine, {n}).to(device);
  comm().allreduce_(mn, ReduceOp::Min);
  const int root = size - 1;
  Tensor bc = Tensor::from_vector(mine, {n}).to(device);
  comm().broadcast_(bc, root);
  Tensor all = comm().allgather(Tensor::from_vector(mine, {n}).to(device));
  EXPECT_TRUE(all.device() == device);
  sum = sum.cpu();
  mx = mx.cpu();
  mn = mn.cpu();
  bc = bc.cpu();
  all = all.cpu();
  ASSERT_EQ(all.shape(), (Shape{size, n}));
  for (std::int64_t i = 0; i < n; ++i) {
    const auto k = static_cast<std::size_t>(i);
    double expect_sum = 0;
    for (int r = 0; r < size; ++r) expect_sum += static_cast<double>(value(r, i));
    EXPECT_EQ(static_cast<double>(sum.data<T>()[k]), expect_sum) << dtype_name(sum.dtype()) << i;
    EXPECT_EQ(mx.data<T>()[k], value(size - 1, i));
    EXPECT_EQ(mn.data<T>()[k], value(0, i));
    EXPECT_EQ(bc.data<T>()[k], value(root, i));
    for (int r = 0; r < size; ++r) EXPECT_EQ(all.data<T>()[r * n + i], value(r, i));
  }
}

TEST(Communicator, KnownAnswersEveryDtype) {
  check_collectives_for<float>();
  check_collectives_for<double>();
  check_collectives_for<std::int32_t>();
  check_collectives_for<std::int64_t>();
  check_collectives_for<std::uint8_t>();
  comm().barrier();
}

// CUDA tensors: through NCCL when every rank has a GPU of its own (libshears_dist_nccl.so),
// else through host copies over MPI.
TEST(Communicator, KnownAnswersEveryDtypeOnTheGpu) {
  if (cuda_device_count() == 0) {
    GTEST_SKIP() << "no GPU: CUDA tensors' collectives (NCCL, or host copies over MPI) need one";
  }
  const Device gpu = Device::cuda(dist::launch_info().local_rank % cuda_device_count());
  if (comm().is_root()) {
    std::printf("CUDA collectives through %s\n", comm().describe().c_str());
  }
  check_collectives_for<float>(gpu);
  check_collectives_for<double>(gpu);
  check_collectives_for<std::int32_t>(gpu);
  check_collectives_for<std::int64_t>(gpu);
  check_collectives_for<std::uint8_t>(gpu);
  Tensor t = Tensor::full({1000}, comm().rank() + 1.0).to(gpu);
  dist::Communicator::Request r = comm().allreduce_start_(t);
  comm().wait(r);
  const double n = comm().size();
  EXPECT_TRUE(equal(t.cpu(), Tensor::full({1000}, n * (n + 1) / 2)));
}

TEST(Communicator, BucketedAllreduceSumsEveryTensorAcrossBuckets) {
  const int size = comm().size();
  const double r1 = comm().rank() + 1;
  const double ranks_sum = size * (size + 1) / 2.0;  // sum of (rank + 1)
  std::vector<Tensor> ts = {Tensor::full({3, 4}, 1.5 * r1), Tensor::full({5}, 2.0 * r1, DType::F64),
                            Tensor::full({2, 2, 2}, -r1), Tensor::full({7}, 4.0 * r1),
                            Tensor::full({1}, 3.0 * r1, DType::F64)};
  // 32 bytes: several buckets for the F32 tensors, one tensor alone in some.
  comm().allreduce_bucketed_(ts, 32);
  EXPECT_TRUE(allclose(ts[0], Tensor::full({3, 4}, 1.5 * ranks_sum)));
  EXPECT_TRUE(allclose(ts[1], Tensor::full({5}, 2.0 * ranks_sum, DType::F64)));
  EXPECT_TRUE(allclose(ts[2], Tensor::full({2, 2, 2}, -ranks_sum)));
  EXPECT_TRUE(allclose(ts[3], Tensor::full({7}, 4.0 * ranks_sum)));
  EXPECT_TRUE(allclose(ts[4], Tensor::full({1}, 3.0 * ranks_sum, DType::F64)));
}

TEST(Communicator, StartedAllreducesCompleteInAnyWaitOrder) {
  // Three requests in flight at once (F32, F64, I64), waited in reverse order: each holds the
  // sum over ranks; rank r contributes r + 1.
  const double r1 = comm().rank() + 1, n = comm().size();
  const double want = n * (n + 1) / 2;
  Tensor a = Tensor::full({1000}, r1), b = Tensor::full({3}, r1).to(DType::F64),
         c = Tensor::full({5}, r1).to(DType::I64);
  std::vector<dist::Communicator::Request> reqs = {
      comm().allreduce_start_(a), comm().allreduce_start_(b), comm().allreduce_start_(c)};
  for (auto& r : reqs) comm().test(r);
  for (auto it = reqs.rbegin(); it != reqs.rend(); ++it) comm().wait(*it);
  for (auto& r : reqs) EXPECT_TRUE(comm().test(r));
  EXPECT_TRUE(equal(a, Tensor::full({1000}, want)));
  EXPECT_TRUE(equal(b, Tensor::full({3}, want).to(DType::F64)));
  EXPECT_TRUE(equal(c, Tensor::full({5}, want).to(DType::I64)));
}

TEST(Launcher, RankSizeAndLocalRankFromEachLaunchersEnvironment) {
  using Env = std::map<std::string, std::string>;
  auto info = [](const Env& env) {
    return dist::launch_info([&env](const char* name) -> const char* {
      auto it = env.find(name);
      return it == env.end() ? nullptr : it->second.c_str();
    });
  };
  auto same = [](const dist::LaunchInfo& i, const char* launcher, int rank, int size, int local) {
    return i.launcher == launcher && i.rank == rank && i.size == size && i.local_rank == local;
  };
  EXPECT_TRUE(same(info({}), "", 0, 1, 0));
  // srun -N 2 -n 8: task 5 is the second on node 1.
  EXPECT_TRUE(same(info({{"SLURM_PROCID", "5"},
                         {"SLURM_STEP_NUM_TASKS", "8"},
                         {"SLURM_NTASKS", "16"},
                         {"SLURM_LOCALID", "1"},
                         {"SLURM_STEP_ID", "0"}}),
                   "srun", 5, 8, 1));
  // Older Slurm: no SLURM_STEP_NUM_TASKS, the step's count in SLURM_NTASKS.
  EXPECT_TRUE(same(info({{"SLURM_PROCID", "3"},
                         {"SLURM_NTASKS", "4"},
                         {"SLURM_LOCALID", "3"},
                         {"SLURM_STEPID", "2"}}),
                   "srun", 3, 4, 3));
  // A batch script (sbatch -n 4) runs shears itself, without srun: no job step, one process.
  EXPECT_TRUE(same(info({{"SLURM_PROCID", "0"},
                         {"SLURM_NTASKS", "4"},
                         {"SLURM_LOCALID", "0"},
                         {"SLURM_JOB_ID", "77"}}),
                   "", 0, 1, 0));
  // mpirun inside an allocation: Open MPI's variables, not the daemons' Slurm step.
  EXPECT_TRUE(same(info({{"OMPI_COMM_WORLD_SIZE", "4"},
                         {"OMPI_COMM_WORLD_RANK", "2"},
                         {"OMPI_COMM_WORLD_LOCAL_RANK", "0"},
                         {"SLURM_PROCID", "1"},
                         {"SLURM_STEP_NUM_TASKS", "2"},
                         {"SLURM_STEP_ID", "0"}}),
                   "mpirun", 2, 4, 0));
  EXPECT_TRUE(same(info({{"PMIX_RANK", "1"}, {"PMIX_SIZE", "2"}, {"PMIX_LOCAL_RANK", "1"}}), "pmix",
                   1, 2, 1));
  EXPECT_TRUE(
      same(info({{"PMI_RANK", "6"}, {"PMI_SIZE", "7"}, {"MPI_LOCALRANKID", "2"}}), "pmi", 6, 7, 2));
  EXPECT_TRUE(throws_with_message<ConfigError>(
      [&] {
        info({{"SLURM_PROCID", "x1"}, {"SLURM_STEP_NUM_TASKS", "2"}});
      },
      "environment variable SLURM_PROCID is 'x1'"));
  EXPECT_TRUE(throws_with_message<ConfigError>(
      [&] {
        info({{"SLURM_PROCID", "2"}, {"SLURM_STEP_NUM_TASKS", "2"}});
      },
      "gives rank 2 of 2 processes"));
  // This process: alone, or rank r of mpirun's 2.
  const dist::LaunchInfo me = dist::launch_info();
  EXPECT_EQ(me.rank, comm().rank());
  EXPECT_EQ(me.size, comm().size());
}

TEST(Communicator, StringsAndConfigurationCheck) {
  const int rank = comm().rank(), size = comm().size();
  std::string mine(static_cast<std::size_t>(rank * 3 + 1), static_cast<char>('a' + rank));
  std::vector<std::string> all = comm().allgather_string(mine);
  ASSERT_EQ(all.size(), static_cast<std::size_t>(size));
  for (int r = 0; r < size; ++r) {
    EXPECT_EQ(all[static_cast<std::size_t>(r)],
              std::string(static_cast<std::size_t>(r * 3 + 1), static_cast<char>('a' + r)));
  }
  EXPECT_EQ(comm().broadcast_string(mine, 0), "a");
  EXPECT_NO_THROW(comm().check_same("same everywhere", "the test value"));
  if (size > 1) {
    // Every rank learns that rank 1 differs, so every rank ends with the same error.
    EXPECT_TRUE(throws_with_message<ConfigError>(
        [&] { comm().check_same(rank == 1 ? "other" : "same", "the test value"); },
        "the ranks disagree on the test value: rank(s) 1 differ from rank 0"));
  }
}

TEST(Communicator, AllReduceSumGradientIsTheSumOverRanks) {
  NEED_TWO_RANKS();
  const double r1 = comm().rank() + 1;
  Tensor x = Tensor::full({4}, 1.0).set_requires_grad();
  Tensor y = dist::all_reduce_sum(scale(x, r1), comm());  // sum_r (r+1) x_r
  // Each rank's loss weighs the sum by c_r = 10 (r+1): d(sum_r loss_r)/dx_r = (r+1) sum_r c_r.
  Tensor loss = sum(scale(y, 10.0 * r1));
  loss.backward();
  const double c_sum = 10.0 * (1 + 2);
  EXPECT_TRUE(allclose(y, Tensor::full({4}, 1.0 + 2.0)));
  EXPECT_TRUE(allclose(x.grad(), Tensor::full({4}, r1 * c_sum)));
}

TEST(SyncBatchNorm, EqualsBatchNormOfTheConcatenatedBatch) {
  NEED_TWO_RANKS();
  const int rank = comm().rank(), size = comm().size();
  Generator gen(3);
  const std::int64_t per = 5, c = 4;
  Tensor x_all = randn({per * size, c, 6, 6}, gen, 0.5, 2.0);
  Tensor r_all = randn({per * size, c, 6, 6}, gen);
  Tensor w = randn({c}, gen), b = randn({c}, gen);
  auto run = [&](const Tensor& x, const Tensor& r, bool sync, Tensor& rm, Tensor& rv) {
    Tensor xl = x.clone().set_requires_grad();
    Tensor wl = w.clone().set_requires_grad(), bl = b.clone().set_requires_grad();
    Tensor y = sync ? dist::sync_batch_norm(xl, wl, bl, rm, rv, 0.1, 1e-5, comm())
                    : batch_norm(xl, wl, bl, rm, rv, true, 0.1, 1e-5);
    sum(mul(y, r)).backward();
    return std::vector<Tensor>{y, xl.grad(), wl.grad(), bl.grad()};
  };
  Tensor rm1 = Tensor::zeros({c}), rv1 = Tensor::ones({c}), rm2 = rm1.clone(), rv2 = rv1.clone();
  auto ref = run(x_all, r_all, false, rm1, rv1);
  auto dp =
      run(narrow(x_all, 0, rank * per, per), narrow(r_all, 0, rank * per, per), true, rm2, rv2);
  EXPECT_TRUE(allclose(dp[0], narrow(ref[0], 0, rank * per, per), 1e-5, 1e-5));
  EXPECT_TRUE(allclose(dp[1], narrow(ref[1], 0, rank * per, per), 1e-5, 1e-5));
  Tensor gw = dp[2].clone(), gb = dp[3].clone();
  comm().allreduce_(gw);
  comm().allreduce_(gb);
  EXPECT_TRUE(allclose(gw, ref[2], 1e-5, 1e-5));
  EXPECT_TRUE(allclose(gb, ref[3], 1e-5, 1e-5));
  EXPECT_TRUE(allclose(rm2, rm1, 1e-6, 1e-5));
  EXPECT_TRUE(allclose(rv2, rv1, 1e-6, 1e-5));
}

// ---- the distributed sampler ------------------------------------------------------------------

std::shared_ptr<data::SyntheticDataset> synthetic(std::int64_t size) {
  data::SyntheticOptions o;
  o.size = size;
  o.seed = 5;
  return std::make_shared<data::SyntheticDataset>(o);
}

data::LoaderOptions loader_options(std::int64_t batch, int shard, int shards) {
  data::LoaderOptions o;
  o.batch_size = batch;
  o.seed = 11;
  o.num_workers = 0;
  o.shard = shard;
  o.num_shards = shards;
  o.transform = data::default_transform(data::DatasetKind::Cifar10, data::Split::Train);
  return o;
}

TEST(Sampler, SharesTogetherAreTheSingleProcessBatchesEveryImageOncePerEpoch) {
  // Local check (no communication): 3 shards of a 70-image set at batch 16; the last global batch
  // of 6 splits 2/2/2.
  auto set = synthetic(70);
  data::Loader whole(set, loader_options(16, 0, 1));
  std::vector<std::unique_ptr<data::Loader>> shards;
  for (int s = 0; s < 3; ++s) {
    shards.push_back(std::make_unique<data::Loader>(set, loader_options(16, s, 3)));
  }
  for (std::int64_t epoch : {0, 1}) {
    whole.start_epoch(epoch);
    for (auto& l : shards) l->start_epoch(epoch);
    Batch w;
    std::int64_t seen = 0;
    while (whole.next(w)) {
      std::vector<Tensor> images, labels;
      for (auto& l : shards) {
        Batch b;
        ASSERT_TRUE(l->next(b));
        images.push_back(b.images);
        labels.push_back(b.labels.to(DType::F64));
      }
      EXPECT_TRUE(equal(concat(images, 0), w.images));
      EXPECT_TRUE(equal(concat(labels, 0), w.labels.to(DType::F64)));
      seen += w.images.size(0);
    }
    EXPECT_EQ(seen, 70);
    for (auto& l : shards) {
      Batch b;
      EXPECT_FALSE(l->next(b));
    }
  }
  // A last batch too small to share is left out on every shard.
  data::Loader tiny(synthetic(33), loader_options(16, 1, 2));
  EXPECT_EQ(tiny.batches_per_epoch(), 2);
}

// ---- a data-parallel training step equals one process's -----------------------------------------

struct Captured {
  double loss = 0;
  TensorList grads, params, buffers;
};

/// Records the global loss, the reduced gradients (after_backward) and the updated parameters.
class Capture : public TrainerHooks {
 public:
  explicit Capture(dist::Communicator* c) : comm_(c) {}
  Tensor compute_loss(Trainer&, const Batch& batch, const Tensor& logits) override {
    Tensor loss = cross_entropy(logits, batch.labels);
    // The global batch's mean loss: sum of shares' summed losses over the global count.
    Tensor t = Tensor::from_vector(
        std::vector<double>{loss.item() * static_cast<double>(batch.labels.size(0)),
                            static_cast<double>(batch.labels.size(0))},
        {2});
    if (comm_) comm_->allreduce_(t);
    captured.loss = t.data<double>()[0] / t.data<double>()[1];
    return loss;
  }
  void after_backward(Trainer& t) override {
    captured.grads.clear();
    for (auto& [name, p] : t.model().named_parameters()) {
      captured.grads.emplace_back(name, p.grad().detach().clone());
    }
  }
  void after_step(Trainer& t) override {
    captured.params.clear();
    for (auto& [name, p] : t.model().named_parameters())
      captured.params.emplace_back(name, p.detach().clone());
    captured.buffers = t.model().named_buffers();
  }
  Captured captured;

 private:
  dist::Communicator* comm_;
};

std::shared_ptr<nn::Module> resnet20() {
  manual_seed(7);
  return models::build_model(models::default_arch("resnet20"));
}

optim::SgdOptions sgd_options() {
  optim::SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.weight_decay = 5e-4;
  return o;
}

/// One epoch of `images` at global batch 64 on every rank of `c` (null: alone), shares from the
/// distributed sampler.
Captured trainer_step(dist::Communicator* c, std::int64_t images, std::int64_t epochs = 1,
                      bool sync_bn = false, const std::string& dir = "", double lr_value = 0.1,
                      bool overlap = true, std::size_t bucket_bytes = std::size_t{25} << 20) {
  auto model = resnet20();
  if (sync_bn && c) dist::set_sync_batch_norm(*model, c);
  optim::SgdOptions so = sgd_options();
  so.lr = lr_value;
  optim::Sgd sgd(model->named_parameters(), so);
  optim::ConstantLr lr(lr_value);
  TrainerOptions to;
  to.epochs = epochs;
  to.progress = false;
  to.comm = c;
  to.checkpoint_dir = dir;
  to.overlap_allreduce = overlap;
  to.bucket_bytes = bucket_bytes;
  Trainer trainer(*model, sgd, lr, to);
  Capture capture(c);
  trainer.add_hooks(&capture);
  const int shard = c ? c->rank() : 0, shards = c ? c->size() : 1;
  data::Loader train(synthetic(images), loader_options(64, shard, shards));
  trainer.fit(train, nullptr);
  Captured out = capture.captured;
  out.buffers = model->named_buffers();
  out.params = model->named_parameters();
  return out;
}

/// The reference of one process: the batch of 64 forward whole (BN over 64) or as `groups`
/// groups of 64/groups whose losses are averaged (BN per group, as per-rank BN computes it).
Captured reference_step(int groups) {
  auto model = resnet20();
  optim::Sgd sgd(model->named_parameters(), sgd_options());
  data::Loader train(synthetic(64), loader_options(64, 0, 1));
  train.start_epoch(0);
  Batch b;
  EXPECT_TRUE(train.next(b));
  Captured out;
  sgd.zero_grad();
  const std::int64_t per = 64 / groups;
  for (int g = 0; g < groups; ++g) {
    Tensor logits = model->forward(narrow(b.images, 0, g * per, per));
    Tensor loss = cross_entropy(logits, narrow(b.labels, 0, g * per, per));
    out.loss += loss.item() / groups;
    scale(loss, 1.0 / groups).backward();
  }
  for (auto& [name, p] : model->named_parameters()) out.grads.emplace_back(name, p.grad().clone());
  sgd.step();
  out.params = model->named_parameters();
  out.buffers = model->named_buffers();
  return out;
}

// Tolerances: float32 sums in another order (each rank sums its 32 images, then the two shares
// are added), so gradients agree to a few ulps of their largest entries; the loss to 1e-6.
constexpr double kGradAtol = 2e-6, kGradRtol = 1e-4, kParamAtol = 1e-6, kParamRtol = 1e-5;

void expect_same_tensors(const TensorList& a, const TensorList& b, double atol, double rtol,
                         const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].first, b[i].first);
    if (a[i].second.dtype() != DType::F32) continue;  // num_batches_tracked
    EXPECT_TRUE(allclose(a[i].second, b[i].second, atol, rtol)) << what << " " << a[i].first;
  }
}

TEST(DataParallel, ResNet20StepWithPerRankBnEqualsOneProcessWithBnPerShare) {
  NEED_TWO_RANKS();
  Captured dp = trainer_step(&comm(), 64);
  Captured ref = reference_step(comm().size());
  EXPECT_NEAR(dp.loss, ref.loss, 1e-6 * std::max(1.0, ref.loss));
  expect_same_tensors(dp.grads, ref.grads, kGradAtol, kGradRtol, "gradient");
  expect_same_tensors(dp.params, ref.params, kParamAtol, kParamRtol, "parameter");
  // Per-rank BN statistics differ; after the epoch every rank holds rank 0's.
  for (auto& [name, t] : dp.buffers) {
    Tensor all = comm().allgather(t);
    EXPECT_TRUE(equal(narrow(all, 0, 1, 1), narrow(all, 0, 0, 1))) << name;
  }
}

TEST(DataParallel, ResNet20StepWithSyncBnEqualsOneProcessBatch64) {
  NEED_TWO_RANKS();
  Captured dp = trainer_step(&comm(), 64, 1, /*sync_bn=*/true);
  Captured ref = reference_step(1);
  EXPECT_NEAR(dp.loss, ref.loss, 1e-6 * std::max(1.0, ref.loss));
  expect_same_tensors(dp.grads, ref.grads, kGradAtol, kGradRtol, "gradient");
  expect_same_tensors(dp.params, ref.params, kParamAtol, kParamRtol, "parameter");
  expect_same_tensors(dp.buffers, ref.buffers, 1e-6, 1e-5, "running statistic");
}

// ---- the allreduce overlapped with backward
// ------------------------------------------------------

/// Every tensor of `a` bit-identical to the same-named one of `b`.
void expect_identical(const TensorList& a, const TensorList& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(equal(a[i].second, b[i].second)) << what << " " << a[i].first;
  }
}

TEST(DataParallel, BucketsStartDuringBackwardAndSumAsAfterBackward) {
  NEED_TWO_RANKS();
  // ResNet-20's gradients (1.08 MB) in 64 KiB buckets: with overlap, every bucket but the last
  // (which carries the extra values) starts inside backward, as soon as its gradients are final.
  auto model = resnet20();
  data::Loader train(synthetic(64), loader_options(64, comm().rank(), comm().size()));
  train.start_epoch(0);
  Batch b;
  ASSERT_TRUE(train.next(b));
  std::vector<Tensor> params;
  for (auto& [name, p] : model->named_parameters()) params.push_back(p);
  auto grads_after = [&](bool overlap) {
    for (Tensor& p : params) p.set_grad(Tensor());
    dist::GradientReducer reducer(comm(), params, 64 << 10, overlap);
    reducer.begin_step();
    Tensor loss = scale(cross_entropy(model->forward(b.images), b.labels), 32.0);
    {
      GradReadyScope ready([&](const Tensor& leaf) { reducer.gradient_ready(leaf); });
      loss.backward();
    }
    const std::size_t started = reducer.started_in_backward();
    const std::vector<float> extra = reducer.finish({32.0f, static_cast<float>(comm().rank())});
    EXPECT_EQ(extra, (std::vector<float>{64.0f, 1.0f}));
    reducer.write_back(1.0 / extra[0]);
    std::vector<Tensor> out;
    for (const Tensor& p : params) out.push_back(p.grad().clone());
    return std::make_pair(started, std::make_pair(reducer.buckets(), out));
  };
  auto [started, rest] = grads_after(true);
  auto [started_off, rest_off] = grads_after(false);
  EXPECT_GE(rest.first, 12u);
  EXPECT_EQ(started, rest.first - 1);
  EXPECT_EQ(started_off, 0u);
  // The reference: every gradient summed whole after backward, then divided by 64.
  for (Tensor& p : params) p.set_grad(Tensor());
  scale(cross_entropy(model->forward(b.images), b.labels), 32.0).backward();
  for (std::size_t i = 0; i < params.size(); ++i) {
    Tensor g = params[i].grad().clone();
    comm().allreduce_(g);
    g = scale(g, 1.0 / 64);
    EXPECT_TRUE(equal(rest.second[i], g)) << i;
    EXPECT_TRUE(equal(rest_off.second[i], g)) << i;
  }
}

TEST(DataParallel, OverlappedStepsEqualStepsWithTheAllreduceAfterBackward) {
  NEED_TWO_RANKS();
  // Two steps with sync BN, 64 KiB buckets: overlapped or not, bit-identical losses, gradients,
  // parameters and running statistics.
  for (bool sync_bn : {false, true}) {
    Captured on = trainer_step(&comm(), 128, 1, sync_bn, "", 0.1, true, 64 << 10);
    Captured off = trainer_step(&comm(), 128, 1, sync_bn, "", 0.1, false, 64 << 10);
    EXPECT_EQ(on.loss, off.loss);
    expect_identical(on.grads, off.grads, "gradient");
    expect_identical(on.params, off.params, "parameter");
    expect_identical(on.buffers, off.buffers, "buffer");
  }
}

/// ||a - b|| / ||b - init|| over every F32 tensor: how far two runs' total updates disagree,
/// relative to the update itself.
double relative_update_error(const TensorList& a, const TensorList& b, const TensorList& init) {
  double diff = 0, update = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].second.dtype() != DType::F32) continue;
    std::vector<float> va = a[i].second.to_vector<float>(), vb = b[i].second.to_vector<float>(),
                       v0 = init[i].second.to_vector<float>();
    for (std::size_t k = 0; k < va.size(); ++k) {
      diff += (static_cast<double>(va[k]) - vb[k]) * (static_cast<double>(va[k]) - vb[k]);
      update += (static_cast<double>(vb[k]) - v0[k]) * (static_cast<double>(vb[k]) - v0[k]);
    }
  }
  return std::sqrt(diff / update);
}

TEST(DataParallel, TwoEpochsOnTwoRanksEqualOneProcessAndResumeAcrossRankCounts) {
  NEED_TWO_RANKS();
  // 2 steps per epoch, 2 epochs, sync BN: the same run on 2 ranks and alone. Elementwise float
  // tolerances hold for one step (above); over 8 steps rounding differences grow (an activation
  // that rounds to the other side of a ReLU's kink changes its gradient entirely), so the runs
  // are compared by their total updates: they must agree to kUpdateTol of the update's size,
  // where per-rank BN statistics (a different computation) miss by far more. Measured: 1.7e-3
  // (sync BN) against 0.155 (per-rank BN) at lr 0.001; at lr 0.02 the fresh network's first steps
  // amplify rounding to 6e-2 (and per-rank BN to 0.32), so the comparison runs at lr 0.001.
  constexpr double kLr = 0.001, kUpdateTol = 0.01;
  const TensorList init = resnet20()->named_parameters();
  Captured alone = trainer_step(nullptr, 128, 2, false, "", kLr);
  Captured dp = trainer_step(&comm(), 128, 2, true, "", kLr);
  Captured per_rank = trainer_step(&comm(), 128, 2, false, "", kLr);
  const double e_sync = relative_update_error(dp.params, alone.params, init);
  const double e_per_rank = relative_update_error(per_rank.params, alone.params, init);
  std::printf("two epochs, 2 ranks vs 1: update error %.2e with sync BN, %.2e with per-rank BN\n",
              e_sync, e_per_rank);
  EXPECT_LT(e_sync, kUpdateTol);
  EXPECT_GT(e_per_rank, 10 * e_sync);

  // Epoch 1 on 2 ranks (rank 0 writes), epoch 2 alone on each rank from a copy of that run
  // directory; and epoch 1 alone, epoch 2 on 2 ranks.
  namespace fs = std::filesystem;
  const std::string base = ::testing::TempDir() + "/shears_dist_resume";
  const std::string two = base + "/two", one = base + "/one";
  if (comm().is_root()) {
    fs::remove_all(base);
    fs::create_directories(base);
  }
  comm().barrier();
  trainer_step(&comm(), 128, 1, true, two, kLr);
  const std::string mine = base + "/two_then_one_rank" + std::to_string(comm().rank());
  comm().barrier();
  fs::copy(two, mine, fs::copy_options::recursive);
  Captured two_then_one = trainer_step(nullptr, 128, 2, false, mine, kLr);
  EXPECT_LT(relative_update_error(two_then_one.params, alone.params, init), kUpdateTol);
  if (comm().is_root()) trainer_step(nullptr, 128, 1, false, one, kLr);
  comm().barrier();
  Captured one_then_two = trainer_step(&comm(), 128, 2, true, one, kLr);
  EXPECT_LT(relative_update_error(one_then_two.params, alone.params, init), kUpdateTol);
  comm().barrier();
  if (comm().is_root()) fs::remove_all(base);
}

// ---- GAL data parallel -------------------------------------------------------------------------

struct GalRun {
  TensorList masks, disc, params;
  std::int64_t zeros = 0;
};

/// GAL's mask training (faithful mode, a FISTA step after every step; 2 steps of 64 images,
/// sync BN) on every rank of `c`, or alone.
GalRun gal_run(dist::Communicator* c) {
  auto teacher = resnet20();
  teacher->eval();
  auto student = resnet20();  // the same seed: the teacher's weights
  if (c) dist::set_sync_batch_norm(*student, c);
  Generator init(3);
  pruning::SoftMasks masks(
      *student, pruning::gal_mask_sites(*student),
      [&](const pruning::MaskSite& s) { return randn({s.size}, init); }, Device::cpu());
  pruning::GalOptions o;
  o.mode = pruning::GalMode::Faithful;
  o.lambda = 0.5;
  o.mask_step = 1;
  pruning::GalHooks hooks(*teacher, masks, o, 10, 5e-4, Device::cpu());
  optim::Sgd sgd(student->named_parameters(), sgd_options());
  optim::ConstantLr lr(0.05);
  TrainerOptions to;
  to.progress = false;
  to.comm = c;
  to.bucket_bytes = 64 << 10;
  Trainer trainer(*student, sgd, lr, to);
  trainer.add_hooks(&hooks);
  const int shard = c ? c->rank() : 0, shards = c ? c->size() : 1;
  data::Loader train(synthetic(128), loader_options(64, shard, shards));
  trainer.fit(train, nullptr);
  GalRun out;
  for (auto& [name, m] : masks.named_masks()) out.masks.emplace_back(name, m.detach().clone());
  out.zeros = masks.zeros();
  out.disc = hooks.discriminator().named_parameters();
  out.params = student->named_parameters();
  return out;
}

TEST(DataParallel, GalMasksAreTheSameOnEveryRankAndAsOneProcess) {
  NEED_TWO_RANKS();
  GalRun dp = gal_run(&comm());
  GalRun alone = gal_run(nullptr);
  // Every rank took the same steps: masks, discriminator and student bit-identical across ranks.
  for (const TensorList* list : {&dp.masks, &dp.disc, &dp.params}) {
    for (auto& [name, t] : *list) {
      Tensor all = comm().allgather(t);
      EXPECT_TRUE(equal(narrow(all, 0, 1, 1), narrow(all, 0, 0, 1))) << name;
    }
  }
  // The same masks as one process on the global batches: the same ones are zero (the pruned
  // architecture), the others equal to float tolerance.
  EXPECT_GT(dp.zeros, 0);
  EXPECT_LT(dp.zeros, 9);
  EXPECT_EQ(dp.zeros, alone.zeros);
  ASSERT_EQ(dp.masks.size(), alone.masks.size());
  double worst = 0;
  for (std::size_t i = 0; i < dp.masks.size(); ++i) {
    std::vector<float> a = dp.masks[i].second.to_vector<float>(),
                       b = alone.masks[i].second.to_vector<float>();
    for (std::size_t k = 0; k < a.size(); ++k) {
      worst = std::max(worst, std::abs(static_cast<double>(a[k]) - b[k]));
    }
  }
  if (comm().is_root()) std::printf("GAL masks, 2 ranks vs 1: largest difference %.2e\n", worst);
  for (std::size_t i = 0; i < dp.masks.size(); ++i) {
    std::vector<float> a = dp.masks[i].second.to_vector<float>(),
                       b = alone.masks[i].second.to_vector<float>();
    for (std::size_t k = 0; k < a.size(); ++k) {
      EXPECT_EQ(a[k] == 0.0f, b[k] == 0.0f) << dp.masks[i].first;
      EXPECT_NEAR(a[k], b[k], 1e-5 + 1e-4 * std::abs(b[k])) << dp.masks[i].first;
    }
  }
  expect_same_tensors(dp.disc, alone.disc, 1e-5, 1e-4, "discriminator");
  expect_same_tensors(dp.params, alone.params, 1e-5, 1e-4, "student parameter");
}

TEST(DataParallel, MismatchedModelsEndEveryRankWithTheSameError) {
  NEED_TWO_RANKS();
  manual_seed(7);
  auto model =
      models::build_model(models::default_arch(comm().rank() == 1 ? "resnet32" : "resnet20"));
  optim::Sgd sgd(model->named_parameters(), sgd_options());
  optim::ConstantLr lr(0.1);
  TrainerOptions to;
  to.progress = false;
  to.comm = &comm();
  Trainer trainer(*model, sgd, lr, to);
  data::Loader train(synthetic(64), loader_options(64, comm().rank(), comm().size()));
  EXPECT_TRUE(throws_with_message<ConfigError>(
      [&] { trainer.fit(train, nullptr); },
      "the ranks disagree on the model, its training state and the training data: rank(s) 1"));
}

// Not a test: the allreduce bandwidth of gradient-sized buffers (docs/distributed.md). Run with
//   mpirun -np 2 --oversubscribe build/tests/test_dist --gtest_also_run_disabled_tests
//     --gtest_filter='*Bandwidth*'
TEST(Bench, DISABLED_AllreduceBandwidth) {
  NEED_TWO_RANKS();
  for (std::int64_t mb : {1, 4, 16, 64}) {
    Tensor t = Tensor::full({mb << 18}, 1.0);  // mb MiB of F32
    comm().allreduce_(t);
    const int reps = mb >= 64 ? 5 : 20;
    double s = 1e30;  // the fastest call, each after a barrier (the cores are shared)
    for (int i = 0; i < reps; ++i) {
      comm().barrier();
      auto start = std::chrono::steady_clock::now();
      comm().allreduce_(t);
      s = std::min(s,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    const double bytes = static_cast<double>(t.nbytes());
    const double busbw = bytes / s * 2.0 * (comm().size() - 1) / comm().size();
    if (comm().is_root()) {
      std::printf("allreduce %3lld MiB: %8.3f ms, algbw %6.2f GB/s, busbw %6.2f GB/s\n",
                  static_cast<long long>(mb), s * 1e3, bytes / s / 1e9, busbw / 1e9);
    }
  }
}

}  // namespace
}  // namespace shears

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  shears::dist::Communicator& c = shears::dist::init_world(shears::cuda_device_count() > 0);
  if (c.rank() > 0) {
    // Rank 0 reports; the others only their failures (the exit status counts them).
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int failed = RUN_ALL_TESTS();
  int any = failed;
  {
    shears::Tensor t = shears::Tensor::from_vector(std::vector<std::int32_t>{failed ? 1 : 0}, {1});
    c.allreduce_(t);
    any = t.data<std::int32_t>()[0];
  }
  if (c.rank() > 0 && failed) std::fprintf(stderr, "rank %d: some tests failed\n", c.rank());
  return any ? 1 : 0;
}
