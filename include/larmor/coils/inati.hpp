// larmor/coils/inati.hpp — fast iterative coil sensitivities (Inati's method).
//
// Inati SJ, Hansen MS, Kellman P. A fast optimal method for coil sensitivity estimation and adaptive
// coil combination for complex images. ISMRM 2014, p. 4407. Walsh's maps are the dominant eigenvectors
// of the local correlation matrices R(p) = sum_{q in window(p)} I(q) I(q)^H; Inati runs the power
// method on all pixels at once without ever forming R:
//     m = v0^H I                                   (v0: first principal component of all coil images)
//     repeat `iters` times:
//         S_c = box(I_c conj(m)),  S <- S / |S|    (one power step: R(p) S ~ sum_q I(q) conj(m(q)))
//         m   = S^H I                              (the adaptively combined image)
// using the current combined image m(q) = S(q)^H I(q) in place of S(p)^H I(q) inside the window. The
// cost is a box filter per coil per iteration — no coils^2 work per pixel. Maps are unit-norm, phase
// aligned like walsh_maps (pc^H S real positive), of the shape of the coil images (coils, [z,] y, x).
//
// Options: inati_options{kernel, iters} (the parameters of Python's larmor.inati_maps(coil_imgs, kernel=5,
// iters=5)); inati_maps(imgs, kernel, iters) is kept as a shorthand.
#pragma once

#include <vector>

#include "larmor/coils/walsh.hpp"

namespace larmor {

struct inati_options {
  index_t kernel = 5;  // box width in pixels along every spatial axis (odd; even widths act as kernel + 1)
  int iters = 5;       // power iterations (>= 1)
};

namespace detail {

// In-place box sum of width 2h+1 (clipped at the edges) along one axis of a contiguous (n_outer, n, n_inner)
// complex array.
inline void box_sum_axis(cfloat* a, index_t n_outer, index_t n, index_t n_inner, index_t h) {
  if (h == 0 || n <= 1) return;
  parallel_for(n_outer, [&](index_t o) {
    std::vector<cfloat> line(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n_inner; ++i) {
      cfloat* base = a + o * n * n_inner + i;
      for (index_t k = 0; k < n; ++k) line[static_cast<std::size_t>(k)] = base[k * n_inner];
      for (index_t k = 0; k < n; ++k) {
        cfloat s(0.f, 0.f);
        for (index_t j = std::max<index_t>(0, k - h); j <= std::min(n - 1, k + h); ++j) s += line[static_cast<std::size_t>(j)];
        base[k * n_inner] = s;
      }
    }
  });
}

}  // namespace detail

template <std::size_t R>
array<cfloat, R> inati_maps(strided_view<const cfloat, R> coil_imgs, index_t kernel = 5, int iters = 5) {
  LARMOR_CHECK_ARG(kernel >= 1, "inati_maps: kernel must be >= 1, got ", kernel);
  LARMOR_CHECK_ARG(iters >= 1, "inati_maps: iters must be >= 1, got ", iters);
  const extents<4> s3 = detail::as_3d(coil_imgs.shape());
  const index_t nc = s3[0], nz = s3[1], ny = s3[2], nx = s3[3], npix = nz * ny * nx;
  LARMOR_CHECK_ARG(nc >= 1, "inati_maps: need at least one coil, got shape ", shape_string(coil_imgs.shape()));
  check_finite("inati_maps", "coil_imgs", coil_imgs);
  array<cfloat, R> maps(coil_imgs.shape());
  if (npix == 0) return maps;
  const auto img = to_array(coil_imgs);
  const auto pc = detail::first_principal_component(img.data(), nc, npix);
  const cfloat* x = img.data();
  cfloat* s = maps.data();
  const index_t h = kernel / 2;

  std::vector<cfloat> m(static_cast<std::size_t>(npix));
  parallel_for(npix, [&](index_t p) {
    cfloat v(0.f, 0.f);
    for (index_t c = 0; c < nc; ++c) v += std::conj(pc[static_cast<std::size_t>(c)]) * x[c * npix + p];
    m[static_cast<std::size_t>(p)] = v;
  });
  for (int it = 0; it < iters; ++it) {
    parallel_for(nc, [&](index_t c) {
      for (index_t p = 0; p < npix; ++p) s[c * npix + p] = x[c * npix + p] * std::conj(m[static_cast<std::size_t>(p)]);
    });
    detail::box_sum_axis(s, nc * nz * ny, nx, 1, h);
    detail::box_sum_axis(s, nc * nz, ny, nx, h);
    if (R == 4) detail::box_sum_axis(s, nc, nz, ny * nx, h);
    parallel_for(npix, [&](index_t p) {
      double n2 = 0;
      for (index_t c = 0; c < nc; ++c) n2 += std::norm(s[c * npix + p]);
      const float inv = n2 > 0 ? static_cast<float>(1.0 / std::sqrt(n2)) : 0.f;
      cfloat v(0.f, 0.f);
      for (index_t c = 0; c < nc; ++c) {
        s[c * npix + p] *= inv;
        v += std::conj(s[c * npix + p]) * x[c * npix + p];
      }
      m[static_cast<std::size_t>(p)] = v;
    });
  }
  parallel_for(npix, [&](index_t p) {
    std::vector<cfloat> v(static_cast<std::size_t>(nc));
    for (index_t c = 0; c < nc; ++c) v[static_cast<std::size_t>(c)] = s[c * npix + p];
    detail::align_phase(pc, v.data(), nc);
    for (index_t c = 0; c < nc; ++c) s[c * npix + p] = v[static_cast<std::size_t>(c)];
  });
  return maps;
}

template <std::size_t R>
array<cfloat, R> inati_maps(const array<cfloat, R>& coil_imgs, index_t kernel = 5, int iters = 5) {
  return inati_maps(coil_imgs.cview(), kernel, iters);
}
template <std::size_t R>
array<cfloat, R> inati_maps(strided_view<const cfloat, R> coil_imgs, const inati_options& opt) {
  return inati_maps(coil_imgs, opt.kernel, opt.iters);
}
template <std::size_t R>
array<cfloat, R> inati_maps(const array<cfloat, R>& coil_imgs, const inati_options& opt) {
  return inati_maps(coil_imgs.cview(), opt.kernel, opt.iters);
}

}  // namespace larmor
