#pragma once

// Private to kernels/cuda, device side of the deferred-error record (state.h, DeferredError):
// the first data fault a kernel finds is stored for the host to throw at its next
// synchronisation.

#include "kernels/cuda/state.h"

namespace shears::kernels::cuda {

/// Stores (code, dim, position, value, size) in *err unless an error is recorded already.
__device__ inline void record_deferred(DeferredError* err, int code, int dim, long long position,
                                       long long value, long long size) {
  if (atomicCAS(&err->code, 0, -1) == 0) {
    err->dim = dim;
    err->position = position;
    err->value = value;
    err->size = size;
    __threadfence();
    atomicExch(&err->code, code);
  }
}

}  // namespace shears::kernels::cuda
