// larmor/coils/chain_compression.hpp — coil compression as the reconstruction chain applies it (issue 15
// item 3): one compression per slice + calibration buffer, estimated once from the calibration region and
// applied to the calibration and to every k-space buffer of that slice, so maps, kernels and the data
// they are used with live in the same virtual coils.
//
//   2D buffers (z = 1): SVD compression, one (virtual x physical) matrix with orthonormal rows (Buehrer
//     2007, Huang 2008) from the calibration lines over the full readout.
//   3D buffers: GCC (Zhang et al., MRM 69:571, 2013): after an inverse FFT along the fully sampled
//     readout x, one aligned matrix per x position from the calibration lines (z, y) at that x. The
//     virtual coils of a 3D volume need fewer channels for the same error than one global matrix. When
//     the readout is not fully acquired (asymmetric echo) the buffer falls back to SVD: the x transform
//     would leak data into the missing samples.
//   Either way the rows are orthonormal, so white (pre-whitened) noise stays white and unit-variance.
//
// The count: `coils` given (--compress N), or automatic (--compress auto): the fewest virtual coils that
// hold `energy` of the calibration energy (eigenvalues of the calibration covariance; the mean over x
// for GCC), at least `min_coils`, for buffers with more than `auto_above` coils only. The default energy
// 0.999 keeps the image within 1 % NRMSE of the uncompressed chain (ESPIRiT + CG-SENSE on 48/64-coil
// phantoms and the 32-channel real phantom; docs/scale.md): 0.99 drops coils that still carry image
// detail far from the k-space centre (the calibration energy is dominated by the lowest frequencies).
//
// Usage in the chain (after noise pre-whitening, before the method; one `chain_compression` per slice and
// calibration buffer, kept beside the method state):
//     auto cc = compression_for(cal, buffer.kspace, opt);   // estimated once per slice + calibration
//     cc.apply(buffer.kspace);                             // in place, every buffer of the slice
//     const array<cfloat, 4>* ccal = cc.calibration(cal);  // compressed calibration (made once), or cal
// The chain compresses automatically for the methods that combine with maps (recon/chain.hpp's
// method_description::combines_with_maps); GRAPPA works on all coils (its kernel is the coil-by-coil k-space
// relation).
#pragma once

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "larmor/coils/coil_compress.hpp"
#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/fft/fft.hpp"

namespace larmor {

struct coil_compression_options {
  bool enabled = true;        // false: never compress (--compress off)
  index_t coils = 0;          // > 0: this many virtual coils when the buffer has more (--compress N); 0: automatic
  double energy = 0.999;      // automatic: fraction of the calibration energy the virtual coils keep
  index_t min_coils = 8;      // automatic: never fewer virtual coils than this
  index_t auto_above = 32;    // automatic: only buffers with more physical coils than this
  bool gcc_3d = true;         // 3D buffers with a full readout: GCC along x (else SVD)
  index_t calib = 32;         // calibration region in y (and z): at most this many central lines
};

class chain_compression {
 public:
  chain_compression() = default;

  bool active() const { return cc_ != nullptr; }
  index_t physical_coils() const { return physical_; }
  index_t virtual_coils() const { return active() ? cc_->virtual_coils : physical_; }
  double retained_energy() const { return active() ? cc_->retained_energy() : 1.0; }
  const coil_compression* matrices() const { return cc_.get(); }

  // "64 -> 14 virtual coils (GCC along x, 99.91 % of the calibration energy)"; "" when inactive.
  std::string describe() const {
    if (!active()) return "";
    char buf[160];
    std::snprintf(buf, sizeof buf, "%lld -> %lld virtual coils (%s, %.2f %% of the calibration energy)",
                  static_cast<long long>(physical_), static_cast<long long>(cc_->virtual_coils),
                  cc_->method == compression_method::gcc ? "GCC along x" : "SVD", 100.0 * retained_energy());
    return buf;
  }

  // In place: kspace (physical coils, z, y, x) -> (virtual coils, z, y, x). Nothing when inactive.
  // Peak memory: the input plus the virtual-coil output (GCC transforms the input along x in place).
  void apply(array<cfloat, 4>& kspace) const {
    if (!active()) return;
    LARMOR_CHECK_ARG(kspace.shape(0) == physical_, "coil compression: the buffer has ", kspace.shape(0),
                     " coils, the compression was estimated for ", physical_);
    const index_t nc = physical_, nv = cc_->virtual_coils, nx = kspace.shape(3);
    const index_t npix = kspace.size() / nc, lines = npix / std::max<index_t>(nx, 1);
    extents<4> shape = kspace.shape();
    shape[0] = nv;
    array<cfloat, 4> out(shape, uninitialized);
    if (cc_->method == compression_method::svd) {
      parallel_for_blocks(npix, 4096, [&](index_t p0, index_t n) {
        detail::apply_coil_matrix(cc_->matrix.data(), kspace.data() + p0, out.data() + p0, nv, nc, n, npix, npix);
      });
    } else {
      LARMOR_CHECK_ARG(nx == cc_->per_readout.shape(0), "coil compression: the buffer has ", nx,
                       " readout samples, the GCC matrices were estimated for ", cc_->per_readout.shape(0));
      ifftc_inplace(kspace.view(), {3});
      // Per block of lines: gather (x, coil, line), one product A(x) (virtual x physical) x X(x) (physical
      // x lines) per readout position, scatter back to (virtual, line, x).
      const index_t block = 32;
      parallel_for_blocks(lines, block, [&](index_t l0, index_t n) {
        std::vector<cfloat> t(static_cast<std::size_t>(nx * nc * n)), u(static_cast<std::size_t>(nx * nv * n));
        for (index_t c = 0; c < nc; ++c)
          for (index_t j = 0; j < n; ++j) {
            const cfloat* src = kspace.data() + (c * lines + l0 + j) * nx;
            for (index_t x = 0; x < nx; ++x) t[static_cast<std::size_t>((x * nc + c) * n + j)] = src[x];
          }
        for (index_t x = 0; x < nx; ++x)
          detail::apply_coil_matrix(cc_->per_readout.data() + x * nv * nc, t.data() + x * nc * n, u.data() + x * nv * n,
                                    nv, nc, n, n, n);
        for (index_t v = 0; v < nv; ++v)
          for (index_t j = 0; j < n; ++j) {
            cfloat* dst = out.data() + (v * lines + l0 + j) * nx;
            for (index_t x = 0; x < nx; ++x) dst[x] = u[static_cast<std::size_t>((x * nv + v) * n + j)];
          }
      });
      fftc_inplace(out.view(), {3});
      // Lines that were not acquired stay exactly zero (the x transform of zero is zero), so the sampling
      // mask the methods detect is unchanged.
    }
    kspace = std::move(out);
  }

  // The calibration buffer in virtual coils, compressed on the first call and kept; `original` itself when
  // inactive or when it is nullptr (embedded ACS: the compressed buffer carries them).
  const array<cfloat, 4>* calibration(const array<cfloat, 4>* original) const {
    if (!active() || original == nullptr) return original;
    if (!calibration_) {
      auto c = std::make_shared<array<cfloat, 4>>(original->shape(), uninitialized);
      std::copy(original->begin(), original->end(), c->begin());
      apply(*c);
      calibration_ = std::move(c);
    }
    return calibration_.get();
  }

 private:
  friend chain_compression compression_for(const array<cfloat, 4>*, const array<cfloat, 4>&,
                                           const coil_compression_options&);
  index_t physical_ = 0;
  std::shared_ptr<const coil_compression> cc_;
  mutable std::shared_ptr<array<cfloat, 4>> calibration_;
};

namespace detail {

// Whether every acquired line of k (coils, z, y, x) holds all readout samples (a GCC along x is exact).
inline bool full_readout(const array<cfloat, 4>& k) {
  const auto mask = acquired_mask(k.cview());
  const index_t nx = k.shape(3), lines = k.shape(1) * k.shape(2);
  for (index_t l = 0; l < lines; ++l) {
    const auto* m = mask.data() + l * nx;
    const index_t n = std::count(m, m + nx, static_cast<unsigned char>(1));
    // Tolerate the odd exact zero of a noiseless phantom, not a missing part of the echo.
    if (n > 0 && n < nx - std::max<index_t>(1, nx / 64)) return false;
  }
  return true;
}

}  // namespace detail

// The compression for one slice + calibration: estimated from the calibration buffer (its fully sampled
// centre), else from the buffer's embedded ACS lines. Inactive (apply does nothing) when disabled, when
// the buffer has no more coils than asked, or under automatic compression at <= auto_above coils or when
// the energy criterion keeps every coil.
inline chain_compression compression_for(const array<cfloat, 4>* calibration, const array<cfloat, 4>& kspace,
                                         const coil_compression_options& opt) {
  LARMOR_CHECK_ARG(opt.coils >= 0, "coil compression: coils must be >= 0 (0: automatic), got ", opt.coils);
  LARMOR_CHECK_ARG(opt.energy > 0 && opt.energy <= 1, "coil compression: energy must be in (0, 1], got ",
                   opt.energy);
  chain_compression out;
  const array<cfloat, 4>& src = calibration ? *calibration : kspace;
  const index_t nc = src.shape(0);
  out.physical_ = nc;
  if (!opt.enabled) return out;
  if (opt.coils > 0 ? opt.coils >= nc : nc <= opt.auto_above) return out;
  const bool volume = src.shape(1) > 1;
  coil_compress_options o;
  o.calib = opt.calib;
  o.full_readout = true;
  o.method = volume && opt.gcc_3d && detail::full_readout(src) && detail::full_readout(kspace) ? compression_method::gcc
                                                                                                 : compression_method::svd;
  coil_compression cc;
  if (opt.coils > 0) {
    o.ncoils = opt.coils;
    cc = volume ? coil_compression_matrices(src.cview(), o)
                : coil_compression_matrices(strided_view<const cfloat, 3>(src.data(), {nc, src.shape(2), src.shape(3)}), o);
  } else {
    o.energy = opt.energy;
    o.min_ncoils = opt.min_coils;
    cc = volume ? coil_compression_matrices(src.cview(), o)
                : coil_compression_matrices(strided_view<const cfloat, 3>(src.data(), {nc, src.shape(2), src.shape(3)}), o);
    if (cc.virtual_coils >= nc) return out;
  }
  out.cc_ = std::make_shared<const coil_compression>(std::move(cc));
  return out;
}

}  // namespace larmor
