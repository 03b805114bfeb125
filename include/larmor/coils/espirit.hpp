// larmor/coils/espirit.hpp — ESPIRiT coil sensitivity maps.
//
// Uecker M, Lai P, Murphy MJ, Virtue P, Elad M, Pauly JM, Vasanawala SS, Lustig M. ESPIRiT — an
// eigenvalue approach to autocalibrating parallel MRI: where SENSE meets GRAPPA. MRM 71:990 (2014).
//
//   1. Calibration matrix A: every kernel-sized patch (kernel^D samples x coils) of the fully
//      sampled centre (at most `calib` wide, see calibration_region.hpp) is one row.
//   2. Its row space (the signal subspace) is spanned by the right singular vectors whose singular
//      values pass the threshold: sigma_i^2 / sigma_0^2 > threshold. This is BART's rule (ecalib
//      compares sigma_i / sigma_0 with sqrt(threshold)); BART's default 0.001 is ours.
//   3. With P the projection onto that subspace, the k-space operator
//         W = 1/kernel^D * sum_k R_k^H P R_k     (R_k extracts the patch at k)
//      is a convolution; in image space it is a coils x coils Hermitian matrix per pixel,
//         M(r) = sum_delta G(delta) exp(-2 pi i delta . r / N),
//         G_cd(delta) = 1/kernel^D sum_Delta P[(c, Delta), (d, Delta + delta)],
//      r the centred pixel coordinate. Sensitivities are the eigenvectors of M(r) with eigenvalue ~1.
//   4. Per pixel the `maps` dominant eigenvectors are found by orthogonal iteration warm-started from
//      the neighbouring pixel (small_hermitian.hpp); maps are zeroed where their eigenvalue is below
//      `crop` (BART's default 0.8). M(r) is evaluated exactly and separably, one readout column at a
//      time (x, then z, then y: all ny matrices of a line by one BLAS product), so no full-size coils^2
//      array is ever held. With one map the power method runs on the Hermitian M as row-wise
//      multiply-adds (y = sum_j x_j conj(M[j, :])), which vectorise.
//   5. Phase: as BART does by default, each map is rotated per pixel so that its projection onto the
//      first principal component of the calibration data is real and positive.
//   6. Many coils (more than compress_above = 32, or in 3D more than compress_columns / kernel^3 = 18 at
//      6^3): the calibration data is rotated onto its principal components (coil covariance
//      eigenvectors E, energy-ordered), the fewest holding 99.99 % of the calibration energy (8..24 of
//      them, at most 18 at 6^3 in 3D) are kept, steps 1-5 run in those virtual coils and the maps
//      come back as S = E S_virtual. The signal subspace of A is unchanged up to the discarded energy;
//      the cost of 2.-4. falls with the square (per pixel) to the cube (subspace) of the coil count:
//      64 coils, 6^3 kernel: n = 13824 columns, an eigenproblem BART runs for hours; 16-24 virtual
//      coils: seconds. In 2D at <= 32 coils nothing changes (BART equality is tested there).
// The subspace is computed in float from the smaller of A^H A (larmor's packed SIMD product over the
// threads, kernels/packed_gram.hpp) and A A^H (BLAS cherk), LAPACK cheevd,
// and the image-domain operator from the kernel basis one coil block at a time (never the n x n P).
// Defaults equal BART ecalib's (calib 24, kernel 6, threshold 0.001, crop 0.8, one map). SigPy uses
// threshold 0.02 and crop 0.95; MRIReco one map — pass those values for their behaviour.
//
// Shapes: kspace (coils, y, x) -> maps (maps, coils, y, x); kspace (coils, z, y, x) -> maps
// (maps, coils, z, y, x), calibrated with a kernel^3 patch in 3D. Unit-norm maps (sum_c |S_c|^2 = 1
// inside the crop). Threads: parallel over readout columns (parallel_for).
// Coil counts above 32: compressed internally (6. above).
#pragma once

#include <algorithm>
#include <cmath>
#include <complex>
#include <random>
#include <vector>

#include "larmor/calib/calibration_region.hpp"
#include "larmor/coils/coil_covariance.hpp"
#include "larmor/coils/small_hermitian.hpp"
#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/core/renamed_option.hpp"
#include "larmor/kernels/matrix_products.hpp"
#include "larmor/kernels/packed_gram.hpp"

namespace larmor {

struct espirit_options {
  index_t calib = 24;        // largest calibration region, per spatial axis
  index_t kernel = 6;        // kernel width, per spatial axis
  double threshold = 0.001;  // signal subspace: sigma_i^2 / sigma_0^2 > threshold
  double crop = 0.8;         // zero a map where its eigenvalue < crop
  index_t maps = 1;          // number of sets of maps
  int iters = 30;            // orthogonal iterations per pixel (at most)
  double tol = 1e-7;         // subspace convergence: m - ||Q_old^H Q_new||_F^2
  bool rotate_phase = true;  // BART's default phase normalisation (see 5. above)
  bool warm_start = true;    // start each pixel from its neighbour's vectors (false: cold start)
  // More coils than compress_above, or more calibration-matrix columns (coils x kernel volume) than
  // compress_columns (3D with 6^3: more than 18 coils): calibrate and solve in virtual coils (see 6.
  // above), the fewest principal components holding compress_energy of the calibration energy, at least
  // compress_min, at most compress_max and at most compress_columns / kernel volume of them.
  // compress_above = 0: never (exact, slow at many coils in 3D).
  index_t compress_above = 32;
  index_t compress_columns = 4096;
  double compress_energy = 0.9999;
  index_t compress_min = 8, compress_max = 24;
  // Gram matrices of the calibration larger than this are decomposed by randomized subspace iteration
  // (top_eigenpairs below; exact cheevd when it cannot certify the threshold).
  index_t exact_eig_limit = 2048;
  progress_fn progress;  // progress(done, nx) after each readout position
  renamed_option<int> max_iter;  // 0.1's name of `iters` (deprecated; honoured when assigned)
};

template <std::size_t R>
struct espirit_result {
  array<cfloat, R + 1> maps;      // (maps, coils, [z,] y, x)
  array<float, R> eigenvalues;    // (maps, [z,] y, x)
  index_t kernels_kept = 0;       // dimension of the signal subspace
  index_t virtual_coils = 0;      // coils the eigenproblems were solved in (= coils without compression)
  calibration_region<R - 1> region;
};

namespace detail {

// The eigenpairs of a large Hermitian Gram matrix (lower triangle of `gram`, m x m row-major) above
// threshold x the largest, by randomized subspace iteration (Halko, Martinsson, Tropp, SIAM Rev. 53:217,
// 2011, alg. 4.4 with q = 3 power steps, block l = 640 > the ~300 kernels kept at 18 coils x 6^3) and a
// Rayleigh-Ritz step: matrix products (packed SIMD over the threads) instead of cheevd's memory-bound
// tridiagonal reduction of the whole matrix (m = 3888: ~8x less time). On success, in the layout hermitian_eig leaves: rows m - l .. m - 1
// of `gram` hold the Ritz vectors, `lam` their values ascending, the rest of `lam` zero. Returns false
// (nothing changed that the exact path needs: `gram`'s lower triangle intact) when the block does not
// reach below the threshold, so the caller falls back to the exact decomposition.
inline bool top_eigenpairs(index_t m, std::vector<cfloat>& gram, std::vector<float>& lam, double threshold) {
  const index_t l = std::min<index_t>(m, 640);
  if (l == m) return false;
  std::vector<cfloat> G(gram.size());
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j <= i; ++j) {
      G[static_cast<std::size_t>(i * m + j)] = gram[static_cast<std::size_t>(i * m + j)];
      G[static_cast<std::size_t>(j * m + i)] = std::conj(gram[static_cast<std::size_t>(i * m + j)]);
    }
  std::vector<cfloat> Q(static_cast<std::size_t>(m * l)), Y(static_cast<std::size_t>(m * l));
  std::mt19937 rng(12345);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (auto& v : Y) v = cfloat(nd(rng), nd(rng));
  // Orthonormal basis of range(Y) (m x l row-major) into Q: Householder QR (stable however different
  // the column scales become in the power steps).
  const index_t cols = l;
  auto orthonormalize = [&]() {
    if (!kernels::orthonormalize_columns(m, l, Y.data(), l)) return false;
    std::swap(Q, Y);
    return true;
  };
  if (!orthonormalize()) return false;
  for (int it = 0; it < 3; ++it) {
    kernels::packed_matrix_product(false, m, cols, m, G.data(), m, Q.data(), l, Y.data(), l);
    if (!orthonormalize()) return false;
  }
  // Rayleigh-Ritz: B = Q^H G Q (cols x cols), B = W diag(mu) W^H, Ritz vectors Q W.
  kernels::packed_matrix_product(false, m, cols, m, G.data(), m, Q.data(), l, Y.data(), l);
  std::vector<cfloat> B(static_cast<std::size_t>(cols * cols));
  kernels::packed_matrix_product(true, cols, cols, m, Q.data(), l, Y.data(), l, B.data(), cols);
  std::vector<float> mu(static_cast<std::size_t>(cols));
  if (!kernels::hermitian_eig(cols, B.data(), mu.data())) return false;
  const float top = mu[static_cast<std::size_t>(cols - 1)];
  if (!(top > 0) || mu[0] / top > threshold) return false;  // the block does not reach below the threshold
  // Ritz vector j (row of B: w_j) -> x_j = Q w_j (m entries) into row m - cols + j of gram.
  std::vector<cfloat> Wt(static_cast<std::size_t>(cols * cols));  // Wt[i][j] = w_j[i]
  for (index_t j = 0; j < cols; ++j)
    for (index_t i = 0; i < cols; ++i) Wt[static_cast<std::size_t>(i * cols + j)] = B[static_cast<std::size_t>(j * cols + i)];
  std::vector<cfloat> X(static_cast<std::size_t>(m * cols));  // X = Q Wt (m x cols), column j = x_j
  kernels::packed_matrix_product(false, m, cols, cols, Q.data(), l, Wt.data(), cols, X.data(), cols);
  std::fill(lam.begin(), lam.end(), 0.f);
  for (index_t j = 0; j < cols; ++j) {
    lam[static_cast<std::size_t>(m - cols + j)] = mu[static_cast<std::size_t>(j)];
    cfloat* row = gram.data() + (m - cols + j) * m;
    for (index_t i = 0; i < m; ++i) row[i] = X[static_cast<std::size_t>(i * cols + j)];
  }
  return true;
}

// y = M x for a Hermitian n x n row-major M, as y = sum_j x_j conj(M[j, :])^T: row-wise multiply-adds
// that the compiler vectorises (the row-times-vector form is a float reduction it may not reorder).
inline void hermitian_matvec(const cfloat* m, const cfloat* x, cfloat* y, index_t n) {
  float* yf = reinterpret_cast<float*>(y);
  std::fill(yf, yf + 2 * n, 0.f);
  for (index_t j = 0; j < n; ++j) {
    const float xr = x[j].real(), xi = x[j].imag();
    const float* row = reinterpret_cast<const float*>(m + j * n);
    for (index_t i = 0; i < n; ++i) {
      const float mr = row[2 * i], mi = row[2 * i + 1];  // conj(M[j][i]) = mr - i mi
      yf[2 * i] += mr * xr + mi * xi;
      yf[2 * i + 1] += mr * xi - mi * xr;
    }
  }
}

// The dominant eigenvector of a Hermitian M by the power method, the m = 1 case of
// dominant_eigenvectors (small_hermitian.hpp) with the same start, stopping rule (1 - |<q_old, q_new>|^2
// < tol) and Rayleigh quotient; z: n entries of work space.
inline void dominant_eigenvector_hermitian(const cfloat* m, index_t n, cfloat* q, float* lambda, cfloat* z,
                                           int max_iter, double tol) {
  auto normalize = [n](cfloat* v) {
    const double nrm = std::sqrt(std::real(dot(v, v, n)));
    if (!(nrm > 1e-30)) return false;
    const float inv = static_cast<float>(1.0 / nrm);
    for (index_t c = 0; c < n; ++c) v[c] *= inv;
    return true;
  };
  if (!normalize(q)) {
    std::fill(q, q + n, cfloat(0.f, 0.f));
    q[0] = 1.f;
  }
  for (int it = 0; it < max_iter; ++it) {
    hermitian_matvec(m, q, z, n);
    if (!normalize(z)) {
      std::fill(q, q + n, cfloat(0.f, 0.f));
      *lambda = 0.f;
      return;
    }
    const double overlap = std::norm(dot(q, z, n));
    std::copy(z, z + n, q);
    if (1.0 - overlap < tol) break;
  }
  hermitian_matvec(m, q, z, n);
  *lambda = static_cast<float>(std::real(dot(q, z, n)));
}

// The k-space taps G(delta) of the ESPIRiT operator (see 3. above) of calibration data cal (coils, z, y, x),
// as (gz, gy, gx, c, d), delta in [-(k-1), k-1]^3 per axis, without the n x n projector (n = coils x
// kernel volume): the calibration matrix A (patches x n) in float, its signal subspace from the smaller
// Gram matrix (A^H A on kernels::packed_normal_equations or A A^H on BLAS cherk; LAPACK cheevd), then for
// one coil c at a time the k^3 x n rows
// P[(c, .), .] = U_c U^H (one cgemm) summed along the diagonals into G_c.(delta).
std::vector<cfloat> espirit_taps(const array<cfloat, 4>& cal, const extents<3>& kern, double threshold,
                                        index_t exact_limit, index_t& kept);

}  // namespace detail

// All that ESPIRiT takes from a k-space: its shape, the fully sampled centre found in it (calib of
// espirit_options) and that block of data. A caller can let the k-space go once it has this, before the
// maps (a coil k-space of their own size) are made: espirit(espirit_calibrate(k, o), o) = espirit(k, o).
template <std::size_t R>
struct espirit_calibration {
  extents<R> shape{};                 // of the k-space (coils, [z,] y, x)
  calibration_region<R - 1> region;   // the block's place in it
  array<cfloat, R> block;             // (coils, region)
};

template <std::size_t R>
espirit_calibration<R> espirit_calibrate(strided_view<const cfloat, R> kspace, const espirit_options& opt = {}) {
  static_assert(R == 3 || R == 4, "espirit: kspace is (coils, y, x) or (coils, z, y, x)");
  constexpr std::size_t D = R - 1;
  const index_t nc = kspace.shape(0);
  LARMOR_CHECK_ARG(nc >= 1, "espirit_maps: kspace needs at least one coil, got shape ", shape_string(kspace.shape()));
  LARMOR_CHECK_ARG(opt.kernel >= 1, "espirit_maps: kernel must be >= 1, got ", opt.kernel);
  LARMOR_CHECK_ARG(opt.calib >= opt.kernel, "espirit_maps: calib (", opt.calib, ") must be >= kernel (", opt.kernel,
                   ")");
  for (std::size_t a = 1; a < R; ++a)
    LARMOR_CHECK_ARG(kspace.shape(a) >= opt.kernel, "espirit_maps: kernel ", opt.kernel,
                     " is larger than the matrix, shape ", shape_string(kspace.shape()));
  LARMOR_CHECK_ARG(opt.threshold >= 0 && opt.threshold < 1, "espirit_maps: threshold must be in [0, 1), got ",
                   opt.threshold);
  LARMOR_CHECK_ARG(opt.crop >= 0 && opt.crop <= 1, "espirit_maps: crop must be in [0, 1], got ", opt.crop);
  LARMOR_CHECK_ARG(opt.maps >= 1 && opt.maps <= nc, "espirit_maps: maps must be in [1, coils = ", nc, "], got ",
                   opt.maps);
  LARMOR_CHECK_ARG(opt.max_iter.or_value(opt.iters) >= 1, "espirit_maps: iters must be >= 1, got ",
                   opt.max_iter.or_value(opt.iters));  // (0.1's max_iter wins while assigned)
  check_finite("espirit_maps", "kspace", kspace);

  espirit_calibration<R> c;
  c.shape = kspace.shape();
  c.region = find_calibration_region(kspace, opt.calib);
  for (std::size_t a = 0; a < D; ++a)
    LARMOR_CHECK_DATA(c.region.size(a) >= opt.kernel, "espirit_maps: the fully sampled centre is ",
                      shape_string(c.region.shape()), ", smaller than the kernel ", opt.kernel,
                      " along spatial axis ", a);

  c.block = extract_calibration(kspace, c.region);
  return c;
}

// Full result (maps, eigenvalue maps, subspace size, calibration region) from a calibration made with the
// same options. R = 3 (2D) or 4 (3D).
template <std::size_t R>
espirit_result<R> espirit(espirit_calibration<R>&& calibration, const espirit_options& opt = {}) {
  constexpr std::size_t D = R - 1;
  const extents<R> kshape = calibration.shape;
  const index_t nc = kshape[0];
  const int iters = opt.max_iter.or_value(opt.iters);  // 0.1's max_iter wins while assigned
  LARMOR_CHECK_ARG(calibration.block.shape(0) == nc && nc >= opt.maps, "espirit: a calibration of ",
                   calibration.block.shape(0), " coils for a k-space of ", nc, " (and ", opt.maps, " maps)");
  for (std::size_t a = 0; a < D; ++a)
    LARMOR_CHECK_ARG(calibration.region.size(a) >= opt.kernel &&
                         calibration.block.shape(a + 1) == calibration.region.size(a),
                     "espirit: the calibration block ", shape_string(calibration.block.shape()),
                     " does not fit its region or the kernel ", opt.kernel);
  espirit_result<R> res;
  res.region = calibration.region;
  // Work in 3D throughout: a 2D problem is one with nz = 1 and a kernel of depth 1.
  const index_t nz = D == 3 ? kshape[1] : 1, ny = kshape[R - 2], nx = kshape[R - 1];
  const extents<3> kern{D == 3 ? opt.kernel : 1, opt.kernel, opt.kernel};
  const array<cfloat, 4> cal = std::move(calibration.block).reshape(
      extents<4>{nc, D == 3 ? res.region.size(0) : 1, res.region.size(D - 2), res.region.size(D - 1)});

  // Many coils: the calibration and the per-pixel eigenproblems run in virtual coils (see 6. above).
  const index_t ncal = cal.shape(0);
  index_t nv = nc;
  std::vector<cfloat> expand;  // (nc, nv) row-major: S = E S_virtual; empty: no compression
  array<cfloat, 4> cal_v;
  if (opt.compress_above > 0 &&
      (nc > opt.compress_above || nc * kern[0] * kern[1] * kern[2] > std::max(opt.compress_columns, opt.compress_above))) {
    const index_t per_coil = cal.size() / ncal;
    std::vector<std::complex<double>> cov(static_cast<std::size_t>(ncal * ncal)), vectors(cov.size());
    std::vector<double> ev(static_cast<std::size_t>(ncal));
    kernels::gram_rows_single(ncal, per_coil, cal.data(), cov.data());
    kernels::hermitian_eigen(ncal, cov.data(), ev.data(), vectors.data());
    double total = 0;
    for (double e : ev) total += e;
    total = std::max(total, 1e-300);
    double acc = 0;
    nv = 0;
    while (nv < nc && (acc < opt.compress_energy * total || nv < opt.compress_min))
      acc += ev[static_cast<std::size_t>(nc - 1 - nv++)];
    nv = std::min({nv, std::max<index_t>(opt.compress_max, 1),
                   std::max<index_t>(opt.compress_columns / (kern[0] * kern[1] * kern[2]), opt.compress_min)});
    expand.resize(static_cast<std::size_t>(nc * nv));
    for (index_t c = 0; c < nc; ++c)
      for (index_t j = 0; j < nv; ++j)
        expand[static_cast<std::size_t>(c * nv + j)] = cfloat(vectors[static_cast<std::size_t>(c * nc + nc - 1 - j)]);
    // cal_v = E^H cal: virtual coil j = sum_c conj(E(c, j)) coil c.
    std::vector<cfloat> eh(static_cast<std::size_t>(nv * nc));
    for (index_t j = 0; j < nv; ++j)
      for (index_t c = 0; c < nc; ++c)
        eh[static_cast<std::size_t>(j * nc + c)] = std::conj(expand[static_cast<std::size_t>(c * nv + j)]);
    cal_v = array<cfloat, 4>(extents<4>{nv, cal.shape(1), cal.shape(2), cal.shape(3)}, uninitialized);
    detail::apply_coil_matrix(eh.data(), cal.data(), cal_v.data(), nv, nc, per_coil, per_coil, per_coil);
  }
  const array<cfloat, 4>& calw = expand.empty() ? cal : cal_v;
  res.virtual_coils = nv;

  // G(delta), delta in [-(k-1), k-1]^3, as (gz, gy, gx, c, d) complex<float>, in the nv (virtual) coils.
  const index_t gz = 2 * kern[0] - 1, gy = 2 * kern[1] - 1, gx = 2 * kern[2] - 1, n2 = nv * nv;
  const std::vector<cfloat> g = detail::espirit_taps(calw, kern, opt.threshold, opt.exact_eig_limit, res.kernels_kept);

  // Twiddles exp(-2 pi i delta (i - floor(N/2)) / N) per axis.
  auto twiddles = [](index_t k, index_t n) {
    std::vector<cfloat> t(static_cast<std::size_t>((2 * k - 1) * n));
    for (index_t d = -(k - 1); d < k; ++d)
      for (index_t i = 0; i < n; ++i) {
        const double ph = -2.0 * 3.14159265358979323846 * static_cast<double>(d) * static_cast<double>(i - n / 2) /
                          static_cast<double>(n);
        t[static_cast<std::size_t>((d + k - 1) * n + i)] = cfloat(std::polar(1.0, ph));
      }
    return t;
  };
  const auto tz = twiddles(kern[0], nz), ty = twiddles(kern[1], ny), tx = twiddles(kern[2], nx);

  // First principal component of the calibration data, for the phase normalisation.
  std::vector<cfloat> pc(static_cast<std::size_t>(nv), cfloat(0.f, 0.f));
  if (opt.rotate_phase) {
    const index_t per_coil = calw.size() / nv;
    pc = detail::first_principal_component(calw.data(), nv, per_coil);
  }

  const index_t nm = opt.maps;
  extents<R + 1> mshape{};
  extents<R> eshape{};
  mshape[0] = nm;
  mshape[1] = nc;
  eshape[0] = nm;
  for (std::size_t a = 1; a < R; ++a) {
    mshape[a + 1] = kshape[a];
    eshape[a] = kshape[a];
  }
  res.maps = array<cfloat, R + 1>(mshape);
  res.eigenvalues = array<float, R>(eshape);
  const index_t npix = nz * ny * nx;
  cfloat* maps_out = res.maps.data();
  float* eig_out = res.eigenvalues.data();

  // M(r) along y for one (x, z) line, M(y) = sum_dy ty[dy](y) H_z(dy), as one matrix product
  // (ny x gy) (gy x n2) on BLAS: ty^T times the stacked H_z taps, instead of gy axpys per pixel.
  std::vector<cfloat> tyT(static_cast<std::size_t>(ny * gy));
  for (index_t y = 0; y < ny; ++y)
    for (index_t dy = 0; dy < gy; ++dy)
      tyT[static_cast<std::size_t>(y * gy + dy)] = ty[static_cast<std::size_t>(dy * ny + y)];

  detail::progress_counter prog(opt.progress, nx);
  // Blocks of readout positions share their buffers (a few blocks per thread, multiples of 8). Inside a
  // block, runs of xs = 8 neighbouring readout positions are evaluated side by side, pixel (z, y) by pixel,
  // so each map's output for the run is one 64-byte line written once (x by x, every cache line of the
  // coil-major maps was read and written 8 times, from memory). Results do not depend on the blocking:
  // each x has its own warm-start chain over (z, y), started cold, exactly as when x ran alone.
  constexpr index_t xs = 8;
  const index_t xblock = std::max<index_t>(xs, (nx / (4 * static_cast<index_t>(num_threads())) + xs - 1) / xs * xs);
  parallel_for_blocks(nx, xblock, [&](index_t x0, index_t xlen) {
    std::vector<cfloat> hx(static_cast<std::size_t>(xs * gz * gy * n2)), hz(static_cast<std::size_t>(gy * n2)),
        q(static_cast<std::size_t>(xs * nm * nv)), ve(static_cast<std::size_t>(nc)),
        out(static_cast<std::size_t>(nm * nc * xs));
    array<cfloat, 2> my(extents<2>{xs * ny, n2}, uninitialized);  // M(y) of each x's line, row y = one n2 matrix
    std::vector<float> lam(static_cast<std::size_t>(xs * nm)), eig(static_cast<std::size_t>(nm * xs));
    detail::eig_workspace ws(nv, nm);
    for (index_t xr = x0; xr < x0 + xlen; xr += xs) {
      const index_t nb = std::min(xs, x0 + xlen - xr);
      bool have_start[xs] = {};
      // H_x[dz][dy] = sum_dx G[dz][dy][dx] tx[dx](x)
      std::fill(hx.begin(), hx.end(), cfloat(0.f, 0.f));
      for (index_t b = 0; b < nb; ++b)
        for (index_t zy = 0; zy < gz * gy; ++zy)
          for (index_t dx = 0; dx < gx; ++dx) {
            const cfloat w = tx[static_cast<std::size_t>(dx * nx + xr + b)];
            const cfloat* src = g.data() + (zy * gx + dx) * n2;
            detail::caxpy(w, src, hx.data() + (b * gz * gy + zy) * n2, n2);
          }
      for (index_t z = 0; z < nz; ++z) {
        for (index_t b = 0; b < nb; ++b) {
          std::fill(hz.begin(), hz.end(), cfloat(0.f, 0.f));
          for (index_t dz = 0; dz < gz; ++dz) {
            const cfloat w = tz[static_cast<std::size_t>(dz * nz + z)];
            for (index_t dy = 0; dy < gy; ++dy)
              detail::caxpy(w, hx.data() + (b * gz * gy + dz * gy + dy) * n2, hz.data() + dy * n2, n2);
          }
          // M(y) = sum_dy ty[dy](y) H[dy]: gy multiply-adds of n2 values per line, on this thread (the
          // serial BLAS would serialise the threads of this loop).
          for (index_t y = 0; y < ny; ++y) {
            cfloat* row = my.data() + (b * ny + y) * n2;
            std::fill(row, row + n2, cfloat(0.f, 0.f));
            for (index_t dy = 0; dy < gy; ++dy)
              detail::caxpy(tyT[static_cast<std::size_t>(y * gy + dy)], hz.data() + dy * n2, row, n2);
          }
        }
        for (index_t y = 0; y < ny; ++y) {
          for (index_t b = 0; b < nb; ++b) {
            const cfloat* m = my.data() + (b * ny + y) * n2;
            cfloat* qb = q.data() + b * nm * nv;
            float* lb = lam.data() + b * nm;
            if (!have_start[b] || !opt.warm_start) {
              // Cold start: the columns of M with the largest diagonal entries.
              std::vector<index_t> order(static_cast<std::size_t>(nv));
              for (index_t c = 0; c < nv; ++c) order[static_cast<std::size_t>(c)] = c;
              std::sort(order.begin(), order.end(), [&](index_t a, index_t e) {
                return m[static_cast<std::size_t>(a * nv + a)].real() > m[static_cast<std::size_t>(e * nv + e)].real();
              });
              for (index_t j = 0; j < nm; ++j)
                for (index_t c = 0; c < nv; ++c)
                  qb[j * nv + c] = m[static_cast<std::size_t>(c * nv + order[static_cast<std::size_t>(j)])];
              have_start[b] = true;
            }
            if (nm == 1)
              detail::dominant_eigenvector_hermitian(m, nv, qb, lb, ws.z.data(), iters, opt.tol);
            else
              detail::dominant_eigenvectors(m, nv, nm, qb, lb, ws, iters, opt.tol);
            for (index_t j = 0; j < nm; ++j) {
              const cfloat* v = qb + j * nv;
              eig[static_cast<std::size_t>(j * xs + b)] = lb[j];
              cfloat rot(1.f, 0.f);
              if (opt.rotate_phase) {
                const auto proj_pc = std::complex<float>(detail::dot(pc.data(), v, nv));
                const float a = std::abs(proj_pc);
                if (a > 0) rot = std::conj(proj_pc) / a;
              }
              const bool keep = lb[j] >= opt.crop;
              if (!expand.empty()) {  // back to the physical coils: S = E S_virtual
                detail::matvec(expand.data(), nc, nv, v, ve.data());
                v = ve.data();
              }
              for (index_t c = 0; c < nc; ++c)
                out[static_cast<std::size_t>((j * nc + c) * xs + b)] = keep ? v[c] * rot : cfloat(0.f, 0.f);
            }
          }
          // The run's outputs: one contiguous stretch of nb values per map and coil.
          const index_t p = (z * ny + y) * nx + xr;
          for (index_t j = 0; j < nm; ++j) {
            std::copy_n(eig.data() + j * xs, nb, eig_out + j * npix + p);
            for (index_t c = 0; c < nc; ++c)
              std::copy_n(out.data() + (j * nc + c) * xs, nb, maps_out + (j * nc + c) * npix + p);
          }
        }
      }
      for (index_t b = 0; b < nb; ++b) prog.step();
    }
  });
  return res;
}

// Full result (maps, eigenvalue maps, subspace size, calibration region). R = 3 (2D) or 4 (3D).
template <std::size_t R>
espirit_result<R> espirit(strided_view<const cfloat, R> kspace, const espirit_options& opt = {}) {
  return espirit(espirit_calibrate(kspace, opt), opt);
}

// ESPIRiT maps only: (coils, [z,] y, x) k-space -> (maps, coils, [z,] y, x).
template <std::size_t R>
array<cfloat, R + 1> espirit_maps(strided_view<const cfloat, R> kspace, const espirit_options& opt = {}) {
  return espirit(kspace, opt).maps;
}
template <std::size_t R>
array<cfloat, R + 1> espirit_maps(strided_view<const cfloat, R> kspace, index_t calib, index_t kernel = 6,
                                  double threshold = 0.001, double crop = 0.8, index_t maps = 1) {
  espirit_options o;
  o.calib = calib;
  o.kernel = kernel;
  o.threshold = threshold;
  o.crop = crop;
  o.maps = maps;
  return espirit(kspace, o).maps;
}
template <std::size_t R, class... A>
auto espirit_maps(const array<cfloat, R>& kspace, A&&... a) {
  return espirit_maps(kspace.cview(), std::forward<A>(a)...);
}

// Instantiated once in the compiled library (src/coils/espirit.cpp) for 2D (R = 3) and 3D (R = 4): the
// calibration and the per-pixel eigenproblems are the heaviest code of the coils layer.
extern template espirit_calibration<3> espirit_calibrate<3>(strided_view<const cfloat, 3>, const espirit_options&);
extern template espirit_calibration<4> espirit_calibrate<4>(strided_view<const cfloat, 4>, const espirit_options&);
extern template espirit_result<3> espirit<3>(espirit_calibration<3>&&, const espirit_options&);
extern template espirit_result<4> espirit<4>(espirit_calibration<4>&&, const espirit_options&);

}  // namespace larmor
