// larmor/pf/partial_fourier.hpp — partial Fourier (asymmetric k-space) reconstruction: POCS and homodyne.
//
// A partial-Fourier acquisition samples a little more than half of k-space along one or more axes (phase
// encode y, partition z, or the readout x for an asymmetric echo): [begin, end) with the centre N/2 inside
// but not in the middle. Zero filling blurs and rings along that axis. Both methods below assume that the
// image phase is smooth and take it from the symmetric centre of k-space, the part whose mirror image
// (k -> -k about the centre index N/2) was also acquired.
//
//   POCS (Haacke EM, Lindskog ED, Lin W, J Magn Reson 1991; 94:567-572): per coil,
//     P  = phase of ifftc(window * k)                      (window: Hann over the symmetric centre along each
//                                                          partial-Fourier axis, 1 along the others)
//     x0 = ifftc(k zero filled)
//     repeat: y = fftc(|x| * P); keep the acquired samples of k, take y elsewhere; x = ifftc(that)
//     until the relative change of the estimated samples ||k_new - k_old|| / ||k_new|| < tolerance,
//     or `iterations` passes. With transition T > 0 the acquired samples within T samples of the acquired
//     edge are blended with the last estimate, k = F k_acq + (1 - F) y, F a Hann taper from 0 (edge) to 1
//     (T samples inside), so the step between measured and estimated data does not ring (Gadgetron's
//     partial-Fourier POCS handling does the same); with T = 0 (the default) every acquired sample is
//     returned exactly as it was given.
//   Homodyne (Noll DC, Nishimura DG, Macovski A, IEEE Trans Med Imaging 1991; 10:154-163): per coil,
//     m = Re{ conj(P) * ifftc(H * k) },   returned as fftc(m * P)
//     H(d) = clamp(1 - d / h, 0, 2) along one axis whose high side is missing (d = i - N/2, h = first missing
//     index - N/2): 2 where the mirror sample is missing, a ramp through the symmetric region (1 at the
//     centre), 0 where nothing was acquired; mirrored when the low side is missing. This is the ramp of
//     `bart homodyne` (alpha = 0). H(d) + H(-d) = 2 everywhere, which is what makes Re{} recover the
//     missing half. Several axes at once: with u_a = H_a - 1 per axis, H = 1 + (u_1 (+) u_2 (+) ...) where
//     u (+) v = (u + v) / (1 + u v); this keeps H(k) + H(-k) = 2 wherever k or -k was acquired and H = 2
//     where only k was (for a single axis it is the ramp above). Samples whose mirror and themselves
//     were both missing (corners of a two-axis acquisition) stay unknown.
//     The returned k-space is not the input with its gaps filled: its inverse FFT is the real homodyne
//     image times the low-resolution phase P, so |ifftc(result)| = |m| and a coil combination (RSS,
//     Roemer, ESPIRiT) of these coil images works as for any other k-space. (`bart homodyne` returns the
//     real image m itself.)
//   zero: the input, unchanged (zero filled).
//
// Axes and layout: kspace is (coils, y, x) or (coils, z, y, x), centred k-space (index N/2 is k = 0,
// as fftc/ifftc of larmor/fft/fft.hpp), zeros where nothing was acquired. `axes` are numpy style
// (-2 = y, -3 = z, -1 = x); axis 0 is the coil axis and is refused. `acquired` holds one [begin, end)
// per axis, or is empty: then each axis' range is the extent of the non-zero samples over all coils and
// the other axes. An axis acquired completely, or symmetrically about N/2 (a low-resolution scan, not
// partial Fourier), is left alone. Inside [begin, end) every sample counts as acquired (holes are not
// filled: run parallel imaging first). The FFTs run over all spatial axes (z, y, x) of each coil.
//
// Threads: coils in parallel when there are at least as many coils as threads, otherwise one coil after
// another with multithreaded FFTs and loops; two coil-sized buffers per thread (plus one inside the FFT for odd
// sizes). Results do not depend on the thread count.
// Errors: InvalidArgument for a wrong rank, an axis out of range / the coil axis / given twice, a range
// outside the axis, a partial-Fourier range that covers less than half of the axis or misses the centre,
// bad options; DataError for NaN/Inf in the k-space.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/core/error.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/core/renamed_option.hpp"
#include "larmor/core/view.hpp"
#include "larmor/fft/fft.hpp"

namespace larmor {

enum class partial_fourier_method { pocs, homodyne, zero };

// "pocs" | "homodyne" | "zero"; anything else is an InvalidArgument.
inline partial_fourier_method parse_partial_fourier_method(const std::string& name) {
  if (name == "pocs") return partial_fourier_method::pocs;
  if (name == "homodyne") return partial_fourier_method::homodyne;
  if (name == "zero") return partial_fourier_method::zero;
  throw InvalidArgument(detail::concat("partial_fourier: method must be \"pocs\", \"homodyne\" or \"zero\", got \"",
                                       name, "\""));
}

inline const char* partial_fourier_method_name(partial_fourier_method m) {
  switch (m) {
    case partial_fourier_method::pocs: return "pocs";
    case partial_fourier_method::homodyne: return "homodyne";
    case partial_fourier_method::zero: return "zero";
  }
  return "?";
}

struct partial_fourier_options {
  partial_fourier_method method = partial_fourier_method::pocs;
  // POCS: at most this many passes (>= 1). On the phantom of tests/cpp/test_partial_fourier.cpp, 10 passes
  // (with the tolerance below) come within 0-30 % of the error after 50 (see docs/partial_fourier.md);
  // Gadgetron's default is 6 passes with a tolerance of 0.01.
  int iters = 10;
  // POCS: stop a coil when ||k_new - k_old|| / ||k_new|| falls below this (>= 0; 0: run all iterations).
  double tol = 1e-3;
  // POCS: width in samples of the blend between acquired and estimated data at the acquired edge
  // (0: acquired samples are kept exactly). Shrunk where it would reach the k-space centre.
  index_t transition = 0;
  renamed_option<int> iterations;     // 0.1's name of `iters` (deprecated; honoured when assigned)
  renamed_option<double> tolerance;   // 0.1's name of `tol` (deprecated; honoured when assigned)
};

// [begin, end) acquired along one axis.
struct acquired_range {
  index_t begin = 0, end = 0;
};

namespace pf_detail {

// One spatial axis of the per-coil volume (z, y, x); z has length 1 for 2D data.
struct axis_info {
  index_t n = 1;
  index_t begin = 0, end = 1;  // acquired range
  bool partial = false;        // estimated by POCS / homodyne
  bool high_missing = false;   // acquired further below the centre than above (the high side is missing)
  index_t half_sym = 0;        // symmetric centre: |i - n/2| <= half_sym
};

inline index_t centre(index_t n) { return n / 2; }

// |z| without hypot's overflow guard (libm's hypotf took a third of the POCS time); k-space values are far
// from float's overflow range.
inline float magnitude(cfloat z) { return std::sqrt(z.real() * z.real() + z.imag() * z.imag()); }

// Classifies one axis from its acquired range; throws for ranges that cannot be partial Fourier.
inline axis_info classify_axis(int axis, index_t n, acquired_range r) {
  axis_info a;
  a.n = n;
  a.begin = r.begin;
  a.end = r.end;
  LARMOR_CHECK_ARG(r.begin >= 0 && r.end <= n && r.begin < r.end, "partial_fourier: acquired range [", r.begin, ", ",
                   r.end, ") along axis ", axis, " is outside the axis [0, ", n, ") or empty");
  const index_t c = centre(n);
  if (r.begin == 0 && r.end == n) return a;
  const index_t lo = c - r.begin, hi = r.end - 1 - c;  // acquired extent below / above the centre
  if (lo == hi) return a;                               // symmetric: a low-resolution scan, left alone
  LARMOR_CHECK_ARG(2 * (r.end - r.begin) >= n, "partial_fourier: acquired range [", r.begin, ", ", r.end,
                   ") along axis ", axis, " covers less than half of its ", n, " samples");
  LARMOR_CHECK_ARG(lo >= 1 && hi >= 1, "partial_fourier: acquired range [", r.begin, ", ", r.end, ") along axis ",
                   axis, " does not contain the centre ", c, " with a sample on each side of it");
  a.partial = true;
  a.high_missing = lo > hi;
  a.half_sym = std::min(lo, hi);
  return a;
}

// Phase-estimation window: Hann over the symmetric centre, 1 along axes that are not partial.
inline std::vector<float> phase_window(const axis_info& a) {
  std::vector<float> w(static_cast<std::size_t>(a.n), a.partial ? 0.f : 1.f);
  if (!a.partial) return w;
  const double pi = 3.14159265358979323846;
  const index_t c = centre(a.n);
  for (index_t d = -a.half_sym; d <= a.half_sym; ++d)
    w[static_cast<std::size_t>(c + d)] =
        static_cast<float>(0.5 * (1.0 + std::cos(pi * static_cast<double>(d) / static_cast<double>(a.half_sym + 1))));
  return w;
}

// Homodyne weight minus one, u = H - 1 in [-1, 1] (0 along axes that are not partial).
inline std::vector<double> homodyne_excess(const axis_info& a) {
  std::vector<double> u(static_cast<std::size_t>(a.n), 0.0);
  if (!a.partial) return u;
  const index_t c = centre(a.n);
  // h: distance from the centre to the first missing sample on the missing side.
  const double h = a.high_missing ? static_cast<double>(a.end - c) : static_cast<double>(c - (a.begin - 1));
  for (index_t i = 0; i < a.n; ++i) {
    const double d = static_cast<double>(i - c);
    u[static_cast<std::size_t>(i)] = std::clamp(a.high_missing ? -d / h : d / h, -1.0, 1.0);
  }
  return u;
}

// (u + v) / (1 + u v): composes the per-axis homodyne weights (see the header comment).
inline double compose_excess(double u, double v) {
  const double den = 1.0 + u * v;
  return den == 0.0 ? 0.0 : (u + v) / den;
}

// Blend factor F of the acquired samples (1 = measured value kept, 0 = estimate); 0 outside the range.
inline std::vector<float> blend_profile(const axis_info& a, index_t transition) {
  std::vector<float> f(static_cast<std::size_t>(a.n), 0.f);
  for (index_t i = a.begin; i < a.end; ++i) f[static_cast<std::size_t>(i)] = 1.f;
  if (!a.partial || transition <= 0) return f;
  const double pi = 3.14159265358979323846;
  const index_t c = centre(a.n);
  auto taper = [&](index_t edge, int dir, index_t band) {  // edge: last acquired sample, dir: into the range
    for (index_t t = 0; t < band; ++t)
      f[static_cast<std::size_t>(edge + dir * t)] = static_cast<float>(
          0.5 * (1.0 - std::cos(pi * static_cast<double>(t + 1) / static_cast<double>(band + 1))));
  };
  // Only at edges next to missing samples, and never reaching the centre.
  if (a.end < a.n) taper(a.end - 1, -1, std::min(transition, a.end - 1 - c));
  if (a.begin > 0) taper(a.begin, +1, std::min(transition, c - a.begin));
  return f;
}

// Everything the per-coil loops need, on the (z, y, x) volume of one coil.
struct plan {
  std::array<axis_info, 3> ax;
  std::array<std::vector<float>, 3> window, blend;
  std::array<std::vector<unsigned char>, 3> acq;  // 1 inside the acquired range (or axis not partial)
  std::array<std::vector<double>, 3> excess;
  index_t nz = 1, ny = 1, nx = 1;
  index_t volume() const { return nz * ny * nx; }
};

// Rows (z, y) of one coil volume in fixed blocks: parallel when the coils are not already run in parallel
// (parallel_for is serial inside a parallel region); per-block sums keep reductions independent of threads.
constexpr index_t row_block = 8;
template <class Body>
void for_row_blocks(const plan& p, Body&& body) {  // body(block, z, y, row offset)
  const index_t nrows = p.nz * p.ny;
  parallel_for_blocks(nrows, row_block, [&](index_t first, index_t count) {
    for (index_t r = first; r < first + count; ++r) body(first / row_block, r / p.ny, r % p.ny, r * p.nx);
  });
}
inline index_t row_blocks(const plan& p) { return (p.nz * p.ny + row_block - 1) / row_block; }

// Phase estimate of one coil: P = z / |z|, z = ifftc(window * k) (1 where z is exactly 0).
inline void estimate_phase(const plan& p, const cfloat* k, cfloat* phase) {
  const index_t nx = p.nx;
  for_row_blocks(p, [&](index_t, index_t z, index_t y, index_t row) {
    const float wzy = p.window[0][static_cast<std::size_t>(z)] * p.window[1][static_cast<std::size_t>(y)];
    for (index_t x = 0; x < nx; ++x) phase[row + x] = k[row + x] * (wzy * p.window[2][static_cast<std::size_t>(x)]);
  });
  ifftc_inplace(strided_view<cfloat, 3>(phase, extents<3>{p.nz, p.ny, nx}), {0, 1, 2});
  for_row_blocks(p, [&](index_t, index_t, index_t, index_t row) {
    for (index_t x = row; x < row + nx; ++x) {
      const float m = magnitude(phase[x]);
      phase[x] = m > 0.f ? phase[x] * (1.f / m) : cfloat(1.f, 0.f);
    }
  });
}

// POCS on one coil; k (contiguous volume) holds the zero-filled data on entry and the result on exit.
// sums: 2 * row_blocks(p) doubles of scratch.
inline void pocs_coil(const plan& p, const partial_fourier_options& opt, cfloat* k, cfloat* phase, cfloat* work,
                      double* sums) {
  estimate_phase(p, k, phase);
  const index_t nx = p.nx, nb = row_blocks(p);
  const extents<3> shape{p.nz, p.ny, nx};
  for (int it = 0; it < opt.iters; ++it) {
    detail::centered_dft<float, 3>(strided_view<const cfloat, 3>(k, shape), work, 7u, FFTW_BACKWARD);
    for_row_blocks(p, [&](index_t, index_t, index_t, index_t row) {
      for (index_t x = row; x < row + nx; ++x) work[x] = magnitude(work[x]) * phase[x];
    });
    fftc_inplace(strided_view<cfloat, 3>(work, shape), {0, 1, 2});
    std::fill(sums, sums + 2 * nb, 0.0);
    for_row_blocks(p, [&](index_t b, index_t z, index_t y, index_t row) {
      const bool zy = p.acq[0][static_cast<std::size_t>(z)] && p.acq[1][static_cast<std::size_t>(y)];
      double change = 0, norm = 0;
      for (index_t x = 0; x < nx; ++x) {
        cfloat& v = k[row + x];
        if (!(zy && p.acq[2][static_cast<std::size_t>(x)])) {
          change += std::norm(std::complex<double>(work[row + x] - v));
          v = work[row + x];
        }
        norm += std::norm(std::complex<double>(v));
      }
      sums[2 * b] += change;
      sums[2 * b + 1] += norm;
    });
    double change = 0, norm = 0;
    for (index_t b = 0; b < nb; ++b) {
      change += sums[2 * b];
      norm += sums[2 * b + 1];
    }
    if (norm == 0 || std::sqrt(change / norm) < opt.tol) break;
  }
  if (opt.transition <= 0) return;
  // Blend the measured samples near the acquired edge with the last estimate (work).
  for_row_blocks(p, [&](index_t, index_t z, index_t y, index_t row) {
    const float fzy = p.blend[0][static_cast<std::size_t>(z)] * p.blend[1][static_cast<std::size_t>(y)];
    if (fzy == 0.f) return;
    for (index_t x = 0; x < nx; ++x) {
      const float f = fzy * p.blend[2][static_cast<std::size_t>(x)];
      if (f > 0.f && f < 1.f) k[row + x] = f * k[row + x] + (1.f - f) * work[row + x];
    }
  });
}

// Homodyne on one coil; k holds the zero-filled data on entry and fftc(m * P) on exit.
inline void homodyne_coil(const plan& p, cfloat* k, cfloat* phase) {
  estimate_phase(p, k, phase);
  const index_t nx = p.nx;
  for_row_blocks(p, [&](index_t, index_t z, index_t y, index_t row) {
    const double uzy =
        compose_excess(p.excess[0][static_cast<std::size_t>(z)], p.excess[1][static_cast<std::size_t>(y)]);
    for (index_t x = 0; x < nx; ++x)
      k[row + x] *= static_cast<float>(1.0 + compose_excess(uzy, p.excess[2][static_cast<std::size_t>(x)]));
  });
  const strided_view<cfloat, 3> v(k, extents<3>{p.nz, p.ny, nx});
  ifftc_inplace(v, {0, 1, 2});
  for_row_blocks(p, [&](index_t, index_t, index_t, index_t row) {
    for (index_t x = row; x < row + nx; ++x) {
      const float m = k[x].real() * phase[x].real() + k[x].imag() * phase[x].imag();  // Re{conj(P) x}
      k[x] = m * phase[x];
    }
  });
  fftc_inplace(v, {0, 1, 2});
}

// Builds the plan for a (coils, nz, ny, nx) contiguous k-space; `spatial_axes` index (z, y, x) = (0, 1, 2),
// `user_axes` the caller's spelling for messages. Detects ranges from the data when `acquired` is empty,
// and checks the data for NaN/Inf on the way.
inline plan make_plan(const cfloat* k, index_t coils, index_t nz, index_t ny, index_t nx,
                      const std::vector<int>& spatial_axes, const axis_list& user_axes,
                      const std::vector<acquired_range>& acquired, const partial_fourier_options& opt) {
  plan p;
  p.nz = nz;
  p.ny = ny;
  p.nx = nx;
  const std::array<index_t, 3> n{nz, ny, nx};
  // Non-zero extent along each axis (and the finite check), coils in parallel.
  std::vector<std::vector<unsigned char>> seen(static_cast<std::size_t>(coils));
  std::vector<unsigned char> bad(static_cast<std::size_t>(coils), 0);
  const bool detect = acquired.empty();
  parallel_for(coils, [&](index_t c) {
    auto& s = seen[static_cast<std::size_t>(c)];
    s.assign(static_cast<std::size_t>(nz + ny + nx), 0);
    const cfloat* kc = k + c * nz * ny * nx;
    for (index_t z = 0; z < nz; ++z)
      for (index_t y = 0; y < ny; ++y) {
        const cfloat* row = kc + (z * ny + y) * nx;
        bool any = false;
        for (index_t x = 0; x < nx; ++x) {
          const float re = row[x].real(), im = row[x].imag();
          if (!std::isfinite(re) || !std::isfinite(im)) bad[static_cast<std::size_t>(c)] = 1;
          if (detect && (re != 0.f || im != 0.f)) {
            any = true;
            s[static_cast<std::size_t>(nz + ny + x)] = 1;
          }
        }
        if (any) s[static_cast<std::size_t>(z)] = s[static_cast<std::size_t>(nz + y)] = 1;
      }
  });
  for (index_t c = 0; c < coils; ++c)
    LARMOR_CHECK_DATA(!bad[static_cast<std::size_t>(c)], "partial_fourier: kspace of coil ", c,
                      " contains NaN or Inf");
  for (std::size_t i = 0; i < spatial_axes.size(); ++i) {
    const int a = spatial_axes[i];
    acquired_range r;
    if (detect) {
      const index_t off = a == 0 ? 0 : a == 1 ? nz : nz + ny;
      index_t b = -1, e = -1;
      for (index_t j = 0; j < n[static_cast<std::size_t>(a)]; ++j) {
        bool any = false;
        for (index_t c = 0; c < coils; ++c) any = any || seen[static_cast<std::size_t>(c)][static_cast<std::size_t>(off + j)];
        if (any) {
          if (b < 0) b = j;
          e = j + 1;
        }
      }
      LARMOR_CHECK_DATA(b >= 0, "partial_fourier: kspace has no non-zero sample");
      r = {b, e};
    } else {
      r = acquired[i];
    }
    p.ax[static_cast<std::size_t>(a)] = classify_axis(user_axes[i], n[static_cast<std::size_t>(a)], r);
  }
  for (std::size_t a = 0; a < 3; ++a) {
    auto& info = p.ax[a];
    info.n = n[a];
    if (!info.partial) {  // left alone: everything along it counts as acquired
      info.begin = 0;
      info.end = n[a];
    }
    p.window[a] = phase_window(info);
    p.blend[a] = blend_profile(info, opt.transition);
    p.excess[a] = homodyne_excess(info);
    p.acq[a].assign(static_cast<std::size_t>(n[a]), 0);
    for (index_t i = info.begin; i < info.end; ++i) p.acq[a][static_cast<std::size_t>(i)] = 1;
  }
  return p;
}

inline bool any_partial(const plan& p) { return p.ax[0].partial || p.ax[1].partial || p.ax[2].partial; }

// Runs the chosen method on every coil of the contiguous (coils, volume) buffer k, in place.
inline void run(const plan& p, const partial_fourier_options& opt, cfloat* k, index_t coils) {
  const index_t nv = p.volume();
  const int nt = num_threads();
  const bool outer = coils >= nt && nt > 1;  // coils in parallel, FFTs single-threaded inside
  const index_t block = outer ? (coils + nt - 1) / nt : coils;
  const index_t nblocks = (coils + block - 1) / block;
  // Two buffers per block, allocated before the parallel region (nothing allocates inside it but FFTW).
  std::vector<array<cfloat, 1>> phase, work;
  std::vector<std::vector<double>> sums;
  for (index_t b = 0; b < nblocks; ++b) {
    phase.emplace_back(extents<1>{nv}, uninitialized);
    if (opt.method == partial_fourier_method::pocs) {
      work.emplace_back(extents<1>{nv}, uninitialized);
      sums.emplace_back(static_cast<std::size_t>(2 * pf_detail::row_blocks(p)));
    }
  }
  auto body = [&](index_t first, index_t count) {
    const auto b = static_cast<std::size_t>(first / block);
    for (index_t c = first; c < first + count; ++c) {
      if (opt.method == partial_fourier_method::pocs)
        pocs_coil(p, opt, k + c * nv, phase[b].data(), work[b].data(), sums[b].data());
      else
        homodyne_coil(p, k + c * nv, phase[b].data());
    }
  };
  if (outer)
    parallel_for_blocks(coils, block, body);
  else
    body(0, coils);
}

}  // namespace pf_detail

// kspace: (coils, y, x) or (coils, z, y, x), zeros where not acquired. axes: the partial-Fourier axes
// (negative counts from the end: -2 = y, -3 = z, -1 = readout for an asymmetric echo); several at once allowed.
// acquired: one range per entry of `axes`, or empty: detected from the data (extent of non-zero samples along
// the axis over all coils and other axes). Axes whose acquired range is the whole axis, or symmetric about the
// centre N/2, are left alone. Returns filled k-space of the same shape (acquired samples kept as they are for
// POCS with transition 0). See the top of this file for the methods and conventions.
template <std::size_t R>
array<cfloat, R> partial_fourier(strided_view<const cfloat, R> kspace, const axis_list& axes,
                                 const partial_fourier_options& opt = {},
                                 const std::vector<acquired_range>& acquired = {}) {
  // The 0.1 names win while assigned (core/renamed_option.hpp); everything below reads iters and tol.
  partial_fourier_options o = opt;
  o.iters = opt.iterations.or_value(opt.iters);
  o.tol = opt.tolerance.or_value(opt.tol);
  LARMOR_CHECK_ARG(R == 3 || R == 4, "partial_fourier: kspace must be (coils, y, x) or (coils, z, y, x), got rank ",
                   R, " with shape ", shape_string(kspace.shape()));
  LARMOR_CHECK_ARG(!axes.empty(), "partial_fourier: no axes given");
  LARMOR_CHECK_ARG(acquired.empty() || acquired.size() == axes.size(), "partial_fourier: ", acquired.size(),
                   " acquired ranges for ", axes.size(), " axes");
  LARMOR_CHECK_ARG(o.iters >= 1, "partial_fourier: iters must be >= 1, got ", o.iters);
  LARMOR_CHECK_ARG(std::isfinite(o.tol) && o.tol >= 0, "partial_fourier: tol must be >= 0, got ", o.tol);
  LARMOR_CHECK_ARG(opt.transition >= 0, "partial_fourier: transition must be >= 0, got ", opt.transition);
  std::vector<int> spatial;  // 0 = z, 1 = y, 2 = x
  for (int a : axes) {
    const int n = normalize_axis("partial_fourier", a, R);
    LARMOR_CHECK_ARG(n != 0, "partial_fourier: axis ", a, " is the coil axis");
    const int s = n + 3 - static_cast<int>(R);
    LARMOR_CHECK_ARG(std::find(spatial.begin(), spatial.end(), s) == spatial.end(), "partial_fourier: axis ", a,
                     " is given twice");
    spatial.push_back(s);
  }
  array<cfloat, R> out = to_array(kspace);
  if constexpr (R == 3 || R == 4) {
    const index_t coils = out.shape(0);
    const index_t nz = R == 4 ? out.shape(1) : 1, ny = out.shape(R - 2), nx = out.shape(R - 1);
    if (out.size() == 0) return out;
    const auto p = pf_detail::make_plan(out.data(), coils, nz, ny, nx, spatial, axes, acquired, o);
    if (o.method == partial_fourier_method::zero || !pf_detail::any_partial(p)) return out;
    pf_detail::run(p, o, out.data(), coils);
  }
  return out;
}

template <std::size_t R>
array<cfloat, R> partial_fourier(const array<cfloat, R>& kspace, const axis_list& axes,
                                 const partial_fourier_options& opt = {},
                                 const std::vector<acquired_range>& acquired = {}) {
  return partial_fourier(kspace.cview(), axes, opt, acquired);
}

}  // namespace larmor
