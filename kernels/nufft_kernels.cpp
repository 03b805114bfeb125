// kernels/nufft_kernels.cpp — SIMD bodies of the NUFFT kernels declared in
// include/larmor/kernels/nufft_kernels.hpp, compiled once per x86 target by Google Highway
// (foreach_target.h re-includes this file) and dispatched at run time (HWY_DYNAMIC_DISPATCH).
//
// A window row of w cells is 2w interleaved (re, im) floats. Spreading adds f * (kx[j] vr, kx[j] vi) to it,
// interpolation accumulates f * row; both as whole vectors of L lanes and then 8-, 4- and 2-lane pieces,
// so that exactly the 2w floats of the row are loaded and stored (2w is even). The loops run piece by
// piece over all w (2D) or w^2 (3D) rows of the window, so the piece's pattern or accumulator stays in
// a register. The kernel polynomial
// (Horner in z) is vectorised over the taps, 8 at a time. HWY_SCALAR (1 lane) uses the scalar references.
#include <complex>
#include <cstddef>

#include "larmor/kernels/nufft_kernels.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "nufft_kernels.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace larmor::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using cf = std::complex<float>;
using std::ptrdiff_t;

#if HWY_TARGET == HWY_SCALAR
void EsKernelValues(const float* coef, int degree, int S, const float* z, ptrdiff_t n, float* out) {
  scalar::es_kernel_values(coef, degree, S, z, n, out);
}
void EsSpread2d(cf* grid, ptrdiff_t st0, const ptrdiff_t* off, const float* k, int w, int S, const cf* v,
                ptrdiff_t n) {
  scalar::es_spread_2d(grid, st0, off, k, w, S, v, n);
}
void EsSpread3d(cf* grid, ptrdiff_t st0, ptrdiff_t st1, const ptrdiff_t* off, const float* k, int w, int S,
                const cf* v, ptrdiff_t n) {
  scalar::es_spread_3d(grid, st0, st1, off, k, w, S, v, n);
}
void EsInterp2d(const cf* grid, ptrdiff_t st0, const ptrdiff_t* off, const float* k, int w, int S, cf* out,
                ptrdiff_t n) {
  scalar::es_interp_2d(grid, st0, off, k, w, S, out, n);
}
void EsInterp3d(const cf* grid, ptrdiff_t st0, ptrdiff_t st1, const ptrdiff_t* off, const float* k, int w, int S,
                cf* out, ptrdiff_t n) {
  scalar::es_interp_3d(grid, st0, st1, off, k, w, S, out, n);
}
#else
// Calls f(tag, i) for the pieces that cover [0, n) (n even): whole vectors of L lanes, then 8, 4, 2 lanes.
template <class F>
HWY_INLINE void ForEachPiece(ptrdiff_t n, F&& f) {
  const hn::ScalableTag<float> d;
  const ptrdiff_t L = static_cast<ptrdiff_t>(hn::Lanes(d));
  ptrdiff_t i = 0;
  for (; i + L <= n; i += L) f(d, i);
  if (L > 8 && i + 8 <= n) f(hn::CappedTag<float, 8>(), i), i += 8;
  if (L > 4 && i + 4 <= n) f(hn::CappedTag<float, 4>(), i), i += 4;
  if (L > 2 && i + 2 <= n) f(hn::CappedTag<float, 2>(), i);
}

void EsKernelValues(const float* coef, int degree, int S, const float* z, ptrdiff_t n, float* out) {
  const hn::CappedTag<float, 8> d;
  const int L = static_cast<int>(hn::Lanes(d));  // divides 8, hence S
  for (ptrdiff_t i = 0; i < n; ++i) {
    const auto vz = hn::Set(d, z[i]);
    for (int j = 0; j < S; j += L) {
      auto v = hn::LoadU(d, coef + degree * S + j);
      for (int q = degree - 1; q >= 0; --q) v = hn::MulAdd(v, vz, hn::LoadU(d, coef + q * S + j));
      hn::StoreU(v, d, out + i * S + j);
    }
  }
}

constexpr int kMaxW = 16;
constexpr int kMaxRows = kMaxW * kMaxW;

// The window as R rows of 2w floats at base + ro[r], row r weighted by fr[r] (ky in 2D, kz ky in 3D).
// Spread: row += fr[r] (kx[j] vr, kx[j] vi). Each piece of the row pattern is loaded once and then
// applied to every row (the piece stays in a register; the rows are only loaded and stored).
HWY_INLINE void SpreadRows(float* base, const ptrdiff_t* ro, const float* fr, int R, const float* vx, ptrdiff_t n2) {
  ForEachPiece(n2, [&](auto dp, ptrdiff_t i) {
    const auto v = hn::LoadU(dp, vx + i);
    for (int r = 0; r < R; ++r) {
      float* q = base + ro[r] + i;
      hn::StoreU(hn::MulAdd(hn::Set(dp, fr[r]), v, hn::LoadU(dp, q)), dp, q);
    }
  });
}
// Interpolation: sum_r fr[r] row_r, one register accumulator per piece, times (kx[j], kx[j]) and summed
// over the even (re) and odd (im) lanes.
HWY_INLINE cf InterpRows(const float* base, const ptrdiff_t* ro, const float* fr, int R, const float* kxx,
                         ptrdiff_t n2) {
  HWY_ALIGN float t[64];
  float re = 0, im = 0;
  ForEachPiece(n2, [&](auto dp, ptrdiff_t i) {
    auto acc = hn::Zero(dp);
    for (int r = 0; r < R; ++r) acc = hn::MulAdd(hn::Set(dp, fr[r]), hn::LoadU(dp, base + ro[r] + i), acc);
    hn::Store(hn::Mul(acc, hn::LoadU(dp, kxx + i)), dp, t);
    for (std::size_t l = 0; l < hn::Lanes(dp); l += 2) re += t[l], im += t[l + 1];
  });
  return {re, im};
}

// Row offsets (floats) of the window: 2D a st0; 3D a st0 + b st1, row r = a w + b.
HWY_INLINE int RowOffsets(int w, ptrdiff_t st0, ptrdiff_t st1, bool three_d, ptrdiff_t* ro) {
  if (!three_d) {
    for (int a = 0; a < w; ++a) ro[a] = 2 * a * st0;
    return w;
  }
  for (int a = 0; a < w; ++a)
    for (int b = 0; b < w; ++b) ro[a * w + b] = 2 * (a * st0 + b * st1);
  return w * w;
}
// Row weights of point p: 2D ky (the k values themselves); 3D kz[a] ky[b] into fr.
HWY_INLINE const float* RowWeights(const float* kp, int w, int S, bool three_d, float* fr) {
  if (!three_d) return kp;
  for (int a = 0; a < w; ++a)
    for (int b = 0; b < w; ++b) fr[a * w + b] = kp[a] * kp[S + b];
  return fr;
}

template <bool kThreeD>
void Spread(cf* grid, ptrdiff_t st0, ptrdiff_t st1, const ptrdiff_t* off, const float* k, int w, int S, const cf* v,
            ptrdiff_t n) {
  HWY_ALIGN float vx[2 * kMaxW];
  HWY_ALIGN float frs[kMaxRows];
  ptrdiff_t ro[kMaxRows];
  const int R = RowOffsets(w, st0, st1, kThreeD, ro);
  const int D = kThreeD ? 3 : 2;
  for (ptrdiff_t p = 0; p < n; ++p) {
    const float* kp = k + D * S * p;
    const float* kx = kp + (D - 1) * S;
    for (int j = 0; j < w; ++j) vx[2 * j] = kx[j] * v[p].real(), vx[2 * j + 1] = kx[j] * v[p].imag();
    SpreadRows(reinterpret_cast<float*>(grid + off[p]), ro, RowWeights(kp, w, S, kThreeD, frs), R, vx, 2 * w);
  }
}
template <bool kThreeD>
void Interp(const cf* grid, ptrdiff_t st0, ptrdiff_t st1, const ptrdiff_t* off, const float* k, int w, int S,
            cf* out, ptrdiff_t n) {
  HWY_ALIGN float kxx[2 * kMaxW];
  HWY_ALIGN float frs[kMaxRows];
  ptrdiff_t ro[kMaxRows];
  const int R = RowOffsets(w, st0, st1, kThreeD, ro);
  const int D = kThreeD ? 3 : 2;
  for (ptrdiff_t p = 0; p < n; ++p) {
    const float* kp = k + D * S * p;
    const float* kx = kp + (D - 1) * S;
    for (int j = 0; j < w; ++j) kxx[2 * j] = kxx[2 * j + 1] = kx[j];
    out[p] = InterpRows(reinterpret_cast<const float*>(grid + off[p]), ro, RowWeights(kp, w, S, kThreeD, frs), R,
                        kxx, 2 * w);
  }
}

void EsSpread2d(cf* grid, ptrdiff_t st0, const ptrdiff_t* off, const float* k, int w, int S, const cf* v,
                ptrdiff_t n) {
  Spread<false>(grid, st0, 0, off, k, w, S, v, n);
}
void EsSpread3d(cf* grid, ptrdiff_t st0, ptrdiff_t st1, const ptrdiff_t* off, const float* k, int w, int S,
                const cf* v, ptrdiff_t n) {
  Spread<true>(grid, st0, st1, off, k, w, S, v, n);
}
void EsInterp2d(const cf* grid, ptrdiff_t st0, const ptrdiff_t* off, const float* k, int w, int S, cf* out,
                ptrdiff_t n) {
  Interp<false>(grid, st0, 0, off, k, w, S, out, n);
}
void EsInterp3d(const cf* grid, ptrdiff_t st0, ptrdiff_t st1, const ptrdiff_t* off, const float* k, int w, int S,
                cf* out, ptrdiff_t n) {
  Interp<true>(grid, st0, st1, off, k, w, S, out, n);
}
#endif

const char* NufftTargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace larmor::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace larmor::kernels {

HWY_EXPORT(EsKernelValues);
HWY_EXPORT(EsSpread2d);
HWY_EXPORT(EsSpread3d);
HWY_EXPORT(EsInterp2d);
HWY_EXPORT(EsInterp3d);
HWY_EXPORT(NufftTargetName);

using cf = std::complex<float>;
using std::ptrdiff_t;

void es_kernel_values(const float* coef, int degree, int S, const float* z, ptrdiff_t n, float* out) noexcept {
  HWY_DYNAMIC_DISPATCH(EsKernelValues)(coef, degree, S, z, n, out);
}
void es_spread_2d(cf* grid, ptrdiff_t st0, const ptrdiff_t* off, const float* k, int w, int S, const cf* v,
                  ptrdiff_t n) noexcept {
  HWY_DYNAMIC_DISPATCH(EsSpread2d)(grid, st0, off, k, w, S, v, n);
}
void es_spread_3d(cf* grid, ptrdiff_t st0, ptrdiff_t st1, const ptrdiff_t* off, const float* k, int w, int S,
                  const cf* v, ptrdiff_t n) noexcept {
  HWY_DYNAMIC_DISPATCH(EsSpread3d)(grid, st0, st1, off, k, w, S, v, n);
}
void es_interp_2d(const cf* grid, ptrdiff_t st0, const ptrdiff_t* off, const float* k, int w, int S, cf* out,
                  ptrdiff_t n) noexcept {
  HWY_DYNAMIC_DISPATCH(EsInterp2d)(grid, st0, off, k, w, S, out, n);
}
void es_interp_3d(const cf* grid, ptrdiff_t st0, ptrdiff_t st1, const ptrdiff_t* off, const float* k, int w, int S,
                  cf* out, ptrdiff_t n) noexcept {
  HWY_DYNAMIC_DISPATCH(EsInterp3d)(grid, st0, st1, off, k, w, S, out, n);
}
const char* nufft_active_target() noexcept { return HWY_DYNAMIC_DISPATCH(NufftTargetName)(); }

}  // namespace larmor::kernels
#endif  // HWY_ONCE
