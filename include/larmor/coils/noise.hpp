// larmor/coils/noise.hpp — receiver noise covariance and pre-whitening.
//
// Noise samples (coils, samples) — from noise-adjust scans, taken with the RF off — give the
// covariance  Psi = N N^H / (M - 1)  (M samples; the receiver noise has zero mean). With the Cholesky
// factor Psi = L L^H, the whitening matrix is W = L^-1: the channels of W x have uncorrelated noise of
// unit variance E|n|^2 = 1 (Roemer et al., MRM 16:192, 1990; Pruessmann et al., MRM 42:952, 1999).
//
// Two scale conventions exist and both are offered:
//   noise_scaling::unit (default) — W = L^-1 exactly, as BART's `whiten` does.
//   noise_scaling::snr_units — Gadgetron's NoiseAdjust convention: W = L^-1 * sqrt(2 * dwell_acq /
//     dwell_noise * receiver_bandwidth), receiver_bandwidth = 0.793 by default. The dwell ratio carries
//     the noise variance measured at the noise scan's bandwidth over to the imaging bandwidth
//     (variance ~ 1 / dwell); the factor 2 puts unit variance on the real and the imaginary part
//     separately, so a whitened image divided by its g-factor is in SNR units (Kellman & McVeigh,
//     MRM 54:1439, 2005).
// prewhiten(x, W) applies W along the coil axis (axis 0) of any (coils, ...) array. Parallel over samples.
// prewhiten_inplace(x, W) does the same on a contiguous x without a second full-size array. Both run on
// the SIMD packed product (coil_covariance.hpp's apply_coil_matrix).
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "larmor/calib/calibration_region.hpp"
#include "larmor/coils/coil_covariance.hpp"
#include "larmor/coils/small_hermitian.hpp"
#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/kernels/dense_decompositions.hpp"

namespace larmor {

enum class noise_scaling { unit, snr_units };

struct prewhitener_options {
  noise_scaling scaling = noise_scaling::unit;
  double acquisition_dwell = 1.0;   // dwell time of the imaging readouts (any unit, same as below)
  double noise_dwell = 1.0;         // dwell time of the noise scan
  double receiver_bandwidth = 0.793;  // effective noise bandwidth of the receiver (Gadgetron's default)
};

// Psi = N N^H / (M - 1) from noise (coils, samples); needs at least 2 samples.
inline array<cfloat, 2> noise_covariance(strided_view<const cfloat, 2> noise) {
  const index_t nc = noise.shape(0), m = noise.shape(1);
  LARMOR_CHECK_ARG(nc >= 1, "noise_covariance: noise must be (coils, samples) with coils >= 1, got shape ",
                   shape_string(noise.shape()));
  LARMOR_CHECK_DATA(m >= 2, "noise_covariance: need at least 2 noise samples per coil, got ", m);
  check_finite("noise_covariance", "noise", noise);
  const auto dense = to_array(noise);
  std::vector<std::complex<double>> psi(static_cast<std::size_t>(nc * nc));
  kernels::gram_rows_double(nc, m, dense.data(), psi.data());
  array<cfloat, 2> out(extents<2>{nc, nc});
  const double samples_minus_one = static_cast<double>(m - 1);
  for (index_t i = 0; i < nc * nc; ++i) out.data()[i] = cfloat(psi[static_cast<std::size_t>(i)] / samples_minus_one);
  return out;
}

// W = L^-1 (times the snr_units factor) for a noise covariance Psi = L L^H.
inline array<cfloat, 2> prewhitener_from_covariance(strided_view<const cfloat, 2> psi,
                                                    const prewhitener_options& opt = {}) {
  const index_t nc = psi.shape(0);
  LARMOR_CHECK_ARG(psi.shape(1) == nc, "noise_prewhitener: covariance must be square, got ", shape_string(psi.shape()));
  LARMOR_CHECK_ARG(opt.acquisition_dwell > 0 && opt.noise_dwell > 0 && opt.receiver_bandwidth > 0,
                   "noise_prewhitener: dwell times and receiver bandwidth must be positive");
  std::vector<std::complex<double>> p(static_cast<std::size_t>(nc * nc)), w(p.size());
  for (index_t i = 0; i < nc; ++i)
    for (index_t j = 0; j < nc; ++j) p[static_cast<std::size_t>(i * nc + j)] = std::complex<double>(psi(i, j));
  LARMOR_CHECK_DATA(kernels::cholesky_lower_inverse(nc, p.data(), w.data()),
                    "noise_prewhitener: the noise covariance is not positive definite (dead or duplicated channel?)");
  const double scale = opt.scaling == noise_scaling::snr_units
                           ? std::sqrt(2.0 * opt.acquisition_dwell / opt.noise_dwell * opt.receiver_bandwidth)
                           : 1.0;
  array<cfloat, 2> out(extents<2>{nc, nc});
  for (index_t i = 0; i < nc * nc; ++i) out.data()[i] = cfloat(w[static_cast<std::size_t>(i)] * scale);
  return out;
}

// The whitening matrix W (coils x coils, lower triangular) from noise samples (coils, samples).
inline array<cfloat, 2> noise_prewhitener(strided_view<const cfloat, 2> noise, const prewhitener_options& opt = {}) {
  const auto psi = noise_covariance(noise);
  return prewhitener_from_covariance(psi.cview(), opt);
}

namespace detail {

}  // namespace detail

// y = W x along axis 0 of x (coils, ...); returns a new array of x's shape.
template <std::size_t R>
array<cfloat, R> prewhiten(strided_view<const cfloat, R> x, strided_view<const cfloat, 2> w) {
  const index_t nc = x.shape(0);
  LARMOR_CHECK_ARG(w.shape(0) == nc && w.shape(1) == nc, "prewhiten: W must be coils x coils = ", nc, " x ", nc,
                   " for x of shape ", shape_string(x.shape()), ", got ", shape_string(w.shape()));
  array<cfloat, R> x_owned;  // only for a strided x: no full-size copy otherwise
  const cfloat* xd = contiguous_data(x, x_owned);
  const auto wd = to_array(w);
  array<cfloat, R> out(x.shape(), uninitialized);
  const index_t npix = nc > 0 ? x.size() / nc : 0;
  parallel_for_blocks(npix, 4096, [&](index_t p0, index_t n) {
    detail::apply_coil_matrix(wd.data(), xd + p0, out.data() + p0, nc, nc, n, npix, npix);
  });
  return out;
}

// The same in place on a contiguous x: x <- W x, one coils x 1024 block of scratch per block of
// samples instead of a second full-size array (same arithmetic, same result as prewhiten).
template <std::size_t R>
void prewhiten_inplace(strided_view<cfloat, R> x, strided_view<const cfloat, 2> w) {
  const index_t nc = x.shape(0);
  LARMOR_CHECK_ARG(w.shape(0) == nc && w.shape(1) == nc, "prewhiten_inplace: W must be coils x coils = ", nc,
                   " x ", nc, " for x of shape ", shape_string(x.shape()), ", got ", shape_string(w.shape()));
  LARMOR_CHECK_ARG(x.is_contiguous(), "prewhiten_inplace: x must be contiguous, got strides of shape ",
                   shape_string(x.shape()));
  const auto wd = to_array(w);
  const index_t npix = nc > 0 ? x.size() / nc : 0;
  // Readout by readout (the last axis: acquired or not as a whole), each read (packed) before it is
  // written, so no scratch beyond the packed chunk. A readout that is zero in every coil is left alone
  // (W 0 = 0): the unacquired lines of an accelerated buffer cost no arithmetic, and a mostly empty
  // buffer -- the full-size calibration buffer around a 24 x 24 ACS block -- keeps its untouched pages
  // unbacked (array.hpp) instead of having every page written back.
  const index_t line = R >= 2 ? x.shape(R - 1) : 1, run = std::min<index_t>(line, 256);
  const index_t nlines = line > 0 ? npix / line : 0;
  parallel_for_blocks(nlines, std::max<index_t>(1, 4096 / std::max<index_t>(line, 1)), [&](index_t l0, index_t nl) {
    for (index_t l = l0; l < l0 + nl; ++l)
      for (index_t q = 0; q < line; q += run) {
        const index_t p0 = l * line + q, n = std::min(run, line - q);
        const auto is_zero = [](cfloat v) { return v == cfloat(0.f, 0.f); };
        bool zero = true;
        for (index_t c = 0; c < nc && zero; ++c) zero = std::all_of(x.data() + c * npix + p0, x.data() + c * npix + p0 + n, is_zero);
        if (!zero) detail::apply_coil_matrix(wd.data(), x.data() + p0, x.data() + p0, nc, nc, n, npix, npix);
      }
  });
}

}  // namespace larmor
