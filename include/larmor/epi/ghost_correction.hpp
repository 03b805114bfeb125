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

// Without navigators: the phase from the echoes themselves (a referenceless fit). a, b: (coils, ny, N) images
// of the forward-only and of the reversed-only echoes (each zero-filled in ky, transformed along y). For each
// readout pixel x the phase theta that makes the column a + e^{i theta} b most compact (smallest l1 norm over
// y of the coil RSS: a wrong phase adds an N/2 ghost, which spreads signal) is found on a 64-step grid refined
// by golden-section search; the profile w(x) e^{-2 i theta(x)}, w the column energy, is then fitted like a
// navigator correlation (fit_nyquist_phase) and halved: theta and theta + pi are indistinguishable (the object
// and the object shifted by FOV/2), so the constant is taken in (-pi/2, pi/2]. Cf. the entropy/ghost-energy
// criteria of referenceless EPI correction (Clare, MRM 2003). Returns an invalid fit when there is no signal.
inline nyquist_phase fit_nyquist_phase_from_echoes(const array<cfloat, 3>& a, const array<cfloat, 3>& b) {
  LARMOR_CHECK_ARG(a.shape() == b.shape(), "fit_nyquist_phase_from_echoes: shapes differ");
  const index_t nc = a.shape(0), ny = a.shape(1), n = a.shape(2);
  std::vector<std::complex<double>> profile(static_cast<std::size_t>(n));
  for (index_t x = 0; x < n; ++x) {
    double energy = 0;
    for (index_t c = 0; c < nc; ++c)
      for (index_t y = 0; y < ny; ++y) energy += std::norm(a(c, y, x)) + std::norm(b(c, y, x));
    if (!(energy > 0)) continue;
    const auto cost = [&](double theta) {
      const std::complex<float> e(static_cast<float>(std::cos(theta)), static_cast<float>(std::sin(theta)));
      double l1 = 0;
      for (index_t y = 0; y < ny; ++y) {
        double s = 0;
        for (index_t c = 0; c < nc; ++c) s += std::norm(a(c, y, x) + e * b(c, y, x));
        l1 += std::sqrt(s);
      }
      return l1;
    };
    constexpr int steps = 64;
    const double two_pi = 2 * 3.14159265358979323846, h = two_pi / steps;
    int best = 0;
    double best_cost = cost(0);
    for (int i = 1; i < steps; ++i)
      if (const double v = cost(i * h); v < best_cost) best_cost = v, best = i;
    double lo = (best - 1) * h, hi = (best + 1) * h;  // golden-section refinement around the grid minimum
    const double g = 0.5 * (std::sqrt(5.0) - 1);
    double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo), f1 = cost(x1), f2 = cost(x2);
    for (int it = 0; it < 16; ++it) {
      if (f1 < f2) hi = x2, x2 = x1, f2 = f1, x1 = hi - g * (hi - lo), f1 = cost(x1);
      else lo = x1, x1 = x2, f1 = f2, x2 = lo + g * (hi - lo), f2 = cost(x2);
    }
    // theta and theta + pi give the object and the object shifted by FOV/2 — the same l1 norm: fit the
    // doubled angle, halve it, and take the constant in (-pi/2, pi/2] (phase errors are small).
    profile[static_cast<std::size_t>(x)] = std::polar(energy, -(lo + hi));
  }
  nyquist_phase p = fit_nyquist_phase({profile});
  p.constant *= 0.5;
  p.slope *= 0.5;
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
