// kernels/simd_kernels.cpp — SIMD bodies of the kernels declared in include/larmor/kernels/*.hpp,
// compiled once per x86 target by Google Highway (foreach_target.h re-includes this file) and
// dispatched at run time to the best target of the CPU (HWY_DYNAMIC_DISPATCH).
//
// Complex data are interleaved (re, im) floats and stay interleaved in the vectors (no de-interleaving
// permutes in the inner loops; see the comment above AccumulateAbs2). Every kernel ends with the
// scalar reference for the samples left over after whole vector steps. HWY_SCALAR (1 lane) uses the
// scalar references throughout.
#include <algorithm>
#include <complex>
#include <cstddef>
#include <cstdint>

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

#if HWY_TARGET == HWY_SCALAR
// One lane: nothing to gain from the interleaved tricks below; the scalar references are the kernels.
void AccumulateAbs2(const cf* x, float* acc, std::ptrdiff_t n) { scalar::accumulate_abs2(x, acc, n); }
void SqrtInplace(float* acc, std::ptrdiff_t n) { scalar::sqrt_inplace(acc, n); }
void RssCoils(const cf* x, std::ptrdiff_t ncoils, std::ptrdiff_t stride, float* out, std::ptrdiff_t n) {
  scalar::rss_coils(x, ncoils, stride, out, n);
}
void AccumulateAbs2Coils(const cf* x, std::ptrdiff_t ncoils, std::ptrdiff_t stride, float* acc, std::ptrdiff_t n) {
  scalar::accumulate_abs2_coils(x, ncoils, stride, acc, n);
}
void Cmul(const cf* a, const cf* b, cf* out, std::ptrdiff_t n) { scalar::cmul(a, b, out, n); }
void CmulConj(const cf* a, const cf* b, cf* out, std::ptrdiff_t n) { scalar::cmul_conj(a, b, out, n); }
void Cmac(const cf* a, const cf* b, cf* acc, std::ptrdiff_t n) { scalar::cmac(a, b, acc, n); }
void CmacConj(const cf* a, const cf* b, cf* acc, std::ptrdiff_t n) { scalar::cmac_conj(a, b, acc, n); }
void CombineRoemer(const cf* maps, const cf* img, std::ptrdiff_t ncoils, std::ptrdiff_t stride, cf* out,
                   std::ptrdiff_t n) {
  scalar::combine_roemer(maps, img, ncoils, stride, out, n);
}
void AccumulateRoemerCoils(const cf* maps, const cf* img, std::ptrdiff_t ncoils, std::ptrdiff_t stride, cf* num,
                           float* den, std::ptrdiff_t n) {
  scalar::accumulate_roemer_coils(maps, img, ncoils, stride, num, den, n);
}
void UnmixApply(const cf* w, const cf* img, std::ptrdiff_t ncoils, std::ptrdiff_t stride, cf* out,
                std::ptrdiff_t n) {
  scalar::unmix_apply(w, img, ncoils, stride, out, n);
}
void AccumulateUnmixCoils(const cf* w, const cf* img, std::ptrdiff_t ncoils, std::ptrdiff_t stride, cf* out,
                          std::ptrdiff_t n) {
  scalar::accumulate_unmix_coils(w, img, ncoils, stride, out, n);
}
#else
// Vectors hold L = Lanes(d) floats = L/2 interleaved complex samples (re in even lanes, im in odd).
// All work stays in that layout: Swap exchanges re and im of each sample (an in-lane shuffle), and
// sums over coils are kept as lane-wise products whose pair sums are formed once per pixel at the end,
// so the per-coil inner loop has no cross-lane shuffles.
template <class V>
HWY_INLINE V Swap(V v) {
  return hn::Shuffle2301(v);
}
// Sign-bit masks: -0.0f in the odd (imaginary) lanes, or in the even (real) lanes.
HWY_INLINE hn::Vec<D> SignOdd(D d) {
  const hn::RebindToUnsigned<D> du;
  return hn::BitCast(d, hn::ShiftLeft<31>(hn::And(hn::Iota(du, 0), hn::Set(du, 1u))));
}
HWY_INLINE hn::Vec<D> SignEven(D d) {
  const hn::RebindToUnsigned<D> du;
  return hn::BitCast(d, hn::ShiftLeft<31>(hn::And(hn::Iota(du, 1), hn::Set(du, 1u))));
}

void AccumulateAbs2(const cf* x, float* acc, std::ptrdiff_t n) {
  const D d;
  const std::ptrdiff_t L = static_cast<std::ptrdiff_t>(hn::Lanes(d));
  const float* xf = fp(x);
  std::ptrdiff_t i = 0;  // pixels; L per step (two vectors of samples)
  for (; i + L <= n; i += L) {
    const auto v0 = hn::LoadU(d, xf + 2 * i), v1 = hn::LoadU(d, xf + 2 * i + L);
    const auto p0 = hn::Mul(v0, v0), p1 = hn::Mul(v1, v1);
    const auto s = hn::ConcatEven(d, hn::Add(p1, Swap(p1)), hn::Add(p0, Swap(p0)));
    hn::StoreU(hn::Add(hn::LoadU(d, acc + i), s), d, acc + i);
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

// 2L pixels per step: per coil four vectors (4L floats = 256 B with AVX-512) read contiguously,
// four independent FMA chains; pair sums and compaction (ConcatEven) once per step. kAccumulate:
// out += the sum of squares (AccumulateAbs2Coils); otherwise out = its square root (RssCoils).
template <bool kAccumulate>
void SumAbs2Coils(const cf* x, std::ptrdiff_t ncoils, std::ptrdiff_t stride, float* out, std::ptrdiff_t n) {
  const D d;
  const std::ptrdiff_t L = static_cast<std::ptrdiff_t>(hn::Lanes(d));
  std::ptrdiff_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
    const float* p = fp(x + i);
    for (std::ptrdiff_t c = 0; c < ncoils; ++c, p += 2 * stride) {
      const auto v0 = hn::LoadU(d, p), v1 = hn::LoadU(d, p + L), v2 = hn::LoadU(d, p + 2 * L),
                 v3 = hn::LoadU(d, p + 3 * L);
      a0 = hn::MulAdd(v0, v0, a0);
      a1 = hn::MulAdd(v1, v1, a1);
      a2 = hn::MulAdd(v2, v2, a2);
      a3 = hn::MulAdd(v3, v3, a3);
    }
    const auto s01 = hn::ConcatEven(d, hn::Add(a1, Swap(a1)), hn::Add(a0, Swap(a0)));
    const auto s23 = hn::ConcatEven(d, hn::Add(a3, Swap(a3)), hn::Add(a2, Swap(a2)));
    if (kAccumulate) {
      hn::StoreU(hn::Add(hn::LoadU(d, out + i), s01), d, out + i);
      hn::StoreU(hn::Add(hn::LoadU(d, out + i + L), s23), d, out + i + L);
    } else {
      hn::StoreU(hn::Sqrt(s01), d, out + i);
      hn::StoreU(hn::Sqrt(s23), d, out + i + L);
    }
  }
  if (kAccumulate) scalar::accumulate_abs2_coils(x + i, ncoils, stride, out + i, n - i);
  else scalar::rss_coils(x + i, ncoils, stride, out + i, n - i);
}
void RssCoils(const cf* x, std::ptrdiff_t ncoils, std::ptrdiff_t stride, float* out, std::ptrdiff_t n) {
  SumAbs2Coils<false>(x, ncoils, stride, out, n);
}
void AccumulateAbs2Coils(const cf* x, std::ptrdiff_t ncoils, std::ptrdiff_t stride, float* acc, std::ptrdiff_t n) {
  SumAbs2Coils<true>(x, ncoils, stride, acc, n);
}

// a b = DupEven(a) b + (DupOdd(a) with the real lanes negated) Swap(b);
// conj(a) b: the imaginary lanes negated instead.
template <bool kConjA, bool kAccumulate>
void ComplexProduct(const cf* a, const cf* b, cf* out, std::ptrdiff_t n) {
  const D d;
  const std::ptrdiff_t L = static_cast<std::ptrdiff_t>(hn::Lanes(d));
  const auto sign = kConjA ? SignOdd(d) : SignEven(d);
  const float *af = fp(a), *bf = fp(b);
  float* of = fp(out);
  std::ptrdiff_t i = 0;  // samples; L/2 per vector
  // Scalar head until out is vector-aligned: a store that splits two cache lines costs twice (AVX-512).
  const std::ptrdiff_t head = std::min<std::ptrdiff_t>(
      n, static_cast<std::ptrdiff_t>((hn::Lanes(d) * sizeof(float) - reinterpret_cast<std::uintptr_t>(of) %
                                                                         (hn::Lanes(d) * sizeof(float))) %
                                     (hn::Lanes(d) * sizeof(float)) / sizeof(cf)));
  if (reinterpret_cast<std::uintptr_t>(of) % sizeof(cf) == 0 && head > 0) {
    if (kAccumulate) {
      if (kConjA) scalar::cmac_conj(a, b, out, head);
      else scalar::cmac(a, b, out, head);
    } else {
      if (kConjA) scalar::cmul_conj(a, b, out, head);
      else scalar::cmul(a, b, out, head);
    }
    i = head;
  }
  for (; 2 * i + L <= 2 * n; i += L / 2) {
    const auto va = hn::LoadU(d, af + 2 * i), vb = hn::LoadU(d, bf + 2 * i);
    auto p = hn::MulAdd(hn::DupEven(va), vb, hn::Mul(hn::Xor(hn::DupOdd(va), sign), Swap(vb)));
    if (kAccumulate) p = hn::Add(hn::LoadU(d, of + 2 * i), p);
    hn::StoreU(p, d, of + 2 * i);
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

// Per coil: t1 += S I = (sr ir, si ii), t2 += S Swap(I) = (sr ii, si ir), sq += S S = (sr^2, si^2).
// Then re = t1 even + odd, im = t2 even - odd, |S|^2 = sq even + odd. Two vectors (L pixels) per step.
// kAccumulate: num += (re, im) and den += |S|^2 (AccumulateRoemerCoils); otherwise out = num / den.
template <bool kAccumulate>
void RoemerCoils(const cf* maps, const cf* img, std::ptrdiff_t ncoils, std::ptrdiff_t stride, cf* out, float* den,
                 std::ptrdiff_t n) {
  const D d;
  const std::ptrdiff_t L = static_cast<std::ptrdiff_t>(hn::Lanes(d));
  std::ptrdiff_t i = 0;
  for (; i + L <= n; i += L) {
    hn::Vec<D> t1[2] = {hn::Zero(d), hn::Zero(d)}, t2[2] = {hn::Zero(d), hn::Zero(d)},
               sq[2] = {hn::Zero(d), hn::Zero(d)};
    const float *sp = fp(maps + i), *ip = fp(img + i);
    for (std::ptrdiff_t c = 0; c < ncoils; ++c, sp += 2 * stride, ip += 2 * stride) {
      for (int h = 0; h < 2; ++h) {
        const auto vs = hn::LoadU(d, sp + h * L), vi = hn::LoadU(d, ip + h * L);
        t1[h] = hn::MulAdd(vs, vi, t1[h]);
        t2[h] = hn::MulAdd(vs, Swap(vi), t2[h]);
        sq[h] = hn::MulAdd(vs, vs, sq[h]);
      }
    }
    hn::Vec<D> dd[2];
    for (int h = 0; h < 2; ++h) {
      const auto num = hn::OddEven(hn::Sub(Swap(t2[h]), t2[h]), hn::Add(t1[h], Swap(t1[h])));
      dd[h] = hn::Add(sq[h], Swap(sq[h]));  // |S|^2 summed, in both lanes of each sample
      if (kAccumulate) {
        hn::StoreU(hn::Add(hn::LoadU(d, fp(out + i) + h * L), num), d, fp(out + i) + h * L);
      } else {
        const auto has = hn::Gt(dd[h], hn::Zero(d));
        // Divide only where |S|^2 > 0 (1 elsewhere), then zero those samples: no inf/NaN is formed.
        const auto q = hn::IfThenElseZero(has, hn::Div(num, hn::IfThenElse(has, dd[h], hn::Set(d, 1.0f))));
        hn::StoreU(q, d, fp(out + i) + h * L);
      }
    }
    if (kAccumulate) hn::StoreU(hn::Add(hn::LoadU(d, den + i), hn::ConcatEven(d, dd[1], dd[0])), d, den + i);
  }
  if (kAccumulate) scalar::accumulate_roemer_coils(maps + i, img + i, ncoils, stride, out + i, den + i, n - i);
  else scalar::combine_roemer(maps + i, img + i, ncoils, stride, out + i, n - i);
}
void CombineRoemer(const cf* maps, const cf* img, std::ptrdiff_t ncoils, std::ptrdiff_t stride, cf* out,
                   std::ptrdiff_t n) {
  RoemerCoils<false>(maps, img, ncoils, stride, out, nullptr, n);
}
void AccumulateRoemerCoils(const cf* maps, const cf* img, std::ptrdiff_t ncoils, std::ptrdiff_t stride, cf* num,
                           float* den, std::ptrdiff_t n) {
  RoemerCoils<true>(maps, img, ncoils, stride, num, den, n);
}

// Per coil: t1 += W I = (wr ir, wi ii), t2 += W Swap(I) = (wr ii, wi ir); re = t1 even - odd,
// im = t2 even + odd. kAccumulate: out += the sum (AccumulateUnmixCoils); otherwise out = it.
template <bool kAccumulate>
void UnmixCoils(const cf* w, const cf* img, std::ptrdiff_t ncoils, std::ptrdiff_t stride, cf* out, std::ptrdiff_t n) {
  const D d;
  const std::ptrdiff_t L = static_cast<std::ptrdiff_t>(hn::Lanes(d));
  std::ptrdiff_t i = 0;
  for (; i + L <= n; i += L) {
    hn::Vec<D> t1[2] = {hn::Zero(d), hn::Zero(d)}, t2[2] = {hn::Zero(d), hn::Zero(d)};
    const float *wp = fp(w + i), *ip = fp(img + i);
    for (std::ptrdiff_t c = 0; c < ncoils; ++c, wp += 2 * stride, ip += 2 * stride) {
      for (int h = 0; h < 2; ++h) {
        const auto vw = hn::LoadU(d, wp + h * L), vi = hn::LoadU(d, ip + h * L);
        t1[h] = hn::MulAdd(vw, vi, t1[h]);
        t2[h] = hn::MulAdd(vw, Swap(vi), t2[h]);
      }
    }
    for (int h = 0; h < 2; ++h) {
      auto v = hn::OddEven(hn::Add(t2[h], Swap(t2[h])), hn::Sub(t1[h], Swap(t1[h])));
      if (kAccumulate) v = hn::Add(hn::LoadU(d, fp(out + i) + h * L), v);
      hn::StoreU(v, d, fp(out + i) + h * L);
    }
  }
  if (kAccumulate) scalar::accumulate_unmix_coils(w + i, img + i, ncoils, stride, out + i, n - i);
  else scalar::unmix_apply(w + i, img + i, ncoils, stride, out + i, n - i);
}
void UnmixApply(const cf* w, const cf* img, std::ptrdiff_t ncoils, std::ptrdiff_t stride, cf* out,
                std::ptrdiff_t n) {
  UnmixCoils<false>(w, img, ncoils, stride, out, n);
}
void AccumulateUnmixCoils(const cf* w, const cf* img, std::ptrdiff_t ncoils, std::ptrdiff_t stride, cf* out,
                          std::ptrdiff_t n) {
  UnmixCoils<true>(w, img, ncoils, stride, out, n);
}
#endif  // HWY_TARGET == HWY_SCALAR

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
HWY_EXPORT(AccumulateAbs2Coils);
HWY_EXPORT(Cmul);
HWY_EXPORT(CmulConj);
HWY_EXPORT(Cmac);
HWY_EXPORT(CmacConj);
HWY_EXPORT(CombineRoemer);
HWY_EXPORT(AccumulateRoemerCoils);
HWY_EXPORT(UnmixApply);
HWY_EXPORT(AccumulateUnmixCoils);
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
void accumulate_abs2_coils(const cf* x, std::ptrdiff_t ncoils, std::ptrdiff_t coil_stride, float* acc,
                           std::ptrdiff_t n) noexcept {
  HWY_DYNAMIC_DISPATCH(AccumulateAbs2Coils)(x, ncoils, coil_stride, acc, n);
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
void accumulate_roemer_coils(const cf* maps, const cf* img, std::ptrdiff_t ncoils, std::ptrdiff_t coil_stride,
                             cf* num, float* den, std::ptrdiff_t n) noexcept {
  HWY_DYNAMIC_DISPATCH(AccumulateRoemerCoils)(maps, img, ncoils, coil_stride, num, den, n);
}
void unmix_apply(const cf* weights, const cf* img, std::ptrdiff_t ncoils, std::ptrdiff_t coil_stride, cf* out,
                 std::ptrdiff_t n) noexcept {
  HWY_DYNAMIC_DISPATCH(UnmixApply)(weights, img, ncoils, coil_stride, out, n);
}
void accumulate_unmix_coils(const cf* weights, const cf* img, std::ptrdiff_t ncoils, std::ptrdiff_t coil_stride,
                            cf* out, std::ptrdiff_t n) noexcept {
  HWY_DYNAMIC_DISPATCH(AccumulateUnmixCoils)(weights, img, ncoils, coil_stride, out, n);
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
