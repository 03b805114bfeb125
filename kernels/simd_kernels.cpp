// kernels/simd_kernels.cpp — SIMD bodies of the kernels declared in include/larmor/kernels/*.hpp,
// compiled once per x86 target by Google Highway (foreach_target.h re-includes this file) and
// dispatched at run time to the best target of the CPU (HWY_DYNAMIC_DISPATCH).
//
// Complex data are interleaved (re, im) floats. LoadInterleaved2 splits a run of Lanes(d) complex
// samples into one vector of real parts and one of imaginary parts; the arithmetic is then plain
// lane-wise float math and StoreInterleaved2 writes it back. Every kernel ends with the scalar
// formula for the last n mod Lanes(d) samples.
#include <complex>
#include <cstddef>

#include "larmor/kernels/centering_kernels.hpp"
#include "larmor/kernels/coil_kernels.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "simd_kernels.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace larmor::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using cf = std::complex<float>;
using D = hn::ScalableTag<float>;

inline const float* fp(const cf* p) { return reinterpret_cast<const float*>(p); }
inline float* fp(cf* p) { return reinterpret_cast<float*>(p); }

void AccumulateAbs2(const cf* x, float* acc, std::ptrdiff_t n) {
  const D d;
  const std::ptrdiff_t L = static_cast<std::ptrdiff_t>(hn::Lanes(d));
  std::ptrdiff_t i = 0;
  for (; i + L <= n; i += L) {
    hn::Vec<D> re, im;
    hn::LoadInterleaved2(d, fp(x + i), re, im);
    hn::StoreU(hn::MulAdd(im, im, hn::MulAdd(re, re, hn::LoadU(d, acc + i))), d, acc + i);
  }
  scalar::accumulate_abs2(x + i, acc + i, n - i);
}

void SqrtInplace(float* acc, std::ptrdiff_t n) {
  const D d;
  const std::ptrdiff_t L = static_cast<std::ptrdiff_t>(hn::Lanes(d));
  std::ptrdiff_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(hn::Sqrt(hn::LoadU(d, acc + i)), d, acc + i);
  scalar::sqrt_inplace(acc + i, n - i);
}

// Two vectors of pixels per step: coil loads are 2 * Lanes complex = 128 B (AVX2) / 256 B
// (AVX-512) contiguous runs, and two independent FMA chains hide the FMA latency.
void RssCoils(const cf* x, std::ptrdiff_t ncoils, std::ptrdiff_t stride, float* out, std::ptrdiff_t n) {
  const D d;
  const std::ptrdiff_t L = static_cast<std::ptrdiff_t>(hn::Lanes(d));
  std::ptrdiff_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    auto a0 = hn::Zero(d), a1 = hn::Zero(d);
    const cf* p = x + i;
    for (std::ptrdiff_t c = 0; c < ncoils; ++c, p += stride) {
      hn::Vec<D> r0, i0, r1, i1;
      hn::LoadInterleaved2(d, fp(p), r0, i0);
      hn::LoadInterleaved2(d, fp(p + L), r1, i1);
      a0 = hn::MulAdd(i0, i0, hn::MulAdd(r0, r0, a0));
      a1 = hn::MulAdd(i1, i1, hn::MulAdd(r1, r1, a1));
    }
    hn::StoreU(hn::Sqrt(a0), d, out + i);
    hn::StoreU(hn::Sqrt(a1), d, out + i + L);
  }
  scalar::rss_coils(x + i, ncoils, stride, out + i, n - i);
}

// (ar + i ai)(br + i bi) = (ar br - ai bi) + i (ar bi + ai br); with conj(a): ai -> -ai.
template <bool kConjA, bool kAccumulate>
void ComplexProduct(const cf* a, const cf* b, cf* out, std::ptrdiff_t n) {
  const D d;
  const std::ptrdiff_t L = static_cast<std::ptrdiff_t>(hn::Lanes(d));
  std::ptrdiff_t i = 0;
  for (; i + L <= n; i += L) {
    hn::Vec<D> ar, ai, br, bi;
    hn::LoadInterleaved2(d, fp(a + i), ar, ai);
    hn::LoadInterleaved2(d, fp(b + i), br, bi);
    hn::Vec<D> re, im;
    if (kConjA) {
      re = hn::MulAdd(ai, bi, hn::Mul(ar, br));
      im = hn::NegMulAdd(ai, br, hn::Mul(ar, bi));
    } else {
      re = hn::NegMulAdd(ai, bi, hn::Mul(ar, br));
      im = hn::MulAdd(ai, br, hn::Mul(ar, bi));
    }
    if (kAccumulate) {
      hn::Vec<D> orr, oi;
      hn::LoadInterleaved2(d, fp(out + i), orr, oi);
      re = hn::Add(orr, re);
      im = hn::Add(oi, im);
    }
    hn::StoreInterleaved2(re, im, d, fp(out + i));
  }
  if (kAccumulate) {
    if (kConjA) scalar::cmac_conj(a + i, b + i, out + i, n - i);
    else scalar::cmac(a + i, b + i, out + i, n - i);
  } else {
    if (kConjA) scalar::cmul_conj(a + i, b + i, out + i, n - i);
    else scalar::cmul(a + i, b + i, out + i, n - i);
  }
}
void Cmul(const cf* a, const cf* b, cf* out, std::ptrdiff_t n) { ComplexProduct<false, false>(a, b, out, n); }
void CmulConj(const cf* a, const cf* b, cf* out, std::ptrdiff_t n) { ComplexProduct<true, false>(a, b, out, n); }
void Cmac(const cf* a, const cf* b, cf* acc, std::ptrdiff_t n) { ComplexProduct<false, true>(a, b, acc, n); }
void CmacConj(const cf* a, const cf* b, cf* acc, std::ptrdiff_t n) { ComplexProduct<true, true>(a, b, acc, n); }

void CombineRoemer(const cf* maps, const cf* img, std::ptrdiff_t ncoils, std::ptrdiff_t stride, cf* out,
                   std::ptrdiff_t n) {
  const D d;
  const std::ptrdiff_t L = static_cast<std::ptrdiff_t>(hn::Lanes(d));
  std::ptrdiff_t i = 0;
  for (; i + L <= n; i += L) {
    auto nr = hn::Zero(d), ni = hn::Zero(d), den = hn::Zero(d);
    for (std::ptrdiff_t c = 0; c < ncoils; ++c) {
      hn::Vec<D> sr, si, vr, vi;
      hn::LoadInterleaved2(d, fp(maps + c * stride + i), sr, si);
      hn::LoadInterleaved2(d, fp(img + c * stride + i), vr, vi);
      nr = hn::MulAdd(si, vi, hn::MulAdd(sr, vr, nr));
      ni = hn::NegMulAdd(si, vr, hn::MulAdd(sr, vi, ni));
      den = hn::MulAdd(si, si, hn::MulAdd(sr, sr, den));
    }
    const auto has = hn::Gt(den, hn::Zero(d));
    // Divide only where den > 0 (den = 1 elsewhere), then zero those lanes: no inf/NaN is formed.
    const auto safe = hn::IfThenElse(has, den, hn::Set(d, 1.0f));
    const auto re = hn::IfThenElseZero(has, hn::Div(nr, safe));
    const auto im = hn::IfThenElseZero(has, hn::Div(ni, safe));
    hn::StoreInterleaved2(re, im, d, fp(out + i));
  }
  scalar::combine_roemer(maps + i, img + i, ncoils, stride, out + i, n - i);
}

void UnmixApply(const cf* w, const cf* img, std::ptrdiff_t ncoils, std::ptrdiff_t stride, cf* out,
                std::ptrdiff_t n) {
  const D d;
  const std::ptrdiff_t L = static_cast<std::ptrdiff_t>(hn::Lanes(d));
  std::ptrdiff_t i = 0;
  for (; i + L <= n; i += L) {
    auto sr = hn::Zero(d), si = hn::Zero(d);
    for (std::ptrdiff_t c = 0; c < ncoils; ++c) {
      hn::Vec<D> wr, wi, vr, vi;
      hn::LoadInterleaved2(d, fp(w + c * stride + i), wr, wi);
      hn::LoadInterleaved2(d, fp(img + c * stride + i), vr, vi);
      sr = hn::NegMulAdd(wi, vi, hn::MulAdd(wr, vr, sr));
      si = hn::MulAdd(wi, vr, hn::MulAdd(wr, vi, si));
    }
    hn::StoreInterleaved2(sr, si, d, fp(out + i));
  }
  scalar::unmix_apply(w + i, img + i, ncoils, stride, out + i, n - i);
}

// Works on the floats directly (2 per complex sample): dst = src * f, and for the alternating
// version the sign bit of the floats of odd samples is flipped after the multiply (exactly
// src * (-f)). With Lanes(d) >= 4 every vector starts at an even sample, so one sign pattern
// (+, +, -, -, …) serves all vectors.
template <bool kAlternate>
void ScaleCopyImpl(const cf* src, cf* dst, std::ptrdiff_t n, float f) {
  const D d;
  const hn::RebindToUnsigned<D> du;
  const std::ptrdiff_t L = static_cast<std::ptrdiff_t>(hn::Lanes(d));
  std::ptrdiff_t i = 0;  // in complex samples
  if (L >= 4) {
    const auto fv = hn::Set(d, f);
    const auto sample_parity = hn::And(hn::ShiftRight<1>(hn::Iota(du, 0)), hn::Set(du, 1u));
    const auto sign = hn::BitCast(d, hn::ShiftLeft<31>(sample_parity));
    const float* s = fp(src);
    float* o = fp(dst);
    const std::ptrdiff_t per_vec = L / 2;
    for (; i + per_vec <= n; i += per_vec) {
      auto v = hn::Mul(hn::LoadU(d, s + 2 * i), fv);
      if (kAlternate) v = hn::Xor(v, sign);
      hn::StoreU(v, d, o + 2 * i);
    }
  }
  if (kAlternate) {
    for (; i < n; ++i) dst[i] = src[i] * ((i & 1) ? -f : f);
  } else {
    scalar::scale_copy(src + i, dst + i, n - i, f);
  }
}
void ScaleCopy(const cf* src, cf* dst, std::ptrdiff_t n, float f) { ScaleCopyImpl<false>(src, dst, n, f); }
void ScaleCopyAlternate(const cf* src, cf* dst, std::ptrdiff_t n, float f) { ScaleCopyImpl<true>(src, dst, n, f); }

const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace larmor::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace larmor::kernels {

HWY_EXPORT(AccumulateAbs2);
HWY_EXPORT(SqrtInplace);
HWY_EXPORT(RssCoils);
HWY_EXPORT(Cmul);
HWY_EXPORT(CmulConj);
HWY_EXPORT(Cmac);
HWY_EXPORT(CmacConj);
HWY_EXPORT(CombineRoemer);
HWY_EXPORT(UnmixApply);
HWY_EXPORT(ScaleCopy);
HWY_EXPORT(ScaleCopyAlternate);
HWY_EXPORT(TargetName);

using cf = std::complex<float>;

void accumulate_abs2(const cf* x, float* acc, std::ptrdiff_t n) noexcept {
  HWY_DYNAMIC_DISPATCH(AccumulateAbs2)(x, acc, n);
}
void sqrt_inplace(float* acc, std::ptrdiff_t n) noexcept { HWY_DYNAMIC_DISPATCH(SqrtInplace)(acc, n); }
void rss_coils(const cf* x, std::ptrdiff_t ncoils, std::ptrdiff_t coil_stride, float* out, std::ptrdiff_t n) noexcept {
  HWY_DYNAMIC_DISPATCH(RssCoils)(x, ncoils, coil_stride, out, n);
}
void cmul(const cf* a, const cf* b, cf* out, std::ptrdiff_t n) noexcept { HWY_DYNAMIC_DISPATCH(Cmul)(a, b, out, n); }
void cmul_conj(const cf* a, const cf* b, cf* out, std::ptrdiff_t n) noexcept {
  HWY_DYNAMIC_DISPATCH(CmulConj)(a, b, out, n);
}
void cmac(const cf* a, const cf* b, cf* acc, std::ptrdiff_t n) noexcept { HWY_DYNAMIC_DISPATCH(Cmac)(a, b, acc, n); }
void cmac_conj(const cf* a, const cf* b, cf* acc, std::ptrdiff_t n) noexcept {
  HWY_DYNAMIC_DISPATCH(CmacConj)(a, b, acc, n);
}
void combine_roemer(const cf* maps, const cf* img, std::ptrdiff_t ncoils, std::ptrdiff_t coil_stride, cf* out,
                    std::ptrdiff_t n) noexcept {
  HWY_DYNAMIC_DISPATCH(CombineRoemer)(maps, img, ncoils, coil_stride, out, n);
}
void unmix_apply(const cf* weights, const cf* img, std::ptrdiff_t ncoils, std::ptrdiff_t coil_stride, cf* out,
                 std::ptrdiff_t n) noexcept {
  HWY_DYNAMIC_DISPATCH(UnmixApply)(weights, img, ncoils, coil_stride, out, n);
}
void scale_copy(const cf* src, cf* dst, std::ptrdiff_t n, float f) noexcept {
  HWY_DYNAMIC_DISPATCH(ScaleCopy)(src, dst, n, f);
}
void scale_copy_alternate(const cf* src, cf* dst, std::ptrdiff_t n, float f) noexcept {
  HWY_DYNAMIC_DISPATCH(ScaleCopyAlternate)(src, dst, n, f);
}
const char* active_target() noexcept { return HWY_DYNAMIC_DISPATCH(TargetName)(); }

}  // namespace larmor::kernels
#endif  // HWY_ONCE
