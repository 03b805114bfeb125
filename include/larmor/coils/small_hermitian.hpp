// larmor/coils/small_hermitian.hpp — dominant eigenvectors of many small (coils x coils) Hermitian
// matrices, the per-pixel step of ESPIRiT and Walsh maps.
//
// Orthogonal (subspace) iteration, Golub & Van Loan §8.2.4: Q <- orth(M Q), then a Rayleigh-Ritz step
// (the m x m problem Q^H M Q) orders the vectors and gives the eigenvalues. With m = 1 this is the power
// method. Each call may start from the previous pixel's vectors (a warm start): neighbouring pixels have
// nearly equal matrices, so a few iterations replace the 30 that a cold start needs. Convergence is
// declared when the subspace stops moving, m - ||Q_old^H Q_new||_F^2 < tol.
// Matrices are dense row-major complex<float> (n x n, both triangles filled); vectors are stored one
// after the other (vector j at q + j*n). Complex products are written out in real arithmetic so the
// compiler vectorises them (std::complex multiplication calls a NaN-checking library routine).
#pragma once

#include <cmath>
#include <complex>
#include <vector>

#include "larmor/core/view.hpp"
#include "larmor/kernels/dense_decompositions.hpp"

namespace larmor::detail {

// y = M x for a rows x cols row-major matrix.
inline void matvec(const cfloat* m, index_t rows, index_t cols, const cfloat* x, cfloat* y) {
  const float* xf = reinterpret_cast<const float*>(x);
  for (index_t i = 0; i < rows; ++i) {
    const float* row = reinterpret_cast<const float*>(m + i * cols);
    float re = 0, im = 0;
    for (index_t j = 0; j < cols; ++j) {
      re += row[2 * j] * xf[2 * j] - row[2 * j + 1] * xf[2 * j + 1];
      im += row[2 * j] * xf[2 * j + 1] + row[2 * j + 1] * xf[2 * j];
    }
    y[i] = cfloat(re, im);
  }
}

// y = M x for an n x n row-major matrix.
inline void matvec(const cfloat* m, const cfloat* x, cfloat* y, index_t n) { matvec(m, n, n, x, y); }

// y += w * x (complex axpy in real arithmetic).
inline void caxpy(cfloat w, const cfloat* x, cfloat* y, index_t n) {
  const float wr = w.real(), wi = w.imag();
  const float* xf = reinterpret_cast<const float*>(x);
  float* yf = reinterpret_cast<float*>(y);
  for (index_t i = 0; i < n; ++i) {
    const float xr = xf[2 * i], xi = xf[2 * i + 1];
    yf[2 * i] += wr * xr - wi * xi;
    yf[2 * i + 1] += wr * xi + wi * xr;
  }
}

// <a, b> = a^H b in double.
inline std::complex<double> dot(const cfloat* a, const cfloat* b, index_t n) {
  double re = 0, im = 0;
  for (index_t i = 0; i < n; ++i) {
    re += double(a[i].real()) * b[i].real() + double(a[i].imag()) * b[i].imag();
    im += double(a[i].real()) * b[i].imag() - double(a[i].imag()) * b[i].real();
  }
  return {re, im};
}

// Modified Gram-Schmidt on m vectors of length n. Returns false when a vector vanishes (rank < m).
inline bool orthonormalize(cfloat* q, index_t n, index_t m) {
  for (index_t j = 0; j < m; ++j) {
    cfloat* v = q + j * n;
    for (index_t i = 0; i < j; ++i) {
      const cfloat* u = q + i * n;
      const auto p = std::complex<float>(dot(u, v, n));
      for (index_t c = 0; c < n; ++c) v[c] -= p * u[c];
    }
    const double nrm = std::sqrt(std::real(dot(v, v, n)));
    if (!(nrm > 1e-30)) return false;
    const float inv = static_cast<float>(1.0 / nrm);
    for (index_t c = 0; c < n; ++c) v[c] *= inv;
  }
  return true;
}

// Work space for dominant_eigenvectors (one per thread).
struct eig_workspace {
  std::vector<cfloat> z;
  explicit eig_workspace(index_t n, index_t m) : z(static_cast<std::size_t>(n * m)) {}
};

// On entry q holds m start vectors (any, e.g. the previous pixel's; they are re-orthonormalised); on
// exit the m dominant eigenvectors, ordered by eigenvalue, and lambda[j] their eigenvalues. Returns the
// iterations used. A zero matrix gives zero vectors and eigenvalues.
int dominant_eigenvectors(const cfloat* m, index_t n, index_t nvec, cfloat* q, float* lambda,
                                 eig_workspace& ws, int max_iter, double tol);

}  // namespace larmor::detail
