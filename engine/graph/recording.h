#pragma once

// Host-side effects of a training step that a device graph cannot record. A recorded step runs
// its host code once, while recording; what that code must do again at every replay (count a
// step, write the learning rate the recorded kernels read) it registers here, and what cannot be
// replayed at all (a host-side random draw) it refuses here. Outside a recording every call is
// the plain thing: host_effect runs the effect at once, before_launch does nothing and
// require_eager returns.

#include <functional>
#include <string>
#include <vector>

namespace shears::graph {

/// Whether the calling thread is recording a step (a Recording is alive).
bool recording();

/// Runs `effect` now; while recording, instead after every launch of the recorded graph (the
/// first one included), so a count advances once per step whichever way the step runs.
void host_effect(std::function<void()> effect);

/// While recording: runs `prepare` before every launch of the recorded graph (it writes host
/// values, such as the step's learning rate, to device memory the recorded work reads). Does
/// nothing otherwise.
void before_launch(std::function<void()> prepare);

/// Throws GraphCaptureError("<why>") while recording; does nothing otherwise.
void require_eager(const std::string& why);

/// The effects registered during one recording.
struct Effects {
  std::vector<std::function<void()>> before, after;
  void run_before() const {
    for (const auto& f : before) f();
  }
  void run_after() const {
    for (const auto& f : after) f();
  }
};

/// Marks the calling thread as recording for its lifetime and collects what is registered.
/// Recordings do not nest.
class Recording {
 public:
  Recording();
  ~Recording();
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;
  /// What was registered so far (the recording goes on).
  Effects take();

 private:
  Effects effects_;
};

}  // namespace shears::graph
