// larmor/kernels/nufft_kernels.hpp — the NUFFT's inner loops (larmor/nufft/plan.hpp): evaluation of the
// "exponential of semicircle" kernel from its piecewise polynomial, and the spreading / interpolation of
// one point's w^D window onto / from the fine grid, 2D and 3D.
//
//   es_kernel_values(coef, degree, S, z, n, out):   out[i S + j] = sum_{q=0..degree} coef[q S + j] z[i]^q,
//                                                   j < S (S a multiple of 8; taps j >= w are padding)
//   es_spread_2d(grid, st0, off, k, w, S, v, n):    for p < n, a, j < w:
//       grid[off[p] + a st0 + j] += v[p] ky_p[a] kx_p[j]
//   es_spread_3d(grid, st0, st1, off, k, w, S, v, n):  for p < n, a, b, j < w:
//       grid[off[p] + a st0 + b st1 + j] += v[p] kz_p[a] ky_p[b] kx_p[j]
//   es_interp_2d / es_interp_3d(grid, ..., out, n): out[p] = sum over the same window of kernel * grid
//
// k holds the kernel values of each point as (n, D, S) floats, axis 0 first (kz, ky, kx in 3D; ky, kx in 2D),
// as es_kernel_values writes them. off and the strides count complex elements; points are handled in
// order p = 0..n-1 (windows of different points may overlap: the summation order per cell is fixed).
// The kernels touch exactly the w^D window cells of each point (no wider loads/stores: neighbouring bins
// are spread by other threads at the same time).
//
// noexcept, single-threaded. float is SIMD with runtime dispatch (larmor_kernels, Google Highway; the
// spread/interp rows are 2w interleaved floats covered by whole vectors and then 8-, 4-, 2-lane pieces);
// double calls the scalar references. SIMD and scalar differ by rounding only (fused multiply-adds).
#pragma once

#include <complex>
#include <cstddef>

namespace larmor::kernels {

namespace scalar {

template <class Real>
inline void es_kernel_values(const Real* coef, int degree, int S, const Real* z, std::ptrdiff_t n,
                             Real* out) noexcept {
  for (std::ptrdiff_t i = 0; i < n; ++i)
    for (int j = 0; j < S; ++j) {
      Real v = coef[degree * S + j];
      for (int q = degree - 1; q >= 0; --q) v = v * z[i] + coef[q * S + j];
      out[i * S + j] = v;
    }
}

// row[2j], row[2j+1] += f * kx[j] * (vr, vi), j < w.
template <class Real>
inline void es_spread_row(Real* row, const Real* kx, int w, Real f, Real vr, Real vi) noexcept {
  for (int j = 0; j < w; ++j) {
    const Real t = f * kx[j];
    row[2 * j] += t * vr;
    row[2 * j + 1] += t * vi;
  }
}
// (re, im) += f * sum_j kx[j] row[2j, 2j+1].
template <class Real>
inline void es_interp_row(const Real* row, const Real* kx, int w, Real f, Real& re, Real& im) noexcept {
  Real r = 0, i = 0;
  for (int j = 0; j < w; ++j) r += kx[j] * row[2 * j], i += kx[j] * row[2 * j + 1];
  re += f * r, im += f * i;
}

template <class Real>
inline void es_spread_2d(std::complex<Real>* grid, std::ptrdiff_t st0, const std::ptrdiff_t* off, const Real* k,
                         int w, int S, const std::complex<Real>* v, std::ptrdiff_t n) noexcept {
  for (std::ptrdiff_t p = 0; p < n; ++p) {
    const Real *ky = k + 2 * S * p, *kx = ky + S;
    for (int a = 0; a < w; ++a)
      es_spread_row(reinterpret_cast<Real*>(grid + off[p] + a * st0), kx, w, ky[a], v[p].real(), v[p].imag());
  }
}
template <class Real>
inline void es_spread_3d(std::complex<Real>* grid, std::ptrdiff_t st0, std::ptrdiff_t st1, const std::ptrdiff_t* off,
                         const Real* k, int w, int S, const std::complex<Real>* v, std::ptrdiff_t n) noexcept {
  for (std::ptrdiff_t p = 0; p < n; ++p) {
    const Real *kz = k + 3 * S * p, *ky = kz + S, *kx = ky + S;
    for (int a = 0; a < w; ++a)
      for (int b = 0; b < w; ++b)
        es_spread_row(reinterpret_cast<Real*>(grid + off[p] + a * st0 + b * st1), kx, w, kz[a] * ky[b],
                      v[p].real(), v[p].imag());
  }
}
template <class Real>
inline void es_interp_2d(const std::complex<Real>* grid, std::ptrdiff_t st0, const std::ptrdiff_t* off,
                         const Real* k, int w, int S, std::complex<Real>* out, std::ptrdiff_t n) noexcept {
  for (std::ptrdiff_t p = 0; p < n; ++p) {
    const Real *ky = k + 2 * S * p, *kx = ky + S;
    Real re = 0, im = 0;
    for (int a = 0; a < w; ++a)
      es_interp_row(reinterpret_cast<const Real*>(grid + off[p] + a * st0), kx, w, ky[a], re, im);
    out[p] = {re, im};
  }
}
template <class Real>
inline void es_interp_3d(const std::complex<Real>* grid, std::ptrdiff_t st0, std::ptrdiff_t st1,
                         const std::ptrdiff_t* off, const Real* k, int w, int S, std::complex<Real>* out,
                         std::ptrdiff_t n) noexcept {
  for (std::ptrdiff_t p = 0; p < n; ++p) {
    const Real *kz = k + 3 * S * p, *ky = kz + S, *kx = ky + S;
    Real re = 0, im = 0;
    for (int a = 0; a < w; ++a)
      for (int b = 0; b < w; ++b)
        es_interp_row(reinterpret_cast<const Real*>(grid + off[p] + a * st0 + b * st1), kx, w, kz[a] * ky[b], re,
                      im);
    out[p] = {re, im};
  }
}

}  // namespace scalar

void es_kernel_values(const float* coef, int degree, int S, const float* z, std::ptrdiff_t n, float* out) noexcept;
void es_spread_2d(std::complex<float>* grid, std::ptrdiff_t st0, const std::ptrdiff_t* off, const float* k, int w, int S,
                  const std::complex<float>* v, std::ptrdiff_t n) noexcept;
void es_spread_3d(std::complex<float>* grid, std::ptrdiff_t st0, std::ptrdiff_t st1, const std::ptrdiff_t* off, const float* k, int w,
                  int S, const std::complex<float>* v, std::ptrdiff_t n) noexcept;
void es_interp_2d(const std::complex<float>* grid, std::ptrdiff_t st0, const std::ptrdiff_t* off, const float* k, int w, int S,
                  std::complex<float>* out, std::ptrdiff_t n) noexcept;
void es_interp_3d(const std::complex<float>* grid, std::ptrdiff_t st0, std::ptrdiff_t st1, const std::ptrdiff_t* off, const float* k,
                  int w, int S, std::complex<float>* out, std::ptrdiff_t n) noexcept;
// The Highway target the NUFFT kernels dispatch to now (tests force each target in turn).
const char* nufft_active_target() noexcept;

inline void es_kernel_values(const double* coef, int degree, int S, const double* z, std::ptrdiff_t n,
                             double* out) noexcept {
  scalar::es_kernel_values(coef, degree, S, z, n, out);
}
inline void es_spread_2d(std::complex<double>* grid, std::ptrdiff_t st0, const std::ptrdiff_t* off, const double* k, int w, int S,
                         const std::complex<double>* v, std::ptrdiff_t n) noexcept {
  scalar::es_spread_2d(grid, st0, off, k, w, S, v, n);
}
inline void es_spread_3d(std::complex<double>* grid, std::ptrdiff_t st0, std::ptrdiff_t st1, const std::ptrdiff_t* off, const double* k,
                         int w, int S, const std::complex<double>* v, std::ptrdiff_t n) noexcept {
  scalar::es_spread_3d(grid, st0, st1, off, k, w, S, v, n);
}
inline void es_interp_2d(const std::complex<double>* grid, std::ptrdiff_t st0, const std::ptrdiff_t* off, const double* k, int w,
                         int S, std::complex<double>* out, std::ptrdiff_t n) noexcept {
  scalar::es_interp_2d(grid, st0, off, k, w, S, out, n);
}
inline void es_interp_3d(const std::complex<double>* grid, std::ptrdiff_t st0, std::ptrdiff_t st1, const std::ptrdiff_t* off,
                         const double* k, int w, int S, std::complex<double>* out, std::ptrdiff_t n) noexcept {
  scalar::es_interp_3d(grid, st0, st1, off, k, w, S, out, n);
}

}  // namespace larmor::kernels
