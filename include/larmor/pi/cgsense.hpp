// larmor/pi/cgsense.hpp — iterative SENSE (CG-SENSE) for any Cartesian sampling pattern.
//
// Solves the regularised least-squares problem
//     x = argmin ||M (fftc(S x) - k)||^2 + reg ||x||^2   <=>   (A^H A + reg I) x = A^H k,  A = M fftc S
// with conjugate gradients from x0 = 0 (solvers/conjugate_gradient.hpp), A from ops/sense_operator.hpp.
// Pruessmann KP, Weiger M, Boernert P, Boesiger P. Advances in sensitivity encoding with arbitrary
// k-space trajectories. MRM 46:638 (2001).
//
// Shapes: k-space (coils, [z,] y, x) with zeros where nothing was acquired; maps (coils, [z,] y, x) or
// (1, coils, [z,] y, x) (one set); image ([z,] y, x). Output scale: the x with k = M fftc(S x), the
// centred unitary FFT — for fully sampled data and maps with sum_c |S_c|^2 = 1 that is
// combine(ifftc(k), maps). This is `bart pics -l2 -r reg -i iters -w 1` (BART with its data scaling
// fixed to 1): the same model and the same CG iterates (tests/cpp/test_cgsense.cpp compares them).
// reg is absolute (the lambda of A^H A + lambda I, the same number as BART's -r); it does not depend on
// the data's scale, only on the maps' (ESPIRiT maps have sum_c |S_c|^2 = 1 inside the object, so a
// reg of 1e-3..1e-2 is a mild Tikhonov term there).
//
// Sampling: the mask M, when not given, is read from the data per sample (acquired when any coil is
// non-zero there). Masks that depend only on the phase-encode line (regular, variable density and
// random line patterns, with ACS) run the normal operator without any FFT along x; point masks
// (Poisson disc over (y, x)) use full FFTs. A mask may be given as 0/1 bytes or float weights over
// ([z,] y, x), or as a line_mask (sampling/lattice.hpp); samples where the mask is 0 are ignored.
// Stops after `iters` iterations or when ||r|| / ||A^H k|| <= tol. Threads: see sense_operator.
#pragma once

#include <optional>
#include <vector>

#include "larmor/calib/calibration_region.hpp"
#include "larmor/ops/sense_operator.hpp"
#include "larmor/sampling/lattice.hpp"
#include "larmor/solvers/conjugate_gradient.hpp"

namespace larmor {

struct cgsense_options {
  float reg = 0;       // Tikhonov lambda (absolute, as BART's -r)
  int iters = 30;      // maximum CG iterations
  float tol = 1e-6f;   // stop when ||r_k|| / ||A^H k|| <= tol (0: always run `iters`)
};

template <std::size_t R>
struct cgsense_result {
  array<cfloat, R> image;        // ([z,] y, x)
  std::vector<float> residuals;  // ||r_k|| / ||A^H k|| for k = 0 .. iterations (residuals[0] = 1)
  int iterations = 0;
};

namespace detail {

template <std::size_t R>
cgsense_result<R - 1> cgsense_weighted(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R> maps,
                                       array<float, R - 1> weights, const cgsense_options& opt) {
  constexpr std::size_t D = R - 1;
  check_sense_inputs("cgsense", kspace, maps);
  LARMOR_CHECK_ARG(std::isfinite(opt.reg) && opt.reg >= 0, "cgsense: reg must be finite and >= 0, got ", opt.reg);
  LARMOR_CHECK_ARG(opt.iters >= 1, "cgsense: iters must be >= 1, got ", opt.iters);
  LARMOR_CHECK_ARG(std::isfinite(opt.tol) && opt.tol >= 0, "cgsense: tol must be finite and >= 0, got ", opt.tol);
  extents<D> sp{};
  for (std::size_t a = 0; a < D; ++a) sp[a] = kspace.shape(a + 1);
  LARMOR_CHECK_ARG(weights.shape() == sp, "cgsense: mask has shape ", shape_string(weights.shape()),
                   " but the k-space image shape ([z,] y, x) is ", shape_string(sp));
  bool any = false;
  for (float w : weights) {
    LARMOR_CHECK_ARG(std::isfinite(w) && w >= 0, "cgsense: mask weights must be finite and >= 0, got ", w);
    any |= w > 0;
  }
  LARMOR_CHECK_DATA(any, "cgsense: the sampling mask is all zero");

  const auto b = sense_adjoint(kspace, maps, weights.data(), false);
  const sense_operator<D> op(maps, weights.cview());
  const index_t n = op.image_size();
  array<cfloat, 1> bi({n}, uninitialized), xi({n}, uninitialized);
  op.to_internal(b.cview(), bi.data());
  cg_options co;
  co.iters = opt.iters;
  co.tol = opt.tol;
  co.reg = opt.reg;
  auto rep = conjugate_gradient<float>([&](const cfloat* in, cfloat* out) { op.normal_internal(in, out); },
                                       bi.data(), xi.data(), n, co);
  cgsense_result<D> res;
  res.image = array<cfloat, D>(sp, uninitialized);
  op.from_internal(xi.data(), res.image.view());
  res.residuals = std::move(rep.residuals);
  res.iterations = rep.iterations;
  return res;
}

template <std::size_t D, class T>
array<float, D> mask_to_weights(strided_view<const T, D> mask) {
  array<float, D> w(mask.shape(), uninitialized);
  float* o = w.data();
  for_each_index(mask.shape(), [&](const extents<D>& i) {
    if constexpr (std::is_same_v<T, unsigned char>)
      *o++ = mask[i] != 0 ? 1.f : 0.f;
    else
      *o++ = static_cast<float>(mask[i]);
  });
  return w;
}

}  // namespace detail

// Mask read from the data, per sample.
template <std::size_t R>
cgsense_result<R - 1> cgsense(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R> maps,
                              const cgsense_options& opt = {}) {
  static_assert(R == 3 || R == 4, "cgsense: k-space is (coils, y, x) or (coils, z, y, x)");
  extents<R - 1> sp{};
  for (std::size_t a = 0; a + 1 < R; ++a) sp[a] = kspace.shape(a + 1);
  array<float, R - 1> w(sp);
  array<cfloat, R> owned;
  const cfloat* k = contiguous_data(kspace, owned);
  const index_t nc = kspace.shape(0), npix = w.size();
  for (index_t c = 0; c < nc; ++c) {
    const float* kc = reinterpret_cast<const float*>(k + c * npix);
    for (index_t p = 0; p < npix; ++p)
      if (kc[2 * p] != 0.f || kc[2 * p + 1] != 0.f) w[p] = 1.f;
  }
  return detail::cgsense_weighted(kspace, maps, std::move(w), opt);
}

// Mask given as 0/1 bytes (non-zero = acquired) or float weights over ([z,] y, x).
template <std::size_t R, class T>
cgsense_result<R - 1> cgsense(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R> maps,
                              strided_view<const T, R - 1> mask, const cgsense_options& opt = {}) {
  static_assert(std::is_same_v<T, unsigned char> || std::is_same_v<T, float>,
                "cgsense: the mask is unsigned char (0/1) or float weights");
  return detail::cgsense_weighted(kspace, maps, detail::mask_to_weights(mask), opt);
}

// Mask given as acquired phase-encode lines (sampling/lattice.hpp).
template <std::size_t R>
cgsense_result<R - 1> cgsense(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R> maps,
                              const line_mask& lines, const cgsense_options& opt = {}) {
  const index_t nz = R == 4 ? kspace.shape(1) : 1, ny = kspace.shape(R - 2), nx = kspace.shape(R - 1);
  LARMOR_CHECK_ARG(lines.nz == nz && lines.ny == ny &&
                       lines.acquired.size() == static_cast<std::size_t>(nz * ny),
                   "cgsense: line mask is (", lines.nz, ", ", lines.ny, ") lines (z, y) but kspace has (", nz, ", ",
                   ny, ")");
  extents<R - 1> sp{};
  for (std::size_t a = 0; a + 1 < R; ++a) sp[a] = kspace.shape(a + 1);
  array<float, R - 1> w(sp, uninitialized);
  for (index_t l = 0; l < nz * ny; ++l)
    std::fill(w.data() + l * nx, w.data() + (l + 1) * nx, lines.acquired[static_cast<std::size_t>(l)] ? 1.f : 0.f);
  return detail::cgsense_weighted(kspace, maps, std::move(w), opt);
}

// Maps with a leading maps axis of 1: (1, coils, [z,] y, x).
template <std::size_t R>
cgsense_result<R - 1> cgsense(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R + 1> maps,
                              const cgsense_options& opt = {}) {
  return cgsense(kspace, detail::single_map_set<R>("cgsense", maps), opt);
}
template <std::size_t R, class T>
cgsense_result<R - 1> cgsense(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R + 1> maps,
                              strided_view<const T, R - 1> mask, const cgsense_options& opt = {}) {
  return cgsense(kspace, detail::single_map_set<R>("cgsense", maps), mask, opt);
}
template <std::size_t R>
cgsense_result<R - 1> cgsense(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R + 1> maps,
                              const line_mask& lines, const cgsense_options& opt = {}) {
  return cgsense(kspace, detail::single_map_set<R>("cgsense", maps), lines, opt);
}

// Arrays directly.
template <std::size_t R, std::size_t RM>
auto cgsense(const array<cfloat, R>& kspace, const array<cfloat, RM>& maps, const cgsense_options& opt = {}) {
  return cgsense(kspace.cview(), maps.cview(), opt);
}

}  // namespace larmor
