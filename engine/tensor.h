#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "engine/storage.h"
#include "kernels/common/device.h"
#include "kernels/common/dtype.h"
#include "kernels/common/error.h"
#include "kernels/common/view.h"

namespace shears {

class Node;

/// The shared state behind a Tensor handle: storage, shape, dtype and autograd bookkeeping.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  DType dtype = DType::F32;
  bool requires_grad = false;
  bool retains_grad = false;
  std::shared_ptr<TensorImpl> grad;      // accumulated gradient (leaves, or retain_grad)
  std::shared_ptr<Node> grad_fn;         // the op that produced this tensor (non-leaf)
  std::weak_ptr<Node> grad_accumulator;  // leaf: the node that accumulates into `grad`
  std::string name;                      // optional, e.g. a parameter's dotted name
};

/// A dense, contiguous, row-major (NCHW) n-dimensional array on one device, with reverse-mode
/// autograd. A Tensor is a cheap shared handle: copies alias the same data. Data is copied only
/// by `clone`, `to` and `copy_`. A default-constructed Tensor is undefined (`defined()` false)
/// and stands for "no tensor" (an absent bias, a missing gradient).
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation -----------------------------------------------------------------------------
  /// Uninitialised memory.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32,
                     Device device = Device::cpu());
  /// A 0-dimensional tensor holding `value`.
  static Tensor scalar(double value, DType dtype = DType::F32, Device device = Device::cpu());
  /// Copies `values` (numel must match `shape`) into a new tensor of T's dtype.
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape,
                            Device device = Device::cpu());
  /// 0, 1, ..., n-1 as I64.
  static Tensor arange(std::int64_t n, Device device = Device::cpu());
  /// A tensor sharing `storage` (whose size must fit) with the given shape and dtype.
  static Tensor from_storage(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype);

  // ---- metadata -----------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  int dim() const { return static_cast<int>(impl().shape.size()); }
  /// Size of dimension d (negative d counts from the end); throws ShapeError when out of range.
  std::int64_t size(int d) const;
  std::int64_t numel() const { return shape_numel(impl().shape); }
  /// Element strides of the contiguous row-major layout.
  std::vector<std::int64_t> strides() const;
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype()); }
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  /// Identity of the underlying impl (stable while the tensor lives); used by tracing.
  const TensorImpl* id() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  const std::string& name() const { return impl().name; }
  void set_name(const std::string& name) const { impl_->name = name; }

  /// Raw pointer to the elements; T must match dtype and the tensor must be on the CPU.
  template <typename T>
  T* data() const;
  void* raw_data() const { return impl().storage->data(); }
  /// The kernel-level view of this tensor.
  TensorView view() const;

  // ---- copies -------------------------------------------------------------------------------
  /// A copy on `device` (the same tensor when already there). Not recorded by autograd.
  Tensor to(Device device) const;
  Tensor cpu() const { return to(Device::cpu()); }
  /// A copy converted to `dtype`. Not recorded by autograd.
  Tensor to(DType dtype) const;
  /// A deep copy on the same device; recorded by autograd (gradient passes through).
  Tensor clone() const;
  /// Copies src's elements into this tensor (same numel; devices and dtypes may differ).
  void copy_(const Tensor& src) const;
  /// Sets every element to `value` in place.
  void fill_(double value) const;
  /// The elements as a host vector of T (converted if the dtype differs).
  template <typename T>
  std::vector<T> to_vector() const;
  /// The single element of a one-element tensor as double.
  double item() const;

  // ---- autograd -----------------------------------------------------------------------------
  bool requires_grad() const { return impl().requires_grad; }
  /// Marks a leaf as requiring a gradient (only floating tensors can).
  const Tensor& set_requires_grad(bool flag = true) const;
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  /// The accumulated gradient (undefined before the first backward).
  Tensor grad() const;
  void set_grad(const Tensor& grad) const;
  /// Drops the gradient.
  void zero_grad() const;
  /// Keeps this non-leaf tensor's gradient after backward.
  void retain_grad() const;
  /// Runs reverse-mode differentiation from this tensor. With no argument the tensor must hold
  /// one element and the seed gradient is 1. Frees the graph unless `retain_graph`.
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false) const;
  /// A tensor sharing this one's data but cut from the graph.
  Tensor detach() const;

  /// "Tensor[2, 3] F32 cpu" followed by the (leading) values.
  std::string to_string(std::int64_t max_values = 16) const;

 private:
  TensorImpl& impl() const {
    SHEARS_CHECK(impl_ != nullptr, "use of an undefined tensor");
    return *impl_;
  }
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& out, const Tensor& t);

/// Element strides of a contiguous row-major shape.
std::vector<std::int64_t> contiguous_strides(const Shape& shape);

template <typename T>
T* Tensor::data() const {
  SHEARS_CHECK(dtype() == DTypeOf<T>::value, "tensor dtype is ", dtype_name(dtype()), " but data<",
               dtype_name(DTypeOf<T>::value), ">() was asked");
  SHEARS_CHECK(device().is_cpu(), "data() needs a CPU tensor, this one is on ", device().str());
  return static_cast<T*>(raw_data());
}

}  // namespace shears
