// kernels/packed_product.cpp — the SIMD body of kernels::packed_product
// (include/larmor/kernels/packed_product.hpp), compiled once per x86 target by Google Highway
// (foreach_target.h re-includes this file) and dispatched at run time (HWY_DYNAMIC_DISPATCH).
//
// A tile is up to 4 rows of C times 4 vectors of one packed column block: per k index s, 4 vectors of B and
// 4 of i B are loaded once and used by every row of the tile (2 x 4 fused multiply-adds per row, the real
// and imaginary part of A broadcast). AVX-512 covers the 64 floats of a block in one pass (16
// accumulators), AVX2 in two, 128-bit targets in four. Column blocks are the outer loop: one block
// (k x 512 bytes) stays in the L2 cache while every row tile passes, and only the rows of A (1/16 of the
// bytes per multiply-add) come from further out: large B (GRAPPA's 3D fill, 768 x 192) stay fast.
#include <algorithm>
#include <complex>
#include <cstddef>

#include "larmor/kernels/packed_product.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "packed_product.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace larmor::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using cf = std::complex<float>;
using std::ptrdiff_t;

#if HWY_TARGET == HWY_SCALAR
void PackedProduct(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const cf* a, ptrdiff_t lda, const float* packed, cf* c,
                   ptrdiff_t ldc, bool accumulate) {
  scalar::packed_product(m, n, k, a, lda, packed, c, ldc, accumulate);
}
#else
// Rows x 4 vectors of C (floats `off` .. off + 4L of the column block at kb; the first `floats` of them are
// stored, the rest lie past column n). a, c: the tile's first row, rows lda2 / ldc2 floats apart. The sums
// start from C's values when accumulating (those past column n read as zero).
template <int Rows>
HWY_INLINE void Tile(const float* a, ptrdiff_t lda2, ptrdiff_t k, const float* kb, ptrdiff_t off, float* c,
                     ptrdiff_t ldc2, ptrdiff_t floats, bool accumulate) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  const ptrdiff_t L = static_cast<ptrdiff_t>(hn::Lanes(d));
  constexpr ptrdiff_t w = 2 * packed_block;  // floats of B (then of i B) per k index
  HWY_ALIGN float t[4 * HWY_MAX_BYTES / sizeof(float)];
  V acc[Rows][4];
  for (int r = 0; r < Rows; ++r) {
    if (!accumulate) {
      for (int v = 0; v < 4; ++v) acc[r][v] = hn::Zero(d);
    } else if (floats == 4 * L) {
      for (int v = 0; v < 4; ++v) acc[r][v] = hn::LoadU(d, c + r * ldc2 + v * L);
    } else {
      std::fill_n(std::copy_n(c + r * ldc2, floats, t), 4 * L - floats, 0.f);
      for (int v = 0; v < 4; ++v) acc[r][v] = hn::Load(d, t + v * L);
    }
  }
  const float* kp = kb + off;
  for (ptrdiff_t s = 0; s < k; ++s, kp += 2 * w) {
    const V b0 = hn::LoadU(d, kp), b1 = hn::LoadU(d, kp + L), b2 = hn::LoadU(d, kp + 2 * L),
            b3 = hn::LoadU(d, kp + 3 * L);
    const V i0 = hn::LoadU(d, kp + w), i1 = hn::LoadU(d, kp + w + L), i2 = hn::LoadU(d, kp + w + 2 * L),
            i3 = hn::LoadU(d, kp + w + 3 * L);
    for (int r = 0; r < Rows; ++r) {
      const V x = hn::Set(d, a[r * lda2 + 2 * s]);
      acc[r][0] = hn::MulAdd(x, b0, acc[r][0]);
      acc[r][1] = hn::MulAdd(x, b1, acc[r][1]);
      acc[r][2] = hn::MulAdd(x, b2, acc[r][2]);
      acc[r][3] = hn::MulAdd(x, b3, acc[r][3]);
      const V y = hn::Set(d, a[r * lda2 + 2 * s + 1]);
      acc[r][0] = hn::MulAdd(y, i0, acc[r][0]);
      acc[r][1] = hn::MulAdd(y, i1, acc[r][1]);
      acc[r][2] = hn::MulAdd(y, i2, acc[r][2]);
      acc[r][3] = hn::MulAdd(y, i3, acc[r][3]);
    }
  }
  if (floats == 4 * L) {
    for (int r = 0; r < Rows; ++r)
      for (int v = 0; v < 4; ++v) hn::StoreU(acc[r][v], d, c + r * ldc2 + v * L);
    return;
  }
  for (int r = 0; r < Rows; ++r) {
    for (int v = 0; v < 4; ++v) hn::Store(acc[r][v], d, t + v * L);
    std::copy_n(t, floats, c + r * ldc2);
  }
}

void PackedProduct(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const cf* a, ptrdiff_t lda, const float* packed, cf* c,
                   ptrdiff_t ldc, bool accumulate) {
  const hn::ScalableTag<float> d;
  const ptrdiff_t span = 4 * static_cast<ptrdiff_t>(hn::Lanes(d));  // floats of a block per pass
  const ptrdiff_t blocks = (n + packed_block - 1) / packed_block;
  const float* fa = reinterpret_cast<const float*>(a);
  float* fc = reinterpret_cast<float*>(c);
  for (ptrdiff_t blk = 0; blk < blocks; ++blk) {
    const float* kb = packed + blk * k * 4 * packed_block;
    const ptrdiff_t block_floats = 2 * std::min(packed_block, n - blk * packed_block);
    for (ptrdiff_t r0 = 0; r0 < m; r0 += 4) {
      const ptrdiff_t rows = std::min<ptrdiff_t>(4, m - r0);
      const float* ap = fa + 2 * r0 * lda;
      for (ptrdiff_t off = 0; off < block_floats; off += span) {
        const ptrdiff_t floats = std::min(span, block_floats - off);
        float* cp = fc + 2 * (r0 * ldc + blk * packed_block) + off;
        switch (rows) {
          case 4: Tile<4>(ap, 2 * lda, k, kb, off, cp, 2 * ldc, floats, accumulate); break;
          case 3: Tile<3>(ap, 2 * lda, k, kb, off, cp, 2 * ldc, floats, accumulate); break;
          case 2: Tile<2>(ap, 2 * lda, k, kb, off, cp, 2 * ldc, floats, accumulate); break;
          default: Tile<1>(ap, 2 * lda, k, kb, off, cp, 2 * ldc, floats, accumulate); break;
        }
      }
    }
  }
}
#endif

}  // namespace larmor::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace larmor::kernels {

HWY_EXPORT(PackedProduct);

void packed_product(std::ptrdiff_t m, std::ptrdiff_t n, std::ptrdiff_t k, const std::complex<float>* a,
                    std::ptrdiff_t lda, const float* packed, std::complex<float>* c, std::ptrdiff_t ldc,
                    bool accumulate) noexcept {
  if (m <= 0 || n <= 0) return;
  HWY_DYNAMIC_DISPATCH(PackedProduct)(m, n, k, a, lda, packed, c, ldc, accumulate);
}

}  // namespace larmor::kernels
#endif  // HWY_ONCE
