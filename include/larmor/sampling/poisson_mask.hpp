// larmor/sampling/poisson_mask.hpp — undersampling masks for compressed sensing, deterministic from a seed.
//
// poisson_mask(ny, nx, accel, calib, seed): variable-density Poisson disc over a 2D phase-encode plane
//   (3D scans: (ky, kz)): every accepted sample keeps a distance >= r(p) from every other, with
//       r(p) = r0 (1 + 2 rho(p)),   rho = sqrt((dy / (ny/2))^2 + (dx / (nx/2))^2) in [0, sqrt 2]
//   (denser centre, sparser edge), drawn by dart throwing over a seeded random permutation of the grid
//   (Bridson's idea of a background grid for the neighbour test; Lustig M et al., Sparse MRI, MRM 58:1182
//   (2007); Vasanawala SS et al., Radiology 256:607 (2010) for Poisson disc in MRI). r0 is found by
//   bisection so that the mask holds round(ny nx / accel) samples (within 1 %), the calib x calib centre
//   included (fully sampled). Returns 0/1 bytes (ny, nx).
// variable_density_lines(ny, accel, calib, seed): 1D for 2D scans: the calib central lines plus lines
//   drawn without replacement with probability ~ (1 - |ky| / (ny/2))^2 + 0.05 until round(ny / accel)
//   lines. Returns 0/1 per line.
// Same seed, same arguments: same mask (std::mt19937_64, no global state).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/error.hpp"

namespace larmor {

namespace detail {

// The calib x calib centre block: y in [ny/2 - calib/2, ny/2 - calib/2 + calib), the same along x.
inline bool in_calib(index_t y, index_t x, index_t ny, index_t nx, index_t calib) {
  const index_t y0 = ny / 2 - calib / 2, x0 = nx / 2 - calib / 2;
  return y >= y0 && y < y0 + calib && x >= x0 && x < x0 + calib;
}

inline array<unsigned char, 2> poisson_draw(index_t ny, index_t nx, index_t calib, double r0,
                                            const std::vector<index_t>& order, index_t* count) {
  array<unsigned char, 2> m({ny, nx});
  auto rad = [&](index_t y, index_t x) {
    const double dy = double(y - ny / 2) / std::max<index_t>(1, ny / 2), dx = double(x - nx / 2) / std::max<index_t>(1, nx / 2);
    return r0 * (1 + 2 * std::sqrt(dy * dy + dx * dx));
  };
  index_t c = 0;
  for (index_t y = 0; y < ny; ++y)
    for (index_t x = 0; x < nx; ++x)
      if (in_calib(y, x, ny, nx, calib)) m(y, x) = 1, ++c;
  for (index_t p : order) {
    const index_t y = p / nx, x = p % nx;
    if (m(y, x)) continue;
    const double r = rad(y, x);
    const index_t w = static_cast<index_t>(std::ceil(r));
    bool ok = true;
    for (index_t yy = std::max<index_t>(0, y - w); yy <= std::min(ny - 1, y + w) && ok; ++yy)
      for (index_t xx = std::max<index_t>(0, x - w); xx <= std::min(nx - 1, x + w); ++xx)
        if (m(yy, xx) && double((yy - y) * (yy - y) + (xx - x) * (xx - x)) < r * r) {
          ok = false;
          break;
        }
    if (ok) m(y, x) = 1, ++c;
  }
  *count = c;
  return m;
}

}  // namespace detail

inline array<unsigned char, 2> poisson_mask(index_t ny, index_t nx, double accel, index_t calib, std::uint64_t seed = 0) {
  LARMOR_CHECK_ARG(ny >= 1 && nx >= 1, "poisson_mask: shape must be >= 1, got (", ny, ", ", nx, ")");
  LARMOR_CHECK_ARG(std::isfinite(accel) && accel >= 1, "poisson_mask: accel must be >= 1, got ", accel);
  LARMOR_CHECK_ARG(calib >= 0 && calib <= std::min(ny, nx), "poisson_mask: calib must be in [0, min(ny, nx)], got ",
                   calib);
  const index_t target = static_cast<index_t>(std::llround(double(ny * nx) / accel));
  LARMOR_CHECK_ARG(calib * calib <= target, "poisson_mask: the ", calib, " x ", calib,
                   " centre alone exceeds the ", target, " samples of acceleration ", accel);
  std::vector<index_t> order(static_cast<std::size_t>(ny * nx));
  std::iota(order.begin(), order.end(), index_t{0});
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  if (accel == 1) {
    array<unsigned char, 2> m({ny, nx});
    std::fill(m.begin(), m.end(), 1);
    return m;
  }
  double lo = 0.3, hi = 0.5 * std::sqrt(double(ny * ny + nx * nx));
  array<unsigned char, 2> best;
  index_t best_err = -1;
  for (int it = 0; it < 30; ++it) {
    const double r0 = 0.5 * (lo + hi);
    index_t c = 0;
    auto m = detail::poisson_draw(ny, nx, calib, r0, order, &c);
    const index_t e = std::abs(c - target);
    if (best_err < 0 || e < best_err) best_err = e, best = std::move(m);
    if (c > target)
      lo = r0;
    else
      hi = r0;
    if (e * 100 <= target) break;
  }
  return best;
}

inline std::vector<unsigned char> variable_density_lines(index_t ny, double accel, index_t calib, std::uint64_t seed = 0) {
  LARMOR_CHECK_ARG(ny >= 1 && std::isfinite(accel) && accel >= 1 && calib >= 0 && calib <= ny,
                   "variable_density_lines: need ny >= 1, accel >= 1, 0 <= calib <= ny");
  const index_t target = std::max<index_t>(calib, static_cast<index_t>(std::llround(double(ny) / accel)));
  std::vector<unsigned char> m(static_cast<std::size_t>(ny), 0);
  index_t c = 0;
  for (index_t y = ny / 2 - calib / 2; y < ny / 2 - calib / 2 + calib; ++y) m[y] = 1, ++c;
  std::mt19937_64 rng(seed);
  std::vector<double> w(static_cast<std::size_t>(ny));
  for (index_t y = 0; y < ny; ++y) {
    const double d = std::min(1.0, std::abs(double(y - ny / 2)) / std::max<index_t>(1, ny / 2));
    w[y] = m[y] ? 0 : (1 - d) * (1 - d) + 0.05;
  }
  while (c < target) {
    std::discrete_distribution<index_t> dist(w.begin(), w.end());
    const index_t y = dist(rng);
    m[y] = 1, w[y] = 0, ++c;
  }
  return m;
}

}  // namespace larmor
