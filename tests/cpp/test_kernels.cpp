// SIMD kernels (larmor_kernels): every compiled Highway target against the scalar reference, the
// scalar references against double-precision std::complex arithmetic, and thread-count invariance
// of the drivers that use them (rss, fftc).
#include <hwy/highway.h>

#include <algorithm>
#include <complex>
#include <cstring>
#include <string>
#include <vector>

#include "larmor/kernels/centering_kernels.hpp"
#include "larmor/kernels/coil_kernels.hpp"
#include "larmor/kernels/packed_product.hpp"
#include "test_helpers.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/coils/rss.hpp"
#include "larmor/fft/fft.hpp"

namespace {

using cf = std::complex<float>;
using cd = std::complex<double>;
namespace k = larmor::kernels;

std::vector<cf> random_vec(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.f, 1.f);
  std::vector<cf> v(n);
  for (auto& x : v) x = cf(g(rng), g(rng));
  return v;
}

// ||a - b|| / ||b|| in double.
template <class T>
double rel_err(const std::vector<T>& a, const std::vector<T>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += std::norm(cd(a[i]) - cd(b[i]));
    den += std::norm(cd(b[i]));
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// Bitwise equality (memcmp would be handed null pointers for empty vectors).
bool same_bits(const std::vector<cf>& a, const std::vector<cf>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(cf)) == 0);
}

// Lengths that hit the empty case, pure tails, and every tail length after whole vectors.
const std::vector<std::ptrdiff_t> kLengths = {0, 1, 3, 7, 16, 17, 31, 64, 100, 257, 1000};

// Runs body once per Highway target compiled in and supported by this CPU, with dispatch forced to it.
template <class Body>
void for_each_target(Body&& body) {
  const auto targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  for (const int64_t t : targets) {
    hwy::SetSupportedTargetsForTest(t);
    SCOPED_TRACE(hwy::TargetName(t));
    ASSERT_STREQ(k::active_target(), hwy::TargetName(t)) << "dispatch did not switch target";
    body();
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(Kernels, SeveralTargetsAreCompiled) {
  // x86-64 builds always carry at least the SSE2/SSE4 baseline and AVX2 / AVX-512 variants.
  std::string names;
  for (const int64_t t : hwy::SupportedAndGeneratedTargets()) names += std::string(hwy::TargetName(t)) + " ";
  RecordProperty("targets", names);
  std::printf("targets: %s; active: %s\n", names.c_str(), k::active_target());
  EXPECT_GE(hwy::SupportedAndGeneratedTargets().size(), 2u) << names;
}

TEST(Kernels, ScalarReferencesMatchDoublePrecision) {
  const std::ptrdiff_t n = 257, nc = 5;
  const auto a = random_vec(n * nc, 1), b = random_vec(n * nc, 2);
  std::vector<cf> out(n), acc(n, cf(0.5f, -0.25f));
  k::scalar::cmul(a.data(), b.data(), out.data(), n);
  for (std::ptrdiff_t i = 0; i < n; ++i) EXPECT_NEAR(std::abs(cd(out[i]) - cd(a[i]) * cd(b[i])), 0.0, 1e-5);
  k::scalar::cmul_conj(a.data(), b.data(), out.data(), n);
  for (std::ptrdiff_t i = 0; i < n; ++i)
    EXPECT_NEAR(std::abs(cd(out[i]) - std::conj(cd(a[i])) * cd(b[i])), 0.0, 1e-5);
  k::scalar::cmac_conj(a.data(), b.data(), acc.data(), n);
  for (std::ptrdiff_t i = 0; i < n; ++i)
    EXPECT_NEAR(std::abs(cd(acc[i]) - cd(0.5, -0.25) - std::conj(cd(a[i])) * cd(b[i])), 0.0, 1e-5);

  std::vector<float> r(n);
  std::vector<cf> comb(n), unmix(n);
  k::scalar::rss_coils(a.data(), nc, n, r.data(), n);
  k::scalar::combine_roemer(a.data(), b.data(), nc, n, comb.data(), n);
  k::scalar::unmix_apply(a.data(), b.data(), nc, n, unmix.data(), n);
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    double s = 0, den = 0;
    cd num = 0, mix = 0;
    for (std::ptrdiff_t c = 0; c < nc; ++c) {
      const cd sa = a[c * n + i], ib = b[c * n + i];
      s += std::norm(sa);
      num += std::conj(sa) * ib;
      den += std::norm(sa);
      mix += sa * ib;
    }
    EXPECT_NEAR(r[i], std::sqrt(s), 1e-5 * std::sqrt(s));
    EXPECT_NEAR(std::abs(cd(comb[i]) - num / den), 0.0, 1e-5 * (1 + std::abs(num / den)));
    EXPECT_NEAR(std::abs(cd(unmix[i]) - mix), 0.0, 1e-5 * (1 + std::abs(mix)));
  }
  // Known answer: |3+4i|^2 + |0+1i|^2 = 26.
  const cf two[2] = {cf(3, 4), cf(0, 1)};
  float r1 = 0;
  k::scalar::rss_coils(two, 2, 1, &r1, 1);
  EXPECT_FLOAT_EQ(r1, std::sqrt(26.f));
}

TEST(Kernels, ComplexProductsEveryTargetMatchesScalar) {
  for_each_target([] {
    for (const std::ptrdiff_t n : kLengths) {
      SCOPED_TRACE(n);
      const auto a = random_vec(n, 11), b = random_vec(n, 12), acc0 = random_vec(n, 13);
      std::vector<cf> got(n), want(n);
      k::cmul(a.data(), b.data(), got.data(), n);
      k::scalar::cmul(a.data(), b.data(), want.data(), n);
      EXPECT_LE(rel_err(got, want), 1e-6);
      k::cmul_conj(a.data(), b.data(), got.data(), n);
      k::scalar::cmul_conj(a.data(), b.data(), want.data(), n);
      EXPECT_LE(rel_err(got, want), 1e-6);
      got = acc0, want = acc0;
      k::cmac(a.data(), b.data(), got.data(), n);
      k::scalar::cmac(a.data(), b.data(), want.data(), n);
      EXPECT_LE(rel_err(got, want), 1e-6);
      got = acc0, want = acc0;
      k::cmac_conj(a.data(), b.data(), got.data(), n);
      k::scalar::cmac_conj(a.data(), b.data(), want.data(), n);
      EXPECT_LE(rel_err(got, want), 1e-6);
      // Output may alias an input (in-place product).
      got = a;
      k::cmul(got.data(), b.data(), got.data(), n);
      k::scalar::cmul(a.data(), b.data(), want.data(), n);
      EXPECT_LE(rel_err(got, want), 1e-6);
    }
  });
}

TEST(Kernels, CoilSumsEveryTargetMatchesScalar) {
  for_each_target([] {
    for (const std::ptrdiff_t n : kLengths) {
      for (const std::ptrdiff_t nc : {1, 4, 32}) {
        SCOPED_TRACE(std::to_string(n) + " pixels, " + std::to_string(nc) + " coils");
        const std::ptrdiff_t stride = n + 3;  // coil stride larger than n: only n pixels per coil are read
        auto maps = random_vec(nc * stride, 21);
        const auto img = random_vec(nc * stride, 22);
        if (n > 5)
          for (std::ptrdiff_t c = 0; c < nc; ++c) maps[c * stride + 5] = 0;  // no sensitivity at pixel 5
        std::vector<float> rg(n), rw(n);
        k::rss_coils(img.data(), nc, stride, rg.data(), n);
        k::scalar::rss_coils(img.data(), nc, stride, rw.data(), n);
        EXPECT_LE(rel_err(rg, rw), 1e-6);
        std::vector<float> sg(n, 1.f), sw(n, 1.f);  // accumulates onto the 1s
        k::accumulate_abs2_coils(img.data(), nc, stride, sg.data(), n);
        k::scalar::accumulate_abs2_coils(img.data(), nc, stride, sw.data(), n);
        EXPECT_LE(rel_err(sg, sw), 1e-6);
        k::scalar::sqrt_inplace(sw.data(), n);
        for (std::ptrdiff_t i = 0; i < n; ++i) EXPECT_NEAR(sw[i] * sw[i] - 1.f, rw[i] * rw[i], 1e-5f * sw[i] * sw[i]);
        std::vector<float> ag(n, 1.f), aw(n, 1.f);
        k::accumulate_abs2(img.data(), ag.data(), n);
        k::scalar::accumulate_abs2(img.data(), aw.data(), n);
        EXPECT_LE(rel_err(ag, aw), 1e-6);
        k::sqrt_inplace(ag.data(), n);
        k::scalar::sqrt_inplace(aw.data(), n);
        EXPECT_LE(rel_err(ag, aw), 1e-6);
        std::vector<cf> cg(n), cw(n);
        k::combine_roemer(maps.data(), img.data(), nc, stride, cg.data(), n);
        k::scalar::combine_roemer(maps.data(), img.data(), nc, stride, cw.data(), n);
        EXPECT_LE(rel_err(cg, cw), 1e-6);
        // The accumulating form, onto non-zero sums; num / den at the end is the combination.
        std::vector<cf> ng(n, cf(0.5f, -1.f)), nw(n, cf(0.5f, -1.f));
        std::vector<float> dg(n, 2.f), dw(n, 2.f);
        k::accumulate_roemer_coils(maps.data(), img.data(), nc, stride, ng.data(), dg.data(), n);
        k::scalar::accumulate_roemer_coils(maps.data(), img.data(), nc, stride, nw.data(), dw.data(), n);
        EXPECT_LE(rel_err(ng, nw), 1e-6);
        EXPECT_LE(rel_err(dg, dw), 1e-6);
        for (std::ptrdiff_t i = 0; i < n; ++i) {
          if (dw[i] > 2.f) {
            EXPECT_LE(std::abs((nw[i] - cf(0.5f, -1.f)) / (dw[i] - 2.f) - cw[i]), 1e-4f * (1 + std::abs(cw[i])));
          }
        }
        if (n > 5) {
          EXPECT_EQ(cg[5], cf(0, 0));
        }
        for (const auto& v : cg) EXPECT_TRUE(std::isfinite(v.real()) && std::isfinite(v.imag()));
        k::unmix_apply(maps.data(), img.data(), nc, stride, cg.data(), n);
        k::scalar::unmix_apply(maps.data(), img.data(), nc, stride, cw.data(), n);
        EXPECT_LE(rel_err(cg, cw), 1e-6);
        std::vector<cf> ug(n, cf(-1.f, 2.f)), uw(n, cf(-1.f, 2.f));  // accumulates onto non-zero sums
        k::accumulate_unmix_coils(maps.data(), img.data(), nc, stride, ug.data(), n);
        k::scalar::accumulate_unmix_coils(maps.data(), img.data(), nc, stride, uw.data(), n);
        EXPECT_LE(rel_err(ug, uw), 1e-6);
        for (std::ptrdiff_t i = 0; i < n; ++i) EXPECT_LE(std::abs(uw[i] - cf(-1.f, 2.f) - cw[i]), 1e-5f * (1 + std::abs(cw[i])));
      }
    }
  });
}

TEST(Kernels, CenteringRowKernelsAreExactOnEveryTarget) {
  for_each_target([] {
    for (const std::ptrdiff_t n : kLengths) {
      SCOPED_TRACE(n);
      const auto src = random_vec(n, 31);
      std::vector<cf> got(n), want(n);
      k::scale_copy(src.data(), got.data(), n, 0.125f);
      k::scalar::scale_copy(src.data(), want.data(), n, 0.125f);
      EXPECT_TRUE(same_bits(got, want));
      k::scale_copy_alternate(src.data(), got.data(), n, 0.3f);
      k::scalar::scale_copy_alternate(src.data(), want.data(), n, 0.3f);
      EXPECT_TRUE(same_bits(got, want));
      if (n > 1) {
        EXPECT_EQ(got[1], -0.3f * src[1]);
        EXPECT_EQ(got[0], 0.3f * src[0]);
      }
      got = src;  // in place
      k::scale_copy_alternate(got.data(), got.data(), n, -2.f);
      k::scalar::scale_copy_alternate(src.data(), want.data(), n, -2.f);
      EXPECT_TRUE(same_bits(got, want));
    }
  });
}

// C = A B with B packed (the EPI corrector's product): every target against the scalar body and both against
// a double-precision product, for shapes with partial tiles (rows not a multiple of 4), partial column blocks
// (n not a multiple of 32) and strided rows; rows computed alone equal rows computed in a batch, bit for bit.
TEST(Kernels, PackedProductEveryTargetMatchesDoubleReference) {
  struct shape { std::ptrdiff_t m, n, k, lda, ldc; };
  for (const shape sh : {shape{1, 1, 1, 1, 1}, shape{7, 33, 19, 21, 40}, shape{64, 192, 192, 192, 192},
                         shape{13, 96, 150, 160, 100}, shape{5, 31, 0, 1, 31}}) {
    SCOPED_TRACE(::testing::Message() << sh.m << "x" << sh.n << "x" << sh.k);
    const auto a = random_vec(static_cast<std::size_t>(sh.m * sh.lda), 21);
    const auto b = random_vec(static_cast<std::size_t>(sh.k * sh.n), 22);
    std::vector<float> packed(k::packed_matrix_floats(sh.k, sh.n));
    k::pack_matrix(b.data(), sh.k, sh.n, sh.n, packed.data());
    std::vector<cf> want(static_cast<std::size_t>(sh.m * sh.n));  // double reference, compact rows
    for (std::ptrdiff_t r = 0; r < sh.m; ++r)
      for (std::ptrdiff_t j = 0; j < sh.n; ++j) {
        cd acc = 0;
        for (std::ptrdiff_t s = 0; s < sh.k; ++s) acc += cd(a[r * sh.lda + s]) * cd(b[s * sh.n + j]);
        want[r * sh.n + j] = cf(acc);
      }
    const auto compact = [&](const std::vector<cf>& c) {
      std::vector<cf> out(static_cast<std::size_t>(sh.m * sh.n));
      for (std::ptrdiff_t r = 0; r < sh.m; ++r) std::copy_n(c.data() + r * sh.ldc, sh.n, out.data() + r * sh.n);
      return out;
    };
    const cf sentinel(1e30f, -1e30f);  // padding between rows must stay untouched
    std::vector<cf> got(static_cast<std::size_t>(sh.m * sh.ldc), sentinel);
    k::scalar::packed_product(sh.m, sh.n, sh.k, a.data(), sh.lda, packed.data(), got.data(), sh.ldc);
    const double tol = 1e-6 * std::sqrt(static_cast<double>(std::max<std::ptrdiff_t>(sh.k, 1)));
    EXPECT_LE(rel_err(compact(got), want), tol);
    for_each_target([&] {
      std::vector<cf> simd(static_cast<std::size_t>(sh.m * sh.ldc), sentinel);
      k::packed_product(sh.m, sh.n, sh.k, a.data(), sh.lda, packed.data(), simd.data(), sh.ldc);
      EXPECT_LE(rel_err(compact(simd), want), tol);
      for (std::ptrdiff_t r = 0; r < sh.m; ++r)
        for (std::ptrdiff_t j = sh.n; j < sh.ldc; ++j) ASSERT_EQ(simd[r * sh.ldc + j], sentinel);
      // Row by row (as another split of the rows over threads would compute them): the same bits.
      std::vector<cf> alone(simd.size(), sentinel);
      for (std::ptrdiff_t r = 0; r < sh.m; ++r)
        k::packed_product(1, sh.n, sh.k, a.data() + r * sh.lda, sh.lda, packed.data(), alone.data() + r * sh.ldc,
                          sh.ldc);
      EXPECT_TRUE(same_bits(alone, simd));
    });
  }
}

// C += A B (the GRAPPA normal equations, accumulated over blocks of calibration rows): starting from C's
// values, against the double reference; and a product over k done as two calls on the packed halves of
// B (the first writing, the second accumulating) equals the single call bit for bit, on every target.
TEST(Kernels, PackedProductAccumulatesAndSplitsOverK) {
  const std::ptrdiff_t m = 23, n = 70, kk = 45, k1 = 17;  // partial tiles and blocks
  const auto a = random_vec(static_cast<std::size_t>(m * kk), 31);
  const auto b = random_vec(static_cast<std::size_t>(kk * n), 32);
  const auto c0 = random_vec(static_cast<std::size_t>(m * n), 33);
  std::vector<float> packed(k::packed_matrix_floats(kk, n)), first(k::packed_matrix_floats(k1, n)),
      second(k::packed_matrix_floats(kk - k1, n));
  k::pack_matrix(b.data(), kk, n, n, packed.data());
  k::pack_matrix(b.data(), k1, n, n, first.data());
  k::pack_matrix(b.data() + k1 * n, kk - k1, n, n, second.data());
  std::vector<cf> want(c0.size());
  for (std::ptrdiff_t r = 0; r < m; ++r)
    for (std::ptrdiff_t j = 0; j < n; ++j) {
      cd acc = c0[r * n + j];
      for (std::ptrdiff_t s = 0; s < kk; ++s) acc += cd(a[r * kk + s]) * cd(b[s * n + j]);
      want[r * n + j] = cf(acc);
    }
  std::vector<cf> scalar_c = c0;
  k::scalar::packed_product(m, n, kk, a.data(), kk, packed.data(), scalar_c.data(), n, true);
  EXPECT_LE(rel_err(scalar_c, want), 1e-6 * std::sqrt(double(kk)));
  for_each_target([&] {
    std::vector<cf> c = c0;
    k::packed_product(m, n, kk, a.data(), kk, packed.data(), c.data(), n, true);
    EXPECT_LE(rel_err(c, want), 1e-6 * std::sqrt(double(kk)));
    std::vector<cf> whole(c0.size()), split(c0.size());
    k::packed_product(m, n, kk, a.data(), kk, packed.data(), whole.data(), n);
    k::packed_product(m, n, k1, a.data(), kk, first.data(), split.data(), n);
    k::packed_product(m, n, kk - k1, a.data() + k1, kk, second.data(), split.data(), n, true);
    EXPECT_TRUE(same_bits(split, whole));
  });
}

// The drivers that use the kernels give the same numbers for 1 and 2 threads (the FFT through
// FFTW's threads, rss through parallel_for).
TEST(Kernels, DriversIndependentOfThreadCount) {
  const auto x = larmor::test::random_array<cf, 3>({8, 128, 96}, 5);
  larmor::set_num_threads(1);
  const auto f1 = larmor::fftc(x.cview());
  const auto r1 = larmor::rss(x.cview());
  larmor::set_num_threads(2);
  const auto f2 = larmor::fftc(x.cview());
  const auto r2 = larmor::rss(x.cview());
  larmor::set_num_threads(0);
  EXPECT_LE(larmor::test::relative_error(f2, f1), 1e-6);
  EXPECT_LE(larmor::test::relative_error(r2, r1), 1e-7);
  // rss against the per-pixel double reference.
  double worst = 0;
  for (larmor::index_t p = 0; p < 128 * 96; ++p) {
    double s = 0;
    for (larmor::index_t c = 0; c < 8; ++c) s += std::norm(cd(x.data()[c * 128 * 96 + p]));
    worst = std::max(worst, std::abs(r2.data()[p] - std::sqrt(s)) / std::sqrt(s));
  }
  EXPECT_LE(worst, 1e-6);
}

}  // namespace
