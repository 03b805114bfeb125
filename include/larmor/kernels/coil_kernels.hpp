// larmor/kernels/coil_kernels.hpp — the contiguous inner loops of coil combination, unmixing and
// complex products: SIMD versions with runtime CPU dispatch, and a scalar reference beside each.
//
// Every kernel works on n consecutive complex samples (interleaved re, im: std::complex layout),
// is noexcept and single-threaded; the drivers (rss, combine, grappa, sense, …) validate arguments
// and split the work across threads with parallel_for, then call these on contiguous runs.
//
// complex<float>: compiled once per x86 target (SSSE3, SSE4, AVX2, AVX-512, and a scalar fallback)
// with Google Highway in the static library larmor_kernels (kernels/*.cpp); the best target the CPU
// supports is chosen at the first call (HWY_DYNAMIC_DISPATCH). complex<double>: the scalar reference, inlined.
// The SIMD versions use fused multiply-add where the target has it, so they agree with the scalar
// reference to float round-off (a few ulp), not bit for bit. Data 64-byte aligned (larmor::array)
// runs fastest: complex products peel a scalar head to align their stores.
//
// Products use the textbook formula (ar br - ai bi, ar bi + ai br) without std::complex's NaN/inf
// recovery (C99 Annex G), so non-finite inputs give non-finite outputs.
//
// Kernels over coils take the coil-c sample of pixel i at base[c * coil_stride + i] (the layout of a
// contiguous (coils, y, x) array, coil_stride = pixels per coil), and n pixels starting at base.
#pragma once

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstddef>
#include <numeric>

namespace larmor::kernels {

// ---------------------------------------------------------------------------- scalar references
namespace scalar {

// acc[i] += |x[i]|^2
template <class Real>
inline void accumulate_abs2(const std::complex<Real>* x, Real* acc, std::ptrdiff_t n) noexcept {
  for (std::ptrdiff_t i = 0; i < n; ++i) acc[i] += x[i].real() * x[i].real() + x[i].imag() * x[i].imag();
}

// acc[i] = sqrt(acc[i])
template <class Real>
inline void sqrt_inplace(Real* acc, std::ptrdiff_t n) noexcept {
  for (std::ptrdiff_t i = 0; i < n; ++i) acc[i] = std::sqrt(acc[i]);
}

// acc[i] += sum_c |x[c * coil_stride + i]|^2      (part of a root-sum-of-squares: a few coils at a time)
template <class Real>
inline void accumulate_abs2_coils(const std::complex<Real>* x, std::ptrdiff_t ncoils, std::ptrdiff_t coil_stride,
                                  Real* acc, std::ptrdiff_t n) noexcept {
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    Real s = 0;
    for (std::ptrdiff_t c = 0; c < ncoils; ++c) {
      const std::complex<Real> v = x[c * coil_stride + i];
      s += v.real() * v.real() + v.imag() * v.imag();
    }
    acc[i] += s;
  }
}

// out[i] = sqrt( sum_c |x[c * coil_stride + i]|^2 )      (root-sum-of-squares over coils)
template <class Real>
inline void rss_coils(const std::complex<Real>* x, std::ptrdiff_t ncoils, std::ptrdiff_t coil_stride, Real* out,
                      std::ptrdiff_t n) noexcept {
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    Real s = 0;
    accumulate_abs2_coils(x + i, ncoils, coil_stride, &s, 1);
    out[i] = std::sqrt(s);
  }
}

// num[i] += sum_c conj(maps[c * coil_stride + i]) img[c * coil_stride + i],
// den[i] += sum_c |maps[c * coil_stride + i]|^2   (part of a Roemer combination: a few coils at a time;
// the combined pixel is num / den once every coil has been added)
template <class Real>
inline void accumulate_roemer_coils(const std::complex<Real>* maps, const std::complex<Real>* img,
                                    std::ptrdiff_t ncoils, std::ptrdiff_t coil_stride, std::complex<Real>* num,
                                    Real* den, std::ptrdiff_t n) noexcept {
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    Real nr = 0, ni = 0, dd = 0;
    for (std::ptrdiff_t c = 0; c < ncoils; ++c) {
      const std::complex<Real> s = maps[c * coil_stride + i], v = img[c * coil_stride + i];
      nr += s.real() * v.real() + s.imag() * v.imag();
      ni += s.real() * v.imag() - s.imag() * v.real();
      dd += s.real() * s.real() + s.imag() * s.imag();
    }
    num[i] += std::complex<Real>(nr, ni);
    den[i] += dd;
  }
}

// out[i] = a[i] * b[i]
template <class Real>
inline void cmul(const std::complex<Real>* a, const std::complex<Real>* b, std::complex<Real>* out,
                 std::ptrdiff_t n) noexcept {
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const Real ar = a[i].real(), ai = a[i].imag(), br = b[i].real(), bi = b[i].imag();
    out[i] = {ar * br - ai * bi, ar * bi + ai * br};
  }
}

// out[i] = conj(a[i]) * b[i]
template <class Real>
inline void cmul_conj(const std::complex<Real>* a, const std::complex<Real>* b, std::complex<Real>* out,
                      std::ptrdiff_t n) noexcept {
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const Real ar = a[i].real(), ai = a[i].imag(), br = b[i].real(), bi = b[i].imag();
    out[i] = {ar * br + ai * bi, ar * bi - ai * br};
  }
}

// acc[i] += a[i] * b[i]
template <class Real>
inline void cmac(const std::complex<Real>* a, const std::complex<Real>* b, std::complex<Real>* acc,
                 std::ptrdiff_t n) noexcept {
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const Real ar = a[i].real(), ai = a[i].imag(), br = b[i].real(), bi = b[i].imag();
    acc[i] += std::complex<Real>(ar * br - ai * bi, ar * bi + ai * br);
  }
}

// acc[i] += conj(a[i]) * b[i]
template <class Real>
inline void cmac_conj(const std::complex<Real>* a, const std::complex<Real>* b, std::complex<Real>* acc,
                      std::ptrdiff_t n) noexcept {
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const Real ar = a[i].real(), ai = a[i].imag(), br = b[i].real(), bi = b[i].imag();
    acc[i] += std::complex<Real>(ar * br + ai * bi, ar * bi - ai * br);
  }
}

// Roemer (sensitivity-weighted) combination, Roemer et al. MRM 16:192 (1990):
//   out[i] = sum_c conj(S_c[i]) I_c[i] / sum_c |S_c[i]|^2,   0 where sum_c |S_c[i]|^2 == 0,
// S_c[i] = maps[c * coil_stride + i], I_c[i] = img[c * coil_stride + i].
template <class Real>
inline void combine_roemer(const std::complex<Real>* maps, const std::complex<Real>* img, std::ptrdiff_t ncoils,
                           std::ptrdiff_t coil_stride, std::complex<Real>* out, std::ptrdiff_t n) noexcept {
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    std::complex<Real> num = 0;
    Real den = 0;
    accumulate_roemer_coils(maps + i, img + i, ncoils, coil_stride, &num, &den, 1);
    out[i] = den > 0 ? std::complex<Real>(num.real() / den, num.imag() / den) : std::complex<Real>(0, 0);
  }
}

// out[i] += sum_c weights[c * coil_stride + i] img[c * coil_stride + i]   (unmix_apply a few coils at a time)
template <class Real>
inline void accumulate_unmix_coils(const std::complex<Real>* weights, const std::complex<Real>* img,
                                   std::ptrdiff_t ncoils, std::ptrdiff_t coil_stride, std::complex<Real>* out,
                                   std::ptrdiff_t n) noexcept {
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    Real sr = 0, si = 0;
    for (std::ptrdiff_t c = 0; c < ncoils; ++c) {
      const std::complex<Real> w = weights[c * coil_stride + i], v = img[c * coil_stride + i];
      sr += w.real() * v.real() - w.imag() * v.imag();
      si += w.real() * v.imag() + w.imag() * v.real();
    }
    out[i] += std::complex<Real>(sr, si);
  }
}

// Unmixing / GRAPPA-weight apply: out[i] = sum_c W_c[i] I_c[i],
// W_c[i] = weights[c * coil_stride + i], I_c[i] = img[c * coil_stride + i].
template <class Real>
inline void unmix_apply(const std::complex<Real>* weights, const std::complex<Real>* img, std::ptrdiff_t ncoils,
                        std::ptrdiff_t coil_stride, std::complex<Real>* out, std::ptrdiff_t n) noexcept {
  std::fill(out, out + n, std::complex<Real>(0, 0));
  accumulate_unmix_coils(weights, img, ncoils, coil_stride, out, n);
}

}  // namespace scalar

// ---------------------------------------------------------------------------- cache aliasing of coils
// True when nstreams streams read in step, stride_bytes apart (the coil stride), collide in the caches.
// A stride that is a multiple of a large power of two (256^2 or 512^2 pixels, 256x256x128, a 30-slice
// 256^2 stack) puts sample i of every coil in the same cache set (the set index repeats every 64 KiB in
// a 1 MiB 16-way L2, every 128 KiB in an 8-way one, every 4 KiB in L1). When more streams share a set
// than it has ways (8-16), the lines prefetched for one coil evict another's before they are read and a
// kernel over all coils at once runs at DRAM latency instead of bandwidth; the drivers (rss, combine, grappa_unmix)
// then take a few coils at a time into a cache-resident block of sums (the accumulate_* kernels). RSS over 64 coils x 256x256x128:
// 28-35 GB/s all coils together, 44-62 GB/s four at a time (bench/RESULTS.md).
inline bool coil_streams_share_cache_sets(std::ptrdiff_t nstreams, std::ptrdiff_t stride_bytes) noexcept {
  constexpr std::ptrdiff_t set_period = std::ptrdiff_t{1} << 16, ways = 8;
  const std::ptrdiff_t streams_per_set = nstreams * std::gcd(stride_bytes, set_period) / set_period;
  return streams_per_set > ways;
}

// ---------------------------------------------------------------------------- dispatched (float)
// Same contracts as the scalar references above; SIMD on the best target of this CPU.
void accumulate_abs2(const std::complex<float>* x, float* acc, std::ptrdiff_t n) noexcept;
void sqrt_inplace(float* acc, std::ptrdiff_t n) noexcept;
void rss_coils(const std::complex<float>* x, std::ptrdiff_t ncoils, std::ptrdiff_t coil_stride, float* out,
               std::ptrdiff_t n) noexcept;
void accumulate_abs2_coils(const std::complex<float>* x, std::ptrdiff_t ncoils, std::ptrdiff_t coil_stride,
                           float* acc, std::ptrdiff_t n) noexcept;
void cmul(const std::complex<float>* a, const std::complex<float>* b, std::complex<float>* out,
          std::ptrdiff_t n) noexcept;
void cmul_conj(const std::complex<float>* a, const std::complex<float>* b, std::complex<float>* out,
               std::ptrdiff_t n) noexcept;
void cmac(const std::complex<float>* a, const std::complex<float>* b, std::complex<float>* acc,
          std::ptrdiff_t n) noexcept;
void cmac_conj(const std::complex<float>* a, const std::complex<float>* b, std::complex<float>* acc,
               std::ptrdiff_t n) noexcept;
void combine_roemer(const std::complex<float>* maps, const std::complex<float>* img, std::ptrdiff_t ncoils,
                    std::ptrdiff_t coil_stride, std::complex<float>* out, std::ptrdiff_t n) noexcept;
void accumulate_roemer_coils(const std::complex<float>* maps, const std::complex<float>* img, std::ptrdiff_t ncoils,
                             std::ptrdiff_t coil_stride, std::complex<float>* num, float* den,
                             std::ptrdiff_t n) noexcept;
void unmix_apply(const std::complex<float>* weights, const std::complex<float>* img, std::ptrdiff_t ncoils,
                 std::ptrdiff_t coil_stride, std::complex<float>* out, std::ptrdiff_t n) noexcept;
void accumulate_unmix_coils(const std::complex<float>* weights, const std::complex<float>* img, std::ptrdiff_t ncoils,
                            std::ptrdiff_t coil_stride, std::complex<float>* out, std::ptrdiff_t n) noexcept;

// The name of the instruction-set target the dispatched kernels run on now (e.g. "AVX3", "AVX2",
// "SSE4", "EMU128"); follows hwy::SetSupportedTargetsForTest, which the tests use to run every target.
const char* active_target() noexcept;

// ---------------------------------------------------------------------------- double: scalar
inline void accumulate_abs2(const std::complex<double>* x, double* acc, std::ptrdiff_t n) noexcept {
  scalar::accumulate_abs2(x, acc, n);
}
inline void sqrt_inplace(double* acc, std::ptrdiff_t n) noexcept { scalar::sqrt_inplace(acc, n); }
inline void rss_coils(const std::complex<double>* x, std::ptrdiff_t ncoils, std::ptrdiff_t coil_stride, double* out,
                      std::ptrdiff_t n) noexcept {
  scalar::rss_coils(x, ncoils, coil_stride, out, n);
}
inline void accumulate_abs2_coils(const std::complex<double>* x, std::ptrdiff_t ncoils, std::ptrdiff_t coil_stride,
                                  double* acc, std::ptrdiff_t n) noexcept {
  scalar::accumulate_abs2_coils(x, ncoils, coil_stride, acc, n);
}
inline void cmul(const std::complex<double>* a, const std::complex<double>* b, std::complex<double>* out,
                 std::ptrdiff_t n) noexcept {
  scalar::cmul(a, b, out, n);
}
inline void cmul_conj(const std::complex<double>* a, const std::complex<double>* b, std::complex<double>* out,
                      std::ptrdiff_t n) noexcept {
  scalar::cmul_conj(a, b, out, n);
}
inline void cmac(const std::complex<double>* a, const std::complex<double>* b, std::complex<double>* acc,
                 std::ptrdiff_t n) noexcept {
  scalar::cmac(a, b, acc, n);
}
inline void cmac_conj(const std::complex<double>* a, const std::complex<double>* b, std::complex<double>* acc,
                      std::ptrdiff_t n) noexcept {
  scalar::cmac_conj(a, b, acc, n);
}
inline void combine_roemer(const std::complex<double>* maps, const std::complex<double>* img, std::ptrdiff_t ncoils,
                           std::ptrdiff_t coil_stride, std::complex<double>* out, std::ptrdiff_t n) noexcept {
  scalar::combine_roemer(maps, img, ncoils, coil_stride, out, n);
}
inline void accumulate_roemer_coils(const std::complex<double>* maps, const std::complex<double>* img,
                                    std::ptrdiff_t ncoils, std::ptrdiff_t coil_stride, std::complex<double>* num,
                                    double* den, std::ptrdiff_t n) noexcept {
  scalar::accumulate_roemer_coils(maps, img, ncoils, coil_stride, num, den, n);
}
inline void unmix_apply(const std::complex<double>* weights, const std::complex<double>* img, std::ptrdiff_t ncoils,
                        std::ptrdiff_t coil_stride, std::complex<double>* out, std::ptrdiff_t n) noexcept {
  scalar::unmix_apply(weights, img, ncoils, coil_stride, out, n);
}
inline void accumulate_unmix_coils(const std::complex<double>* weights, const std::complex<double>* img,
                                   std::ptrdiff_t ncoils, std::ptrdiff_t coil_stride, std::complex<double>* out,
                                   std::ptrdiff_t n) noexcept {
  scalar::accumulate_unmix_coils(weights, img, ncoils, coil_stride, out, n);
}

}  // namespace larmor::kernels
