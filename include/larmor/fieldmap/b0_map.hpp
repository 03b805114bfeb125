// larmor/fieldmap/b0_map.hpp — B0 field maps (Hz) from multi-echo gradient-echo images.
//
// Model: echo e (time TE_e after excitation) of coil c is I_ec(r) = m_c(r) exp(i (phi_c(r) + 2 pi f(r) TE_e))
// (T2* decay in m): f(r) > 0 where the phase grows with echo time. The coil phase phi_c is removed by
// the coil-combined Hermitian product of consecutive echoes,
//     d_e(r) = sum_c conj(I_ec(r)) I_(e+1)c(r),   arg d_e = 2 pi f (TE_(e+1) - TE_e)   (mod 2 pi),
// which weights every coil by its own signal (Robinson S et al., MRM 65:1638 (2011) compare combinations;
// the Hermitian product is their "Hermitian inner product" method). Then:
//  1. mask: the root-sum-of-squares magnitude of the first echo above mask_threshold x the 99th percentile
//     of its non-zero values;
//  2. the first difference unwrapped in space (fieldmap/phase_unwrap.hpp, quality |d_0|): f_0 = phi_0 /
//     (2 pi dTE_0), each connected region's median wrapped into (-pi, pi] of phase;
//  3. with three or more echoes, each later difference unwrapped in time against the field known so far
//     (phi_e = arg d_e + 2 pi round((2 pi f dTE_e - arg d_e) / 2 pi)), and f the least-squares slope through
//     the origin of the accumulated phase Phi_e = sum_(k<e) phi_k against TE_e - TE_0:
//     f = sum_e Phi_e tau_e / (2 pi sum_e tau_e^2);
//  4. smoothing (smooth > 0): a Gaussian of that many pixels per axis, normalised over the mask
//     (normalised convolution: G * (f M) / G * M), so the border is not pulled towards 0.
// Outside the mask the map is 0. The field that a single echo spacing can tell apart is |f| < 1 / (2 dTE);
// spatial unwrapping extends that as long as the field changes by less than half a wrap between
// neighbouring pixels.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/check_finite.hpp"
#include "larmor/core/error.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/coils/rss.hpp"
#include "larmor/fieldmap/phase_unwrap.hpp"

namespace larmor {

struct b0_map_options {
  float mask_threshold = 0.1f;  // fraction of the first echo's 99th-percentile magnitude
  float smooth = 1.0f;    // Gaussian smoothing in pixels; 0: none
};

template <std::size_t D>
struct b0_map_result {
  array<float, D> hz;              // ([z,] y, x), 0 outside the mask
  array<unsigned char, D> mask;    // 1 where the map was estimated
};

namespace detail {

// Normalised Gaussian smoothing of v over the masked pixels, in place (separable, per axis).
inline void smooth_masked(std::vector<float>& v, const std::vector<unsigned char>& mask,
                          const std::vector<index_t>& shape, float sigma) {
  const index_t n = static_cast<index_t>(v.size()), r = static_cast<index_t>(std::ceil(3 * sigma));
  std::vector<double> g(static_cast<std::size_t>(2 * r + 1));
  for (index_t i = -r; i <= r; ++i)
    g[static_cast<std::size_t>(i + r)] = std::exp(-0.5 * double(i * i) / (double(sigma) * double(sigma)));
  std::vector<double> num(static_cast<std::size_t>(n)), den(static_cast<std::size_t>(n)), tn(num.size()), td(num.size());
  for (index_t p = 0; p < n; ++p) num[p] = mask[p] ? v[p] : 0.0, den[p] = mask[p] ? 1.0 : 0.0;
  index_t stride = 1;
  for (std::size_t a = shape.size(); a-- > 0;) {
    const index_t len = shape[a], outer = n / (len * stride);
    parallel_for(outer, [&](index_t o) {
      for (index_t in = 0; in < stride; ++in) {
        const index_t base = o * len * stride + in;
        for (index_t i = 0; i < len; ++i) {
          double sn = 0, sd = 0;
          for (index_t k = std::max<index_t>(0, i - r); k <= std::min(len - 1, i + r); ++k) {
            const double w = g[static_cast<std::size_t>(k - i + r)];
            sn += w * num[base + k * stride], sd += w * den[base + k * stride];
          }
          tn[base + i * stride] = sn, td[base + i * stride] = sd;
        }
      }
    });
    num.swap(tn), den.swap(td);
    stride *= len;
  }
  for (index_t p = 0; p < n; ++p) v[p] = mask[p] && den[p] > 0 ? static_cast<float>(num[p] / den[p]) : 0.f;
}

}  // namespace detail

// echoes: (echoes, coils, [z,] y, x) complex coil images (coils = 1 for combined images); echo_times in
// seconds, strictly increasing, one per echo. D = 2 or 3 image axes.
template <std::size_t D>
b0_map_result<D> b0_map(strided_view<const cfloat, D + 2> echoes, const std::vector<double>& echo_times,
                        const b0_map_options& opt = {}) {
  static_assert(D == 2 || D == 3, "b0_map: 2D or 3D images");
  const index_t ne = echoes.shape(0), nc = echoes.shape(1);
  LARMOR_CHECK_ARG(ne >= 2, "b0_map: needs at least 2 echoes, got ", ne);
  LARMOR_CHECK_ARG(static_cast<index_t>(echo_times.size()) == ne, "b0_map: ", echo_times.size(),
                   " echo times for ", ne, " echoes");
  for (index_t e = 0; e < ne; ++e) {
    LARMOR_CHECK_ARG(std::isfinite(echo_times[e]) && echo_times[e] >= 0, "b0_map: echo time ", e,
                     " must be finite and >= 0 (seconds), got ", echo_times[e]);
    if (e > 0)
      LARMOR_CHECK_ARG(echo_times[e] > echo_times[e - 1], "b0_map: echo times must increase, got ",
                       echo_times[e - 1], " then ", echo_times[e]);
  }
  LARMOR_CHECK_ARG(nc >= 1, "b0_map: no coils");
  LARMOR_CHECK_ARG(echo_times.back() - echo_times.front() < 1.0, "b0_map: echo times are in seconds; got a span of ",
                   echo_times.back() - echo_times.front(), " s");
  LARMOR_CHECK_ARG(std::isfinite(opt.mask_threshold) && opt.mask_threshold >= 0 && opt.mask_threshold < 1,
                   "b0_map: mask_threshold must be in [0, 1), got ", opt.mask_threshold);
  LARMOR_CHECK_ARG(std::isfinite(opt.smooth) && (opt.smooth == 0 || (opt.smooth >= 0.1f && opt.smooth <= 64)),
                   "b0_map: smooth must be 0 (none) or in [0.1, 64] pixels, got ", opt.smooth);
  check_finite("b0_map", "echoes", echoes);
  extents<D> sp{};
  for (std::size_t a = 0; a < D; ++a) sp[a] = echoes.shape(a + 2);
  const index_t n = checked_size(sp);
  LARMOR_CHECK_ARG(n > 0, "b0_map: empty images");
  array<cfloat, D + 2> owned;
  const cfloat* im = contiguous_data(echoes, owned);
  auto at = [&](index_t e, index_t c) { return im + (e * nc + c) * n; };

  // Mask from the first echo's root-sum-of-squares.
  const auto first = rss(strided_view<const cfloat, D + 1>(echoes.slice(0)));
  const std::vector<float> mag(first.begin(), first.end());
  // The 99th percentile of the non-zero magnitudes (a small object in a zero-padded volume still has one).
  std::vector<float> sorted;
  for (float m : mag)
    if (m > 0) sorted.push_back(m);
  LARMOR_CHECK_DATA(!sorted.empty(), "b0_map: the first echo is zero everywhere");
  const std::size_t k99 = (sorted.size() - 1) * 99 / 100;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(k99), sorted.end());
  const float p99 = sorted[k99];
  std::vector<unsigned char> mask(static_cast<std::size_t>(n));
  for (index_t p = 0; p < n; ++p) mask[p] = mag[p] > opt.mask_threshold * p99;

  // Hermitian products of consecutive echoes, summed over coils.
  std::vector<std::vector<std::complex<double>>> d(static_cast<std::size_t>(ne - 1),
                                                   std::vector<std::complex<double>>(static_cast<std::size_t>(n)));
  parallel_for_blocks(n, 4096, [&](index_t p0, index_t len) {
    for (index_t e = 0; e + 1 < ne; ++e)
      for (index_t p = p0; p < p0 + len; ++p) {
        std::complex<double> s = 0;
        for (index_t c = 0; c < nc; ++c)
          s += std::conj(std::complex<double>(at(e, c)[p])) * std::complex<double>(at(e + 1, c)[p]);
        d[e][p] = s;
      }
  });
  constexpr double two_pi = 6.283185307179586;
  std::vector<float> psi(static_cast<std::size_t>(n)), quality(static_cast<std::size_t>(n));
  for (index_t p = 0; p < n; ++p) psi[p] = static_cast<float>(std::arg(d[0][p])), quality[p] = static_cast<float>(std::abs(d[0][p]));
  const std::vector<index_t> shape(sp.begin(), sp.end());
  const auto phi0 = unwrap_phase(psi.data(), mask.data(), quality.data(), shape);

  std::vector<float> hz(static_cast<std::size_t>(n), 0.f);
  for (index_t p = 0; p < n; ++p) {
    if (!mask[p]) continue;
    double f = phi0[p] / (two_pi * (echo_times[1] - echo_times[0]));
    double acc = phi0[p], sxy = acc * (echo_times[1] - echo_times[0]), sxx = std::pow(echo_times[1] - echo_times[0], 2);
    for (index_t e = 1; e + 1 < ne; ++e) {
      const double dte = echo_times[e + 1] - echo_times[e], w = std::arg(d[e][p]);
      const double ph = w + two_pi * std::round((two_pi * f * dte - w) / two_pi);
      acc += ph;
      const double tau = echo_times[e + 1] - echo_times[0];
      sxy += acc * tau, sxx += tau * tau;
      f = sxy / (two_pi * sxx);
    }
    hz[p] = static_cast<float>(f);
  }
  if (opt.smooth > 0) detail::smooth_masked(hz, mask, shape, opt.smooth);

  b0_map_result<D> res;
  res.hz = array<float, D>(sp, uninitialized);
  res.mask = array<unsigned char, D>(sp, uninitialized);
  std::copy(hz.begin(), hz.end(), res.hz.data());
  std::copy(mask.begin(), mask.end(), res.mask.data());
  return res;
}

}  // namespace larmor
