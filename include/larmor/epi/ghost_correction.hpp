// larmor/epi/ghost_correction.hpp — Nyquist (N/2) ghost correction of EPI from phase-correction navigators.
//
// Echoes read with the positive and the negative readout lobe see different gradient delays, eddy currents
// and receiver phases: in hybrid space (x = readout image, ky) the reversed echoes carry an extra phase
//   phi(x) = constant + slope * (x - N/2)             (x the readout pixel 0..N-1, slope in rad per pixel)
// relative to the forward ones — a k-space shift of the reversed echoes by slope N / (2 pi) samples plus a
// constant — which puts an N/2 ghost of the object into the image. The navigators (ACQ_IS_PHASECORR_DATA,
// twix PHASCOR: echoes without phase-encode blips, read with both polarities; Siemens acquires three,
// + - +, whose mean + echo is centred in time on the - echo so that off-resonance cancels) measure it:
//   c(x) = sum_coils conj(F(x)) R(x),   F, R the sums of the forward and of the reversed navigator profiles,
// and phi is fitted to arg c, weighted by |c| (signal, across coils):
//   1. slope = arg sum_x c(x+1) conj(c(x))  (Ahn & Cho, IEEE TMI 1987; immune to phase wraps),
//   2. constant = arg sum_x c(x) exp(-i slope (x - N/2)),
//   3. two weighted least-squares refinements of (constant, slope) on the residual phase arg(c e^-i phi) over
//      the pixels with |c| >= 10 % of its maximum (noise-only pixels carry no phase information).
// Several navigator sets (slices, repetitions: the scan-wide fit) are pooled in each sum, the constant
// phase differences between sets cancelling in step 1. The correction multiplies forward echoes by
// exp(+i phi / 2) and reversed echoes by exp(-i phi / 2), so both carry the mean phase.
#pragma once

#include <cmath>
#include <complex>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/error.hpp"

namespace larmor::epi {

// phi(x) = constant + slope * (x - N/2): the phase of reversed relative to forward echoes.
struct nyquist_phase {
  double constant = 0, slope = 0;  // radians, radians per readout pixel
  bool valid = false;              // false: nothing fitted (no navigators of both polarities)
  double phase(index_t x, index_t n) const { return constant + slope * static_cast<double>(x - n / 2); }
};

// The navigator correlation profile c(x) = sum_c conj(f(c, x)) r(c, x) of (coils, N) readout images.
inline std::vector<std::complex<double>> nyquist_correlation(const cfloat* forward, const cfloat* reversed,
                                                             index_t coils, index_t n) {
  std::vector<std::complex<double>> c(static_cast<std::size_t>(n));
  for (index_t ch = 0; ch < coils; ++ch)
    for (index_t x = 0; x < n; ++x)
      c[static_cast<std::size_t>(x)] += std::conj(std::complex<double>(forward[ch * n + x])) *
                                         std::complex<double>(reversed[ch * n + x]);
  return c;
}

// The fit of phi to one or several correlation profiles (all of the same length N), steps 1-3 above.
inline nyquist_phase fit_nyquist_phase(const std::vector<std::vector<std::complex<double>>>& profiles) {
  nyquist_phase p;
  if (profiles.empty()) return p;
  const index_t n = static_cast<index_t>(profiles.front().size());
  for (const auto& c : profiles)
    LARMOR_CHECK_ARG(static_cast<index_t>(c.size()) == n, "fit_nyquist_phase: profiles of ", c.size(), " and ", n,
                     " points");
  if (n < 2) return p;
  std::complex<double> lag{}, zero{};
  double peak = 0;
  for (const auto& c : profiles)
    for (index_t x = 0; x < n; ++x) {
      if (x + 1 < n) lag += c[static_cast<std::size_t>(x + 1)] * std::conj(c[static_cast<std::size_t>(x)]);
      peak = std::max(peak, std::abs(c[static_cast<std::size_t>(x)]));
    }
  if (!(peak > 0) || !std::isfinite(peak) || lag == std::complex<double>{}) return p;
  p.slope = std::arg(lag);
  for (const auto& c : profiles)
    for (index_t x = 0; x < n; ++x)
      zero += c[static_cast<std::size_t>(x)] * std::polar(1.0, -p.slope * static_cast<double>(x - n / 2));
  p.constant = std::arg(zero);
  for (int iter = 0; iter < 2; ++iter) {
    // Weighted least squares of the residual phase r(x) ~ da + db (x - N/2), weights |c|.
    double s0 = 0, s1 = 0, s2 = 0, t0 = 0, t1 = 0;
    for (const auto& c : profiles)
      for (index_t x = 0; x < n; ++x) {
        const auto v = c[static_cast<std::size_t>(x)];
        const double w = std::abs(v);
        if (w < 0.1 * peak) continue;
        const double u = static_cast<double>(x - n / 2);
        const double r = std::arg(v * std::polar(1.0, -p.phase(x, n)));
        s0 += w, s1 += w * u, s2 += w * u * u, t0 += w * r, t1 += w * r * u;
      }
    const double det = s0 * s2 - s1 * s1;
    if (!(det > 1e-12 * s0 * s2) || !(s0 > 0)) break;
    p.constant += (t0 * s2 - t1 * s1) / det;
    p.slope += (s0 * t1 - s1 * t0) / det;
  }
  p.constant = std::remainder(p.constant, 2 * 3.14159265358979323846);
  p.valid = std::isfinite(p.constant) && std::isfinite(p.slope);
  return p;
}

// Multiplies rows (rows x N readout images, contiguous) by exp(+i phi/2) (forward) or exp(-i phi/2) (reversed).
inline void apply_nyquist_phase(cfloat* rows, index_t count, index_t n, const nyquist_phase& p, bool reversed) {
  if (!p.valid) return;
  const double sign = reversed ? -0.5 : 0.5;
  std::vector<cfloat> w(static_cast<std::size_t>(n));
  for (index_t x = 0; x < n; ++x) w[static_cast<std::size_t>(x)] = cfloat(std::polar(1.0, sign * p.phase(x, n)));
  for (index_t r = 0; r < count; ++r)
    for (index_t x = 0; x < n; ++x) rows[r * n + x] *= w[static_cast<std::size_t>(x)];
}

}  // namespace larmor::epi
