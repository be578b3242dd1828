// The im2col / col2im + GEMM implementation of CpuBackend's convolution (conv2d.cpp chooses it):
// f32 when SHEARS_CPU_CONV=blas, f64 always.

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cpu/blas.h"
#include "kernels/cpu/conv2d_paths.h"
#include "kernels/cpu/im2col.h"

namespace shears::kernels::cpu {

namespace {

// ---- im2col + GEMM path -------------------------------------------------------------------------
//
// One GEMM per image and group, Caffe-style: y[n, group] (k/g, ho*wo) = w[group] (k/g, rows) @
// col (rows, ho*wo). With at least as many images as threads, the images are spread over OpenMP
// threads, each with its own column buffer and a single-threaded BLAS: whole images per thread
// balance well and keep the two thread pools from competing. With fewer images (inference on one
// image), images run in turn and im2col and BLAS each use every thread.

struct ImageSchedule {
  int threads;
  bool over_images;
};

ImageSchedule schedule_for(std::int64_t images) {
  const int threads = omp_get_max_threads();
  return {threads, threads > 1 && images >= threads};
}

}  // namespace

template <typename T>
void blas_forward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y) {
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group(), rows = g.col_rows();
  const std::int64_t hw_in = g.h * g.w, hw_out = g.ho * g.wo;
  const bool direct = g.pointwise();
  const ImageSchedule s = schedule_for(g.n);
  const std::int64_t col_size = direct ? 0 : rows * hw_out;
  std::vector<T> cols(static_cast<std::size_t>(col_size * (s.over_images ? s.threads : 1)));

  auto image = [&](std::int64_t i, T* col, bool inner_parallel) {
    for (std::int64_t grp = 0; grp < g.p.groups; ++grp) {
      const T* in = x + (i * g.c + grp * cg) * hw_in;
      T* out = y + (i * g.k + grp * kg) * hw_out;
      const T* a = direct ? in : col;
      if (!direct) im2col(in, col, g, inner_parallel);
      T beta = 0;
      if (bias != nullptr) {
        for (std::int64_t o = 0; o < kg; ++o) {
          std::fill(out + o * hw_out, out + (o + 1) * hw_out, bias[grp * kg + o]);
        }
        beta = 1;
      }
      blas::gemm(false, false, kg, hw_out, rows, T(1), w + grp * kg * rows, rows, a, hw_out, beta,
                 out, hw_out);
    }
  };
  if (s.over_images) {
    blas::ThreadsGuard single(1);
#pragma omp parallel num_threads(s.threads)
    {
      T* col = cols.data() + omp_get_thread_num() * col_size;
#pragma omp for schedule(static)
      for (std::int64_t i = 0; i < g.n; ++i) image(i, col, false);
    }
  } else {
    for (std::int64_t i = 0; i < g.n; ++i) image(i, cols.data(), true);
  }
}

template <typename T>
void blas_backward_data(const ConvGeometry& g, const T* grad_y, const T* w, T* grad_x) {
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group(), rows = g.col_rows();
  const std::int64_t hw_in = g.h * g.w, hw_out = g.ho * g.wo;
  const bool direct = g.pointwise();
  const ImageSchedule s = schedule_for(g.n);
  const std::int64_t col_size = direct ? 0 : rows * hw_out;
  std::vector<T> cols(static_cast<std::size_t>(col_size * (s.over_images ? s.threads : 1)));

  // col (rows, ho*wo) = w[group]^T @ grad_y[n, group], folded back onto grad_x by col2im. For a
  // pointwise kernel the product is grad_x itself.
  auto image = [&](std::int64_t i, T* col, bool inner_parallel) {
    for (std::int64_t grp = 0; grp < g.p.groups; ++grp) {
      const T* dy = grad_y + (i * g.k + grp * kg) * hw_out;
      T* dx = grad_x + (i * g.c + grp * cg) * hw_in;
      blas::gemm(true, false, rows, hw_out, kg, T(1), w + grp * kg * rows, rows, dy, hw_out, T(0),
                 direct ? dx : col, hw_out);
      if (!direct) col2im(col, dx, g, inner_parallel);
    }
  };
  if (s.over_images) {
    blas::ThreadsGuard single(1);
#pragma omp parallel num_threads(s.threads)
    {
      T* col = cols.data() + omp_get_thread_num() * col_size;
#pragma omp for schedule(static)
      for (std::int64_t i = 0; i < g.n; ++i) image(i, col, false);
    }
  } else {
    for (std::int64_t i = 0; i < g.n; ++i) image(i, cols.data(), true);
  }
}

template <typename T>
void blas_backward_weight(const ConvGeometry& g, const T* x, const T* grad_y, T* grad_w) {
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group(), rows = g.col_rows();
  const std::int64_t hw_in = g.h * g.w, hw_out = g.ho * g.wo;
  const std::int64_t w_size = g.k * rows;
  const bool direct = g.pointwise();
  const ImageSchedule s = schedule_for(g.n);
  const std::int64_t col_size = direct ? 0 : rows * hw_out;
  std::vector<T> cols(static_cast<std::size_t>(col_size * (s.over_images ? s.threads : 1)));
  std::fill(grad_w, grad_w + w_size, T(0));

  // grad_w[group] (k/g, rows) += grad_y[n, group] (k/g, ho*wo) @ col^T, summed over images. When
  // images are spread over threads, thread 0 accumulates into grad_w and the others into private
  // copies that are added at the end in thread order, so the result does not depend on timing.
  auto image = [&](std::int64_t i, T* col, T* acc, bool inner_parallel) {
    for (std::int64_t grp = 0; grp < g.p.groups; ++grp) {
      const T* in = x + (i * g.c + grp * cg) * hw_in;
      const T* dy = grad_y + (i * g.k + grp * kg) * hw_out;
      if (!direct) im2col(in, col, g, inner_parallel);
      blas::gemm(false, true, kg, rows, hw_out, T(1), dy, hw_out, direct ? in : col, hw_out, T(1),
                 acc + grp * kg * rows, rows);
    }
  };
  if (s.over_images) {
    std::vector<T> partial(static_cast<std::size_t>(w_size * (s.threads - 1)), T(0));
    {
      blas::ThreadsGuard single(1);
#pragma omp parallel num_threads(s.threads)
      {
        const int t = omp_get_thread_num();
        T* col = cols.data() + t * col_size;
        T* acc = t == 0 ? grad_w : partial.data() + (t - 1) * w_size;
#pragma omp for schedule(static)
        for (std::int64_t i = 0; i < g.n; ++i) image(i, col, acc, false);
      }
    }
#pragma omp parallel for schedule(static) num_threads(s.threads)
    for (std::int64_t j = 0; j < w_size; ++j) {
      for (int t = 1; t < s.threads; ++t) grad_w[j] += partial[(t - 1) * w_size + j];
    }
  } else {
    for (std::int64_t i = 0; i < g.n; ++i) image(i, cols.data(), grad_w, true);
  }
}

template void blas_forward<float>(const ConvGeometry&, const float*, const float*, const float*,
                                  float*);
template void blas_forward<double>(const ConvGeometry&, const double*, const double*, const double*,
                                   double*);
template void blas_backward_data<float>(const ConvGeometry&, const float*, const float*, float*);
template void blas_backward_data<double>(const ConvGeometry&, const double*, const double*,
                                         double*);
template void blas_backward_weight<float>(const ConvGeometry&, const float*, const float*, float*);
template void blas_backward_weight<double>(const ConvGeometry&, const double*, const double*,
                                           double*);

}  // namespace shears::kernels::cpu
