#include "pruning/search/driver.h"

#include <atomic>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "kernels/common/registry.h"
#include "kernels/common/thread_stream.h"
#include "models/registry.h"

namespace shears::pruning::search {

namespace {
std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

std::uint64_t candidate_seed(std::uint64_t seed, std::int64_t cycle, std::int64_t candidate) {
  std::uint64_t h = splitmix64(seed ^ 0xabc0000000000000ULL);
  h = splitmix64(h ^ static_cast<std::uint64_t>(cycle));
  return splitmix64(h ^ static_cast<std::uint64_t>(candidate));
}

LimitedSource::LimitedSource(BatchSource& inner, std::int64_t max_batches)
    : inner_(inner), max_batches_(max_batches) {}

void LimitedSource::start_epoch(std::int64_t epoch) {
  served_ = 0;
  inner_.start_epoch(epoch);
}

bool LimitedSource::next(Batch& batch) {
  if (max_batches_ > 0 && served_ >= max_batches_) return false;
  if (!inner_.next(batch)) return false;
  ++served_;
  return true;
}

std::int64_t LimitedSource::batches_per_epoch() const {
  std::int64_t all = inner_.batches_per_epoch();
  return max_batches_ > 0 ? std::min(all, max_batches_) : all;
}

std::int64_t LimitedSource::num_samples() const {
  std::int64_t all = inner_.num_samples();
  if (max_batches_ <= 0 || inner_.batches_per_epoch() <= max_batches_) return all;
  // Whole batches of the inner source's size.
  std::int64_t per = (all + inner_.batches_per_epoch() - 1) / inner_.batches_per_epoch();
  return std::min(all, per * max_batches_);
}

std::vector<EpochMetrics> train_ephemeral(nn::Module& model, const TrainRecipe& recipe,
                                          BatchSource& train, const Device& device) {
  optim::Sgd sgd(model.named_parameters(), recipe.sgd);
  std::unique_ptr<optim::LrSchedule> schedule = recipe.schedule(recipe.sgd.lr, recipe.epochs);
  TrainerOptions o;
  o.epochs = recipe.epochs;
  o.label_smoothing = recipe.label_smoothing;
  o.device = device;
  o.progress = false;
  o.resume = false;
  Trainer trainer(model, sgd, *schedule, o);
  return trainer.fit(train, nullptr);
}

int candidate_threads(const ParallelOptions& options) {
  if (options.threads_per_candidate > 0) return options.threads_per_candidate;
  return std::max(1, cpu_threads() / std::max(1, options.parallel));
}

void run_parallel(std::int64_t n, const ParallelOptions& options, const Device& device,
                  const std::function<void(std::int64_t)>& job) {
  const int threads = candidate_threads(options);
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)));
  auto run_one = [&](std::int64_t i) {
    try {
      job(i);
    } catch (...) {
      errors[static_cast<std::size_t>(i)] = std::current_exception();
    }
  };
  if (options.parallel <= 1 || n <= 1) {
    const int saved = cpu_threads();
    set_cpu_threads(threads);
    for (std::int64_t i = 0; i < n; ++i) run_one(i);
    set_cpu_threads(saved);
  } else {
    std::atomic<std::int64_t> next{0};
    std::vector<std::thread> workers;
    const auto count = static_cast<int>(std::min<std::int64_t>(options.parallel, n));
    std::vector<std::exception_ptr> stream_errors(static_cast<std::size_t>(count));
    for (int w = 0; w < count; ++w) {
      workers.emplace_back([&, w] {
        set_cpu_threads(threads);
        try {
          ThreadStream stream(device);
          for (std::int64_t i = next++; i < n; i = next++) run_one(i);
        } catch (...) {
          // No stream could be bound: this worker runs nothing (the others take the jobs) and
          // its error is rethrown once they are done.
          stream_errors[static_cast<std::size_t>(w)] = std::current_exception();
        }
      });
    }
    for (std::thread& t : workers) t.join();
    for (const std::exception_ptr& e : stream_errors)
      if (e) std::rethrow_exception(e);
  }
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

SearchFiles::SearchFiles(std::string run_dir) : run_dir_(std::move(run_dir)) {
  if (enabled()) std::filesystem::create_directories(run_dir_ + "/search");
}

nlohmann::json SearchFiles::load_state() const {
  if (!enabled() || !std::filesystem::exists(state_path())) return nullptr;
  std::ifstream in(state_path());
  std::stringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw Error(state_path() + ": not a search state (" + e.what() +
                "); remove it to start the search afresh");
  }
}

void SearchFiles::save_state(const nlohmann::json& state) const {
  if (!enabled()) return;
  std::string text = state.dump(1);
  write_file_atomic(state_path(), [&](std::ostream& out) { out << text << "\n"; });
}

void SearchFiles::save_best(nn::Module& model, const models::Arch& arch) const {
  if (!enabled()) return;
  save_safetensors(best_path(), model.state_dict(), {{"arch", models::arch_to_json(arch)}});
}

std::shared_ptr<nn::Module> SearchFiles::load_best(Generator& gen, const Device& device) const {
  SafetensorsContents c = load_safetensors(best_path());
  auto it = c.metadata.find("arch");
  SHEARS_CHECK(it != c.metadata.end(), best_path(), ": no architecture in the metadata");
  std::shared_ptr<nn::Module> model;
  {
    GeneratorScope scope(gen);
    model = models::build_model(models::arch_from_json(it->second));
  }
  model->load_state_dict(c.tensors);
  model->to(device);
  return model;
}

void SearchFiles::truncate_log(std::int64_t keep) const {
  if (!enabled()) return;
  std::vector<std::string> lines;
  if (keep > 0 && std::filesystem::exists(log_path())) {
    std::ifstream in(log_path());
    std::string line;
    while (static_cast<std::int64_t>(lines.size()) < keep && std::getline(in, line))
      lines.push_back(line);
  }
  write_file_atomic(log_path(), [&](std::ostream& out) {
    for (const std::string& l : lines) out << l << "\n";
  });
}

void SearchFiles::append_log(const std::vector<nlohmann::json>& lines) const {
  if (!enabled()) return;
  std::ofstream out(log_path(), std::ios::app);
  for (const nlohmann::json& l : lines) out << l.dump() << "\n";
  out.flush();
  SHEARS_CHECK(out.good(), log_path(), ": write failed");
}

std::string generator_state(Generator& gen) {
  std::ostringstream s;
  s << gen.engine();
  return s.str();
}

void restore_generator(Generator& gen, const std::string& state) {
  std::istringstream s(state);
  s >> gen.engine();
  SHEARS_CHECK(!s.fail(), "search state: unreadable generator state");
}

}  // namespace shears::pruning::search
