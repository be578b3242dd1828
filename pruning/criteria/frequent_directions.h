#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace shears::pruning {

/// The Frequent-Directions sketch (Liberty, KDD 2013) of the rows of `a` (N x d, F32 or F64, any
/// device) into l rows, exactly as FilterSketch's reference code runs it (Lin et al., 2020,
/// Algorithm 1; docs/methods.md section 4): rows enter a buffer B (l x d, zeros) in order; when the
/// buffer is full, B = diag(sqrt(max(sigma^2 - delta, 0))) V^T from the SVD B = U diag(sigma)
/// V^T, with delta = sigma_half^2 the (half+1)-th largest squared singular value and
/// half = floor(l/2) (rows half.. become zero), and the row goes to position half. With
/// `early_stop` (the reference's behaviour) the loop stops when fewer than half rows remain and
/// the buffer is full, so the last < l/2 rows are never absorbed. No normalisation.
/// B^T B approximates a^T a with ||a^T a - B^T B||_2 <= 2 ||a||_F^2 / l for the complete
/// algorithm; l >= N copies a (and zero rows), so B^T B = a^T a exactly. The SVDs run on a's
/// device through linalg::svd; the result has a's dtype and device. Any l >= 1 is accepted
/// (with l >= d the shrink keeps the rows' span; FilterSketch itself sketches only where l < d).
/// Throws ShapeError when `a` is not a floating matrix or l < 1.
Tensor frequent_directions(const Tensor& a, std::int64_t l, bool early_stop = true);

/// `t` divided by its Frobenius norm (the whole tensor; FilterSketch's "l2" weight norm used for
/// all published runs). A zero tensor is returned unchanged.
Tensor l2_normalise(const Tensor& t);

/// FilterSketch's filter sketch of a conv weight (C_out, C_in, K, K): the FD sketch of its
/// C_out filters flattened to rows of d = C_in*K*K, into l new filters (l, C_in, K, K), then
/// l2-normalised. Requires l < d.
Tensor sketch_filters(const Tensor& weight, std::int64_t l);

/// FilterSketch's channel sketch of a consumer conv weight (C_out, C_in, K, K) down to l input
/// channels, giving (C_out, l, K, K), l2-normalised.
///   faithful:  the reference's reshape, a (C_in, C_out*K*K) view of the weight's memory (rows
///              mix output filters and channels: effectively a scrambled initialisation, kept so
///              published numbers can be compared), sketched, and viewed back as (C_out, l, K, K);
///   otherwise: rows are the input channels W[:, c, :, :] (the transpose), sketched, and
///              transposed back.
/// Requires l < C_out*K*K.
Tensor sketch_channels(const Tensor& weight, std::int64_t l, bool faithful);

}  // namespace shears::pruning
