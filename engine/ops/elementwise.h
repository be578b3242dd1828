#pragma once

#include "engine/tensor.h"

namespace shears {

/// Shape of broadcasting a with b (numpy rules); throws ShapeError naming both shapes.
Shape broadcast_shape(const Shape& a, const Shape& b);

/// Elementwise a op b with numpy broadcasting; a per-channel mask is b of shape (1,C,1,1).
/// Both operands must share device and floating dtype. Differentiable in both.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
/// alpha * x.
Tensor scale(const Tensor& x, double alpha);
/// x + value.
Tensor add_scalar(const Tensor& x, double value);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator*(const Tensor& a, double s) { return scale(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return scale(a, s); }
inline Tensor operator-(const Tensor& a) { return scale(a, -1.0); }

}  // namespace shears
