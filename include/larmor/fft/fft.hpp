// larmor/fft/fft.hpp — centered unitary FFT and its inverse over any set of axes.
//
//   fftc(x)  = fftshift(fft(ifftshift(x))) / sqrt(N)
//   ifftc(X) = fftshift(ifft(ifftshift(X))) * sqrt(N)   (ifft includes 1/N; exact inverse of fftc)
// over the chosen axes, N the product of their lengths; batched over all other axes. Equal to numpy's
// fft with norm="ortho" plus those shifts, and to `bart fft -u` / `bart fft -u -i` for even sizes;
// odd sizes follow numpy's shift semantics. Axes are numpy-style (negative counts from the end);
// the default is the last two (y, x). float and double, in place and out of place, any input strides.
// Plans are cached (fftw_plan.hpp); FFTs use num_threads() threads, one inside a parallel region.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "larmor/fft/centering.hpp"
#include "larmor/fft/fftw_plan.hpp"

namespace larmor {

using axis_list = std::vector<int>;

namespace detail {

// Validates axes against rank R and returns them as a bit mask.
inline unsigned axes_mask(const char* func, const axis_list& axes, std::size_t rank) {
  LARMOR_CHECK_ARG(rank <= 32, func, ": rank ", rank, " exceeds 32");
  unsigned mask = 0;
  for (int a : axes) {
    const int n = normalize_axis(func, a, rank);
    LARMOR_CHECK_ARG(!(mask & (1u << n)), func, ": axis ", a, " is given twice");
    mask |= 1u << n;
  }
  return mask;
}

// In-place unnormalised DFT of the contiguous array `data` along mask. A batch too large to measure a
// plan for (above measure_scratch_limit_bytes), stacked along leading axes that are not transformed
// (coils, slices), runs as sub-batches of at most a quarter of that limit through one measured plan:
// FFTW's estimated plan for 64 coils x 128 x 256 x 256 (4 GiB) took 147 ms per coil volume, a measured
// plan for a few volumes 33-55 ms (measuring a whole 1 GiB batch takes longer and is not faster).
template <class Real>
void execute_dft_inplace(const std::vector<index_t>& shape, unsigned mask, int sign, std::complex<Real>* data,
                         int threads, std::size_t batch_limit_bytes = measure_scratch_limit_bytes) {
  std::size_t lead = 0;  // leading axes that are not transformed
  index_t batch = 1, inner = 1;
  while (lead < shape.size() && !(mask & (1u << lead))) batch *= shape[lead++];
  for (std::size_t a = lead; a < shape.size(); ++a) inner *= shape[a];
  const std::size_t volume_bytes = static_cast<std::size_t>(inner) * sizeof(std::complex<Real>);
  auto& plans = fftw_plan_cache<Real>::instance();
  if (lead == 0 || lead == shape.size() || static_cast<std::size_t>(batch) * volume_bytes <= batch_limit_bytes ||
      fft_planner_effort_setting() != fft_planner_effort::measure) {
    plans.plan(shape, mask, sign, data, data, threads)->execute(data, data);
    return;
  }
  const index_t per_chunk = std::max<index_t>(1, static_cast<index_t>(batch_limit_bytes / 4 / volume_bytes));
  std::vector<index_t> sub{0};  // (volumes in this chunk, transformed and trailing axes...)
  sub.insert(sub.end(), shape.begin() + static_cast<std::ptrdiff_t>(lead), shape.end());
  const unsigned sub_mask = (mask >> lead) << 1;
  for (index_t b0 = 0; b0 < batch; b0 += per_chunk) {
    sub[0] = std::min(per_chunk, batch - b0);
    std::complex<Real>* p = data + b0 * inner;
    plans.plan(sub, sub_mask, sign, p, p, threads)->execute(p, p);
  }
}

// The plane-wise path (centered_dft_planewise): chunks of about this many bytes, planes up to this size,
// and chunk plans measured from this many points (planning a chunk once is cheap next to a batch).
inline constexpr std::size_t planewise_chunk_bytes = std::size_t{1} << 20;
inline constexpr std::size_t planewise_max_plane_bytes = std::size_t{4} << 20;
inline constexpr index_t planewise_measure_min_points = index_t{1} << 15;

// Even sizes along a trailing block of axes, batched over leading axes that are not transformed (coils,
// slices), contiguous, per chunk of planes (about 1 MiB, so cache-resident), chunks in parallel: a
// single-threaded DFT of the chunk, then one pass that applies both shifts. With the checkerboard
// m(k) = (-1)^(sum k), centered = s m . F(m . x) (centering.hpp), and F(m . x)[k] = F(x)[k + N/2] for even
// N, so centered[k] = s m(k) F(x)[k + N/2] / sqrt(N): each element and its half-shifted partner swap
// places, modulated and scaled on the way (scale_copy_alternate on half rows). One cache pass instead of
// a modulation before and after the DFT: in place within a few % of FFTW's own batched plan (out of
// place the copy is the other pass). Returns false when the layout does not fit (the generic path runs).
template <class Real, std::size_t R>
bool centered_dft_planewise(strided_view<const std::complex<Real>, R> in, std::complex<Real>* out, unsigned mask,
                            int sign) {
  using cplx = std::complex<Real>;
  if (!in.is_contiguous()) return false;
  std::size_t lead = 0;
  while (lead < R && !(mask & (1u << lead))) ++lead;
  if (lead == R) return false;
  index_t plane = 1, batch = 1;
  double n_total = 1, post_sign = 1;
  for (std::size_t a = 0; a < R; ++a) {
    const index_t n = in.shape(a);
    if (a < lead) {
      batch *= n;
      continue;
    }
    if (!(mask & (1u << a)) || n % 2 != 0) return false;
    plane *= n;
    n_total *= static_cast<double>(n);
    if ((n / 2) % 2 == 1) post_sign = -post_sign;
  }
  const int threads = in_parallel_region() ? 1 : num_threads();
  const std::size_t plane_bytes = static_cast<std::size_t>(plane) * sizeof(cplx);
  if (plane_bytes > planewise_max_plane_bytes || (threads > 1 && batch < 2 * threads)) return false;
  index_t per_chunk = std::max<index_t>(1, static_cast<index_t>(planewise_chunk_bytes / plane_bytes));
  per_chunk = std::min(per_chunk, (batch + threads - 1) / threads);
  const index_t chunks = (batch + per_chunk - 1) / per_chunk, last = batch - (chunks - 1) * per_chunk;
  std::vector<index_t> shape{per_chunk};
  for (std::size_t a = lead; a < R; ++a) shape.push_back(in.shape(a));
  const unsigned sub_mask = ((1u << (R - lead)) - 1u) << 1;
  auto& plans = fftw_plan_cache<Real>::instance();
  const auto full_plan = plans.plan(shape, sub_mask, sign, out, out, 1, planewise_measure_min_points);
  shape[0] = last;
  const auto last_plan = plans.plan(shape, sub_mask, sign, out, out, 1, planewise_measure_min_points);
  const Real scale = static_cast<Real>(post_sign / std::sqrt(n_total));
  const index_t nx = in.shape(R - 1), rows = plane / nx, h = nx / 2;
  // Row r of a plane: sign (-1)^(sum of its indices along the transformed axes before x), and its partner:
  // the row of those indices shifted by half of each axis (the row itself when x is the only axis).
  std::vector<unsigned char> row_odd(static_cast<std::size_t>(rows));
  std::vector<index_t> partner(static_cast<std::size_t>(rows));
  for (index_t r = 0; r < rows; ++r) {
    index_t rem = r, parity = 0, shifted = 0, stride = 1;
    for (std::size_t a = R - 1; a-- > lead;) {
      const index_t n = in.shape(a), i = rem % n;
      parity += i;
      shifted += ((i + n / 2) % n) * stride;
      rem /= n, stride *= n;
    }
    row_odd[static_cast<std::size_t>(r)] = static_cast<unsigned char>(parity & 1);
    partner[static_cast<std::size_t>(r)] = shifted;
  }
  const Real half_sign = (h % 2 == 1) ? Real(-1) : Real(1);  // (-1)^h: the modulation at x = h + i
  const cplx* src = in.data();
  parallel_for(chunks, [&](index_t ch) {
    const index_t b0 = ch * per_chunk, nb = ch + 1 == chunks ? last : per_chunk;
    cplx* p = out + b0 * plane;
    if (src != out) std::copy_n(src + b0 * plane, nb * plane, p);
    (nb == per_chunk ? full_plan : last_plan)->execute(p, p);
    // out[k] = scale m(k) F(x)[k + N/2]: the halves of every axis swapped, with the modulation and scale.
    std::vector<cplx> tmp(static_cast<std::size_t>(h));
    for (index_t b = 0; b < nb; ++b)
      for (index_t r = 0; r < rows; ++r) {
        const index_t q = partner[static_cast<std::size_t>(r)];
        if (q < r) continue;  // the pair was done from q
        cplx* a = p + b * plane + r * nx;  // halves A = a[0, h), B = a[h, nx)
        cplx* d = p + b * plane + q * nx;  // halves C = d[0, h), D = d[h, nx)
        const Real fa = row_odd[static_cast<std::size_t>(r)] ? -scale : scale;
        const Real fd = row_odd[static_cast<std::size_t>(q)] ? -scale : scale;
        // A <- fa alt D, D <- fd (-1)^h alt A;  B <- fa (-1)^h alt C, C <- fd alt B  (alt_i = (-1)^i)
        std::copy_n(a, h, tmp.data());
        kernels::scale_copy_alternate(d + h, a, h, fa);
        kernels::scale_copy_alternate(tmp.data(), d + h, h, fd * half_sign);
        if (q == r) continue;  // one row: A and D were its two halves, B and C the same two
        std::copy_n(a + h, h, tmp.data());
        kernels::scale_copy_alternate(d, a + h, h, fa * half_sign);
        kernels::scale_copy_alternate(tmp.data(), d, h, fd);
      }
  });
  return true;
}

// out (contiguous, same shape as in) <- centered unitary DFT of in along mask. out may equal in.data()
// only when in is contiguous and no chosen axis is odd (then the in-place recipe is used).
template <class Real, std::size_t R>
void centered_dft(strided_view<const std::complex<Real>, R> in, std::complex<Real>* out, unsigned mask, int sign) {
  if (in.size() == 0) return;
  if (centered_dft_planewise<Real, R>(in, out, mask, sign)) return;
  std::vector<index_t> shape(in.shape().begin(), in.shape().end());
  double n_total = 1, s_pre, s_post;
  for (std::size_t a = 0; a < R; ++a)
    if (mask & (1u << a)) n_total *= static_cast<double>(shape[a]);
  const bool fold_even = in.data() != out;  // see centering.hpp: one pass instead of two
  const auto pre = centering_recipe(shape, mask, centering_pass::before_dft, fold_even, s_pre);
  const auto post = centering_recipe(shape, mask, centering_pass::after_dft, fold_even, s_post);
  bool post_pass = false;
  for (const auto& r : post) post_pass |= r.shift != 0 || r.alternate;
  const Real scale = static_cast<Real>(s_post / std::sqrt(n_total));

  centering_copy<std::complex<Real>, R, Real>(in, out, pre, post_pass ? Real(1) : scale);
  // Small transforms run on one thread: FFTW's thread start-up costs more than it saves below ~64k points.
  const int threads = (in_parallel_region() || in.size() < (index_t{1} << 16)) ? 1 : num_threads();
  execute_dft_inplace<Real>(shape, mask, sign, out, threads);
  if (!post_pass) return;
  const strided_view<std::complex<Real>, R> out_view(out, in.shape());
  if (!centering_moves_data(post)) {
    centering_copy<std::complex<Real>, R, Real>(out_view, out, post, scale);
  } else {
    array<std::complex<Real>, R> tmp(in.shape(), uninitialized);
    std::copy(out, out + in.size(), tmp.data());
    centering_copy<std::complex<Real>, R, Real>(tmp.cview(), out, post, scale);
  }
}

template <class Real, std::size_t R>
void centered_dft_inplace(strided_view<std::complex<Real>, R> x, unsigned mask, int sign) {
  bool odd = false;
  for (std::size_t a = 0; a < R; ++a) odd |= (mask & (1u << a)) && (x.shape(a) % 2 == 1);
  if (x.is_contiguous() && !odd) {
    centered_dft<Real, R>(x, x.data(), mask, sign);
  } else {
    array<std::complex<Real>, R> tmp(x.shape(), uninitialized);
    centered_dft<Real, R>(x, tmp.data(), mask, sign);
    copy(tmp.cview(), x);
  }
}

// Instantiated once in the compiled library (kernels/fft_instances.cpp) for float and double, ranks 1 to 6,
// not in every unit that runs an FFT; other types and ranks instantiate from the definitions above.
#define LARMOR_FFT_RANK_INSTANCE(EXTERN, Real, R)                                                              \
  EXTERN template void centered_dft<Real, R>(strided_view<const std::complex<Real>, R>, std::complex<Real>*,    \
                                             unsigned, int);                                                   \
  EXTERN template void centered_dft_inplace<Real, R>(strided_view<std::complex<Real>, R>, unsigned, int);
#define LARMOR_FFT_INSTANCES(EXTERN, Real)                                                                     \
  EXTERN template void execute_dft_inplace<Real>(const std::vector<index_t>&, unsigned, int, std::complex<Real>*, \
                                                 int, std::size_t);                                            \
  LARMOR_FFT_RANK_INSTANCE(EXTERN, Real, 1)                                                                    \
  LARMOR_FFT_RANK_INSTANCE(EXTERN, Real, 2)                                                                    \
  LARMOR_FFT_RANK_INSTANCE(EXTERN, Real, 3)                                                                    \
  LARMOR_FFT_RANK_INSTANCE(EXTERN, Real, 4)                                                                    \
  LARMOR_FFT_RANK_INSTANCE(EXTERN, Real, 5)                                                                    \
  LARMOR_FFT_RANK_INSTANCE(EXTERN, Real, 6)
LARMOR_FFT_INSTANCES(extern, float)
LARMOR_FFT_INSTANCES(extern, double)

}  // namespace detail

// Out of place: returns fftc(x) along axes as a new contiguous array.
template <class Real, std::size_t R>
array<std::complex<Real>, R> fftc(strided_view<const std::complex<Real>, R> x, const axis_list& axes = {-2, -1}) {
  const unsigned mask = detail::axes_mask("fftc", axes, R);
  array<std::complex<Real>, R> out(x.shape(), uninitialized);  // every element is written
  detail::centered_dft<Real, R>(x, out.data(), mask, FFTW_FORWARD);
  return out;
}

template <class Real, std::size_t R>
array<std::complex<Real>, R> ifftc(strided_view<const std::complex<Real>, R> x, const axis_list& axes = {-2, -1}) {
  const unsigned mask = detail::axes_mask("ifftc", axes, R);
  array<std::complex<Real>, R> out(x.shape(), uninitialized);  // every element is written
  detail::centered_dft<Real, R>(x, out.data(), mask, FFTW_BACKWARD);
  return out;
}

// Overloads so an array or mutable view can be passed directly.
template <class Real, std::size_t R>
array<std::complex<Real>, R> fftc(strided_view<std::complex<Real>, R> x, const axis_list& axes = {-2, -1}) {
  return fftc(strided_view<const std::complex<Real>, R>(x), axes);
}
template <class Real, std::size_t R>
array<std::complex<Real>, R> ifftc(strided_view<std::complex<Real>, R> x, const axis_list& axes = {-2, -1}) {
  return ifftc(strided_view<const std::complex<Real>, R>(x), axes);
}
template <class Real, std::size_t R>
array<std::complex<Real>, R> fftc(const array<std::complex<Real>, R>& x, const axis_list& axes = {-2, -1}) {
  return fftc(x.cview(), axes);
}
template <class Real, std::size_t R>
array<std::complex<Real>, R> ifftc(const array<std::complex<Real>, R>& x, const axis_list& axes = {-2, -1}) {
  return ifftc(x.cview(), axes);
}

// In place, on any view (non-contiguous views and odd sizes go through one temporary).
template <class Real, std::size_t R>
void fftc_inplace(strided_view<std::complex<Real>, R> x, const axis_list& axes = {-2, -1}) {
  detail::centered_dft_inplace<Real, R>(x, detail::axes_mask("fftc_inplace", axes, R), FFTW_FORWARD);
}
template <class Real, std::size_t R>
void ifftc_inplace(strided_view<std::complex<Real>, R> x, const axis_list& axes = {-2, -1}) {
  detail::centered_dft_inplace<Real, R>(x, detail::axes_mask("ifftc_inplace", axes, R), FFTW_BACKWARD);
}
template <class Real, std::size_t R>
void fftc_inplace(array<std::complex<Real>, R>& x, const axis_list& axes = {-2, -1}) {
  fftc_inplace(x.view(), axes);
}
template <class Real, std::size_t R>
void ifftc_inplace(array<std::complex<Real>, R>& x, const axis_list& axes = {-2, -1}) {
  ifftc_inplace(x.view(), axes);
}

}  // namespace larmor
