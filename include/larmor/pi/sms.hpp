// larmor/pi/sms.hpp — simultaneous multi-slice (multiband) separation: slice-GRAPPA, split-slice GRAPPA
// and SMS-SENSE, with leakage and g-factor maps.
//
// Setsompop K et al., "Blipped-controlled aliasing in parallel imaging for simultaneous multislice echo
// planar imaging with reduced g-factor penalty", MRM 67:1210 (2012) (slice-GRAPPA, blipped CAIPI);
// Cauley SF et al., "Interslice leakage artifact reduction technique for simultaneous multislice
// acquisitions", MRM 72:93 (2014) (split-slice GRAPPA); Larkman DJ et al., JMRI 13:313 (2001) (SMS-SENSE).
//
// Model. A slice group holds S slices excited together. Slice s of the group is shifted by s * FOV / P
// along y (P = caipi_shift; P = 1: no shift), i.e. its image is rolled by d_s = s * Ny / P pixels towards
// increasing y (numpy: np.roll(image, d_s, axis=-2)). With the centred unitary FFT (fft/fft.hpp) that roll
// is the k-space phase
//     phi_s(ky) = exp(-2 pi i (ky - Ny/2) s / P)                 (Ny/2 rounded down; ky the line index)
// and the collapsed k-space is  k_c(ky, kx) = sum_s phi_s(ky) K_{s,c}(ky, kx), K_s the single-band k-space of
// slice s. Collapsed data may be undersampled in-plane on a lattice of step Ry (sampling/lattice.hpp);
// separation then yields each slice on the same lattice lines and in-plane GRAPPA/SENSE follows as for any
// slice. Real scans whose blip phase is counted from another line than Ny/2 differ by a constant phase per
// slice: the kernels absorb it (they are trained with the same phases they are applied with) and magnitude
// images do not see it.
//
// Slice-GRAPPA. Per slice s one kernel maps the collapsed neighbourhood (kernel_y lattice lines Ry apart,
// centred on the target line, x kernel_x readout neighbours, all coils) to the shifted slice s at the target:
//     phi_s K_s(ky, kx)_o = sum_{c, i, dx} W_s[(i, dx, c), o] k_c(ky + i Ry, kx + dx).
// Trained on single-band calibration data K^cal_s (the single-band reference, or the reference scan),
// shifted with phi_s and summed to a synthetic collapsed block: min_W ||A W_s - B_s||^2 with A the collapsed
// sources and B_s the shifted slice s at each training position.
// Split-slice GRAPPA (the default): the same kernel, trained so that slice s's kernel reproduces slice s
// from slice s's data alone and gives zero from every other slice's data alone:
//     min_W sum_{s'} ||A_{s'} W_s - delta_{s s'} B_{s'}||^2,   normal equations (sum_{s'} A_{s'}^H A_{s'}) W_s = A_s^H B_s
// — the interslice leakage of slice-GRAPPA is an explicit term of the fit (Cauley 2014, eq. 5).
// Both solve with the ridge of grappa.hpp: lambda = reg * tr(A^H A) / n_sources (the Gram matrix summed over
// the slices for split-slice), Cholesky on LAPACK. All slices are solved at once (S * coils right-hand sides).
// Training positions: every (ky, kx) of the calibration whose target line and source lines are acquired in
// every slice (a fully sampled block, or single-band data undersampled on the same lattice as the
// collapsed data, as the CMRR/Siemens SBRef is) and whose readout stencil fits; at most
// max_rows_per_source * n_sources of them, those with the most collapsed signal (grappa.hpp's rule).
//
// Application: after a 1D inverse FFT along x the readout taps become one matrix per readout column
// (grappa.hpp's readout_phase), W_x = sum_dx W(dx) exp(-2 pi i dx (x - Nx/2) / Nx); each column of
// lattice lines is one product (lines x kernel_y coils) x (kernel_y coils x S coils). The x transform makes
// the readout convolution circular (the last kernel_x / 2 samples at either readout edge see the other
// edge; k-space there holds noise). Lines outside the lattice (in-plane ACS in the collapsed data) are not
// separated and come back as zero; sources off the matrix or not acquired count as zero.
//
// SMS-CG-SENSE (any shift): conjugate gradients on the normal equations of the same model, the slices of a group
// one operator (2 * slices * coils FFTs per iteration). SMS-SENSE (integer shifts d_s and Ny divisible by Ry): with h the point-spread function of the lattice
// (sense.hpp: h_j = (1/Ny) sum_{acquired ky} exp(2 pi i (ky - Ny/2) j Ny/Ry / Ny), |h_j| = 1/Ry), the
// zero-filled collapsed coil images are, at each pixel y0 < Ny/Ry,
//     I_c(y0) = sum_{j < Ry} h_j sum_s S_{s,c}(p_j - d_s) x_s(p_j - d_s),     p_j = y0 - j Ny / Ry (mod Ny)
// — Ry * S unknowns and coils equations per pixel, solved exactly (double precision Cholesky) as the minimiser
// of ||M (sum_s phi_s fftc(S_s x_s)) - k||^2 + reg ||x||^2 (reg absolute, the scale of sense/cgsense/BART -r).
// g-factor (Pruessmann 1999, with the ridge): g_i^2 = [X G X]_ii G_ii, G = E^H E, X = (G + reg/Ry)^-1 — noise
// relative to a fully sampled single-band acquisition of the same slice with the optimal coil combination.
//
// Leakage (L-factor) map of slice s: the kernel of slice s applied to each other slice's calibration
// alone, the root sum of squares over coils and those slices of the resulting images, divided by the
// root-mean-square over the image of the same sum for those slices' own calibration images; 0 = no leakage,
// 0.01 = 1 % of the other slices' mean signal leaks into this pixel. The g-factor of a GRAPPA separation is
// measured by pseudo-replicas (Robson PM et al., MRM 60:895, 2008): unit white noise on the lattice lines,
// separated, coil-combined with conj(S)/sum|S|^2; its standard deviation over the replicas divided by that of
// the same combination of single-band noise on the same lines.
//
// Shapes: collapsed (coils, y, x); calibration (slices, coils, y, x) without CAIPI shift (zero where not
// acquired); maps (slices, coils, y, x); separated k-space (slices, coils, y, x), images (slices, y, x).
#pragma once

#include <Eigen/Dense>
#include <cmath>
#include <complex>
#include <cstdint>
#include <random>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/check_finite.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/fft/fft.hpp"
#include "larmor/kernels/matrix_products.hpp"
#include "larmor/kernels/packed_product.hpp"
#include "larmor/pi/grappa.hpp"
#include "larmor/pi/sense.hpp"
#include "larmor/sampling/lattice.hpp"
#include "larmor/solvers/conjugate_gradient.hpp"

namespace larmor {

struct sms_grappa_options {
  index_t kernel_y = 5;   // collapsed source lines, Ry apart, centred on the target line
  index_t kernel_x = 5;   // readout neighbours
  bool split = true;      // split-slice GRAPPA (Cauley 2014); false: slice-GRAPPA (Setsompop 2012)
  float reg = 5e-4f;      // Tikhonov lambda = reg * tr(A^H A) / n_sources
  index_t max_rows_per_source = 48;  // training positions per unknown weight (the strongest kept)
};

// A calibrated slice-separation kernel (see the top of this file).
struct sms_grappa_kernel {
  index_t slices = 0, coils = 0, kernel_y = 0, kernel_x = 0;
  index_t ry = 1;           // the in-plane lattice step of the sources
  index_t caipi_shift = 1;  // slice s shifted by s * FOV / caipi_shift
  index_t ny = 0;           // the matrix the CAIPI phases were computed for
  bool split = true;
  // weights(s, t): s = (i * kernel_x + d) * coils + c (i-th source line, readout tap d), t = slice * coils + o.
  array<cfloat, 2> weights;

  index_t n_sources() const { return kernel_y * kernel_x * coils; }
};

// The CAIPI phase of slice s at line ky of an ny-line matrix: exp(-2 pi i (ky - ny/2) s / P), the k-space
// form of rolling the slice's image by s * ny / P pixels along y. Reduced modulo P first, so exact for any ky.
inline cfloat sms_caipi_phase(index_t slice, index_t ky, index_t ny, index_t caipi_shift) {
  const index_t p = caipi_shift;
  const index_t m = (((ky - ny / 2) * slice) % p + p) % p;
  const double a = -2.0 * 3.14159265358979323846 * static_cast<double>(m) / static_cast<double>(p);
  return {static_cast<float>(std::cos(a)), static_cast<float>(std::sin(a))};
}

namespace detail {

inline void check_caipi(const char* func, index_t caipi_shift) {
  LARMOR_CHECK_ARG(caipi_shift >= 1 && caipi_shift <= 64, func,
                   ": caipi_shift (slice s shifted by s * FOV / caipi_shift) must be 1..64, got ", caipi_shift);
}

// Multiplies every line of (slices, coils, y, x) k-space by phi_s(ky)^sign (sign +1: apply the shift,
// -1: undo it).
inline void sms_apply_caipi(strided_view<cfloat, 4> k, index_t caipi_shift, int sign, index_t y0 = 0,
                            index_t ny_full = 0) {
  const index_t ns = k.shape(0), nc = k.shape(1), ny = k.shape(2), nx = k.shape(3);
  parallel_for(ns * nc, [&](index_t sc) {
    const index_t s = sc / nc, c = sc % nc;
    for (index_t y = 0; y < ny; ++y) {
      cfloat ph = sms_caipi_phase(s, y0 + y, ny_full > 0 ? ny_full : ny, caipi_shift);
      if (sign < 0) ph = std::conj(ph);
      for (index_t x = 0; x < nx; ++x) k(s, c, y, x) *= ph;
    }
  });
}

// Lines acquired in every slice of (slices, coils, y, x) calibration data.
inline line_mask sms_calibration_lines(strided_view<const cfloat, 4> cal) {
  line_mask all = acquired_lines(cal.slice(0));
  for (index_t s = 1; s < cal.shape(0); ++s) {
    const auto m = acquired_lines(cal.slice(s));
    for (std::size_t i = 0; i < all.acquired.size(); ++i) all.acquired[i] &= m.acquired[i];
  }
  return all;
}

// Data of a slice group (slices, coils, y, x) — calibration or maps — against its collapsed k-space
// (coils, y, x): the same coils and matrix.
inline void check_group_matches(const char* func, const char* what, strided_view<const cfloat, 4> group,
                                strided_view<const cfloat, 3> collapsed) {
  LARMOR_CHECK_ARG(group.size() > 0 && group.shape(1) == collapsed.shape(0) && group.shape(2) == collapsed.shape(1) &&
                       group.shape(3) == collapsed.shape(2),
                   func, ": ", what, " (slices, coils, y, x) ", shape_string(group.shape()),
                   " does not match collapsed (coils, y, x) ", shape_string(collapsed.shape()));
}

// The lattice of the collapsed data with a clear error when there is none.
inline sampling_lattice sms_lattice(const char* func, strided_view<const cfloat, 3> collapsed) {
  const auto m = acquired_lines(collapsed);
  LARMOR_CHECK_DATA(m.count() > 0, func, ": the collapsed k-space holds no data (all zero)");
  const auto L = detect_lattice(m);
  LARMOR_CHECK_DATA(L.has_value(), func, ": the collapsed k-space is not sampled on a regular lattice of lines");
  return *L;
}

// Separates collapsed k-space (coils, y, x) with a kernel: every acquired line y with
// (y - offset_y) % ry == 0 is a target; sources off the matrix or not acquired count as zero. Returns
// (slices, coils, y, x) with the CAIPI shift undone.
inline array<cfloat, 4> sms_separate(const sms_grappa_kernel& k, strided_view<const cfloat, 3> collapsed,
                                     index_t offset_y) {
  const index_t nc = k.coils, ny = collapsed.shape(1), nx = collapsed.shape(2), ns = k.slices;
  const index_t ky = k.kernel_y, kx = k.kernel_x, ry = k.ry, h0 = (ky - 1) / 2;
  const auto mask = acquired_lines(collapsed);
  std::vector<index_t> targets;
  for (index_t y = 0; y < ny; ++y)
    if (mask(0, y) && ((y - offset_y) % ry + ry) % ry == 0) targets.push_back(y);
  const index_t nt = static_cast<index_t>(targets.size());
  // Hybrid space: x inverse-transformed.
  array<cfloat, 3> h(collapsed.shape(), uninitialized);
  copy(collapsed, h.view());
  ifftc_inplace(h, {2});
  const index_t nsrc = ky * nc, nout = ns * nc;
  // The separated target lines, compact: (slices * coils, targets, x); the other lines stay zero.
  array<cfloat, 3> sep(extents<3>{nout, nt, nx}, uninitialized);
  // Per readout tap d the (ky * coils) x (slices * coils) matrix, rows i * coils + c.
  std::vector<grappa_matrix> Wd(static_cast<std::size_t>(kx), grappa_matrix(nsrc, nout));
  for (index_t d = 0; d < kx; ++d)
    for (index_t i = 0; i < ky; ++i)
      for (index_t c = 0; c < nc; ++c)
        for (index_t t = 0; t < nout; ++t) Wd[d](i * nc + c, t) = k.weights((i * kx + d) * nc + c, t);
  // The product of every column on kernels::packed_product (2.2x faster than Eigen on a 32-coil MB 6 group).
  parallel_for_blocks(nx, 4, [&](index_t x0, index_t len) {
    grappa_matrix Wx(nsrc, nout), S(nt, nsrc), T(nt, nout);
    std::vector<float> packed(kernels::packed_matrix_floats(nsrc, nout));
    for (index_t x = x0; x < x0 + len; ++x) {
      // W_x = sum_d e_d(x) W_d, by hand: Eigen's complex-float scalar broadcast loads the scalar as a double
      // from a 4-byte aligned temporary (UBSan: misaligned load).
      Wx.setZero();
      // In real arithmetic, so that the loop vectorizes (complex<float> products check for NaN and call __mulsc3).
      for (index_t d = 0; d < kx; ++d) {
        const cfloat e = readout_phase(d, kx, x, nx);
        const float er = e.real(), ei = e.imag();
        const float* w = reinterpret_cast<const float*>(Wd[static_cast<std::size_t>(d)].data());
        float* o = reinterpret_cast<float*>(Wx.data());
        for (index_t i = 0; i < nsrc * nout; ++i) {
          o[2 * i] += er * w[2 * i] - ei * w[2 * i + 1];
          o[2 * i + 1] += er * w[2 * i + 1] + ei * w[2 * i];
        }
      }
      kernels::pack_matrix(Wx.data(), nsrc, nout, nout, packed.data());
      for (index_t p = 0; p < nt; ++p)
        for (index_t i = 0; i < ky; ++i) {
          const index_t y = targets[static_cast<std::size_t>(p)] + (i - h0) * ry;
          if (y < 0 || y >= ny || !mask(0, y)) {
            for (index_t c = 0; c < nc; ++c) S(p, i * nc + c) = cfloat(0.f, 0.f);
            continue;
          }
          const cfloat* hy = h.data() + y * nx + x;  // h(c, y, x) = hy[c * ny * nx]
          for (index_t c = 0; c < nc; ++c) S(p, i * nc + c) = hy[c * ny * nx];
        }
      kernels::packed_product(nt, nout, nsrc, S.data(), nsrc, packed.data(), T.data(), nout);
      for (index_t p = 0; p < nt; ++p)
        for (index_t t = 0; t < nout; ++t) sep.data()[(t * nt + p) * nx + x] = T(p, t);
    }
  });
  if (nt > 0) fftc_inplace(sep, {2});
  // Each slice back to its own position: the conjugate of its CAIPI phase on every target line (in real
  // arithmetic, so that it vectorizes; an identity for caipi_shift 1).
  array<cfloat, 4> out(extents<4>{ns, nc, ny, nx});  // zeros
  parallel_for(nout, [&](index_t t) {
    for (index_t p = 0; p < nt; ++p) {
      const index_t y = targets[static_cast<std::size_t>(p)];
      const cfloat ph = std::conj(sms_caipi_phase(t / nc, y, ny, k.caipi_shift));
      const float p_re = ph.real(), p_im = ph.imag();
      const float* a = reinterpret_cast<const float*>(sep.data() + (t * nt + p) * nx);
      float* o = reinterpret_cast<float*>(out.data() + (t * ny + y) * nx);
      for (index_t x = 0; x < nx; ++x) {
        o[2 * x] = p_re * a[2 * x] - p_im * a[2 * x + 1];
        o[2 * x + 1] = p_re * a[2 * x + 1] + p_im * a[2 * x];
      }
    }
  });
  return out;
}

}  // namespace detail

namespace detail {

// sms_grappa_calibrate on calibration lines that are lines y0 .. of a matrix of ny_full lines (a central ACS
// block): each carries the CAIPI phase of its line in the full matrix, and the kernel is for that matrix.
inline sms_grappa_kernel sms_grappa_calibrate_block(strided_view<const cfloat, 4> calibration, index_t caipi_shift,
                                                    index_t ry, const sms_grappa_options& opt, index_t y0,
                                                    index_t ny_full) {
  const char* f = "sms_grappa_calibrate";
  detail::check_caipi(f, caipi_shift);
  LARMOR_CHECK_ARG(calibration.size() > 0, f, ": calibration is empty (shape ", shape_string(calibration.shape()), ")");
  LARMOR_CHECK_ARG(calibration.shape(0) >= 1 && calibration.shape(0) <= 16, f,
                   ": a slice group holds 1..16 slices, got ", calibration.shape(0));
  LARMOR_CHECK_ARG(ry >= 1 && ry <= 16, f, ": in-plane acceleration must be 1..16, got ", ry);
  LARMOR_CHECK_ARG(opt.kernel_y >= 1 && opt.kernel_x >= 1 && opt.kernel_y <= 15 && opt.kernel_x <= 15, f,
                   ": kernel sizes must be 1..15, got (", opt.kernel_y, ", ", opt.kernel_x, ")");
  LARMOR_CHECK_ARG(opt.reg >= 0 && std::isfinite(opt.reg), f, ": reg must be finite and >= 0, got ", opt.reg);
  LARMOR_CHECK_ARG(opt.max_rows_per_source >= 1, f, ": max_rows_per_source must be >= 1");
  check_finite(f, "calibration", calibration);
  sms_grappa_kernel k;
  k.slices = calibration.shape(0);
  k.coils = calibration.shape(1);
  k.kernel_y = opt.kernel_y;
  k.kernel_x = opt.kernel_x;
  k.ry = ry;
  k.caipi_shift = caipi_shift;
  k.ny = ny_full;
  k.split = opt.split;
  const index_t ns = k.slices, nc = k.coils, ny = calibration.shape(2), nx = calibration.shape(3);
  const index_t ky = k.kernel_y, kx = k.kernel_x, hx = kx / 2, h0 = (ky - 1) / 2;

  // Shifted calibration and its collapsed sum.
  array<cfloat, 4> shifted(calibration.shape(), uninitialized);
  copy(calibration, shifted.view());
  sms_apply_caipi(shifted.view(), caipi_shift, +1, y0, ny_full);
  array<cfloat, 4> collapsed(extents<4>{nc, 1, ny, nx});
  parallel_for(nc, [&](index_t c) {
    for (index_t s = 0; s < ns; ++s)
      for (index_t y = 0; y < ny; ++y)
        for (index_t x = 0; x < nx; ++x) collapsed(c, 0, y, x) += shifted(s, c, y, x);
  });

  // Training positions: target line y and its sources y + (i - h0) ry acquired in every slice.
  const auto lines = detail::sms_calibration_lines(calibration);
  std::vector<index_t> ys;
  for (index_t y = 0; y < ny; ++y) {
    bool ok = true;
    for (index_t i = 0; i < ky && ok; ++i) {
      const index_t yy = y + (i - h0) * ry;
      ok = yy >= 0 && yy < ny && lines(0, yy);
    }
    if (ok) ys.push_back(y);
  }
  const index_t px = nx - (kx - 1), nys = static_cast<index_t>(ys.size());
  const index_t nsrc = k.n_sources(), nout = ns * nc;
  LARMOR_CHECK_DATA(nys >= 1 && px >= 1, f, ": the calibration holds no position where a ", ky, " x ", kx,
                    " kernel with lines ", ry, " apart fits (", lines.count(), " of ", ny,
                    " lines acquired in every slice, ", nx, " readout samples)");
  const auto positions = detail::select_calibration_rows(collapsed.cview(), nys * px, nsrc * opt.max_rows_per_source,
                                                         [&](index_t p) {
    return std::array<index_t, 3>{0, ys[static_cast<std::size_t>(p / px)], p % px + hx};
  });
  const index_t rows = static_cast<index_t>(positions.size());
  auto gather = [&](auto&& src, detail::grappa_matrix& A) {  // src(c, y, x)
    parallel_for(rows, [&](index_t r) {
      const index_t p = positions[static_cast<std::size_t>(r)];
      const index_t y = ys[static_cast<std::size_t>(p / px)], x = p % px + hx;
      index_t col = 0;
      for (index_t i = 0; i < ky; ++i)
        for (index_t d = 0; d < kx; ++d)
          for (index_t c = 0; c < nc; ++c) A(r, col++) = src(c, y + (i - h0) * ry, x + d - hx);
    });
  };
  auto targets_of = [&](index_t s, detail::grappa_matrix& B, bool only_s) {
    parallel_for(rows, [&](index_t r) {
      const index_t p = positions[static_cast<std::size_t>(r)];
      const index_t y = ys[static_cast<std::size_t>(p / px)], x = p % px + hx;
      for (index_t t = 0; t < ns; ++t)
        for (index_t o = 0; o < nc; ++o)
          B(r, t * nc + o) = (!only_s || t == s) ? shifted(t, o, y, x) : cfloat(0.f, 0.f);
    });
  };
  detail::grappa_matrix A(rows, nsrc), B(rows, nout);
  detail::grappa_matrix G = detail::grappa_matrix::Zero(nsrc, nsrc), AhB = detail::grappa_matrix::Zero(nsrc, nout);
  if (!opt.split) {
    gather([&](index_t c, index_t y, index_t x) { return collapsed(c, 0, y, x); }, A);
    targets_of(0, B, false);
    detail::normal_equations(A, B, G, AhB);
  } else {
    for (index_t s = 0; s < ns; ++s) {
      gather([&](index_t c, index_t y, index_t x) { return shifted(s, c, y, x); }, A);
      targets_of(s, B, true);
      detail::normal_equations(A, B, G, AhB);
    }
  }
  const float trace = G.diagonal().real().sum();
  LARMOR_CHECK_DATA(trace > 0 && std::isfinite(trace), f, ": the calibration data is all zero");
  G.diagonal().array() += opt.reg * trace / static_cast<float>(nsrc);
  k.weights = array<cfloat, 2>({nsrc, nout}, uninitialized);
  {
    detail::grappa_matrix F = G;
    detail::grappa_map(k.weights.data(), nsrc, nout) = AhB;
    if (kernels::cholesky_solve(nsrc, nout, F.data(), k.weights.data())) return k;
  }
  LARMOR_CHECK_DATA(kernels::ldlt_solve(nsrc, nout, G.data(), AhB.data(), k.weights.data()), f,
                    ": the calibration system is singular (use reg > 0)");
  return k;
}

}  // namespace detail

// Calibrates a slice-separation kernel on single-band calibration k-space (slices, coils, y, x) — not
// shifted, zero where not acquired — for collapsed data sampled every `ry` lines.
inline sms_grappa_kernel sms_grappa_calibrate(strided_view<const cfloat, 4> calibration, index_t caipi_shift,
                                              index_t ry = 1, const sms_grappa_options& opt = {}) {
  return detail::sms_grappa_calibrate_block(calibration, caipi_shift, ry, opt, 0, calibration.shape(2));
}

// Separates collapsed k-space (coils, y, x) of one slice group into (slices, coils, y, x), each slice in its
// own unshifted position, on the collapsed data's lattice lines (other lines zero: in-plane GRAPPA/SENSE
// fills them next).
inline array<cfloat, 4> sms_grappa_apply(strided_view<const cfloat, 3> collapsed, const sms_grappa_kernel& kernel) {
  const char* f = "sms_grappa_apply";
  LARMOR_CHECK_ARG(collapsed.size() > 0, f, ": collapsed k-space is empty");
  LARMOR_CHECK_ARG(collapsed.shape(0) == kernel.coils, f, ": collapsed k-space has ", collapsed.shape(0),
                   " coils, the kernel was calibrated for ", kernel.coils);
  LARMOR_CHECK_ARG(collapsed.shape(1) == kernel.ny, f, ": collapsed k-space has ", collapsed.shape(1),
                   " lines, the kernel was calibrated on ", kernel.ny);
  check_finite(f, "collapsed k-space", collapsed);
  const auto L = detail::sms_lattice(f, collapsed);
  LARMOR_CHECK_DATA(L.ry == kernel.ry, f, ": the collapsed k-space is sampled every ", L.ry,
                    " lines, the kernel was calibrated for every ", kernel.ry);
  return detail::sms_separate(kernel, collapsed, L.offset_y);
}

// Slice-GRAPPA / split-slice GRAPPA in one call: the in-plane lattice read from the collapsed data. The
// calibration is either the collapsed data's matrix or a smaller central block of it (an ACS region, as
// pygrappa takes it): the block's lines are lines ny/2 - cy/2 ... of the full matrix and carry their CAIPI
// phase; the kernel is trained inside the block only.
inline array<cfloat, 4> sms_grappa(strided_view<const cfloat, 3> collapsed, strided_view<const cfloat, 4> calibration,
                                   index_t caipi_shift, const sms_grappa_options& opt = {}) {
  const char* f = "sms_grappa";
  const index_t ny = collapsed.shape(1), nx = collapsed.shape(2);
  LARMOR_CHECK_ARG(calibration.size() > 0 && calibration.shape(1) == collapsed.shape(0) &&
                       calibration.shape(2) <= ny && calibration.shape(3) <= nx,
                   f, ": calibration (slices, coils, y, x) ", shape_string(calibration.shape()),
                   " does not match collapsed (coils, y, x) ", shape_string(collapsed.shape()),
                   " (the same coils; the same matrix or a central block of it)");
  check_finite(f, "collapsed k-space", collapsed);
  const auto L = detail::sms_lattice(f, collapsed);
  // The kernel is shift-invariant along x: only the block's lines need their place in the full matrix.
  const index_t y0 = ny / 2 - calibration.shape(2) / 2;
  const auto k = detail::sms_grappa_calibrate_block(calibration, caipi_shift, L.ry, opt, y0, ny);
  return detail::sms_separate(k, collapsed, L.offset_y);
}

// Leakage (L-factor) maps (slices, y, x) of a kernel, measured on single-band calibration k-space (slices,
// coils, y, x) at full matrix size (see the top of this file).
inline array<float, 3> sms_grappa_leakage(const sms_grappa_kernel& kernel, strided_view<const cfloat, 4> calibration) {
  const char* f = "sms_grappa_leakage";
  LARMOR_CHECK_ARG(calibration.shape(0) == kernel.slices && calibration.shape(1) == kernel.coils &&
                       calibration.shape(2) == kernel.ny,
                   f, ": calibration ", shape_string(calibration.shape()), " does not match the kernel (",
                   kernel.slices, " slices, ", kernel.coils, " coils, ", kernel.ny, " lines)");
  check_finite(f, "calibration", calibration);
  const index_t ns = kernel.slices, nc = kernel.coils, ny = calibration.shape(2), nx = calibration.shape(3);
  const index_t n = ny * nx;
  // The lattice lines the calibration has: offset of its first line whose every lattice neighbour is there.
  const auto lines = detail::sms_calibration_lines(calibration);
  index_t offset = 0;
  for (index_t y = 0; y < ny; ++y)
    if (lines(0, y)) {
      offset = y % kernel.ry;
      break;
    }
  array<float, 3> leak(extents<3>{ns, ny, nx});   // sum over coils and other slices of |leaked image|^2
  array<float, 3> own(extents<3>{ns, ny, nx});    // |image|^2 of each slice's own calibration lines, coil sum
  array<cfloat, 3> one(extents<3>{nc, ny, nx}, uninitialized);
  for (index_t sp = 0; sp < ns; ++sp) {
    auto one_v = one.view();
    copy(calibration.slice(sp), one_v);
    // Slice sp alone, shifted as it would be in the collapsed data, keeping only its lattice lines.
    parallel_for(nc, [&](index_t c) {
      for (index_t y = 0; y < ny; ++y) {
        const bool on = ((y - offset) % kernel.ry + kernel.ry) % kernel.ry == 0;
        const cfloat ph = sms_caipi_phase(sp, y, ny, kernel.caipi_shift);
        for (index_t x = 0; x < nx; ++x) one(c, y, x) = on ? one(c, y, x) * ph : cfloat(0.f, 0.f);
      }
    });
    // The slice's own image from the same lines (shifted: the RMS over the image does not see the shift).
    array<cfloat, 3> img(extents<3>{nc, ny, nx}, uninitialized);
    copy(one.cview(), img.view());
    ifftc_inplace(img, {1, 2});
    auto sep = detail::sms_separate(kernel, one.cview(), offset);
    ifftc_inplace(sep, {2, 3});
    parallel_for(n, [&](index_t i) {
      float e = 0;
      for (index_t c = 0; c < nc; ++c) e += std::norm(img.data()[c * n + i]);
      own.data()[sp * n + i] = e;
      for (index_t s = 0; s < ns; ++s) {
        if (s == sp) continue;
        float l = 0;
        for (index_t c = 0; c < nc; ++c) l += std::norm(sep(s, c, i / nx, i % nx));
        leak.data()[s * n + i] += l;
      }
    });
  }
  array<float, 3> out(extents<3>{ns, ny, nx});
  for (index_t s = 0; s < ns; ++s) {
    double others = 0;
    for (index_t sp = 0; sp < ns; ++sp)
      if (sp != s)
        for (index_t i = 0; i < n; ++i) others += own.data()[sp * n + i];
    const double rms = std::sqrt(others / static_cast<double>(n));
    for (index_t i = 0; i < n; ++i)
      out.data()[s * n + i] = rms > 0 ? static_cast<float>(std::sqrt(leak.data()[s * n + i]) / rms) : 0.f;
  }
  return out;
}

// g-factor maps (slices, y, x) of a GRAPPA separation by pseudo-replicas (see the top of this file); maps
// (slices, coils, y, x) are the coil sensitivities used for combination.
inline array<float, 3> sms_grappa_gfactor(const sms_grappa_kernel& kernel, strided_view<const cfloat, 4> maps,
                                          index_t replicas = 100, std::uint64_t seed = 1) {
  const char* f = "sms_grappa_gfactor";
  LARMOR_CHECK_ARG(maps.shape(0) == kernel.slices && maps.shape(1) == kernel.coils && maps.shape(2) == kernel.ny, f,
                   ": maps ", shape_string(maps.shape()), " do not match the kernel (", kernel.slices, " slices, ",
                   kernel.coils, " coils, ", kernel.ny, " lines)");
  LARMOR_CHECK_ARG(replicas >= 2 && replicas <= 100000, f, ": replicas must be 2..100000, got ", replicas);
  check_finite(f, "maps", maps);
  const index_t ns = kernel.slices, nc = kernel.coils, ny = maps.shape(2), nx = maps.shape(3), n = ny * nx;
  // Combination weights w = conj(S) / sum |S|^2 per slice and their noise reference sqrt(sum |w|^2 / Ry).
  array<cfloat, 4> w(maps.shape(), uninitialized);
  array<float, 3> ref(extents<3>{ns, ny, nx});
  parallel_for(ns * n, [&](index_t si) {
    const index_t s = si / n, y = si % n / nx, x = si % nx;
    float e = 0;
    for (index_t c = 0; c < nc; ++c) e += std::norm(maps(s, c, y, x));
    for (index_t c = 0; c < nc; ++c) w(s, c, y, x) = e > 0 ? std::conj(maps(s, c, y, x)) / e : cfloat(0.f, 0.f);
    ref(s, y, x) = e > 0 ? std::sqrt(1.f / e / static_cast<float>(kernel.ry)) : 0.f;
  });
  std::vector<double> var(static_cast<std::size_t>(ns * n), 0.0);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> gauss(0.f, std::sqrt(0.5f));
  array<cfloat, 3> noise(extents<3>{nc, ny, nx});
  for (index_t r = 0; r < replicas; ++r) {
    for (index_t c = 0; c < nc; ++c)
      for (index_t y = 0; y < ny; ++y)
        for (index_t x = 0; x < nx; ++x)
          noise(c, y, x) = y % kernel.ry == 0 ? cfloat(gauss(rng), gauss(rng)) : cfloat(0.f, 0.f);
    auto sep = detail::sms_separate(kernel, noise.cview(), 0);
    ifftc_inplace(sep, {2, 3});
    parallel_for(ns * n, [&](index_t si) {
      const index_t s = si / n, y = si % n / nx, x = si % nx;
      cfloat v(0.f, 0.f);
      for (index_t c = 0; c < nc; ++c) v += w(s, c, y, x) * sep(s, c, y, x);
      var[static_cast<std::size_t>(si)] += std::norm(v);
    });
  }
  array<float, 3> g(extents<3>{ns, ny, nx});
  for (index_t i = 0; i < ns * n; ++i) {
    const float rf = ref.data()[i];
    g.data()[i] = rf > 0 ? static_cast<float>(std::sqrt(var[static_cast<std::size_t>(i)] / static_cast<double>(replicas)) / rf)
                         : 0.f;
  }
  return g;
}

struct sms_sense_options {
  float reg = 0;  // Tikhonov lambda, absolute (the scale of sense/cgsense and BART's -r)
};

namespace detail {

// SMS-SENSE per pixel (see the top of this file): image (slices, y, x) and/or g-factor from maps and,
// for the image, the zero-filled collapsed coil images I (coils, y, x).
inline void sms_sense_unfold(strided_view<const cfloat, 4> maps, const cfloat* I, index_t caipi_shift,
                             const sampling_lattice& L, float reg, cfloat* image, float* gfactor) {
  const index_t ns = maps.shape(0), nc = maps.shape(1), ny = maps.shape(2), nx = maps.shape(3), n = ny * nx;
  const index_t ry = L.ry, step = ny / ry, m = ns * ry;
  // h_j = (1/ny) sum over lattice lines of exp(2 pi i (ky - ny/2) j step / ny)
  std::vector<std::complex<double>> hj(static_cast<std::size_t>(ry));
  for (index_t j = 0; j < ry; ++j) {
    std::complex<double> acc = 0;
    for (index_t y = 0; y < ny; ++y)
      if (L.contains(0, y)) {
        const index_t e = (((y - ny / 2) * j * step) % ny + ny) % ny;
        const double a = 2.0 * 3.14159265358979323846 * static_cast<double>(e) / static_cast<double>(ny);
        acc += std::complex<double>(std::cos(a), std::sin(a));
      }
    hj[static_cast<std::size_t>(j)] = acc / static_cast<double>(ny);
  }
  std::vector<index_t> d(static_cast<std::size_t>(ns));
  for (index_t s = 0; s < ns; ++s) d[static_cast<std::size_t>(s)] = s * ny / caipi_shift;
  parallel_for_dynamic(step * nx, [&](index_t task) {
    const index_t y0 = task / nx, x = task % nx;
    // Unknown u = (j, s): pixel q = p_j - d_s of slice s.
    std::vector<index_t> q(static_cast<std::size_t>(m));
    std::vector<index_t> act;
    std::vector<std::complex<double>> E(static_cast<std::size_t>(nc * m)), G, A, rhs, inv;
    std::vector<double> diag(static_cast<std::size_t>(m));
    for (index_t j = 0; j < ry; ++j)
      for (index_t s = 0; s < ns; ++s) {
        const index_t p = ((y0 - j * step) % ny + ny) % ny;
        const index_t u = j * ns + s;
        q[static_cast<std::size_t>(u)] = ((p - d[static_cast<std::size_t>(s)]) % ny + ny) % ny;
        double e = 0;
        for (index_t c = 0; c < nc; ++c) {
          const std::complex<double> sv(maps(s, c, q[static_cast<std::size_t>(u)], x));
          E[static_cast<std::size_t>(c * m + u)] = hj[static_cast<std::size_t>(j)] * sv;
          e += std::norm(sv);
        }
        diag[static_cast<std::size_t>(u)] = e;
        if (image) image[s * n + q[static_cast<std::size_t>(u)] * nx + x] = cfloat(0.f, 0.f);
        if (gfactor) gfactor[s * n + q[static_cast<std::size_t>(u)] * nx + x] = 0.f;
      }
    act.clear();
    for (index_t u = 0; u < m; ++u)
      if (diag[static_cast<std::size_t>(u)] > 0) act.push_back(u);
    const index_t a = static_cast<index_t>(act.size());
    if (a == 0) return;
    // Normal equations of the full problem: G = ry E^H E, b = ry E^H I (see the top of this file).
    G.assign(static_cast<std::size_t>(a * a), 0.0);
    for (index_t i = 0; i < a; ++i)
      for (index_t k = 0; k < a; ++k) {
        std::complex<double> v = 0;
        for (index_t c = 0; c < nc; ++c)
          v += std::conj(E[static_cast<std::size_t>(c * m + act[i])]) * E[static_cast<std::size_t>(c * m + act[k])];
        G[static_cast<std::size_t>(i * a + k)] = static_cast<double>(ry) * v;
      }
    if (!ridge_cholesky(G.data(), a, static_cast<double>(reg), A)) return;
    if (image) {
      rhs.assign(static_cast<std::size_t>(a), 0.0);
      for (index_t i = 0; i < a; ++i)
        for (index_t c = 0; c < nc; ++c)
          rhs[static_cast<std::size_t>(i)] += static_cast<double>(ry) *
                                              std::conj(E[static_cast<std::size_t>(c * m + act[i])]) *
                                              std::complex<double>(I[c * n + y0 * nx + x]);
      cholesky_solve(A.data(), a, rhs.data());
      for (index_t i = 0; i < a; ++i) {
        const index_t u = act[static_cast<std::size_t>(i)];
        image[(u % ns) * n + q[static_cast<std::size_t>(u)] * nx + x] = cfloat(rhs[static_cast<std::size_t>(i)]);
      }
    }
    if (gfactor) {
      std::vector<double> var(static_cast<std::size_t>(a));
      solve_noise_variances(A.data(), G.data(), a, inv, var.data());
      for (index_t i = 0; i < a; ++i) {
        const index_t u = act[static_cast<std::size_t>(i)];
        gfactor[(u % ns) * n + q[static_cast<std::size_t>(u)] * nx + x] = static_cast<float>(
            std::sqrt(var[static_cast<std::size_t>(i)] * G[static_cast<std::size_t>(i * a + i)].real()));
      }
    }
  });
}

inline void check_sms_sense(const char* func, strided_view<const cfloat, 4> maps, index_t caipi_shift, index_t ry) {
  check_caipi(func, caipi_shift);
  LARMOR_CHECK_ARG(maps.size() > 0, func, ": maps are empty");
  const index_t ny = maps.shape(2);
  for (index_t s = 0; s < maps.shape(0); ++s)
    LARMOR_CHECK_ARG((s * ny) % caipi_shift == 0, func, ": slice ", s, " is shifted by ", s, " * ", ny, " / ",
                     caipi_shift, " pixels, not a whole number; this needs whole-pixel CAIPI shifts (sms_cgsense takes any)");
  LARMOR_CHECK_ARG(ry >= 1 && ny % ry == 0, func, ": ", ny, " lines are not a multiple of the in-plane acceleration ",
                   ry);
  check_finite(func, "maps", maps);
}

}  // namespace detail

// --- SMS-CG-SENSE: any CAIPI shift (whole pixels or not), by conjugate gradients ----------------------------------

struct sms_cgsense_options {
  float reg = 0;        // Tikhonov lambda, absolute (as sms_sense)
  int iters = 50;       // at most
  double tol = 1e-6;    // stop when ||r|| / ||A^H k|| <= tol
};

struct sms_cgsense_result {
  array<cfloat, 3> image;         // (slices, y, x)
  std::vector<float> residuals;   // ||r_k|| / ||A^H k||, k = 0 .. iterations
};

namespace detail {

// The SMS encoding operator on the lattice M of the collapsed data:
//     forward  k_c = M . sum_s phi_s . fftc(S_{s,c} x_s)                  x (slices, y, x) -> k (coils, y, x)
//     adjoint  x_s = sum_c conj(S_{s,c}) . ifftc(conj(phi_s) . M . k_c)
// with phi_s(ky) = exp(-2 pi i (ky - Ny/2) s / P) (the top of this file). 2 * slices * coils 2D FFTs per
// application of A^H A; one coil at a time through a (slices, y, x) work array.
class sms_encoding {
 public:
  sms_encoding(strided_view<const cfloat, 4> maps, index_t caipi_shift, const sampling_lattice& L)
      : ns_(maps.shape(0)), nc_(maps.shape(1)), ny_(maps.shape(2)), nx_(maps.shape(3)),
        maps_(maps.shape(), uninitialized), phase_(static_cast<std::size_t>(ns_ * ny_)),
        on_(static_cast<std::size_t>(ny_)), work_(extents<3>{ns_, ny_, nx_}, uninitialized) {
    copy(maps, maps_.view());
    for (index_t s = 0; s < ns_; ++s)
      for (index_t y = 0; y < ny_; ++y) phase_[static_cast<std::size_t>(s * ny_ + y)] = sms_caipi_phase(s, y, ny_, caipi_shift);
    for (index_t y = 0; y < ny_; ++y) on_[static_cast<std::size_t>(y)] = L.contains(0, y);
  }
  index_t image_size() const { return ns_ * ny_ * nx_; }

  void adjoint(const cfloat* k, cfloat* x) {
    const index_t n = ny_ * nx_;
    std::fill(x, x + ns_ * n, cfloat(0.f, 0.f));
    for (index_t c = 0; c < nc_; ++c) {
      parallel_for(ns_ * ny_, [&](index_t sy) {
        const index_t s = sy / ny_, y = sy % ny_;
        const cfloat ph = std::conj(phase_[static_cast<std::size_t>(sy)]);
        const bool on = on_[static_cast<std::size_t>(y)];
        for (index_t xx = 0; xx < nx_; ++xx) work_(s, y, xx) = on ? ph * k[(c * ny_ + y) * nx_ + xx] : cfloat(0.f, 0.f);
      });
      ifftc_inplace(work_, {1, 2});
      parallel_for(ns_ * ny_, [&](index_t sy) {
        const index_t s = sy / ny_, y = sy % ny_;
        for (index_t xx = 0; xx < nx_; ++xx) x[s * n + y * nx_ + xx] += std::conj(maps_(s, c, y, xx)) * work_(s, y, xx);
      });
    }
  }

  // out = A^H A x (out must not alias x).
  void normal(const cfloat* x, cfloat* out) {
    const index_t n = ny_ * nx_;
    std::fill(out, out + ns_ * n, cfloat(0.f, 0.f));
    std::vector<cfloat> kc(static_cast<std::size_t>(n));
    for (index_t c = 0; c < nc_; ++c) {
      parallel_for(ns_ * ny_, [&](index_t sy) {
        const index_t s = sy / ny_, y = sy % ny_;
        for (index_t xx = 0; xx < nx_; ++xx) work_(s, y, xx) = maps_(s, c, y, xx) * x[s * n + y * nx_ + xx];
      });
      fftc_inplace(work_, {1, 2});
      // k_c = M sum_s phi_s work_s, then back: work_s = conj(phi_s) k_c.
      parallel_for(ny_, [&](index_t y) {
        const bool on = on_[static_cast<std::size_t>(y)];
        for (index_t xx = 0; xx < nx_; ++xx) {
          cfloat v(0.f, 0.f);
          if (on)
            for (index_t s = 0; s < ns_; ++s) v += phase_[static_cast<std::size_t>(s * ny_ + y)] * work_(s, y, xx);
          for (index_t s = 0; s < ns_; ++s) work_(s, y, xx) = std::conj(phase_[static_cast<std::size_t>(s * ny_ + y)]) * v;
        }
      });
      ifftc_inplace(work_, {1, 2});
      parallel_for(ns_ * ny_, [&](index_t sy) {
        const index_t s = sy / ny_, y = sy % ny_;
        for (index_t xx = 0; xx < nx_; ++xx) out[s * n + y * nx_ + xx] += std::conj(maps_(s, c, y, xx)) * work_(s, y, xx);
      });
    }
  }

 private:
  index_t ns_, nc_, ny_, nx_;
  array<cfloat, 4> maps_;
  std::vector<cfloat> phase_;
  std::vector<unsigned char> on_;
  array<cfloat, 3> work_;
};

// sms_cgsense on checked inputs and the collapsed data's lattice.
inline sms_cgsense_result sms_cgsense_solve(strided_view<const cfloat, 3> collapsed, strided_view<const cfloat, 4> maps,
                                            index_t caipi_shift, const sampling_lattice& L,
                                            const sms_cgsense_options& opt) {
  sms_encoding A(maps, caipi_shift, L);
  const auto k = to_array(collapsed);
  const index_t n = A.image_size();
  array<cfloat, 1> b(extents<1>{n}, uninitialized);
  A.adjoint(k.data(), b.data());
  sms_cgsense_result res;
  res.image = array<cfloat, 3>(extents<3>{maps.shape(0), maps.shape(2), maps.shape(3)});
  cg_options co;
  co.iters = opt.iters;
  co.tol = opt.tol;
  co.reg = opt.reg;
  const auto rep = conjugate_gradient([&](const cfloat* in, cfloat* out) { A.normal(in, out); }, b.data(),
                                      res.image.data(), n, co);
  res.residuals = rep.residuals;
  return res;
}

}  // namespace detail

// SMS-CG-SENSE: the slices (slices, y, x) of one group from collapsed k-space (coils, y, x) and maps (slices,
// coils, y, x), for any CAIPI shift: conjugate gradients on (A^H A + reg I) x = A^H k from x = 0 (the model and
// reg of sms_sense; with whole-pixel shifts both converge to the same image). Lines off the lattice are ignored.
inline sms_cgsense_result sms_cgsense(strided_view<const cfloat, 3> collapsed, strided_view<const cfloat, 4> maps,
                                      index_t caipi_shift, const sms_cgsense_options& opt = {}) {
  const char* f = "sms_cgsense";
  detail::check_caipi(f, caipi_shift);
  detail::check_group_matches(f, "maps", maps, collapsed);
  LARMOR_CHECK_ARG(opt.reg >= 0 && std::isfinite(opt.reg), f, ": reg must be finite and >= 0, got ", opt.reg);
  LARMOR_CHECK_ARG(opt.iters >= 1 && opt.iters <= 100000, f, ": iters must be 1..100000, got ", opt.iters);
  check_finite(f, "collapsed k-space", collapsed);
  check_finite(f, "maps", maps);
  return detail::sms_cgsense_solve(collapsed, maps, caipi_shift, detail::sms_lattice(f, collapsed), opt);
}

// SMS-SENSE: slices (slices, y, x) of one group from collapsed k-space (coils, y, x) and maps (slices,
// coils, y, x); the in-plane lattice read from the data (lines off it are ignored). Whole-pixel shifts and Ry
// dividing Ny: the exact per-group solve; otherwise sms_cgsense to ||r|| / ||A^H k|| <= 1e-6 (300 iterations
// at most).
inline array<cfloat, 3> sms_sense(strided_view<const cfloat, 3> collapsed, strided_view<const cfloat, 4> maps,
                                  index_t caipi_shift, const sms_sense_options& opt = {}) {
  const char* f = "sms_sense";
  detail::check_group_matches(f, "maps", maps, collapsed);
  LARMOR_CHECK_ARG(opt.reg >= 0 && std::isfinite(opt.reg), f, ": reg must be finite and >= 0, got ", opt.reg);
  check_finite(f, "collapsed k-space", collapsed);
  const auto L = detail::sms_lattice(f, collapsed);
  LARMOR_CHECK_DATA(L.rz == 1, f, ": the collapsed data is 2D (coils, y, x)");
  detail::check_caipi(f, caipi_shift);
  bool whole = collapsed.shape(1) % L.ry == 0;
  for (index_t s = 0; s < maps.shape(0); ++s) whole &= (s * collapsed.shape(1)) % caipi_shift == 0;
  if (!whole) {  // fractional shifts: the same minimiser by CG (sms_cgsense), to a tight tolerance
    sms_cgsense_options co;
    co.reg = opt.reg;
    co.iters = 300;
    co.tol = 1e-6;
    check_finite(f, "maps", maps);
    return detail::sms_cgsense_solve(collapsed, maps, caipi_shift, L, co).image;
  }
  detail::check_sms_sense(f, maps, caipi_shift, L.ry);
  const index_t nc = collapsed.shape(0), ny = collapsed.shape(1), nx = collapsed.shape(2);
  array<cfloat, 3> I(collapsed.shape(), uninitialized);
  parallel_for(nc, [&](index_t c) {
    for (index_t y = 0; y < ny; ++y) {
      const bool on = L.contains(0, y);
      for (index_t x = 0; x < nx; ++x) I(c, y, x) = on ? collapsed(c, y, x) : cfloat(0.f, 0.f);
    }
  });
  ifftc_inplace(I, {1, 2});
  array<cfloat, 3> img(extents<3>{maps.shape(0), ny, nx});
  detail::sms_sense_unfold(maps, I.data(), caipi_shift, L, opt.reg, img.data(), nullptr);
  return img;
}

// SMS-SENSE g-factor maps (slices, y, x) for in-plane acceleration ry (lattice offset: no effect on g).
inline array<float, 3> sms_sense_gfactor(strided_view<const cfloat, 4> maps, index_t caipi_shift, index_t ry = 1,
                                         const sms_sense_options& opt = {}) {
  const char* f = "sms_sense_gfactor";
  LARMOR_CHECK_ARG(ry >= 1 && ry <= 16, f, ": in-plane acceleration must be 1..16, got ", ry);
  LARMOR_CHECK_ARG(opt.reg >= 0 && std::isfinite(opt.reg), f, ": reg must be finite and >= 0, got ", opt.reg);
  detail::check_sms_sense(f, maps, caipi_shift, ry);
  sampling_lattice L;
  L.ry = ry;
  array<float, 3> g(extents<3>{maps.shape(0), maps.shape(2), maps.shape(3)});
  detail::sms_sense_unfold(maps, nullptr, caipi_shift, L, opt.reg, nullptr, g.data());
  return g;
}

}  // namespace larmor
