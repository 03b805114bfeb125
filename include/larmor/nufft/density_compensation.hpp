// larmor/nufft/density_compensation.hpp — density compensation weights for non-Cartesian k-space.
//
// dcf_pipe_menon: Pipe JG, Menon P. Sampling density compensation in MRI: rationale and an iterative
// numerical solution. MRM 41:179 (1999). Iterates w <- w / (C * w) evaluated at the samples, where C is the
// grid-and-regrid convolution of the NUFFT kernel (spread onto the 2x grid, interpolate back; no FFT).
// At convergence w_i * (local sample density) * integral(C) = 1; the weights are returned as k-space area
// per sample in (cycles/FOV)^D, i.e. divided by integral(C) = prod_d (N_d / n_d) phihat_d(0)^2, so that
// gridding x = nufft_adjoint(w . y) has the scale of the image (w = 1 on a full Cartesian grid; there, at
// the Nyquist spacing of 2 fine-grid cells, the kernel sum falls 4 % short of its integral: w = 0.96;
// at half that spacing and in the body of radial trajectories the weights are within 1-5 %).
//
// dcf_radial_ramp: the analytic ramp |k| for centre-out-symmetric radial spokes (the sample at k = 0 gets a
// quarter of the first ring's weight), scaled so the weights sum to the disc area pi k_max^2.
// Threads: those of the NUFFT plan.
#pragma once

#include <cmath>
#include <vector>

#include "larmor/nufft/plan.hpp"

namespace larmor {

// coords (M, D), cycles per FOV, axes like the image of `shape`. Returns M weights.
template <std::size_t D, class T>
std::vector<float> dcf_pipe_menon(const T* coords, index_t M, const extents<D>& shape, int iters = 20) {
  LARMOR_CHECK_ARG(iters >= 1, "dcf: iters must be >= 1, got ", iters);
  nufft_plan<double, D> plan(shape, 1e-4);
  plan.set_points(coords, M);
  std::vector<cdouble> w(static_cast<std::size_t>(M), cdouble(1)), cw(w.size());
  array<cdouble, 1> grid(extents<1>{plan.grid_size()}, uninitialized);
  for (int it = 0; it < iters; ++it) {
    plan.spread(w.data(), grid.data(), 1);
    plan.interpolate(grid.data(), cw.data(), 1);
    parallel_for_blocks(M, 4096, [&](index_t f, index_t c) {
      for (index_t i = f; i < f + c; ++i) {
        const double d = cw[static_cast<std::size_t>(i)].real();
        w[static_cast<std::size_t>(i)] = d > 0 ? w[static_cast<std::size_t>(i)].real() / d : 0.0;
      }
    });
  }
  double scale = 1;
  for (std::size_t d = 0; d < D; ++d) {
    const double p = plan.kernel_integral(d);
    scale *= static_cast<double>(shape[d]) / static_cast<double>(plan.grid_shape()[d]) * p * p;
  }
  std::vector<float> out(static_cast<std::size_t>(M));
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(w[i].real() * scale);
  return out;
}

// Radial ramp from 2D coords (M, 2) (or the in-plane radius of any D): |k|, k = 0 -> a quarter of the
// smallest non-zero |k|; scaled to sum to pi k_max^2.
template <class T>
std::vector<float> dcf_radial_ramp(const T* coords, index_t M, int dims = 2) {
  std::vector<double> r(static_cast<std::size_t>(M));
  double rmin = 0, rmax = 0;
  for (index_t i = 0; i < M; ++i) {
    double s = 0;
    for (int d = 0; d < dims; ++d) s += static_cast<double>(coords[i * dims + d]) * static_cast<double>(coords[i * dims + d]);
    const double v = std::sqrt(s);
    r[static_cast<std::size_t>(i)] = v;
    if (v > 1e-9 && (rmin == 0 || v < rmin)) rmin = v;
    rmax = std::max(rmax, v);
  }
  double sum = 0;
  for (auto& v : r) {
    if (v <= 1e-9) v = rmin / 4;
    sum += v;
  }
  const double scale = sum > 0 ? 3.14159265358979323846 * rmax * rmax / sum : 0;
  std::vector<float> out(r.size());
  for (std::size_t i = 0; i < r.size(); ++i) out[i] = static_cast<float>(r[i] * scale);
  return out;
}

}  // namespace larmor
