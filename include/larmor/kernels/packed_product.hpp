// larmor/kernels/packed_product.hpp — rows times one fixed complex matrix, C = A B (complex float,
// row-major; A: m x k, B: k x n, C: m x n), with B packed once and reused for many calls: the product the
// EPI corrector applies to every echo (rows = the coils of the echoes, B = the fused regridding + Nyquist
// phase + DFT matrix of epi/ramp_regrid.hpp, one per slice and repetition).
//
// Why not the BLAS cgemm (kernels/matrix_products.hpp): larmor's OpenBLAS is the serial build, entered by
// one thread at a time, so the echoes of a volume could not be shared over the cores.
//
// Packing: B in column blocks of packed_block = 32 complex values; for every k index s, block b holds
// 64 floats B[s, 32b .. 32b+31] (re, im interleaved) and then 64 floats of i B[s, ...] = (-im, re), zero
// past column n. With A[r, s] = x + i y,
//     C[r, j] = sum_s  x B[s, j] + y (i B[s, j])
// is two fused multiply-adds of a broadcast real scalar and a vector per s: no shuffles, complex values
// stay interleaved (AVX-512: tiles of 4 rows x 32 columns, 16 accumulators; narrower targets cover the
// 64 floats of a block in several passes).
//
// Accumulating (C += A B) starts the sums from C instead of zero, so a product over k = k1 + k2 done as
// two calls on the two packed halves of B gives one fixed result whatever split of the rows is used.
//
// Every row is computed by itself in a fixed order (s = 0 .. k-1, the x term, then the y term): a row's
// result does not depend on which other rows share the call, so splitting the rows over threads gives the
// same numbers bit for bit. Single-threaded, noexcept, thread-safe (B is only read). float SIMD with runtime
// dispatch (larmor_kernels, Google Highway); HWY_SCALAR runs scalar::packed_product.
#pragma once

#include <complex>
#include <cstddef>

namespace larmor::kernels {

inline constexpr std::ptrdiff_t packed_block = 32;

// Floats of the packed form of a k x n matrix.
inline std::size_t packed_matrix_floats(std::ptrdiff_t k, std::ptrdiff_t n) noexcept {
  const std::ptrdiff_t blocks = (n + packed_block - 1) / packed_block;
  return static_cast<std::size_t>(blocks * k * 4 * packed_block);
}

// packed (packed_matrix_floats(k, n) floats) <- B (k x n, rows ldb complex values apart).
inline void pack_matrix(const std::complex<float>* b, std::ptrdiff_t k, std::ptrdiff_t n, std::ptrdiff_t ldb,
                        float* packed) noexcept {
  const std::ptrdiff_t blocks = (n + packed_block - 1) / packed_block, w = 2 * packed_block;
  for (std::ptrdiff_t blk = 0; blk < blocks; ++blk)
    for (std::ptrdiff_t s = 0; s < k; ++s) {
      float* row = packed + (blk * k + s) * 2 * w;
      for (std::ptrdiff_t j = 0; j < packed_block; ++j) {
        const std::ptrdiff_t col = blk * packed_block + j;
        const std::complex<float> v = col < n ? b[s * ldb + col] : std::complex<float>(0.f, 0.f);
        row[2 * j] = v.real(), row[2 * j + 1] = v.imag();           // B
        row[w + 2 * j] = -v.imag(), row[w + 2 * j + 1] = v.real();  // i B
      }
    }
}

namespace scalar {

// C (m x n, rows ldc apart) = A (m x k, rows lda apart) B, or C += A B when `accumulate`, B packed;
// the reference of the SIMD body.
inline void packed_product(std::ptrdiff_t m, std::ptrdiff_t n, std::ptrdiff_t k, const std::complex<float>* a,
                           std::ptrdiff_t lda, const float* packed, std::complex<float>* c, std::ptrdiff_t ldc,
                           bool accumulate = false) noexcept {
  const std::ptrdiff_t w = 2 * packed_block;
  for (std::ptrdiff_t r = 0; r < m; ++r)
    for (std::ptrdiff_t j = 0; j < n; ++j) {
      const std::ptrdiff_t blk = j / packed_block, q = 2 * (j % packed_block);
      float re = accumulate ? c[r * ldc + j].real() : 0.f, im = accumulate ? c[r * ldc + j].imag() : 0.f;
      for (std::ptrdiff_t s = 0; s < k; ++s) {
        const float* row = packed + (blk * k + s) * 2 * w;
        const float x = a[r * lda + s].real(), y = a[r * lda + s].imag();
        re += x * row[q], im += x * row[q + 1];
        re += y * row[w + q], im += y * row[w + q + 1];
      }
      c[r * ldc + j] = {re, im};
    }
}

}  // namespace scalar

// The SIMD body (kernels/packed_product.cpp), same arguments as scalar::packed_product.
void packed_product(std::ptrdiff_t m, std::ptrdiff_t n, std::ptrdiff_t k, const std::complex<float>* a,
                    std::ptrdiff_t lda, const float* packed, std::complex<float>* c, std::ptrdiff_t ldc,
                    bool accumulate = false) noexcept;

}  // namespace larmor::kernels
