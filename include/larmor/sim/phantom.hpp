// larmor/sim/phantom.hpp — analytic test objects with known ground truth.
//
// shepp_logan(ny, nx): the modified Shepp-Logan head phantom (Shepp & Logan, IEEE TNS 1974; contrast
//   raised as in Toft, PhD thesis 1996), ten ellipses on the square [-1, 1]^2, y down the rows.
// simulated_coil_maps(ncoils, ny, nx): smooth complex receive sensitivities of coils spaced evenly on
//   a ring of radius 1.4 around the object: a Gaussian fall-off with distance (width 0.9) and a phase
//   that varies linearly across the field of view with a coil-dependent offset. Shape (coils, y, x).
// simulated_kspace(ncoils, n, sigma, seed): a fully sampled acquisition of that object with those coils,
//   k_c = fftc(S_c · shepp_logan) + complex white Gaussian noise (sigma per real and imaginary part),
//   centred k-space, shape (coils, n, n); the input of the benchmarks and of `larmor_ops phantom`.
#pragma once

#include <cmath>
#include <random>

#include "larmor/core/array.hpp"
#include "larmor/fft/fft.hpp"

namespace larmor {

template <class Real = float>
array<Real, 2> shepp_logan(index_t ny, index_t nx) {
  LARMOR_CHECK_ARG(ny > 0 && nx > 0, "shepp_logan: size must be positive, got ", ny, "x", nx);
  struct ellipse {
    double value, a, b, x0, y0, phi_deg;
  };
  static constexpr ellipse e[] = {
      {1.0, 0.69, 0.92, 0.0, 0.0, 0},         {-0.8, 0.6624, 0.8740, 0.0, -0.0184, 0},
      {-0.2, 0.11, 0.31, 0.22, 0.0, -18},     {-0.2, 0.16, 0.41, -0.22, 0.0, 18},
      {0.1, 0.21, 0.25, 0.0, 0.35, 0},        {0.1, 0.046, 0.046, 0.0, 0.1, 0},
      {0.1, 0.046, 0.046, 0.0, -0.1, 0},      {0.1, 0.046, 0.023, -0.08, -0.605, 0},
      {0.1, 0.023, 0.023, 0.0, -0.606, 0},    {0.1, 0.023, 0.046, 0.06, -0.605, 0}};
  array<Real, 2> img(extents<2>{ny, nx});
  const double pi = 3.14159265358979323846;
  for (index_t iy = 0; iy < ny; ++iy) {
    // Pixel centres on [-1, 1); row 0 is the top (y = +1), as images are displayed.
    const double y = 1.0 - 2.0 * (static_cast<double>(iy) + 0.5) / static_cast<double>(ny);
    for (index_t ix = 0; ix < nx; ++ix) {
      const double x = -1.0 + 2.0 * (static_cast<double>(ix) + 0.5) / static_cast<double>(nx);
      double v = 0;
      for (const auto& el : e) {
        const double c = std::cos(el.phi_deg * pi / 180), s = std::sin(el.phi_deg * pi / 180);
        const double xr = (x - el.x0) * c + (y - el.y0) * s, yr = -(x - el.x0) * s + (y - el.y0) * c;
        if (xr * xr / (el.a * el.a) + yr * yr / (el.b * el.b) <= 1.0) v += el.value;
      }
      img(iy, ix) = static_cast<Real>(v);
    }
  }
  return img;
}

template <class Real = float>
array<std::complex<Real>, 3> simulated_coil_maps(index_t ncoils, index_t ny, index_t nx) {
  LARMOR_CHECK_ARG(ncoils > 0 && ny > 0 && nx > 0, "simulated_coil_maps: sizes must be positive, got ", ncoils,
                   " coils of ", ny, "x", nx);
  array<std::complex<Real>, 3> maps(extents<3>{ncoils, ny, nx});
  const double pi = 3.14159265358979323846, radius = 1.4, width = 0.9;
  for (index_t c = 0; c < ncoils; ++c) {
    const double ang = 2 * pi * static_cast<double>(c) / static_cast<double>(ncoils);
    const double cx = radius * std::cos(ang), cy = radius * std::sin(ang);
    for (index_t iy = 0; iy < ny; ++iy) {
      const double y = 1.0 - 2.0 * (static_cast<double>(iy) + 0.5) / static_cast<double>(ny);
      for (index_t ix = 0; ix < nx; ++ix) {
        const double x = -1.0 + 2.0 * (static_cast<double>(ix) + 0.5) / static_cast<double>(nx);
        const double d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
        const double mag = std::exp(-d2 / (2 * width * width));
        const double phase = ang + 0.5 * (x * std::cos(ang) + y * std::sin(ang)) * pi;
        maps(c, iy, ix) = std::complex<Real>(static_cast<Real>(mag * std::cos(phase)),
                                             static_cast<Real>(mag * std::sin(phase)));
      }
    }
  }
  return maps;
}

template <class Real = float>
array<std::complex<Real>, 3> simulated_kspace(index_t ncoils, index_t n, double sigma = 1e-3, unsigned seed = 7) {
  const auto object = shepp_logan<Real>(n, n);
  auto img = simulated_coil_maps<Real>(ncoils, n, n);
  for (index_t c = 0; c < ncoils; ++c)
    for (index_t i = 0; i < n * n; ++i) img[c * n * n + i] *= object[i];
  auto k = fftc(img.cview());
  std::mt19937 rng(seed);
  std::normal_distribution<Real> noise(Real(0), static_cast<Real>(sigma));
  for (auto& v : k) v += std::complex<Real>(noise(rng), noise(rng));
  return k;
}

}  // namespace larmor
