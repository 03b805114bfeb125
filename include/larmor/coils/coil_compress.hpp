// larmor/coils/coil_compress.hpp — coil compression to fewer virtual coils: SVD and GCC.
//
// SVD (Buehrer M et al., MRM 57:1131, 2007; Huang F et al., MRI 26:133, 2008): one matrix A (virtual x
//   physical) for the whole data set: the rows are the dominant left singular vectors^H of the
//   calibration data X (coils x samples), i.e. the dominant eigenvectors of X X^H. y_virtual = A y.
// GCC, geometric coil compression (Zhang T, Pauly JM, Vasanawala SS, Lustig M. MRM 69:571, 2013):
//   after an inverse FFT along the fully sampled readout x, one matrix A(x) per readout position from
//   the calibration lines at that x; consecutive matrices are aligned, A(x) <- Q A(x) with the unitary
//   Q = argmin ||Q A(x) - A(x-1)||_F = U V^H from the SVD A(x-1) A(x)^H = U S V^H, so the virtual coils
//   stay smooth along x and the data stays consistent for GRAPPA/ESPIRiT kernels.
// Both are estimated from the calibration region only (the fully sampled centre, at most `calib` wide
// in y and z; GCC uses the full readout) — never from all the data, which mixes in the zeros of
// undersampled lines. The count is given directly, or as the fraction of calibration energy to keep.
//
// Shapes: kspace (coils, y, x) or (coils, z, y, x) -> (virtual, y, x) / (virtual, z, y, x). The
// returned coil_compression holds the matrices, so the same compression applies to other scans
// (another repetition, the noise scan) via apply(); expand_maps() takes maps estimated on compressed
// data back to the physical coils (S = A^H S_virtual, exact when the physical maps lie in the kept
// subspace). Threads: parallel over readout positions / pixel blocks.
#pragma once

#include <string>
#include <vector>

#include "larmor/calib/calibration_region.hpp"
#include "larmor/coils/coil_covariance.hpp"
#include "larmor/coils/small_hermitian.hpp"
#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/fft/fft.hpp"
#include "larmor/kernels/dense_decompositions.hpp"

namespace larmor {

enum class compression_method { svd, gcc };

inline compression_method parse_compression_method(const std::string& name) {
  if (name == "svd") return compression_method::svd;
  if (name == "gcc") return compression_method::gcc;
  throw InvalidArgument("coil_compress: method must be \"svd\" or \"gcc\", got \"" + name + "\"");
}

struct coil_compress_options {
  index_t ncoils = 0;           // virtual coils; 0: choose by `energy`
  double energy = 0.0;          // keep the fewest coils holding at least this fraction of the energy
  compression_method method = compression_method::svd;
  index_t calib = 24;           // calibration region (y, z)
  bool full_readout = false;    // svd: the calibration lines over the whole readout (else `calib` wide in x too)
  index_t min_ncoils = 1;       // with `energy`: at least this many (at most all) coils
};

struct coil_compression {
  compression_method method = compression_method::svd;
  index_t physical_coils = 0, virtual_coils = 0;
  array<cfloat, 2> matrix;            // svd: (virtual, physical)
  array<cfloat, 3> per_readout;       // gcc: (x, virtual, physical)
  std::vector<double> energy;         // eigenvalues of the (mean) calibration covariance, descending

  // The fraction of calibration energy kept.
  double retained_energy() const {
    double kept = 0, total = 0;
    for (std::size_t i = 0; i < energy.size(); ++i) (i < static_cast<std::size_t>(virtual_coils) ? kept : total) += energy[i];
    return kept / (kept + total);
  }

  template <std::size_t R>
  array<cfloat, R> apply(strided_view<const cfloat, R> kspace) const;
};

namespace detail {

// Dominant eigenvectors of a Hermitian matrix cov (n x n, row-major) as the rows of (count x n),
// conjugated (a row r^H); eigenvalues (if given) gets all n, largest first, clipped at 0.
inline void top_rows(const std::complex<double>* cov, index_t n, index_t count, cfloat* out,
                     std::vector<double>* eigenvalues) {
  std::vector<std::complex<double>> vectors(static_cast<std::size_t>(n * n));
  std::vector<double> values(static_cast<std::size_t>(n));
  kernels::hermitian_eigen(n, cov, values.data(), vectors.data());
  if (eigenvalues) {
    eigenvalues->resize(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i)
      (*eigenvalues)[static_cast<std::size_t>(i)] = std::max(0.0, values[static_cast<std::size_t>(n - 1 - i)]);
  }
  for (index_t v = 0; v < count; ++v)
    for (index_t c = 0; c < n; ++c)
      out[v * n + c] = cfloat(std::conj(vectors[static_cast<std::size_t>(c * n + n - 1 - v)]));
}

// Eigenvalues of a Hermitian matrix cov (n x n), largest first, clipped at 0.
inline std::vector<double> eigenvalues_descending(const std::vector<std::complex<double>>& cov, index_t n) {
  std::vector<double> values(static_cast<std::size_t>(n));
  kernels::hermitian_eigen(n, cov.data(), values.data(), nullptr);
  std::reverse(values.begin(), values.end());
  for (double& v : values) v = std::max(0.0, v);
  return values;
}

// Trace of a row-major n x n matrix (real part).
inline double real_trace(const std::vector<std::complex<double>>& m, index_t n) {
  double t = 0;
  for (index_t i = 0; i < n; ++i) t += m[static_cast<std::size_t>(i * n + i)].real();
  return t;
}

inline index_t count_for_energy(const std::vector<double>& ev, double fraction) {
  double total = 0;
  for (double e : ev) total += e;
  double acc = 0;
  for (std::size_t i = 0; i < ev.size(); ++i) {
    acc += ev[i];
    if (acc >= fraction * total) return static_cast<index_t>(i + 1);
  }
  return static_cast<index_t>(ev.size());
}

}  // namespace detail

// Estimates the compression from the calibration region of kspace (coils, [z,] y, x).
template <std::size_t R>
coil_compression coil_compression_matrices(strided_view<const cfloat, R> kspace, const coil_compress_options& opt) {
  static_assert(R == 3 || R == 4, "coil_compress: kspace is (coils, y, x) or (coils, z, y, x)");
  const index_t nc = kspace.shape(0), nx = kspace.shape(R - 1);
  LARMOR_CHECK_ARG(nc >= 1, "coil_compress: need at least one coil, got shape ", shape_string(kspace.shape()));
  LARMOR_CHECK_ARG(opt.ncoils >= 0 && opt.ncoils <= nc, "coil_compress: ncoils must be in [1, coils = ", nc,
                   "], got ", opt.ncoils);
  LARMOR_CHECK_ARG(opt.ncoils > 0 || (opt.energy > 0 && opt.energy <= 1),
                   "coil_compress: give ncoils >= 1 or an energy fraction in (0, 1], got ncoils ", opt.ncoils,
                   " and energy ", opt.energy);
  check_finite("coil_compress", "kspace", kspace);
  coil_compression cc;
  cc.method = opt.method;
  cc.physical_coils = nc;
  auto region = find_calibration_region(kspace, opt.calib);

  const auto by_energy = [&](const std::vector<double>& ev) {
    return std::min(nc, std::max(opt.min_ncoils, detail::count_for_energy(ev, opt.energy)));
  };
  if (opt.method == compression_method::svd) {
    if (opt.full_readout) region.begin[R - 2] = 0, region.end[R - 2] = nx;
    const auto cal = extract_calibration(kspace, region);
    const index_t m = cal.size() / nc;
    std::vector<std::complex<double>> cov(static_cast<std::size_t>(nc * nc));
    kernels::gram_rows_single(nc, m, cal.data(), cov.data());
    LARMOR_CHECK_DATA(detail::real_trace(cov, nc) > 0, "coil_compress: the calibration region is all zero");
    cc.virtual_coils = opt.ncoils > 0 ? opt.ncoils : by_energy(detail::eigenvalues_descending(cov, nc));
    cc.matrix = array<cfloat, 2>(extents<2>{cc.virtual_coils, nc});
    detail::top_rows(cov.data(), nc, cc.virtual_coils, cc.matrix.data(), &cc.energy);
    return cc;
  }

  // GCC: the calibration lines over the full readout, inverse FFT along x.
  region.begin[R - 2] = 0;
  region.end[R - 2] = nx;
  auto hybrid = extract_calibration(kspace, region);
  ifftc_inplace(hybrid.view(), {-1});
  const index_t lines = hybrid.size() / (nc * nx);
  // C(x) = X(x) X(x)^H in double, X(x) the (coils, lines) samples at readout position x.
  const std::size_t nc2 = static_cast<std::size_t>(nc * nc);
  std::vector<std::complex<double>> covs(static_cast<std::size_t>(nx) * nc2), mean_cov(nc2);
  parallel_for(nx, [&](index_t x) {
    std::vector<cfloat> xs(static_cast<std::size_t>(nc * lines));
    for (index_t c = 0; c < nc; ++c)
      for (index_t l = 0; l < lines; ++l)
        xs[static_cast<std::size_t>(c * lines + l)] = hybrid.data()[(c * lines + l) * nx + x];
    kernels::gram_rows_double(nc, lines, xs.data(), covs.data() + static_cast<std::size_t>(x) * nc2);
  });
  for (index_t x = 0; x < nx; ++x)
    for (std::size_t i = 0; i < nc2; ++i) mean_cov[i] += covs[static_cast<std::size_t>(x) * nc2 + i];
  LARMOR_CHECK_DATA(detail::real_trace(mean_cov, nc) > 0, "coil_compress: the calibration region is all zero");
  cc.energy = detail::eigenvalues_descending(mean_cov, nc);
  cc.virtual_coils = opt.ncoils > 0 ? opt.ncoils : by_energy(cc.energy);
  const index_t nv = cc.virtual_coils;
  cc.per_readout = array<cfloat, 3>(extents<3>{nx, nv, nc});
  parallel_for(nx, [&](index_t x) {
    detail::top_rows(covs.data() + static_cast<std::size_t>(x) * nc2, nc, nv, cc.per_readout.data() + x * nv * nc,
                     nullptr);
  });
  // Alignment, outward from the centre (where the signal, and so the estimate, is strongest): A(x) <- Q A(x)
  // with the unitary Q closest to mapping A(x) onto its neighbour A(ref) (orthogonal Procrustes).
  auto align = [&](index_t x, index_t ref) {
    kernels::procrustes_align(nv, nc, cc.per_readout.data() + ref * nv * nc, cc.per_readout.data() + x * nv * nc);
  };
  for (index_t x = nx / 2 + 1; x < nx; ++x) align(x, x - 1);
  for (index_t x = nx / 2 - 1; x >= 0; --x) align(x, x + 1);
  return cc;
}

template <std::size_t R>
array<cfloat, R> coil_compression::apply(strided_view<const cfloat, R> kspace) const {
  static_assert(R == 3 || R == 4, "coil_compression::apply: kspace is (coils, y, x) or (coils, z, y, x)");
  LARMOR_CHECK_ARG(kspace.shape(0) == physical_coils, "coil_compression::apply: kspace has ", kspace.shape(0),
                   " coils, the compression was estimated for ", physical_coils);
  extents<R> out_shape = kspace.shape();
  out_shape[0] = virtual_coils;
  array<cfloat, R> out(out_shape, uninitialized);
  const index_t nc = physical_coils, nv = virtual_coils, npix = kspace.size() / std::max<index_t>(nc, 1);
  if (method == compression_method::svd) {
    const auto x = to_array(kspace);
    constexpr index_t block = 4096;
    parallel_for_blocks(npix, block, [&](index_t p0, index_t n) {
      detail::apply_coil_matrix(matrix.data(), x.data() + p0, out.data() + p0, nv, nc, n, npix, npix);
    });
    return out;
  }
  const index_t nx = kspace.shape(R - 1);
  LARMOR_CHECK_ARG(per_readout.shape(0) == nx, "coil_compression::apply: kspace has ", nx,
                   " readout samples, the GCC matrices were estimated for ", per_readout.shape(0));
  auto hybrid = ifftc(kspace, {-1});
  const index_t lines = npix / nx;
  parallel_for(nx, [&](index_t x) {
    // Gather the readout position x of every coil and line, mix with A(x), scatter back.
    std::vector<cfloat> col(static_cast<std::size_t>(nc * lines)), mixed(static_cast<std::size_t>(nv * lines));
    for (index_t c = 0; c < nc; ++c)
      for (index_t l = 0; l < lines; ++l)
        col[static_cast<std::size_t>(c * lines + l)] = hybrid.data()[(c * lines + l) * nx + x];
    detail::apply_coil_matrix(per_readout.data() + x * nv * nc, col.data(), mixed.data(), nv, nc, lines, lines, lines);
    for (index_t v = 0; v < nv; ++v)
      for (index_t l = 0; l < lines; ++l)
        out.data()[(v * lines + l) * nx + x] = mixed[static_cast<std::size_t>(v * lines + l)];
  });
  fftc_inplace(out.view(), {-1});
  return out;
}

// Virtual coils from kspace (coils, [z,] y, x): the first axis shrinks to ncoils.
template <std::size_t R>
array<cfloat, R> coil_compress(strided_view<const cfloat, R> kspace, index_t ncoils,
                               compression_method method = compression_method::svd, index_t calib = 24) {
  coil_compress_options o;
  o.ncoils = ncoils;
  o.method = method;
  o.calib = calib;
  LARMOR_CHECK_ARG(ncoils >= 1, "coil_compress: ncoils must be >= 1, got ", ncoils);
  return coil_compression_matrices(kspace, o).apply(kspace);
}
template <std::size_t R>
array<cfloat, R> coil_compress(const array<cfloat, R>& kspace, index_t ncoils,
                               compression_method method = compression_method::svd, index_t calib = 24) {
  return coil_compress(kspace.cview(), ncoils, method, calib);
}

// Maps estimated on SVD-compressed data, (maps, virtual, ...), back to the physical coils:
// S = A^H S_virtual, (maps, physical, ...).
template <std::size_t R>
array<cfloat, R> expand_maps(strided_view<const cfloat, R> maps, const coil_compression& cc) {
  LARMOR_CHECK_ARG(cc.method == compression_method::svd,
                   "expand_maps: only SVD compression has one matrix for the whole image; GCC mixes coils "
                   "differently at every readout position");
  LARMOR_CHECK_ARG(R >= 3 && maps.shape(1) == cc.virtual_coils, "expand_maps: maps must be (maps, ",
                   cc.virtual_coils, " virtual coils, ...), got ", shape_string(maps.shape()));
  extents<R> out_shape = maps.shape();
  out_shape[1] = cc.physical_coils;
  array<cfloat, R> out(out_shape, uninitialized);
  const auto m = to_array(maps);
  const index_t nv = cc.virtual_coils, nc = cc.physical_coils;
  const index_t npix = maps.shape(0) > 0 && nv > 0 ? m.size() / (maps.shape(0) * nv) : 0;
  // A^H as a (physical x virtual) matrix.
  std::vector<cfloat> ah(static_cast<std::size_t>(nc * nv));
  for (index_t c = 0; c < nc; ++c)
    for (index_t v = 0; v < nv; ++v) ah[static_cast<std::size_t>(c * nv + v)] = std::conj(cc.matrix(v, c));
  for (index_t k = 0; k < maps.shape(0); ++k)
    detail::apply_coil_matrix(ah.data(), m.data() + k * nv * npix, out.data() + k * nc * npix, nc, nv, npix, npix,
                              npix);
  return out;
}

}  // namespace larmor
