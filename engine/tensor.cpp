#include "engine/tensor.h"

#include <cstring>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/node.h"
#include "kernels/common/registry.h"

namespace shears {

namespace {
std::shared_ptr<TensorImpl> make_impl(const Shape& shape, DType dtype, Device device) {
  for (auto d : shape) {
    SHEARS_CHECK_AS(ShapeError, d >= 0, "negative dimension in shape ", shape_str(shape));
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->storage = std::make_shared<Storage>(
      static_cast<std::size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  return impl;
}
}  // namespace

std::vector<std::int64_t> contiguous_strides(const Shape& shape) {
  std::vector<std::int64_t> strides(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) {
    strides[static_cast<std::size_t>(i)] =
        strides[static_cast<std::size_t>(i) + 1] * shape[static_cast<std::size_t>(i) + 1];
  }
  return strides;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  return Tensor(make_impl(shape, dtype, device));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype, Device device) {
  return full({}, value, dtype, device);
}

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  SHEARS_CHECK_AS(ShapeError, static_cast<std::int64_t>(values.size()) == shape_numel(shape),
                  "from_vector: ", values.size(), " values for shape ", shape_str(shape));
  Tensor t = empty(shape, DTypeOf<T>::value, device);
  if (!values.empty()) {
    backend_for(device).copy_from_host(t.raw_data(), values.data(), values.size() * sizeof(T));
  }
  return t;
}
template Tensor Tensor::from_vector(const std::vector<float>&, const Shape&, Device);
template Tensor Tensor::from_vector(const std::vector<double>&, const Shape&, Device);
template Tensor Tensor::from_vector(const std::vector<std::int32_t>&, const Shape&, Device);
template Tensor Tensor::from_vector(const std::vector<std::int64_t>&, const Shape&, Device);
template Tensor Tensor::from_vector(const std::vector<std::uint8_t>&, const Shape&, Device);

Tensor Tensor::arange(std::int64_t n, Device device) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  return from_vector(v, {n}, device);
}

Tensor Tensor::from_storage(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype) {
  SHEARS_CHECK_AS(
      ShapeError,
      static_cast<std::size_t>(shape_numel(shape)) * dtype_size(dtype) <= storage->bytes(),
      "shape ", shape_str(shape), " does not fit a storage of ", storage->bytes(), " bytes");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = shape;
  impl->dtype = dtype;
  return Tensor(impl);
}

std::int64_t Tensor::size(int d) const {
  int n = dim();
  int k = d < 0 ? d + n : d;
  SHEARS_CHECK_AS(ShapeError, k >= 0 && k < n, "dimension ", d, " out of range for shape ",
                  shape_str(shape()));
  return shape()[static_cast<std::size_t>(k)];
}

std::vector<std::int64_t> Tensor::strides() const { return contiguous_strides(shape()); }

TensorView Tensor::view() const { return TensorView{raw_data(), shape(), dtype(), device()}; }

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  if (this->device().is_cpu() && nbytes() > 0) {
    return from_storage(std::make_shared<Storage>(nbytes(), device, raw_data()), shape(), dtype());
  }
  Tensor out = empty(shape(), dtype(), device);
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == this->dtype()) return *this;
  Tensor out = empty(shape(), dtype, device());
  backend_for(device()).convert(view(), out.view());
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  if (nbytes() > 0) backend_for(device()).copy(out.raw_data(), raw_data(), nbytes());
  record_op(out, Op::Clone, {*this}, [](const Tensor& g) -> std::vector<Tensor> { return {g}; });
  return out;
}

void Tensor::copy_(const Tensor& src) const {
  SHEARS_CHECK_AS(ShapeError, src.numel() == numel(), "copy_: source of shape ",
                  shape_str(src.shape()), " into tensor of shape ", shape_str(shape()));
  Tensor from = src.dtype() == dtype() ? src : src.to(dtype());
  if (nbytes() == 0) return;
  if (from.device() == device()) {
    backend_for(device()).copy(raw_data(), from.raw_data(), nbytes());
  } else if (from.device().is_cpu()) {
    backend_for(device()).copy_from_host(raw_data(), from.raw_data(), nbytes());
  } else if (device().is_cpu()) {
    backend_for(from.device()).copy_to_host(raw_data(), from.raw_data(), nbytes());
  } else {
    Tensor staged = from.cpu();
    backend_for(device()).copy_from_host(raw_data(), staged.raw_data(), nbytes());
  }
}

void Tensor::fill_(double value) const {
  if (numel() > 0) backend_for(device()).fill(view(), value);
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = to(DTypeOf<T>::value).cpu();
  std::vector<T> out(static_cast<std::size_t>(numel()));
  if (!out.empty()) std::memcpy(out.data(), host.raw_data(), out.size() * sizeof(T));
  return out;
}
template std::vector<float> Tensor::to_vector() const;
template std::vector<double> Tensor::to_vector() const;
template std::vector<std::int32_t> Tensor::to_vector() const;
template std::vector<std::int64_t> Tensor::to_vector() const;
template std::vector<std::uint8_t> Tensor::to_vector() const;

double Tensor::item() const {
  SHEARS_CHECK_AS(ShapeError, numel() == 1, "item() on a tensor of shape ", shape_str(shape()));
  return to_vector<double>()[0];
}

const Tensor& Tensor::set_requires_grad(bool flag) const {
  SHEARS_CHECK(!flag || is_floating(dtype()), "only floating tensors can require grad, not ",
               dtype_name(dtype()));
  SHEARS_CHECK(is_leaf(), "set_requires_grad on a non-leaf tensor (use detach() first)");
  impl().requires_grad = flag;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& grad) const {
  if (grad.defined()) {
    SHEARS_CHECK_AS(ShapeError, grad.shape() == shape(), "set_grad: gradient of shape ",
                    shape_str(grad.shape()), " for a tensor of shape ", shape_str(shape()));
  }
  impl().grad = grad.impl_ptr();
}

void Tensor::zero_grad() const { impl().grad.reset(); }

void Tensor::retain_grad() const {
  if (!is_leaf()) impl().retains_grad = true;
}

void Tensor::backward(const Tensor& grad_output, bool retain_graph) const {
  Tensor seed = grad_output;
  if (!seed.defined()) {
    SHEARS_CHECK_AS(ShapeError, numel() == 1,
                    "backward() without a gradient needs a one-element tensor, got shape ",
                    shape_str(shape()));
    seed = Tensor::full(shape(), 1.0, dtype(), device());
  }
  SHEARS_CHECK_AS(ShapeError, seed.shape() == shape(), "backward: gradient of shape ",
                  shape_str(seed.shape()), " for a tensor of shape ", shape_str(shape()));
  run_backward(*this, seed, retain_graph);
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = this->impl().storage;
  impl->shape = shape();
  impl->dtype = dtype();
  impl->name = name();
  return Tensor(impl);
}

std::string Tensor::to_string(std::int64_t max_values) const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream out;
  out << "Tensor" << shape_str(shape()) << " " << dtype_name(dtype()) << " " << device().str();
  if (requires_grad()) out << " requires_grad";
  if (grad_fn()) out << " grad_fn=" << grad_fn()->name();
  std::int64_t n = std::min<std::int64_t>(numel(), max_values);
  if (n > 0) {
    std::vector<double> values = to_vector<double>();
    out << " {";
    out << std::setprecision(6);
    for (std::int64_t i = 0; i < n; ++i)
      out << (i ? ", " : "") << values[static_cast<std::size_t>(i)];
    if (numel() > n) out << ", ... (" << numel() << " values)";
    out << "}";
  }
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const Tensor& t) { return out << t.to_string(); }

}  // namespace shears
