// larmor/coils/walsh.hpp — adaptive-combine (Walsh) coil sensitivities.
//
// Walsh DO, Gmitro AF, Marcellin MW. Adaptive reconstruction of phased array MR imagery. MRM 43:682
// (2000). At every pixel p the local signal correlation matrix
//     R(p) = sum_{q in window(p)} I(q) I(q)^H          (coils x coils, a kernel^D box, clipped at the edge)
// is formed from the coil images; its dominant eigenvector is the SNR-optimal combination weight and,
// up to a phase, the normalised sensitivity. The phase is fixed per pixel so that the projection onto
// the first principal component of all coil images is real and positive (a smooth reference that never
// vanishes, unlike a single reference coil). Maps are unit-norm: combine() with them is Walsh's
// adaptive combination.
//
// Shapes: (coils, y, x) or (coils, z, y, x) -> maps of the same shape; the window is kernel wide along
// every spatial axis. Cost: the window sums slide (add the entering row, subtract the leaving one, in
// double precision), so each pixel costs a few coils^2 operations however large the kernel; the
// eigenvector comes from a warm-started power iteration (small_hermitian.hpp). Parallel over rows.
//
// Options: walsh_options{kernel} (the same parameter as Python's larmor.walsh_maps(coil_imgs, kernel=7));
// walsh_maps(imgs, kernel) is kept as a shorthand.
#pragma once

#include <algorithm>
#include <vector>

#include "larmor/calib/calibration_region.hpp"
#include "larmor/coils/coil_covariance.hpp"
#include "larmor/coils/small_hermitian.hpp"
#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"

namespace larmor {

struct walsh_options {
  index_t kernel = 7;  // window width in pixels along every spatial axis (odd; even widths act as kernel + 1)
};

namespace detail {

// Multiplies v (length n) by the phase that makes pc^H v real and positive.
inline void align_phase(const std::vector<cfloat>& pc, cfloat* v, index_t n) {
  const auto p = std::complex<float>(dot(pc.data(), v, n));
  const float a = std::abs(p);
  if (!(a > 0.f)) return;
  const cfloat rot = std::conj(p) / a;
  for (index_t c = 0; c < n; ++c) v[c] *= rot;
}

// (coils, nz, ny, nx) view of a 2D or 3D coil-image array.
template <std::size_t R>
extents<4> as_3d(const extents<R>& s) {
  static_assert(R == 3 || R == 4, "coil images are (coils, y, x) or (coils, z, y, x)");
  if constexpr (R == 3)
    return {s[0], 1, s[1], s[2]};
  else
    return {s[0], s[1], s[2], s[3]};
}

}  // namespace detail

template <std::size_t R>
array<cfloat, R> walsh_maps(strided_view<const cfloat, R> coil_imgs, index_t kernel = 7) {
  LARMOR_CHECK_ARG(kernel >= 1, "walsh_maps: kernel must be >= 1, got ", kernel);
  const extents<4> s3 = detail::as_3d(coil_imgs.shape());
  const index_t nc = s3[0], nz = s3[1], ny = s3[2], nx = s3[3], npix = nz * ny * nx;
  LARMOR_CHECK_ARG(nc >= 1, "walsh_maps: need at least one coil, got shape ", shape_string(coil_imgs.shape()));
  check_finite("walsh_maps", "coil_imgs", coil_imgs);
  array<cfloat, R> maps(coil_imgs.shape());
  if (npix == 0) return maps;
  const auto img = to_array(coil_imgs);
  const auto pc = detail::first_principal_component(img.data(), nc, npix);
  const index_t h = kernel / 2, hz = R == 4 ? h : 0, n2 = nc * nc;
  const cfloat* xd = img.data();
  cfloat* out = maps.data();

  const index_t rows = nz * ny;
  // Blocks of 16 rows, whatever the thread count: each block restarts its sliding window sums and its
  // warm-started power iterations, so a split that followed the thread count changed the maps (8e-5
  // relative between 1 and 2 threads on a 12-coil 96^2 phantom); now the same bits on any thread count.
  const index_t nblocks = (rows + 15) / 16;
  parallel_for(nblocks, [&](index_t b) {
    const index_t r0 = rows * b / nblocks, r1 = rows * (b + 1) / nblocks;
    // Window sums in double precision (they slide: rows enter and leave), upper triangle only, stored
    // as interleaved (re, im) pairs: v[x][i][j] for j >= i.
    std::vector<double> v(static_cast<std::size_t>(nx * n2 * 2)), acc(static_cast<std::size_t>(n2 * 2));
    std::vector<cfloat> m(static_cast<std::size_t>(n2)), q(static_cast<std::size_t>(nc)), tmp(static_cast<std::size_t>(nc));
    std::vector<double> col(static_cast<std::size_t>(2 * nc));
    detail::eig_workspace ws(nc, 1);
    float lam = 0;
    // v[x] += sign * I(z', y', x) I(z', y', x)^H for one image row.
    auto add_row = [&](index_t z, index_t y, double sign) {
      for (index_t x = 0; x < nx; ++x) {
        for (index_t i = 0; i < nc; ++i) {
          const cfloat a = xd[(i * nz + z) * ny * nx + y * nx + x];
          col[static_cast<std::size_t>(2 * i)] = a.real();
          col[static_cast<std::size_t>(2 * i + 1)] = a.imag();
        }
        double* vx = v.data() + x * n2 * 2;
        for (index_t i = 0; i < nc; ++i) {
          const double ar = sign * col[static_cast<std::size_t>(2 * i)], ai = sign * col[static_cast<std::size_t>(2 * i + 1)];
          double* row = vx + 2 * i * nc;
          for (index_t j = i; j < nc; ++j) {  // a_i conj(a_j)
            const double br = col[static_cast<std::size_t>(2 * j)], bi = col[static_cast<std::size_t>(2 * j + 1)];
            row[2 * j] += ar * br + ai * bi;
            row[2 * j + 1] += ai * br - ar * bi;
          }
        }
      }
    };
    index_t cur_z = -1, cur_y = -1;
    for (index_t r = r0; r < r1; ++r) {
      const index_t z = r / ny, y = r % ny;
      if (z != cur_z || y != cur_y + 1) {
        std::fill(v.begin(), v.end(), 0.0);
        for (index_t zz = std::max<index_t>(0, z - hz); zz <= std::min(nz - 1, z + hz); ++zz)
          for (index_t yy = std::max<index_t>(0, y - h); yy <= std::min(ny - 1, y + h); ++yy) add_row(zz, yy, 1.0);
      } else {
        for (index_t zz = std::max<index_t>(0, z - hz); zz <= std::min(nz - 1, z + hz); ++zz) {
          if (y + h < ny) add_row(zz, y + h, 1.0);
          if (y - h - 1 >= 0) add_row(zz, y - h - 1, -1.0);
        }
      }
      cur_z = z;
      cur_y = y;
      // Slide the window along x.
      std::fill(acc.begin(), acc.end(), 0.0);
      const index_t n2r = 2 * n2;
      for (index_t x = 0; x <= std::min(nx - 1, h); ++x)
        for (index_t i = 0; i < n2r; ++i) acc[static_cast<std::size_t>(i)] += v[static_cast<std::size_t>(x * n2r + i)];
      for (index_t x = 0; x < nx; ++x) {
        if (x > 0) {
          if (x + h < nx)
            for (index_t i = 0; i < n2r; ++i) acc[static_cast<std::size_t>(i)] += v[static_cast<std::size_t>((x + h) * n2r + i)];
          if (x - h - 1 >= 0)
            for (index_t i = 0; i < n2r; ++i) acc[static_cast<std::size_t>(i)] -= v[static_cast<std::size_t>((x - h - 1) * n2r + i)];
        }
        for (index_t i = 0; i < nc; ++i)
          for (index_t j = i; j < nc; ++j) {
            const cfloat e(static_cast<float>(acc[static_cast<std::size_t>(2 * (i * nc + j))]),
                           static_cast<float>(acc[static_cast<std::size_t>(2 * (i * nc + j) + 1)]));
            m[static_cast<std::size_t>(i * nc + j)] = e;
            m[static_cast<std::size_t>(j * nc + i)] = std::conj(e);
          }
        if (x == 0) {  // cold start: the column with the largest diagonal entry
          index_t best = 0;
          for (index_t c = 1; c < nc; ++c)
            if (m[static_cast<std::size_t>(c * nc + c)].real() > m[static_cast<std::size_t>(best * nc + best)].real())
              best = c;
          for (index_t k = 0; k < nc; ++k) q[static_cast<std::size_t>(k)] = m[static_cast<std::size_t>(k * nc + best)];
        }
        detail::dominant_eigenvectors(m.data(), nc, 1, q.data(), &lam, ws, 20, 1e-7);
        std::copy(q.begin(), q.end(), tmp.begin());
        detail::align_phase(pc, tmp.data(), nc);
        const index_t p = r * nx + x;
        for (index_t c = 0; c < nc; ++c) out[c * npix + p] = tmp[static_cast<std::size_t>(c)];
      }
    }
  });
  return maps;
}

template <std::size_t R>
array<cfloat, R> walsh_maps(const array<cfloat, R>& coil_imgs, index_t kernel = 7) {
  return walsh_maps(coil_imgs.cview(), kernel);
}
template <std::size_t R>
array<cfloat, R> walsh_maps(strided_view<const cfloat, R> coil_imgs, const walsh_options& opt) {
  return walsh_maps(coil_imgs, opt.kernel);
}
template <std::size_t R>
array<cfloat, R> walsh_maps(const array<cfloat, R>& coil_imgs, const walsh_options& opt) {
  return walsh_maps(coil_imgs.cview(), opt.kernel);
}

}  // namespace larmor
