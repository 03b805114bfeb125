// larmor/coils/combine.hpp — sensitivity-weighted (Roemer) coil combination.
//
//   combine(I, S)[p]      = sum_c conj(S_c[p]) I_c[p] / sum_c |S_c[p]|^2
//   combine(I, S, Psi)[p] = S[p]^H Psi^-1 I[p] / S[p]^H Psi^-1 S[p]
// Roemer PB, Edelstein WA, Hayes CE, Souza SP, Mueller OM. The NMR phased array. MRM 16:192 (1990).
// The second form is the SNR-optimal combination for receiver noise covariance Psi; it is computed by
// pre-whitening both I and S with W = L^-1 (Psi = L L^H), which turns it into the first form.
// Pixels where sum |S|^2 = 0 (outside the ESPIRiT crop, say) are 0.
//
// Shapes: coil images (coils, [z,] y, x) with maps of the same shape -> image ([z,] y, x); or maps
// (maps, coils, [z,] y, x) -> images (maps, [z,] y, x), one per set of maps. Parallel over pixels.
#pragma once

#include <vector>

#include "larmor/coils/noise.hpp"
#include "larmor/core/array.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/kernels/coil_kernels.hpp"

namespace larmor {

namespace detail {

// out[p] = sum_c conj(s[c, p]) i[c, p] / sum_c |s[c, p]|^2 over contiguous (coils, npix) blocks.
// Blocks of pixels over the threads. Normally the SIMD kernel keeps the sums in registers while all
// coils stream past; when the coil stride aliases in the caches (kernels::coil_streams_share_cache_sets,
// two streams per coil here) the coils go two at a time into block accumulators instead.
inline void roemer_combine(const cfloat* img, const cfloat* maps, cfloat* out, index_t nc, index_t npix) {
  if (!kernels::coil_streams_share_cache_sets(2 * nc, npix * index_t{sizeof(cfloat)})) {
    constexpr index_t block = 4096;
    parallel_for_blocks(npix, block, [&](index_t p0, index_t n) {
      kernels::combine_roemer(maps + p0, img + p0, nc, npix, out + p0, n);
    });
    return;
  }
  constexpr index_t block = 8192, group = 2;
  parallel_for_blocks(npix, block, [&](index_t p0, index_t n) {
    cfloat* num = out + p0;  // the numerator accumulates in place
    std::fill(num, num + n, cfloat(0.f, 0.f));
    std::vector<float> den(static_cast<std::size_t>(n), 0.f);
    for (index_t c = 0; c < nc; c += group)
      kernels::accumulate_roemer_coils(maps + c * npix + p0, img + c * npix + p0, std::min(group, nc - c), npix, num,
                                       den.data(), n);
    for (index_t p = 0; p < n; ++p) num[p] = den[p] > 0.f ? num[p] / den[p] : cfloat(0.f, 0.f);
  });
}

}  // namespace detail

// Coil images and maps of equal shape (coils, ...) -> combined image (...).
template <std::size_t R>
array<cfloat, R - 1> combine(strided_view<const cfloat, R> coil_imgs, strided_view<const cfloat, R> maps) {
  static_assert(R >= 2, "combine: need a coil axis and pixel axes");
  check_same_shape("combine", "coil_imgs", coil_imgs, "maps", maps);
  extents<R - 1> out_shape{};
  for (std::size_t a = 1; a < R; ++a) out_shape[a - 1] = coil_imgs.shape(a);
  array<cfloat, R - 1> out(out_shape, uninitialized);
  array<cfloat, R> i_copy, s_copy;  // used only for strided input
  detail::roemer_combine(contiguous_data(coil_imgs, i_copy), contiguous_data(maps, s_copy), out.data(),
                         coil_imgs.shape(0), out.size());
  return out;
}

// Several sets of maps (maps, coils, ...) -> one image per set (maps, ...).
template <std::size_t R>
array<cfloat, R> combine(strided_view<const cfloat, R> coil_imgs, strided_view<const cfloat, R + 1> maps) {
  extents<R> one_shape{};
  for (std::size_t a = 0; a < R; ++a) one_shape[a] = maps.shape(a + 1);
  LARMOR_CHECK_ARG(one_shape == coil_imgs.shape(), "combine: coil_imgs has shape ", shape_string(coil_imgs.shape()),
                   " but maps (maps, coils, ...) has shape ", shape_string(maps.shape()));
  extents<R> out_shape{};
  out_shape[0] = maps.shape(0);
  for (std::size_t a = 1; a < R; ++a) out_shape[a] = coil_imgs.shape(a);
  array<cfloat, R> out(out_shape, uninitialized);
  array<cfloat, R> i_copy, s_copy;  // used only for strided input
  const cfloat* i = contiguous_data(coil_imgs, i_copy);
  const index_t npix = coil_imgs.shape(0) > 0 ? coil_imgs.size() / coil_imgs.shape(0) : 0;
  for (index_t m = 0; m < maps.shape(0); ++m)
    detail::roemer_combine(i, contiguous_data(maps.slice(m), s_copy), out.data() + m * npix, coil_imgs.shape(0), npix);
  return out;
}

// SNR-optimal form with a receiver noise covariance psi (coils x coils).
template <std::size_t R, std::size_t RM>
array<cfloat, RM - 1> combine(strided_view<const cfloat, R> coil_imgs, strided_view<const cfloat, RM> maps,
                              strided_view<const cfloat, 2> psi) {
  const auto w = prewhitener_from_covariance(psi);
  const auto wi = prewhiten(coil_imgs, w.cview());
  if constexpr (RM == R) {
    const auto ws = prewhiten(maps, w.cview());
    return combine(wi.cview(), ws.cview());
  } else {
    static_assert(RM == R + 1, "combine: maps are (coils, ...) or (maps, coils, ...)");
    array<cfloat, RM> ws(maps.shape(), uninitialized);
    const index_t per_map = ws.size() / std::max<index_t>(maps.shape(0), 1);
    for (index_t m = 0; m < maps.shape(0); ++m) {
      const auto one = prewhiten(maps.slice(m), w.cview());
      std::copy(one.begin(), one.end(), ws.data() + m * per_map);
    }
    return combine(wi.cview(), ws.cview());
  }
}

template <std::size_t R, std::size_t RM>
auto combine(const array<cfloat, R>& coil_imgs, const array<cfloat, RM>& maps) {
  return combine(coil_imgs.cview(), maps.cview());
}

}  // namespace larmor
