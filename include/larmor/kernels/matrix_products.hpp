// larmor/kernels/matrix_products.hpp — dense complex float matrix products for the calibration and
// interpolation steps (cgemm; the Gram matrices A^H A and A^H B are in packed_gram.hpp) and the ESPIRiT calibration (A A^H,
// Hermitian eigendecomposition: LAPACK cheevd from the same OpenBLAS), on OpenBLAS (compiled in
// kernels/matrix_products.cpp; its kernels are chosen at run time for the CPU, SSE to AVX-512).
// All matrices are row-major with a leading dimension (elements between rows). Single-threaded; calls
// from several threads are serialised (the serial OpenBLAS has no internal locking), so callers keep
// them out of their parallel loops.
#pragma once

#include <complex>
#include <cstddef>

namespace larmor::kernels {

// C (m x n) = op(A) * B + beta * C, op(A) = A (m x k) or A^H (A stored k x m when conj_a).
void cgemm(bool conj_a, std::ptrdiff_t m, std::ptrdiff_t n, std::ptrdiff_t k, const std::complex<float>* a,
           std::ptrdiff_t lda, const std::complex<float>* b, std::ptrdiff_t ldb, float beta, std::complex<float>* c,
           std::ptrdiff_t ldc) noexcept;

// The lower triangle (row-major) of C (m x m) = A A^H for A (m x k); the upper triangle is left alone.
void gram_rows_lower(std::ptrdiff_t m, std::ptrdiff_t k, const std::complex<float>* a, std::ptrdiff_t lda,
                     std::complex<float>* c, std::ptrdiff_t ldc) noexcept;

// Eigendecomposition of the Hermitian n x n matrix whose lower triangle (row-major, leading dimension n)
// is in `a` (LAPACK cheevd, divide and conquer). On success `w` holds the eigenvalues in ascending order
// and row i of `a` the unit eigenvector of w[i]; returns false when LAPACK reports a failure (or n is
// beyond LAPACK's 32-bit sizes).
bool hermitian_eig(std::ptrdiff_t n, std::complex<float>* a, float* w) noexcept;

// Replaces the columns of A (m x n row-major, leading dimension lda, n <= m) by an orthonormal basis of
// their span (Householder QR: LAPACK cgeqrf + cungqr). Returns false on a LAPACK failure.
bool orthonormalize_columns(std::ptrdiff_t m, std::ptrdiff_t n, std::complex<float>* a, std::ptrdiff_t lda) noexcept;

// Solves G X = B for a Hermitian positive definite G (n x n, lower triangle row-major in `g`, which is
// overwritten by its Cholesky factor) and B (n x nrhs row-major, overwritten by X): LAPACK cpotrf +
// cpotrs. Returns false (B unchanged or partly changed) when G is not numerically positive definite.
bool cholesky_solve(std::ptrdiff_t n, std::ptrdiff_t nrhs, std::complex<float>* g, std::complex<float>* b) noexcept;

}  // namespace larmor::kernels
