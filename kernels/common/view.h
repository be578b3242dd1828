#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/common/device.h"
#include "kernels/common/dtype.h"

namespace shears {

using Shape = std::vector<std::int64_t>;

/// "[2, 3, 4]".
std::string shape_str(const Shape& shape);
/// Product of the dimensions (1 for a scalar shape {}).
std::int64_t shape_numel(const Shape& shape);

/// What a kernel sees of a tensor: a pointer to contiguous row-major (NCHW) data, its shape,
/// dtype and device. A view owns nothing; the engine keeps the storage alive during the call.
struct TensorView {
  void* data = nullptr;
  Shape shape;
  DType dtype = DType::F32;
  Device device;

  std::int64_t numel() const { return shape_numel(shape); }
  int dim() const { return static_cast<int>(shape.size()); }
  std::int64_t size(int d) const { return shape[static_cast<std::size_t>(d < 0 ? d + dim() : d)]; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
};

}  // namespace shears
