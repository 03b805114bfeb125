// larmor/calib/calibration_region.hpp — find and extract the fully sampled k-space centre.
//
// Autocalibrating methods (ESPIRiT, GRAPPA, coil compression) learn from the central block of k-space
// that was acquired without undersampling. Following docs/design.md, a sample is "acquired" when any coil
// holds a non-zero value there. The region starts as the box of the requested size centred on the
// k-space centre (index N/2 of each axis, the DC sample of a centred FFT) and shrinks, axis by axis,
// to the contiguous run of acquired hyper-planes around the centre (a plane counts as acquired when at
// least half of its samples inside the box are). Undersampled Cartesian lines are all-zero, so this
// finds embedded ACS lines the way BART's ecalib and Gadgetron do, while tolerating the odd exact zero
// of a noiseless phantom.
//
// Shapes: k-space (coils, y, x) or (coils, z, y, x); the region covers the spatial axes only.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/check_finite.hpp"  // check_finite, once here: its includers still find it
#include "larmor/core/parallel.hpp"

namespace larmor {

// Half-open box [begin, end) per spatial axis (z, y, x order for 3D; y, x for 2D).
template <std::size_t D>
struct calibration_region {
  extents<D> begin{}, end{};
  index_t size(std::size_t a) const { return end[a] - begin[a]; }
  extents<D> shape() const {
    extents<D> s{};
    for (std::size_t a = 0; a < D; ++a) s[a] = size(a);
    return s;
  }
};

namespace detail {

// acquired[p] for every spatial position p (row-major over the spatial axes).
template <std::size_t R>
std::vector<unsigned char> acquired_mask(strided_view<const cfloat, R> k) {
  constexpr std::size_t D = R - 1;
  extents<D> sp{};
  for (std::size_t a = 0; a < D; ++a) sp[a] = k.shape(a + 1);
  std::vector<unsigned char> mask(static_cast<std::size_t>(checked_size(sp)), 0);
  std::size_t p = 0;
  extents<R> idx{};
  for_each_index(sp, [&](const extents<D>& s) {
    for (std::size_t a = 0; a < D; ++a) idx[a + 1] = s[a];
    unsigned char any = 0;
    for (index_t c = 0; c < k.shape(0) && !any; ++c) {
      idx[0] = c;
      any = k[idx] != cfloat(0.f, 0.f);
    }
    mask[p++] = any;
  });
  return mask;
}

}  // namespace detail

// The fully sampled centre, at most `calib` wide along every spatial axis (clipped to the matrix).
// Throws DataError when the centre itself was not acquired.
template <std::size_t R>
calibration_region<R - 1> find_calibration_region(strided_view<const cfloat, R> kspace, index_t calib) {
  constexpr std::size_t D = R - 1;
  static_assert(D == 2 || D == 3, "k-space is (coils, y, x) or (coils, z, y, x)");
  LARMOR_CHECK_ARG(calib >= 1, "calibration region: calib must be >= 1, got ", calib);
  extents<D> sp{};
  for (std::size_t a = 0; a < D; ++a) sp[a] = kspace.shape(a + 1);
  const auto mask = detail::acquired_mask(kspace);
  const auto strides = contiguous_strides(sp);

  calibration_region<D> box;
  for (std::size_t a = 0; a < D; ++a) {
    const index_t w = std::min(calib, sp[a]);
    box.begin[a] = sp[a] / 2 - w / 2;
    box.end[a] = box.begin[a] + w;
  }
  // Is hyper-plane `i` of axis `a` (restricted to the current box) acquired?
  auto plane_acquired = [&](std::size_t a, index_t i) {
    extents<D> lo = box.begin, n = box.shape();
    lo[a] = i;
    n[a] = 1;
    index_t total = 0, hit = 0;
    for_each_index(n, [&](const extents<D>& o) {
      index_t off = 0;
      for (std::size_t b = 0; b < D; ++b) off += (lo[b] + o[b]) * strides[b];
      ++total;
      hit += mask[static_cast<std::size_t>(off)];
    });
    return 2 * hit >= total;
  };
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t a = 0; a < D; ++a) {
      const index_t c = sp[a] / 2;
      LARMOR_CHECK_DATA(plane_acquired(a, c), "calibration region: the k-space centre (index ", c, " of axis ",
                        a + 1, ") holds no data");
      index_t lo = c, hi = c + 1;
      while (lo > box.begin[a] && plane_acquired(a, lo - 1)) --lo;
      while (hi < box.end[a] && plane_acquired(a, hi)) ++hi;
      box.begin[a] = lo;
      box.end[a] = hi;
    }
  }
  return box;
}

// Copies the region out: (coils, [z,] y, x) of the region's shape.
template <std::size_t R>
array<cfloat, R> extract_calibration(strided_view<const cfloat, R> kspace, const calibration_region<R - 1>& box) {
  extents<R> shape{};
  shape[0] = kspace.shape(0);
  for (std::size_t a = 0; a + 1 < R; ++a) shape[a + 1] = box.size(a);
  array<cfloat, R> out(shape, uninitialized);
  auto v = out.view();
  for_each_index(shape, [&](const extents<R>& i) {
    extents<R> j = i;
    for (std::size_t a = 0; a + 1 < R; ++a) j[a + 1] += box.begin[a];
    v[i] = kspace[j];
  });
  return out;
}

}  // namespace larmor
