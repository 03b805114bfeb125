// larmor/cs/cs.hpp — compressed-sensing parallel imaging (l1-wavelet, total variation) for Cartesian
// k-space, and the same on any linear operator (cs_solve: non-Cartesian CS is the NUFFT SENSE operator
// passed in).
//
//   x = argmin_x 1/2 ||M (fftc(S x) - k)||_2^2 + wavelet ||W x||_1 + tv TV(x)
//
// S: sensitivity maps (coils, [z,] y, x); M: sampling mask; W: orthogonal Daubechies wavelet (db2 default,
// db4; ops/wavelet.hpp), every band thresholded as BART 0.8 does (wavelet_coarse = false spares the coarsest
// approximation band), with random cycle spinning (prox/wavelet_l1.hpp) and FISTA's output the mean of its
// last iters / 5 iterates (solvers/fista.hpp `average`; docs/compressed_sensing.md has the measurements); TV:
// isotropic (default) or anisotropic total variation over the image axes (solvers/tv_prox.hpp). The model is
// BART's `bart pics -l1 -r wavelet` / `-R T:7:0:tv` (Lustig M, Donoho D, Pauly JM. Sparse MRI. MRM 58:1182
// (2007); Block KT, Uecker M, Frahm J. MRM 57:1086 (2007)).
// Solvers (solver = automatic): FISTA (solvers/fista.hpp) for one penalty with a closed-form prox
// (the wavelet, or LLR, alone); ADMM (solvers/admm.hpp; inner CG) when TV is on or penalties are summed
// (TV has no closed-form prox; the wavelet and LLR terms then join ADMM as splittings with F = I).
// POGM (solvers/pogm.hpp) on request (solver = pogm), where FISTA applies.
// Dynamic data (cs_dynamic): k-space (frames, coils, y, x), one mask per frame, maps shared; the image is
// (frames, y, x); penalties: the wavelet and TV over the spatial axes of each frame, tv_time along the
// frames, LLR (blocks of llr_block^2 pixels x frames, random shifts from seed).
//
// Data scaling (as BART's pics): the problem is solved for k / s, the output multiplied by s again, so
// the image is in the units of the data while lambda is relative to an image of typical intensity ~1:
//     s = the 90th percentile of the coil-combined (root-sum-of-squares) zero-filled image of the central
//         min(n, 32) k-space samples per spatial axis (unitary centred inverse FFT), or its maximum when the
//         histogram's upper tail is long ((max - p90) >= 2 (p90 - median)).
// With the same s and maps, lambda here = BART's -r (docs/compressed_sensing.md). scale > 0 in the
// options fixes s (1: no scaling; cs_result::scale reports the s used).
// Step: 0.95 / lambda_max(A^H A) (power iteration), as pics -e. Image layout inside the solver: the SENSE
// operator's internal one (ops/sense_linear_operator.hpp; the penalties treat every axis alike).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "larmor/fft/fft.hpp"
#include "larmor/ops/sense_linear_operator.hpp"
#include "larmor/ops/sense_operator.hpp"
#include "larmor/pi/cgsense.hpp"
#include "larmor/ops/dynamic_sense_operator.hpp"
#include "larmor/prox/llr.hpp"
#include "larmor/solvers/tv_prox.hpp"
#include "larmor/prox/wavelet_l1.hpp"
#include "larmor/solvers/admm.hpp"
#include "larmor/solvers/fista.hpp"
#include "larmor/solvers/pogm.hpp"

namespace larmor {

enum class cs_solver { automatic, fista, admm, pogm };

struct cs_options {
  float wavelet = 0;        // lambda of ||W x||_1 (BART -l1 -r)
  float tv = 0;             // lambda of TV(x) over the spatial axes (BART -R T:<axes>:0:lambda)
  float llr = 0;            // lambda of the locally low rank penalty (dynamic data; prox/llr.hpp; BART -R L)
  float tv_time = 0;        // lambda of ||D_t x||_1, finite differences along time (dynamic data)
  index_t llr_block = 8;    // LLR block size per spatial axis
  int time_axis = -1;       // which axis of cs_solve's shape is time (cs_dynamic sets 0); -1: static image
  int iters = 100;          // solver iterations (FISTA steps or ADMM outer iterations)
  cs_solver solver = cs_solver::automatic;
  wavelet_kind kind = wavelet_kind::db2;
  index_t min_size = 16;    // coarsest wavelet band per axis (BART: 16)
  bool cycle_spin = true;   // random wavelet shifts per iteration (BART: on; -n off)
  std::uint64_t seed = 0;   // of the shifts
  bool wavelet_coarse = true;  // threshold the coarsest approximation band too (BART 0.8 does)
  // FISTA: return the mean of the last `average` iterates (fista_options::average); -1: iters / 5 when
  // the prox draws random shifts (cycle_spin with the wavelet or LLR), else none.
  int average = -1;
  bool tv_isotropic = true;
  float step = 0;           // FISTA step; 0: 0.95 / lambda_max(A^H A)
  float scale = 0;          // data scale s; 0: estimated (see above); 1: none
  float rho = 0.5f;         // ADMM penalty parameter (BART -u)
  int cg_iters = 10;        // ADMM inner CG iterations (BART -C)
  std::function<void(int, const cfloat*)> callback;  // per iteration, x_k of the scaled problem (solver layout)
};

template <std::size_t R>
struct cs_result {
  array<cfloat, R> image;  // ([z,] y, x)
  float scale = 1;         // the data scale s used
  float step = 0;          // FISTA step (0 for ADMM)
  int iterations = 0;
};

struct cs_report {
  float step = 0;
  int iterations = 0;
};

// The core on any operator: b = A^H y (A.input_size() samples, unscaled), `shape` the image shape the
// flat vector stands for (row-major), s the data scale (> 0). Writes the image (unscaled) into x.
cs_report cs_solve(const linear_operator<cfloat>& A, const cfloat* b, const std::vector<index_t>& shape,
                          const cs_options& opt, float s, cfloat* x);

namespace detail {

// BART-like data scale from k-space (coils, [z,] y, x): see the header comment.
template <std::size_t R>
float cs_data_scale(strided_view<const cfloat, R> k) {
  extents<R> cs{}, off{};
  cs[0] = k.shape(0);
  for (std::size_t a = 1; a < R; ++a) {
    cs[a] = std::min<index_t>(k.shape(a), 32);
    off[a] = k.shape(a) / 2 - cs[a] / 2;
  }
  array<cfloat, R> c(cs, uninitialized);
  cfloat* o = c.data();
  for_each_index(cs, [&](const extents<R>& i) {
    extents<R> j = i;
    for (std::size_t a = 1; a < R; ++a) j[a] += off[a];
    *o++ = k[j];
  });
  axis_list ax;
  for (std::size_t a = 1; a < R; ++a) ax.push_back(static_cast<int>(a));
  ifftc_inplace(c.view(), ax);
  const index_t np = c.size() / cs[0];
  std::vector<float> mag(static_cast<std::size_t>(np), 0.f);
  for (index_t ch = 0; ch < cs[0]; ++ch)
    for (index_t p = 0; p < np; ++p) mag[p] += std::norm(c.data()[ch * np + p]);
  for (auto& v : mag) v = std::sqrt(v);
  std::sort(mag.begin(), mag.end());
  const float med = mag[mag.size() / 2], p90 = mag[std::min(mag.size() - 1, mag.size() * 9 / 10)], mx = mag.back();
  const float s = (mx - p90) < 2 * (p90 - med) ? p90 : mx;
  return s > 0 ? s : 1.f;
}

// The checks cs_weighted and cs_dynamic_weighted share: the mask's shape (`axes` names its layout), finite
// non-negative weights, opt.scale >= 0. Returns whether any weight is > 0.
template <std::size_t D>
bool check_cs_weights(const array<float, D>& weights, const extents<D>& expected, const char* axes,
                      const cs_options& opt) {
  LARMOR_CHECK_ARG(weights.shape() == expected, "cs: mask has shape ", shape_string(weights.shape()), ", expected ",
                   shape_string(expected), " ", axes);
  bool any = false;
  for (float w : weights) {
    LARMOR_CHECK_ARG(std::isfinite(w) && w >= 0, "cs: mask weights must be finite and >= 0, got ", w);
    any |= w > 0;
  }
  LARMOR_CHECK_ARG(std::isfinite(opt.scale) && opt.scale >= 0, "cs: scale must be >= 0, got ", opt.scale);
  return any;
}

template <std::size_t R>
cs_result<R - 1> cs_weighted(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R> maps,
                             array<float, R - 1> weights, const cs_options& opt) {
  constexpr std::size_t D = R - 1;
  check_sense_inputs("cs", kspace, maps);
  extents<D> sp{};
  for (std::size_t a = 0; a < D; ++a) sp[a] = kspace.shape(a + 1);
  LARMOR_CHECK_DATA(check_cs_weights(weights, sp, "([z,] y, x)", opt), "cs: the sampling mask is all zero");
  const float s = opt.scale > 0 ? opt.scale : cs_data_scale(kspace);
  const auto b = sense_adjoint(kspace, maps, weights.data(), false);
  const sense_operator<D> op(maps, weights.cview());
  const sense_linear_operator<D> A(op);
  const index_t n = op.image_size();
  array<cfloat, 1> bi({n}, uninitialized), xi({n}, uninitialized);
  op.to_internal(b.cview(), bi.data());
  const auto rep = cs_solve(A, bi.data(), A.internal_shape(), opt, s, xi.data());
  cs_result<D> res;
  res.image = array<cfloat, D>(sp, uninitialized);
  op.from_internal(xi.data(), res.image.view());
  res.scale = s;
  res.step = rep.step;
  res.iterations = rep.iterations;
  return res;
}

template <std::size_t R>
cs_result<R - 1> cs_dynamic_weighted(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R - 1> maps,
                                     array<float, R - 1> weights, const cs_options& opt) {
  constexpr std::size_t D = R - 2;
  const index_t T = kspace.shape(0);
  LARMOR_CHECK_ARG(T >= 1, "cs: dynamic kspace has no frames");
  for (std::size_t a = 0; a + 1 < R; ++a)
    LARMOR_CHECK_ARG(kspace.shape(a + 1) == maps.shape(a), "cs: dynamic kspace (frames, coils, ...) has shape ",
                     shape_string(kspace.shape()), " but maps (coils, ...) ", shape_string(maps.shape()));
  extents<R - 1> ws{};
  ws[0] = T;
  for (std::size_t a = 0; a < D; ++a) ws[a + 1] = maps.shape(a + 1);
  check_cs_weights(weights, ws, "(frames, [z,] y, x)", opt);
  index_t npix = 1;
  for (std::size_t a = 0; a < D; ++a) npix *= ws[a + 1];
  // s: the median over frames of the per-frame BART-like scale.
  float s = opt.scale;
  std::vector<float> sc;
  for (index_t t = 0; t < T; ++t) {
    const auto kt = kspace.slice(t);
    check_sense_inputs("cs", kt, maps);
    if (s == 0) sc.push_back(cs_data_scale(kt));
  }
  if (s == 0) {
    std::sort(sc.begin(), sc.end());
    s = sc[sc.size() / 2];
  }
  const dynamic_sense_operator<D> A(maps, weights.cview());
  array<cfloat, 1> b({T * npix}, uninitialized), x({T * npix}, uninitialized);
  for (index_t t = 0; t < T; ++t) {
    const auto bt = sense_adjoint(kspace.slice(t), maps, weights.data() + t * npix, false);
    std::copy(bt.begin(), bt.end(), b.data() + t * npix);
  }
  cs_options o = opt;
  o.time_axis = 0;
  const auto rep = cs_solve(A, b.data(), A.image_shape(), o, s, x.data());
  cs_result<R - 1> res;
  res.image = array<cfloat, R - 1>(ws, uninitialized);
  std::copy(x.begin(), x.end(), res.image.data());
  res.scale = s;
  res.step = rep.step;
  res.iterations = rep.iterations;
  return res;
}

}  // namespace detail

// Dynamic data: kspace (frames, coils, [z,] y, x), maps (coils, [z,] y, x) shared by all frames; the image
// is (frames, [z,] y, x). Penalties: wavelet and tv per frame (spatial axes), tv_time along the frames,
// llr (blocks x frames). Masks read from the data (acquired where any coil is non-zero), per frame; the
// data scale is the median over frames of the per-frame scale (see the header comment).
template <std::size_t R>
cs_result<R - 1> cs_dynamic(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R - 1> maps,
                            const cs_options& opt) {
  static_assert(R == 4 || R == 5, "cs_dynamic: k-space is (frames, coils, y, x) or (frames, coils, z, y, x)");
  extents<R - 1> ws{};
  ws[0] = kspace.shape(0);
  for (std::size_t a = 2; a < R; ++a) ws[a - 1] = kspace.shape(a);
  array<float, R - 1> w(ws);
  array<cfloat, R> owned;
  const cfloat* k = contiguous_data(kspace, owned);
  const index_t T = kspace.shape(0), nc = kspace.shape(1), npix = w.size() / std::max<index_t>(T, 1);
  for (index_t t = 0; t < T; ++t)
    for (index_t c = 0; c < nc; ++c)
      for (index_t p = 0; p < npix; ++p)
        if (k[(t * nc + c) * npix + p] != cfloat(0.f, 0.f)) w[t * npix + p] = 1.f;
  return detail::cs_dynamic_weighted(kspace, maps, std::move(w), opt);
}
// Masks as 0/1 bytes or float weights over (frames, [z,] y, x).
template <std::size_t R, class T>
cs_result<R - 1> cs_dynamic(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R - 1> maps,
                            strided_view<const T, R - 1> mask, const cs_options& opt) {
  static_assert(std::is_same_v<T, unsigned char> || std::is_same_v<T, float>,
                "cs_dynamic: the mask is unsigned char (0/1) or float weights");
  return detail::cs_dynamic_weighted(kspace, maps, detail::mask_to_weights(mask), opt);
}

// Mask read from the data (acquired where any coil is non-zero).
template <std::size_t R>
cs_result<R - 1> cs(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R> maps, const cs_options& opt) {
  static_assert(R == 3 || R == 4, "cs: k-space is (coils, y, x) or (coils, z, y, x)");
  extents<R - 1> sp{};
  for (std::size_t a = 0; a + 1 < R; ++a) sp[a] = kspace.shape(a + 1);
  array<float, R - 1> w(sp);
  array<cfloat, R> owned;
  const cfloat* k = contiguous_data(kspace, owned);
  const index_t nc = kspace.shape(0), npix = w.size();
  for (index_t c = 0; c < nc; ++c)
    for (index_t p = 0; p < npix; ++p)
      if (k[c * npix + p] != cfloat(0.f, 0.f)) w[p] = 1.f;
  return detail::cs_weighted(kspace, maps, std::move(w), opt);
}

// Mask as 0/1 bytes or float weights over ([z,] y, x).
template <std::size_t R, class T>
cs_result<R - 1> cs(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R> maps,
                    strided_view<const T, R - 1> mask, const cs_options& opt) {
  static_assert(std::is_same_v<T, unsigned char> || std::is_same_v<T, float>,
                "cs: the mask is unsigned char (0/1) or float weights");
  return detail::cs_weighted(kspace, maps, detail::mask_to_weights(mask), opt);
}

// Maps with a leading set axis of 1: (1, coils, [z,] y, x).
template <std::size_t R>
cs_result<R - 1> cs(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R + 1> maps, const cs_options& opt) {
  return cs(kspace, detail::single_map_set<R>("cs", maps), opt);
}
template <std::size_t R, class T>
cs_result<R - 1> cs(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R + 1> maps,
                    strided_view<const T, R - 1> mask, const cs_options& opt) {
  return cs(kspace, detail::single_map_set<R>("cs", maps), mask, opt);
}

}  // namespace larmor
