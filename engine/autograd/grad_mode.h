#pragma once

namespace shears {

/// Whether ops record the autograd graph on this thread (true by default).
bool grad_enabled();
void set_grad_enabled(bool enabled);

/// RAII scope in which ops record no graph (evaluation, optimiser updates, surgery).
class NoGrad {
 public:
  NoGrad() : previous_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGrad() { set_grad_enabled(previous_); }
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool previous_;
};

}  // namespace shears
