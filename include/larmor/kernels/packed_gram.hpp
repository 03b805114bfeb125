// larmor/kernels/packed_gram.hpp — the large calibration products on the packed SIMD product
// (packed_product.hpp) shared over the threads: the normal equations of a tall matrix, G += s A^H A (lower
// triangle) and optionally AhB += s A^H B (GRAPPA's calibration, ESPIRiT's calibration matrix), and a
// general C = op(A) B (ESPIRiT's subspace iteration). The serial OpenBLAS left one core idle: ESPIRiT's
// 3D 6^3 kernel in 18 virtual coils is a 3888 x 3888 Gram over 6859 patches (52 G multiply-adds) and
// four 3888 x 3888 x 640 products.
//
// Blocks of kb = 256 rows of A: the block of A and of B is packed (both serve as the right-hand matrix)
// and X = s A_blk^H copied out; then one task per 32-column block of G (its rows from the block's first
// column down: the lower triangle, and the upper half of the diagonal 32 x 32 blocks) or of A^H B
// accumulates X times the packed block, which stays in the L2 cache while the rows of X stream past it.
// Every entry sums the rows in the same order for any thread count. A, B, G and AhB are row-major with
// leading dimensions; B and AhB may be null (m = 0).
#pragma once

#include <algorithm>
#include <complex>
#include <vector>

#include "larmor/core/parallel.hpp"
#include "larmor/kernels/packed_product.hpp"

namespace larmor::kernels {

inline void packed_normal_equations(index_t rows, index_t n, index_t m, const std::complex<float>* a, index_t lda,
                                    const std::complex<float>* b, index_t ldb, std::complex<float>* g, index_t ldg,
                                    std::complex<float>* ahb, index_t ldahb, float sign = 1.f) {
  using cf = std::complex<float>;
  const index_t kb = 256, band = 64, pb = packed_block;
  const index_t ablocks = (n + pb - 1) / pb, bblocks = m > 0 ? (m + pb - 1) / pb : 0;
  const index_t nbands = (n + band - 1) / band;
  std::vector<float> PA(packed_matrix_floats(kb, n)), PB(m > 0 ? packed_matrix_floats(kb, m) : 0);
  std::vector<cf> X(static_cast<std::size_t>(n * kb));  // s A_blk^H, n x kb
  for (index_t r0 = 0; r0 < rows; r0 += kb) {
    const index_t kn = std::min(kb, rows - r0), stride = kn * 4 * pb;  // floats per packed column block
    parallel_for(ablocks + bblocks, [&](index_t blk) {
      const bool of_a = blk < ablocks;
      const index_t c0 = (of_a ? blk : blk - ablocks) * pb, w = of_a ? n : m;
      const cf* src = of_a ? a + r0 * lda + c0 : b + r0 * ldb + c0;
      pack_matrix(src, kn, std::min(pb, w - c0), of_a ? lda : ldb, (of_a ? PA.data() : PB.data()) + (c0 / pb) * stride);
    });
    parallel_for(nbands, [&](index_t bi) {
      const index_t i0 = bi * band, len = std::min(band, n - i0);
      for (index_t r = 0; r < kn; ++r)
        for (index_t i = i0; i < i0 + len; ++i) X[static_cast<std::size_t>(i * kb + r)] = sign * std::conj(a[(r0 + r) * lda + i]);
    });
    // A^H B's tasks and G's widest blocks first, for the dynamic schedule.
    parallel_for_dynamic(ablocks + bblocks, [&](index_t t) {
      if (t < bblocks) {
        const index_t c0 = t * pb;
        packed_product(n, std::min(pb, m - c0), kn, X.data(), kb, PB.data() + t * stride, ahb + c0, ldahb, true);
      } else {
        const index_t c0 = (t - bblocks) * pb;
        packed_product(n - c0, std::min(pb, n - c0), kn, X.data() + c0 * kb, kb, PA.data() + (t - bblocks) * stride,
                       g + c0 * ldg + c0, ldg, true);
      }
    });
  }
}

// C (m x n, row-major, ldc) = op(A) B with op(A) = A (m x k, lda) or A^H (A stored k x m when conj_a),
// B (k x n, ldb): k in chunks of 256 (each chunk of B packed once, over the threads), then one task per
// block of 64 rows x 32 columns of C accumulates the chunk; every entry sums its k chunks in order, so the
// result does not depend on the thread count. Same contract as kernels::cgemm with beta = 0.
inline void packed_matrix_product(bool conj_a, index_t m, index_t n, index_t k, const std::complex<float>* a,
                                  index_t lda, const std::complex<float>* b, index_t ldb, std::complex<float>* c,
                                  index_t ldc) {
  using cf = std::complex<float>;
  if (m <= 0 || n <= 0) return;
  for (index_t i = 0; i < m; ++i) std::fill_n(c + i * ldc, n, cf(0.f, 0.f));
  const index_t kb = 256, rb = 64, pb = packed_block;
  const index_t cblocks = (n + pb - 1) / pb, rblocks = (m + rb - 1) / rb;
  std::vector<float> PB(packed_matrix_floats(kb, n));
  std::vector<cf> X(static_cast<std::size_t>(m * kb));  // op(A)[:, chunk], m x kb
  for (index_t k0 = 0; k0 < k; k0 += kb) {
    const index_t kn = std::min(kb, k - k0), stride = kn * 4 * pb;
    parallel_for(cblocks + rblocks, [&](index_t t) {
      if (t < cblocks) {
        const index_t c0 = t * pb;
        pack_matrix(b + k0 * ldb + c0, kn, std::min(pb, n - c0), ldb, PB.data() + t * stride);
      } else {
        const index_t r0 = (t - cblocks) * rb, r1 = std::min(m, r0 + rb);
        for (index_t i = r0; i < r1; ++i)
          for (index_t s = 0; s < kn; ++s)
            X[static_cast<std::size_t>(i * kb + s)] = conj_a ? std::conj(a[(k0 + s) * lda + i]) : a[i * lda + k0 + s];
      }
    });
    parallel_for_dynamic(rblocks * cblocks, [&](index_t t) {
      const index_t r0 = (t / cblocks) * rb, c0 = (t % cblocks) * pb;
      packed_product(std::min(rb, m - r0), std::min(pb, n - c0), kn, X.data() + r0 * kb, kb,
                     PB.data() + (t % cblocks) * stride, c + r0 * ldc + c0, ldc, true);
    });
  }
}

}  // namespace larmor::kernels
