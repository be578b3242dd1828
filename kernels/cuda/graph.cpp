// CudaBackend graphs: recording the work queued on the compute stream (stream capture) and
// replaying it. The allocator's part (graph memory nodes, memory held or dead because of a
// capture) is in cuda_backend.cpp, pool_allocate and pool_free; the host bytes a recorded copy
// reads are kept by captured_copy there.

#include <cuda_runtime.h>

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/state.h"

namespace shears::kernels::cuda {
namespace {

// The instantiated graph, the pinned host bytes its copies read, and the memory allocated before
// the capture and freed during it (held until the graph is gone: a replay may still read it).
class CudaGraph final : public DeviceGraph {
 public:
  CudaGraph(CudaBackend::State& s, cudaGraph_t graph, cudaGraphExec_t exec,
            std::vector<void*> escaped, std::vector<void*> host_blocks, std::vector<void*> held)
      : s_(s),
        graph_(graph),
        exec_(exec),
        host_blocks_(std::move(host_blocks)),
        held_(std::move(held)) {
    escaped_ = std::move(escaped);
  }
  ~CudaGraph() override {
    int previous = -1;
    cudaGetDevice(&previous);
    if (previous != s_.device) cudaSetDevice(s_.device);
    // Replays still queued read the host blocks and the held memory.
    cudaStreamSynchronize(s_.stream);
    cudaGraphExecDestroy(exec_);
    cudaGraphDestroy(graph_);
    for (void* block : host_blocks_) cudaFreeHost(block);
    for (void* ptr : held_) pool_free(s_, ptr);
    cudaGetLastError();
    if (previous >= 0 && previous != s_.device) cudaSetDevice(previous);
  }
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  void launch() override {
    DeviceGuard guard(s_.device);
    SHEARS_CUDA_CHECK(cudaGraphLaunch(exec_, s_.stream));
    check_detail::sync_point("a graph launch", __FILE__, __LINE__);
  }

 private:
  CudaBackend::State& s_;
  cudaGraph_t graph_;
  cudaGraphExec_t exec_;
  std::vector<void*> host_blocks_;
  std::vector<void*> held_;
};

// Ends the capture state (caller holds c.mutex): what was recorded will never run, so its memory
// is dead, the memory held because of it can be freed, and its host blocks released.
void discard_capture(CudaBackend::State& s) {
  CaptureState& c = s.capture;
  c.dead.insert(c.live.begin(), c.live.end());
  c.live.clear();
  for (void* ptr : c.held) {
    if (cudaFreeAsync(ptr, s.stream) != cudaSuccess) cudaGetLastError();
  }
  c.held.clear();
  for (void* block : c.host_blocks) cudaFreeHost(block);
  c.host_blocks.clear();
  c.host_used = c.host_capacity = 0;
  c.active.store(false);
  check_detail::set_capturing(false);
}

}  // namespace

std::string CudaBackend::graph_unsupported_reason() {
  if (!state_->use_pool) {
    return name() +
           " allocates with the caching cudaMalloc fallback (no stream-ordered memory pools, or "
           "SHEARS_CUDA_ALLOCATOR=caching), and a graph can only record stream-ordered "
           "allocations";
  }
  return "";
}

bool CudaBackend::capturing() const { return state_->capture.active.load(); }

void CudaBackend::begin_capture() {
  State& s = *state_;
  const std::string why = graph_unsupported_reason();
  if (!why.empty()) throw GraphCaptureError(why);
  DeviceGuard guard(s.device);
  std::lock_guard<std::mutex> lock(s.capture.mutex);
  if (s.capture.active.load()) throw GraphCaptureError(name() + ": a capture is in progress");
  // Relaxed: cudaHostAlloc (a new block for recorded host bytes) stays allowed while recording.
  SHEARS_CUDA_CHECK(cudaStreamBeginCapture(s.stream, cudaStreamCaptureModeRelaxed));
  s.capture.dead.clear();
  s.capture.active.store(true);
  check_detail::set_capturing(true);
}

std::unique_ptr<DeviceGraph> CudaBackend::end_capture() {
  State& s = *state_;
  DeviceGuard guard(s.device);
  std::lock_guard<std::mutex> lock(s.capture.mutex);
  if (!s.capture.active.load()) throw GraphCaptureError(name() + ": no capture in progress");
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(s.stream, &graph);
  if (ended != cudaSuccess || graph == nullptr) {
    cudaGetLastError();
    if (graph != nullptr) cudaGraphDestroy(graph);
    discard_capture(s);
    throw GraphCaptureError(
        detail::cat(name(), ": the capture failed (cudaStreamEndCapture: ", cudaGetErrorName(ended),
                    ", ", cudaGetErrorString(ended), ")"));
  }
  cudaGraphExec_t exec = nullptr;
  // Auto-free on launch: memory the step leaves allocated (gradients, outputs) is freed when the
  // graph is launched again and allocated anew at the same address.
  const cudaError_t made =
      cudaGraphInstantiateWithFlags(&exec, graph, cudaGraphInstantiateFlagAutoFreeOnLaunch);
  if (made != cudaSuccess) {
    cudaGetLastError();
    cudaGraphDestroy(graph);
    discard_capture(s);
    throw GraphCaptureError(detail::cat(name(), ": the captured graph cannot be instantiated (",
                                        cudaGetErrorName(made), ", ", cudaGetErrorString(made),
                                        ")"));
  }
  CaptureState& c = s.capture;
  std::vector<void*> escaped(c.live.begin(), c.live.end());
  auto out = std::make_unique<CudaGraph>(s, graph, exec, std::move(escaped),
                                         std::move(c.host_blocks), std::move(c.held));
  c.live.clear();
  c.held.clear();
  c.host_blocks.clear();
  c.host_used = c.host_capacity = 0;
  c.active.store(false);
  check_detail::set_capturing(false);
  return out;
}

void CudaBackend::abort_capture() noexcept {
  State& s = *state_;
  int previous = -1;
  cudaGetDevice(&previous);
  if (previous != s.device) cudaSetDevice(s.device);
  {
    std::lock_guard<std::mutex> lock(s.capture.mutex);
    if (s.capture.active.load()) {
      cudaGraph_t graph = nullptr;
      cudaStreamEndCapture(s.stream, &graph);
      if (graph != nullptr) cudaGraphDestroy(graph);
      cudaGetLastError();
      discard_capture(s);
    }
  }
  if (previous >= 0 && previous != s.device) cudaSetDevice(previous);
}

}  // namespace shears::kernels::cuda
