// larmor/nufft/time_segmentation.hpp — the time-segmented approximation of off-resonance phase during a
// readout, the piece that lets a field map enter a NUFFT-based encoding operator at the cost of a few NUFFTs.
//
// A spin at off-resonance f (Hz) acquires the phase exp(i 2 pi f t) by time t after excitation (the sign of
// fieldmap/b0_map.hpp: f > 0 where the phase grows with echo time). Time segmentation writes it as
//
//   exp(i 2 pi f t) ~ sum_{l < L} b_l(t) exp(i 2 pi f tau_l),      tau_l = t_min + l (t_max - t_min) / (L - 1)
//
// so that the encoding sum over pixels splits into L NUFFTs of the image multiplied by the phase maps
// exp(i 2 pi f(r) tau_l), each weighted per sample by b_l(t) (Sutton BP, Noll DC, Fessler JA. Fast, iterative
// image reconstruction for MRI in the presence of field inhomogeneities. IEEE TMI 22:178, 2003). The
// coefficients are the least-squares interpolator over the map's histogram of frequencies (Fessler JA et al.
// Toeplitz-based iterative image reconstruction for MRI with correction for magnetic field inhomogeneity.
// IEEE TSP 53:3393, 2005, "LS-TS"): with f_j the centres of 256 histogram bins over [f_min, f_max], w_j the
// fraction of pixels in bin j and E_jl = exp(i 2 pi f_j tau_l),
//
//   b(t) = argmin_b sum_j w_j |exp(i 2 pi f_j t) - sum_l E_jl b_l|^2 = pinv(W^1/2 E) W^1/2 e(t),
//
// solved once (an SVD of the 256 x L matrix, in double) and applied to each distinct sample time.
//
// The stated error is that of the interpolation itself, |exp(i 2 pi f t) - sum_l b_l(t) exp(i 2 pi f tau_l)|
// (the phasor has modulus 1, so absolute = relative), over the histogram's bins weighted by their pixels and
// over the samples' times (up to 4096 of them, evenly strided): its RMS and its maximum (bins with pixels).
// The encoding operator built from it differs from the exact one by about that much per pixel and sample (an
// estimate: a pixel's own frequency between two bin centres may do up to ~1.5x worse). With segments = 0 the smallest L in 1..64
// whose RMS error is <= tolerance is chosen.
#pragma once

#include <cstdint>
#include <vector>

#include "larmor/core/array.hpp"

namespace larmor {

struct time_segmentation {
  std::vector<double> segment_times;        // tau_l (s), L values
  std::vector<double> sample_times;         // the distinct sample times t_u (s), ascending
  std::vector<std::uint32_t> time_index;    // (M) u of each sample's time
  std::vector<cfloat> coefficients;         // (L, U) b_l(t_u)
  double rms_error = 0;                     // RMS of the phasor's error (see above)
  double max_error = 0;                     // its maximum over the histogram's occupied bins and every time
  double f_min = 0, f_max = 0;              // the field map's range (Hz)

  index_t segments() const { return static_cast<index_t>(segment_times.size()); }
  index_t distinct_times() const { return static_cast<index_t>(sample_times.size()); }
  // b_l of sample m
  cfloat coefficient(index_t l, index_t m) const {
    return coefficients[static_cast<std::size_t>(l * distinct_times() + time_index[static_cast<std::size_t>(m)])];
  }
};

struct time_segmentation_options {
  int segments = 0;         // L >= 1, or 0: the smallest L <= max_segments with rms_error <= tolerance
  double tolerance = 1e-3;  // for segments = 0
  int max_segments = 64;
};

// fieldmap_hz: the field map (n pixels, finite, Hz); times (M samples, finite, seconds from excitation, their
// range at most 1 s). Throws InvalidArgument on bad input.
time_segmentation make_time_segmentation(const float* fieldmap_hz, index_t n, const double* times, index_t M,
                                         const time_segmentation_options& o = {});

}  // namespace larmor
