// larmor/coils/rss.hpp — root-sum-of-squares coil combination.
//
//   rss(x)[p] = sqrt( sum_c |x[c, p]|^2 )
// over the coil axis (axis 0 by default; numpy-style negative axes allowed). Input (coils, [z,] y, x)
// complex, output ([z,] y, x) real of the same precision. Magnitude-only: no phase, no noise
// weighting (for an SNR-optimal combination use combine() with sensitivity maps). Parallel over pixels.
// Sums over coils run in coil order; the float sums are grouped differently when the coil stride is a
// large power of two (kernels::coil_streams_share_cache_sets), so results agree to float round-off.
//
// rss(x, out) writes into a caller's buffer instead of returning a new array: a pipeline that combines
// every slice/repetition into the same image buffer then pays no allocation and no first-touch page
// faults (13 µs per 4 KiB page in a VM, i.e. a third of the kernel's time for a 1 MiB image).
#pragma once

#include <algorithm>

#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/kernels/coil_kernels.hpp"

namespace larmor {

namespace detail {
template <std::size_t R>
extents<R - 1> shape_without_axis(const extents<R>& shape, int axis) {
  extents<R - 1> out{};
  for (std::size_t a = 0, k = 0; a < R; ++a)
    if (static_cast<int>(a) != axis) out[k++] = shape[a];
  return out;
}

}  // namespace detail

template <class Real, std::size_t R>
void rss(strided_view<const std::complex<Real>, R> x, strided_view<Real, R - 1> out, int axis = 0) {
  static_assert(R >= 2, "rss needs a coil axis and at least one pixel axis");
  const int ax = normalize_axis("rss", axis, R);
  const extents<R - 1> out_shape = detail::shape_without_axis(x.shape(), ax);
  LARMOR_CHECK_ARG(out.shape() == out_shape, "rss: out has shape ", shape_string(out.shape()), " but x of shape ",
                   shape_string(x.shape()), " combined over axis ", ax, " gives ", shape_string(out_shape));
  const index_t ncoils = x.shape(ax);
  const index_t npix = out.size();
  if (npix == 0) return;

  if (ax == 0 && x.is_contiguous() && out.is_contiguous()) {
    if (!kernels::coil_streams_share_cache_sets(ncoils, npix * index_t{sizeof(std::complex<Real>)})) {
      // Blocks of pixels over the threads; within a block the SIMD kernel keeps the partial sums in
      // registers while all coils stream past (kernels/coil_kernels.hpp: rss_coils).
      constexpr index_t block = 4096;
      parallel_for_blocks(npix, block, [&](index_t p0, index_t n) {
        kernels::rss_coils(x.data() + p0, ncoils, npix, out.data() + p0, n);
      });
    } else {
      // Coils four at a time: the block of out (64 KiB of floats, cache-resident) takes the partial
      // sums of squares, then its square root.
      constexpr index_t block = 16384, group = 4;
      parallel_for_blocks(npix, block, [&](index_t p0, index_t n) {
        Real* o = out.data() + p0;
        std::fill(o, o + n, Real{0});
        for (index_t c = 0; c < ncoils; c += group)
          kernels::accumulate_abs2_coils(x.data() + c * npix + p0, std::min(group, ncoils - c), npix, o, n);
        kernels::sqrt_inplace(o, n);
      });
    }
    return;
  }
  // General strides / axis: gather per pixel.
  extents<R> in_idx{};
  for_each_index(out_shape, [&](const extents<R - 1>& o) {
    for (std::size_t a = 0, k = 0; a < R; ++a)
      if (static_cast<int>(a) != ax) in_idx[a] = o[k++];
    Real s = 0;
    for (index_t c = 0; c < ncoils; ++c) {
      in_idx[ax] = c;
      s += std::norm(x[in_idx]);
    }
    out[o] = std::sqrt(s);
  });
}

template <class Real, std::size_t R>
array<Real, R - 1> rss(strided_view<const std::complex<Real>, R> x, int axis = 0) {
  static_assert(R >= 2, "rss needs a coil axis and at least one pixel axis");
  const int ax = normalize_axis("rss", axis, R);
  array<Real, R - 1> out(detail::shape_without_axis(x.shape(), ax), uninitialized);  // rss writes every element
  rss(x, out.view(), ax);
  return out;
}

template <class Real, std::size_t R>
array<Real, R - 1> rss(strided_view<std::complex<Real>, R> x, int axis = 0) {
  return rss(strided_view<const std::complex<Real>, R>(x), axis);
}
template <class Real, std::size_t R>
array<Real, R - 1> rss(const array<std::complex<Real>, R>& x, int axis = 0) {
  return rss(x.cview(), axis);
}
template <class Real, std::size_t R>
void rss(const array<std::complex<Real>, R>& x, array<Real, R - 1>& out, int axis = 0) {
  rss(x.cview(), out.view(), axis);
}

}  // namespace larmor
