// larmor/kernels/packed_gram.hpp — the normal equations of a tall matrix, G += s A^H A (lower triangle) and
// optionally AhB += s A^H B, on the packed SIMD product (packed_product.hpp) shared over the threads: the
// Gram matrices of GRAPPA's calibration and of ESPIRiT's calibration matrix. (The serial OpenBLAS cherk
// left one core idle: ESPIRiT's 3D 6^3 kernel in 18 virtual coils is a 3888 x 3888 Gram over 6859
// patches, 52 G multiply-adds.)
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

}  // namespace larmor::kernels
