// larmor/fieldmap/reversed_pe.hpp — the B0 field map from a pair of EPI images acquired with opposite
// phase-encode directions (blip-up / blip-down), by intensity-conserving line matching (Chang H, Fitzpatrick
// JM. A technique for accurate magnetic resonance imaging in the presence of field inhomogeneities. IEEE TMI
// 11:319, 1992).
//
// Along the phase-encode axis y, lines are read one echo spacing (ESP) apart. Off-resonance f (Hz; f > 0:
// the phase grows with time, as fieldmap/b0_map.hpp) adds the phase 2 pi f ESP k_y when k_y is read from low
// to high, which moves a spin by d = -f ESP Ny pixels (Ny: the lines of the echo train, after in-plane
// acceleration; exp(i 2 pi k s / N) in k-space is a shift by -s), and the moved intensity is conserved (the
// Jacobian stretches and piles it up). Read from high to low, the spin moves by +f ESP Ny. So
//
//   up(y) dy = rho(y0) dy0  at y = y0 + d(y0),      down(y) dy = rho(y0) dy0  at y = y0 - d(y0),
//
// and per column the positions where the cumulative intensities of the two images reach the same level c are
// y_up(c) = y0 + d and y_down(c) = y0 - d: the true position y0 = (y_up + y_down) / 2 and d = (y_up - y_down)
// / 2. Evaluated at every level between 2 % and 98 % of the column's total (columns with too little signal
// are skipped), interpolated onto the pixel grid where the object is (either image above `mask_threshold` of
// its 99th percentile), smoothed by a Gaussian of `smooth` pixels normalised over that mask, and
// f = -d / (ESP Ny). The map is in the undistorted frame; 0 outside the mask.
//
// Images: magnitudes (z, y, x) or (y, x) of the same slices, y the phase-encode axis in k-space order (the
// "up" image read k_y from low to high index — larmor.epi_sample_times' order).
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/error.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/fieldmap/b0_map.hpp"

namespace larmor {

struct reversed_pe_options {
  double echo_spacing = 0;      // s between consecutive lines of the echo train (required)
  index_t lines = 0;            // lines of the echo train (0: the image's y size)
  float mask_threshold = 0.1f;  // object: either image above this x its 99th percentile
  float smooth = 2.0f;          // Gaussian sigma in pixels (0: none)
};

// up, down: (z, y, x) magnitudes. Returns the field map in Hz (z, y, x) in the undistorted frame.
inline array<float, 3> reversed_pe_fieldmap(strided_view<const float, 3> up, strided_view<const float, 3> down,
                                            const reversed_pe_options& o) {
  LARMOR_CHECK_ARG(up.shape() == down.shape(), "reversed_pe_fieldmap: the images differ in shape: ",
                   shape_string(up.shape()), " vs ", shape_string(down.shape()));
  LARMOR_CHECK_ARG(o.echo_spacing > 0 && o.echo_spacing < 0.01, "reversed_pe_fieldmap: echo_spacing must be in "
                   "(0, 10 ms) seconds, got ", o.echo_spacing);
  LARMOR_CHECK_ARG(o.smooth >= 0 && o.smooth <= 64 && o.mask_threshold > 0 && o.mask_threshold < 1,
                   "reversed_pe_fieldmap: smooth in [0, 64] and mask_threshold in (0, 1)");
  const index_t nz = up.shape(0), ny = up.shape(1), nx = up.shape(2);
  LARMOR_CHECK_ARG(ny >= 8 && nx >= 1, "reversed_pe_fieldmap: need >= 8 phase-encode lines, got ", ny);
  const double lines = static_cast<double>(o.lines > 0 ? o.lines : ny);
  // the object mask from both images
  const auto p99 = [&](strided_view<const float, 3> v) {
    std::vector<float> a;
    a.reserve(static_cast<std::size_t>(nz * ny * nx));
    for (index_t z = 0; z < nz; ++z)
      for (index_t y = 0; y < ny; ++y)
        for (index_t x = 0; x < nx; ++x) {
          const float s = v(z, y, x);
          LARMOR_CHECK_DATA(std::isfinite(s) && s >= 0, "reversed_pe_fieldmap: images must be finite magnitudes");
          a.push_back(s);
        }
    auto it = a.begin() + static_cast<std::ptrdiff_t>(0.99 * static_cast<double>(a.size() - 1));
    std::nth_element(a.begin(), it, a.end());
    return *it;
  };
  const float tu = o.mask_threshold * p99(up), td = o.mask_threshold * p99(down);
  LARMOR_CHECK_DATA(tu > 0 && td > 0, "reversed_pe_fieldmap: an image holds no signal");
  array<float, 3> d(extents<3>{nz, ny, nx}), w(extents<3>{nz, ny, nx});
  parallel_for(nz * nx, [&](index_t zx) {
    const index_t z = zx / nx, x = zx % nx;
    // cumulative intensities at the pixel edges: F(k) = sum_{y < k} I(y), k = 0..ny
    std::vector<double> fu(static_cast<std::size_t>(ny + 1), 0.0), fd(fu.size(), 0.0);
    for (index_t y = 0; y < ny; ++y) {
      fu[static_cast<std::size_t>(y + 1)] = fu[static_cast<std::size_t>(y)] + up(z, y, x);
      fd[static_cast<std::size_t>(y + 1)] = fd[static_cast<std::size_t>(y)] + down(z, y, x);
    }
    const double su = fu.back(), sd = fd.back();
    if (!(su > 4 * tu && sd > 4 * td)) return;  // a column with too little object
    // position (in pixel-centre coordinates) where the normalised cumulative reaches level c
    const auto where = [&](const std::vector<double>& F, double total, double c) {
      const double target = c * total;
      const auto it = std::lower_bound(F.begin(), F.end(), target);
      const index_t k = std::clamp<index_t>(static_cast<index_t>(it - F.begin()), 1, ny);
      const double f0 = F[static_cast<std::size_t>(k - 1)], f1 = F[static_cast<std::size_t>(k)];
      const double frac = f1 > f0 ? (target - f0) / (f1 - f0) : 0.5;
      return static_cast<double>(k - 1) + frac - 0.5;  // edge k-1 at k-1.5 in centre coordinates, +frac
    };
    // samples (y0, d) at many levels, then onto the grid by linear interpolation in y0
    const int levels = static_cast<int>(4 * ny);
    std::vector<double> y0s, ds;
    for (int i = 0; i <= levels; ++i) {
      const double c = 0.02 + 0.96 * static_cast<double>(i) / levels;
      const double yu = where(fu, su, c), yd = where(fd, sd, c);
      y0s.push_back(0.5 * (yu + yd));
      ds.push_back(0.5 * (yu - yd));
    }
    for (index_t y = 0; y < ny; ++y) {
      const double yy = static_cast<double>(y);
      if (yy < y0s.front() || yy > y0s.back()) continue;
      const auto it = std::upper_bound(y0s.begin(), y0s.end(), yy);
      const std::size_t j = static_cast<std::size_t>(std::clamp<std::ptrdiff_t>(it - y0s.begin(), 1,
                                                                                  static_cast<std::ptrdiff_t>(y0s.size()) - 1));
      const double a = y0s[j - 1], b = y0s[j];
      const double t = b > a ? (yy - a) / (b - a) : 0.5;
      d(z, y, x) = static_cast<float>(ds[j - 1] + t * (ds[j] - ds[j - 1]));
      w(z, y, x) = 1.f;
    }
  });
  // the object: where either image has signal (the undistorted position lies between the two) and a
  // displacement was measured
  for (index_t z = 0; z < nz; ++z)
    for (index_t y = 0; y < ny; ++y)
      for (index_t x = 0; x < nx; ++x)
        if (!(up(z, y, x) > tu || down(z, y, x) > td)) w(z, y, x) = 0.f;
  // f = -d / (ESP Ny) on the mask; then, per partition, the Gaussian smoothing normalised over the mask that
  // b0_map uses (in-plane: y and x)
  array<float, 3> hz(extents<3>{nz, ny, nx});
  const index_t plane = ny * nx;
  std::vector<float> v(static_cast<std::size_t>(plane));
  std::vector<unsigned char> m(static_cast<std::size_t>(plane));
  for (index_t z = 0; z < nz; ++z) {
    for (index_t i = 0; i < plane; ++i) {
      m[static_cast<std::size_t>(i)] = w.data()[z * plane + i] > 0;
      v[static_cast<std::size_t>(i)] =
          m[static_cast<std::size_t>(i)] ? static_cast<float>(-d.data()[z * plane + i] / (o.echo_spacing * lines)) : 0.f;
    }
    if (o.smooth > 0) detail::smooth_masked(v, m, {ny, nx}, o.smooth);
    std::copy(v.begin(), v.end(), hz.data() + z * plane);
  }
  return hz;
}

}  // namespace larmor
