// larmor/kernels/dense_decompositions.hpp — the small dense decompositions of the coil and calibration
// steps (noise whitening, coil compression, ESPIRiT and Walsh maps, GRAPPA's fallback solve, the EPI ramp
// regridder, the LLR prox), compiled once in kernels/dense_decompositions.cpp on Eigen 3.4.
//
// Why compiled: Eigen's complex eigensolver, SVD and LDL^T are heavy templates. Instantiated from the
// headers they cost ~20 s of compile time in every translation unit that included larmor.hpp; here they
// are built once and the headers do not include Eigen for them.
//
// Conventions: matrices are dense and row-major (element (i, j) of an m x n matrix at i * n + j), in
// complex<double> unless a function says otherwise. Results are those of the Eigen routine each names.
// Every function is safe to call from several threads at once (no shared state).
#pragma once

#include <complex>
#include <cstddef>

namespace larmor::kernels {

// C (m x m) = A A^H for A (m x k) complex<float>: the product in single precision (as Eigen computes
// it), widened to double. The covariance of m coils over k samples (unnormalised).
void gram_rows_single(std::ptrdiff_t m, std::ptrdiff_t k, const std::complex<float>* a, std::complex<double>* c);

// C (m x m) = A A^H for A (m x k) complex<float>, computed in double precision.
void gram_rows_double(std::ptrdiff_t m, std::ptrdiff_t k, const std::complex<float>* a, std::complex<double>* c);

// Eigendecomposition of the Hermitian n x n matrix A (only its lower triangle is read): Eigen's
// SelfAdjointEigenSolver (Householder tridiagonalisation + implicit symmetric QR, Golub & Van Loan 8.3).
// w: the n eigenvalues in ascending order. v (n x n, may be null: eigenvalues only): column j is the unit
// eigenvector of w[j], v[i * n + j] its i-th entry.
void hermitian_eigen(std::ptrdiff_t n, const std::complex<double>* a, double* w, std::complex<double>* v);

// L^-1 for the Cholesky factor of a Hermitian positive definite A = L L^H (n x n, lower triangle read):
// linv (n x n) lower triangular. Returns false when A is not numerically positive definite.
bool cholesky_lower_inverse(std::ptrdiff_t n, const std::complex<double>* a, std::complex<double>* linv);

// Solves G X = B for a Hermitian G (n x n complex<float>, lower triangle read) that need not be definite:
// LDL^T with diagonal pivoting, P^T L D L^H P (Eigen's LDLT). b (n x nrhs) in, x (n x nrhs) out.
// Returns false when G is singular to working precision.
bool ldlt_solve(std::ptrdiff_t n, std::ptrdiff_t nrhs, const std::complex<float>* g, const std::complex<float>* b,
                std::complex<float>* x);

// R = (E^H E + diag(d))^-1 E^H (n x m) for E (m x n): the Tikhonov-regularised least-squares inverse
// (LDL^T of the n x n normal matrix, in double).
void tikhonov_inverse(std::ptrdiff_t m, std::ptrdiff_t n, const std::complex<double>* e, const double* d,
                      std::complex<double>* r);

// Orthogonal Procrustes: rotates A (m x n complex<float>, m <= n) in place by the unitary Q (m x m) that
// minimises ||Q A - Ref||_F, Q = U V^H for the SVD Ref A^H = U S V^H (Jacobi SVD; products in double).
void procrustes_align(std::ptrdiff_t m, std::ptrdiff_t n, const std::complex<float>* ref, std::complex<float>* a);

// Singular-value soft thresholding of C (m x n) in place: C <- U max(S - t, 0) V^H, computed through the
// n x n Gram matrix C^H C = V S^2 V^H (for the tall Casorati matrices of the LLR prox, n small):
// C <- C V diag(max(0, 1 - t / s_j)) V^H.
void singular_value_threshold(std::ptrdiff_t m, std::ptrdiff_t n, std::complex<double>* c, double t);

// ||C||_*: the sum of the singular values of C (m x n), Jacobi SVD.
double nuclear_norm(std::ptrdiff_t m, std::ptrdiff_t n, const std::complex<double>* c);

}  // namespace larmor::kernels
