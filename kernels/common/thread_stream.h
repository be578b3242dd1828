#pragma once

#include <memory>

#include "kernels/common/device.h"

namespace shears {

/// While it lives, the calling thread's work on `device` has a queue of its own: on a CUDA device
/// a stream of the backend's, so that threads each holding one run their kernels concurrently
/// (the CUDA backend's CudaBackend::bind_thread_stream says exactly what is ordered after what);
/// on the CPU nothing changes (every thread computes on its own already). Create and destroy it on
/// the same thread; the destructor waits until the thread's queued work is done, so what it made
/// may be used from any thread afterwards. Throws shears::Error when `device` is unavailable and
/// CudaError when no stream can be created.
class ThreadStream {
 public:
  explicit ThreadStream(const Device& device);
  ~ThreadStream();
  ThreadStream(const ThreadStream&) = delete;
  ThreadStream& operator=(const ThreadStream&) = delete;

  /// Whether the thread's work goes to a queue of its own (false on the CPU).
  bool own_stream() const { return binding_ != nullptr; }

 private:
  std::shared_ptr<void> binding_;
};

}  // namespace shears
