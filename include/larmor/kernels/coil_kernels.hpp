// larmor/kernels/coil_kernels.hpp — 1-D contiguous inner loops over coils (scalar reference versions).
//
// Kernels are noexcept, single-threaded and work on contiguous runs; drivers (rss, combine, …)
// split the work across threads and call them. SIMD versions with runtime dispatch live in
// kernels/ and are checked against these.
#pragma once

#include <cmath>
#include <complex>
#include <cstddef>

namespace larmor::kernels {

// acc[i] += |x[i]|^2 for i < n.
template <class Real>
inline void accumulate_abs2(const std::complex<Real>* x, Real* acc, std::ptrdiff_t n) noexcept {
  for (std::ptrdiff_t i = 0; i < n; ++i) acc[i] += x[i].real() * x[i].real() + x[i].imag() * x[i].imag();
}

// acc[i] = sqrt(acc[i]) for i < n.
template <class Real>
inline void sqrt_inplace(Real* acc, std::ptrdiff_t n) noexcept {
  for (std::ptrdiff_t i = 0; i < n; ++i) acc[i] = std::sqrt(acc[i]);
}

}  // namespace larmor::kernels
