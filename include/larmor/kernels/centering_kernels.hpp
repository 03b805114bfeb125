// larmor/kernels/centering_kernels.hpp — the row kernel of the fused fftshift/ifftshift copy
// (larmor/fft/centering.hpp): a scaled copy, optionally with alternating sign (the (-1)^n modulation
// that a shift by N/2 of an even axis becomes after a DFT).
//
//   scale_copy(src, dst, n, f):            dst[i] = f * src[i]
//   scale_copy_alternate(src, dst, n, f):  dst[i] = f * (-1)^i * src[i]
//
// n complex samples, contiguous; dst == src (in place) is allowed, any other overlap is not.
// noexcept, single-threaded. complex<float> is SIMD with runtime dispatch (larmor_kernels);
// complex<double> is the scalar reference. Both are exact (one rounding, as the scalar loop).
#pragma once

#include <complex>
#include <cstddef>

namespace larmor::kernels {

namespace scalar {
template <class Real>
inline void scale_copy(const std::complex<Real>* src, std::complex<Real>* dst, std::ptrdiff_t n, Real f) noexcept {
  for (std::ptrdiff_t i = 0; i < n; ++i) dst[i] = src[i] * f;
}
template <class Real>
inline void scale_copy_alternate(const std::complex<Real>* src, std::complex<Real>* dst, std::ptrdiff_t n,
                                 Real f) noexcept {
  for (std::ptrdiff_t i = 0; i < n; ++i) dst[i] = src[i] * ((i & 1) ? -f : f);
}
}  // namespace scalar

void scale_copy(const std::complex<float>* src, std::complex<float>* dst, std::ptrdiff_t n, float f) noexcept;
void scale_copy_alternate(const std::complex<float>* src, std::complex<float>* dst, std::ptrdiff_t n,
                          float f) noexcept;

inline void scale_copy(const std::complex<double>* src, std::complex<double>* dst, std::ptrdiff_t n,
                       double f) noexcept {
  scalar::scale_copy(src, dst, n, f);
}
inline void scale_copy_alternate(const std::complex<double>* src, std::complex<double>* dst, std::ptrdiff_t n,
                                 double f) noexcept {
  scalar::scale_copy_alternate(src, dst, n, f);
}

}  // namespace larmor::kernels
