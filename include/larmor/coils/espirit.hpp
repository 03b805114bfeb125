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
//      time (x, then z, then y), so no full-size coils^2 array is ever held.
//   5. Phase: as BART does by default, each map is rotated per pixel so that its projection onto the
//      first principal component of the calibration data is real and positive.
// Defaults equal BART ecalib's (calib 24, kernel 6, threshold 0.001, crop 0.8, one map). SigPy uses
// threshold 0.02 and crop 0.95; MRIReco one map — pass those values for their behaviour.
//
// Shapes: kspace (coils, y, x) -> maps (maps, coils, y, x); kspace (coils, z, y, x) -> maps
// (maps, coils, z, y, x), calibrated with a kernel^3 patch in 3D. Unit-norm maps (sum_c |S_c|^2 = 1
// inside the crop). Threads: parallel over readout columns (parallel_for).
// Coil counts of 64-128: compress first (coil_compress) and expand the maps back with expand_maps.
#pragma once

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <complex>
#include <vector>

#include "larmor/calib/calibration_region.hpp"
#include "larmor/coils/small_hermitian.hpp"
#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"

namespace larmor {

struct espirit_options {
  index_t calib = 24;        // largest calibration region, per spatial axis
  index_t kernel = 6;        // kernel width, per spatial axis
  double threshold = 0.001;  // signal subspace: sigma_i^2 / sigma_0^2 > threshold
  double crop = 0.8;         // zero a map where its eigenvalue < crop
  index_t maps = 1;          // number of sets of maps
  int max_iter = 30;         // orthogonal iterations per pixel (at most)
  double tol = 1e-7;         // subspace convergence: m - ||Q_old^H Q_new||_F^2
  bool rotate_phase = true;  // BART's default phase normalisation (see 5. above)
  bool warm_start = true;    // start each pixel from its neighbour's vectors (false: cold start)
};

template <std::size_t R>
struct espirit_result {
  array<cfloat, R + 1> maps;      // (maps, coils, [z,] y, x)
  array<float, R> eigenvalues;    // (maps, [z,] y, x)
  index_t kernels_kept = 0;       // dimension of the signal subspace
  calibration_region<R - 1> region;
};

namespace detail {

// The signal-subspace projection P (n x n, n = coils * kernel volume) of the calibration data.
inline Eigen::MatrixXcd espirit_projection(const array<cfloat, 4>& cal, const extents<3>& kern, double threshold,
                                           index_t& kept) {
  const index_t nc = cal.shape(0), cz = cal.shape(1), cy = cal.shape(2), cx = cal.shape(3);
  const index_t kz = kern[0], ky = kern[1], kx = kern[2];
  const index_t pz = cz - kz + 1, py = cy - ky + 1, px = cx - kx + 1;
  const index_t n = nc * kz * ky * kx, npatch = pz * py * px;
  Eigen::MatrixXcd b(n, npatch);  // column = one patch
  for (index_t z = 0; z < pz; ++z)
    for (index_t y = 0; y < py; ++y)
      for (index_t x = 0; x < px; ++x) {
        const index_t col = (z * py + y) * px + x;
        index_t row = 0;
        for (index_t c = 0; c < nc; ++c)
          for (index_t dz = 0; dz < kz; ++dz)
            for (index_t dy = 0; dy < ky; ++dy)
              for (index_t dx = 0; dx < kx; ++dx) b(row++, col) = std::complex<double>(cal(c, z + dz, y + dy, x + dx));
      }
  Eigen::MatrixXcd u;
  Eigen::VectorXd lam;
  if (npatch <= n) {
    // Eigen-decompose the smaller Gram matrix B^H B; then u_i = B w_i / sqrt(lambda_i).
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXcd> es(b.adjoint() * b);
    lam = es.eigenvalues().reverse();
    u = b * es.eigenvectors().rowwise().reverse();
  } else {
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXcd> es(b * b.adjoint());
    lam = es.eigenvalues().reverse();
    u = es.eigenvectors().rowwise().reverse();
  }
  LARMOR_CHECK_DATA(lam.size() > 0 && lam(0) > 0, "espirit_maps: the calibration region is all zero");
  kept = 0;
  while (kept < lam.size() && lam(kept) / lam(0) > threshold) ++kept;
  Eigen::MatrixXcd uk = u.leftCols(kept);
  if (npatch <= n)
    for (index_t i = 0; i < kept; ++i) uk.col(i) /= std::sqrt(lam(i));
  return uk * uk.adjoint();
}

}  // namespace detail

// Full result (maps, eigenvalue maps, subspace size, calibration region). R = 3 (2D) or 4 (3D).
template <std::size_t R>
espirit_result<R> espirit(strided_view<const cfloat, R> kspace, const espirit_options& opt = {}) {
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
  LARMOR_CHECK_ARG(opt.max_iter >= 1, "espirit_maps: max_iter must be >= 1, got ", opt.max_iter);
  check_finite("espirit_maps", "kspace", kspace);

  espirit_result<R> res;
  res.region = find_calibration_region(kspace, opt.calib);
  for (std::size_t a = 0; a < D; ++a)
    LARMOR_CHECK_DATA(res.region.size(a) >= opt.kernel, "espirit_maps: the fully sampled centre is ",
                      shape_string(res.region.shape()), ", smaller than the kernel ", opt.kernel,
                      " along spatial axis ", a);

  // Work in 3D throughout: a 2D problem is one with nz = 1 and a kernel of depth 1.
  const index_t nz = D == 3 ? kspace.shape(1) : 1, ny = kspace.shape(R - 2), nx = kspace.shape(R - 1);
  const extents<3> kern{D == 3 ? opt.kernel : 1, opt.kernel, opt.kernel};
  auto cal_d = extract_calibration(kspace, res.region);
  const array<cfloat, 4> cal = std::move(cal_d).reshape(
      extents<4>{nc, D == 3 ? res.region.size(0) : 1, res.region.size(D - 2), res.region.size(D - 1)});

  const Eigen::MatrixXcd proj = detail::espirit_projection(cal, kern, opt.threshold, res.kernels_kept);

  // G(delta), delta in [-(k-1), k-1]^3, as (gz, gy, gx, c, d) complex<float>.
  const index_t gz = 2 * kern[0] - 1, gy = 2 * kern[1] - 1, gx = 2 * kern[2] - 1, n2 = nc * nc;
  std::vector<cfloat> g(static_cast<std::size_t>(gz * gy * gx * n2));
  const double inv_vol = 1.0 / static_cast<double>(kern[0] * kern[1] * kern[2]);
  auto pidx = [&](index_t c, index_t z, index_t y, index_t x) { return ((c * kern[0] + z) * kern[1] + y) * kern[2] + x; };
  for (index_t dz = -(kern[0] - 1); dz < kern[0]; ++dz)
    for (index_t dy = -(kern[1] - 1); dy < kern[1]; ++dy)
      for (index_t dx = -(kern[2] - 1); dx < kern[2]; ++dx) {
        cfloat* gd = g.data() + (((dz + kern[0] - 1) * gy + dy + kern[1] - 1) * gx + dx + kern[2] - 1) * n2;
        for (index_t c = 0; c < nc; ++c)
          for (index_t d = 0; d < nc; ++d) {
            std::complex<double> s = 0;
            for (index_t z = std::max<index_t>(0, -dz); z < std::min(kern[0], kern[0] - dz); ++z)
              for (index_t y = std::max<index_t>(0, -dy); y < std::min(kern[1], kern[1] - dy); ++y)
                for (index_t x = std::max<index_t>(0, -dx); x < std::min(kern[2], kern[2] - dx); ++x)
                  s += proj(pidx(c, z, y, x), pidx(d, z + dz, y + dy, x + dx));
            gd[c * nc + d] = cfloat(s * inv_vol);
          }
      }

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
  std::vector<cfloat> pc(static_cast<std::size_t>(nc), cfloat(0.f, 0.f));
  if (opt.rotate_phase) {
    Eigen::MatrixXcd cov = Eigen::MatrixXcd::Zero(nc, nc);
    const index_t per_coil = cal.size() / nc;
    Eigen::Map<const Eigen::Matrix<std::complex<float>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> cm(
        cal.data(), nc, per_coil);
    cov = (cm * cm.adjoint()).cast<std::complex<double>>();
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXcd> es(cov);
    for (index_t c = 0; c < nc; ++c) pc[static_cast<std::size_t>(c)] = cfloat(es.eigenvectors()(c, nc - 1));
  }

  const index_t nm = opt.maps;
  extents<R + 1> mshape{};
  extents<R> eshape{};
  mshape[0] = nm;
  mshape[1] = nc;
  eshape[0] = nm;
  for (std::size_t a = 1; a < R; ++a) {
    mshape[a + 1] = kspace.shape(a);
    eshape[a] = kspace.shape(a);
  }
  res.maps = array<cfloat, R + 1>(mshape);
  res.eigenvalues = array<float, R>(eshape);
  const index_t npix = nz * ny * nx;
  cfloat* maps_out = res.maps.data();
  float* eig_out = res.eigenvalues.data();

  parallel_for(nx, [&](index_t x) {
    std::vector<cfloat> hx(static_cast<std::size_t>(gz * gy * n2)), hz(static_cast<std::size_t>(gy * n2)),
        m(static_cast<std::size_t>(n2)), q(static_cast<std::size_t>(nm * nc));
    std::vector<float> lam(static_cast<std::size_t>(nm));
    detail::eig_workspace ws(nc, nm);
    bool have_start = false;
    // H_x[dz][dy] = sum_dx G[dz][dy][dx] tx[dx](x)
    std::fill(hx.begin(), hx.end(), cfloat(0.f, 0.f));
    for (index_t zy = 0; zy < gz * gy; ++zy)
      for (index_t dx = 0; dx < gx; ++dx) {
        const cfloat w = tx[static_cast<std::size_t>(dx * nx + x)];
        const cfloat* src = g.data() + (zy * gx + dx) * n2;
        detail::caxpy(w, src, hx.data() + zy * n2, n2);
      }
    for (index_t z = 0; z < nz; ++z) {
      std::fill(hz.begin(), hz.end(), cfloat(0.f, 0.f));
      for (index_t dz = 0; dz < gz; ++dz) {
        const cfloat w = tz[static_cast<std::size_t>(dz * nz + z)];
        for (index_t dy = 0; dy < gy; ++dy) {
          detail::caxpy(w, hx.data() + (dz * gy + dy) * n2, hz.data() + dy * n2, n2);
        }
      }
      for (index_t y = 0; y < ny; ++y) {
        std::fill(m.begin(), m.end(), cfloat(0.f, 0.f));
        for (index_t dy = 0; dy < gy; ++dy) {
          detail::caxpy(ty[static_cast<std::size_t>(dy * ny + y)], hz.data() + dy * n2, m.data(), n2);
        }
        if (!have_start || !opt.warm_start) {
          // Cold start: the columns of M with the largest diagonal entries.
          std::vector<index_t> order(static_cast<std::size_t>(nc));
          for (index_t c = 0; c < nc; ++c) order[static_cast<std::size_t>(c)] = c;
          std::sort(order.begin(), order.end(), [&](index_t a, index_t b) {
            return m[static_cast<std::size_t>(a * nc + a)].real() > m[static_cast<std::size_t>(b * nc + b)].real();
          });
          for (index_t j = 0; j < nm; ++j)
            for (index_t c = 0; c < nc; ++c) q[static_cast<std::size_t>(j * nc + c)] = m[static_cast<std::size_t>(c * nc + order[static_cast<std::size_t>(j)])];
          have_start = true;
        }
        detail::dominant_eigenvectors(m.data(), nc, nm, q.data(), lam.data(), ws, opt.max_iter, opt.tol);
        const index_t p = (z * ny + y) * nx + x;
        for (index_t j = 0; j < nm; ++j) {
          const cfloat* v = q.data() + j * nc;
          eig_out[j * npix + p] = lam[static_cast<std::size_t>(j)];
          cfloat rot(1.f, 0.f);
          if (opt.rotate_phase) {
            const auto proj_pc = std::complex<float>(detail::dot(pc.data(), v, nc));
            const float a = std::abs(proj_pc);
            if (a > 0) rot = std::conj(proj_pc) / a;
          }
          const bool keep = lam[static_cast<std::size_t>(j)] >= opt.crop;
          for (index_t c = 0; c < nc; ++c)
            maps_out[(j * nc + c) * npix + p] = keep ? v[c] * rot : cfloat(0.f, 0.f);
        }
      }
    }
  });
  return res;
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

}  // namespace larmor
