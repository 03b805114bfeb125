// larmor/nufft/trajectory.hpp — non-Cartesian trajectories in the NUFFT's units: k in cycles per field of view
// (range [-n/2, n/2) for an image of n pixels), coordinates last, ordered like the image axes ((y, x) in 2D,
// (z, y, x) in 3D), row-major. BART's `traj` holds (x, y, z): see plan.hpp for the conversion.
//
// Radial spokes pass through the centre: sample i of `samples` lies at (i - samples/2) * n / samples along the
// spoke direction (y, x) = (sin theta, cos theta), so samples = 2 n is a 2x oversampled readout.
//   uniform:      theta_s = pi s / spokes
//   golden:       theta_s = s * pi / phi (111.25 deg), phi = (1 + sqrt 5)/2. Winkelmann S et al. IEEE TMI 26:68 (2007)
//   tiny_golden:  theta_s = s * pi / (phi + 6) (23.63 deg, N = 7). Wundrak S et al. MRM 75:2372 (2016)
// Stack of stars: radial in (y, x) per partition, z = p - partitions/2 (Cartesian).
// Kooshball (3D radial): spoke directions from the 2D golden means m1 = 0.4656, m2 = 0.6823 on the half
// sphere. Chan RW, Ramsay EA, Cunningham CH, Plewes DB. MRM 61:354 (2009).
// Variable-density spiral: interleaf l: k(tau) = k_max tau^alpha exp(i (2 pi turns tau + 2 pi l / L)),
// tau in [0, 1]; alpha > 1 samples the centre more densely.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "larmor/core/error.hpp"
#include "larmor/core/view.hpp"

namespace larmor {

enum class radial_ordering { uniform, golden, tiny_golden };

inline radial_ordering parse_radial_ordering(const std::string& s) {
  if (s == "uniform") return radial_ordering::uniform;
  if (s == "golden") return radial_ordering::golden;
  if (s == "tiny_golden") return radial_ordering::tiny_golden;
  LARMOR_CHECK_ARG(false, "radial_trajectory: kind must be uniform, golden or tiny_golden, got '", s, "'");
  return radial_ordering::uniform;
}

inline double radial_angle(index_t s, index_t spokes, radial_ordering o) {
  const double pi = 3.14159265358979323846, phi = (1 + std::sqrt(5.0)) / 2;
  switch (o) {
    case radial_ordering::uniform: return pi * static_cast<double>(s) / static_cast<double>(spokes);
    case radial_ordering::golden: return std::fmod(static_cast<double>(s) * pi / phi, 2 * pi);
    default: return std::fmod(static_cast<double>(s) * pi / (phi + 6), 2 * pi);
  }
}

// (spokes, samples, 2) in (y, x).
inline std::vector<double> radial_trajectory(index_t spokes, index_t samples, double n,
                                             radial_ordering o = radial_ordering::uniform) {
  LARMOR_CHECK_ARG(spokes >= 1 && samples >= 1 && n > 0, "radial_trajectory: spokes, samples and n must be positive, got ",
                   spokes, ", ", samples, ", ", n);
  std::vector<double> k(static_cast<std::size_t>(spokes * samples * 2));
  for (index_t s = 0; s < spokes; ++s) {
    const double th = radial_angle(s, spokes, o), cy = std::sin(th), cx = std::cos(th);
    for (index_t i = 0; i < samples; ++i) {
      const double r = (static_cast<double>(i) - static_cast<double>(samples / 2)) * n / static_cast<double>(samples);
      k[static_cast<std::size_t>((s * samples + i) * 2)] = r * cy;
      k[static_cast<std::size_t>((s * samples + i) * 2 + 1)] = r * cx;
    }
  }
  return k;
}

// (partitions, spokes, samples, 3) in (z, y, x).
inline std::vector<double> stack_of_stars_trajectory(index_t partitions, index_t spokes, index_t samples, double n,
                                                     radial_ordering o = radial_ordering::golden) {
  LARMOR_CHECK_ARG(partitions >= 1, "stack_of_stars_trajectory: partitions must be >= 1, got ", partitions);
  const auto r = radial_trajectory(spokes, samples, n, o);
  std::vector<double> k(static_cast<std::size_t>(partitions * spokes * samples * 3));
  for (index_t p = 0; p < partitions; ++p)
    for (index_t j = 0; j < spokes * samples; ++j) {
      double* e = &k[static_cast<std::size_t>((p * spokes * samples + j) * 3)];
      e[0] = static_cast<double>(p - partitions / 2);
      e[1] = r[static_cast<std::size_t>(2 * j)];
      e[2] = r[static_cast<std::size_t>(2 * j + 1)];
    }
  return k;
}

// (spokes, samples, 3) in (z, y, x).
inline std::vector<double> kooshball_trajectory(index_t spokes, index_t samples, double n) {
  LARMOR_CHECK_ARG(spokes >= 1 && samples >= 1 && n > 0, "kooshball_trajectory: spokes, samples and n must be positive");
  const double m1 = 0.465571231876768, m2 = 0.682327803828019, pi = 3.14159265358979323846;
  std::vector<double> k(static_cast<std::size_t>(spokes * samples * 3));
  for (index_t s = 0; s < spokes; ++s) {
    const double f1 = std::fmod(static_cast<double>(s) * m1, 1.0), f2 = std::fmod(static_cast<double>(s) * m2, 1.0);
    const double cz = f1, sr = std::sqrt(std::max(0.0, 1 - cz * cz)), az = 2 * pi * f2;
    const double dir[3] = {cz, sr * std::sin(az), sr * std::cos(az)};
    for (index_t i = 0; i < samples; ++i) {
      const double r = (static_cast<double>(i) - static_cast<double>(samples / 2)) * n / static_cast<double>(samples);
      for (int d = 0; d < 3; ++d) k[static_cast<std::size_t>((s * samples + i) * 3 + d)] = r * dir[d];
    }
  }
  return k;
}

// (interleaves, samples, 2) in (y, x); k_max = n/2 (just inside: the last sample at tau = (samples-1)/samples).
inline std::vector<double> spiral_trajectory(index_t interleaves, index_t samples, double n, double turns = 16,
                                             double alpha = 1.5) {
  LARMOR_CHECK_ARG(interleaves >= 1 && samples >= 1 && n > 0 && turns > 0 && alpha > 0,
                   "spiral_trajectory: interleaves, samples, n, turns and alpha must be positive");
  const double pi = 3.14159265358979323846;
  std::vector<double> k(static_cast<std::size_t>(interleaves * samples * 2));
  for (index_t l = 0; l < interleaves; ++l)
    for (index_t i = 0; i < samples; ++i) {
      const double tau = static_cast<double>(i) / static_cast<double>(samples);
      const double r = n / 2 * std::pow(tau, alpha);
      const double th = 2 * pi * turns * tau + 2 * pi * static_cast<double>(l) / static_cast<double>(interleaves);
      k[static_cast<std::size_t>((l * samples + i) * 2)] = r * std::sin(th);
      k[static_cast<std::size_t>((l * samples + i) * 2 + 1)] = r * std::cos(th);
    }
  return k;
}

}  // namespace larmor
