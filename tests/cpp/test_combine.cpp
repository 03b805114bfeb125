// Roemer combination and noise pre-whitening: against direct formulas (Eigen, in double), the ground
// truth of a simulated acquisition, and BART's `whiten` on the same data.
#include <Eigen/Dense>

#include "coil_phantom.hpp"
#include "larmor/coils/combine.hpp"
#include "larmor/coils/noise.hpp"
#include "test_helpers.hpp"
#include "larmor/io/cfl.hpp"

namespace larmor {
namespace {

// Correlated receiver noise: n = A g with g white, so Psi = A A^H.
array<cfloat, 2> mixing_matrix(index_t nc, unsigned seed) {
  auto a = test::random_array<cfloat, 2>(extents<2>{nc, nc}, seed);
  for (index_t i = 0; i < nc; ++i) a(i, i) += cfloat(3.f, 0.f);  // well conditioned
  return a;
}
array<cfloat, 2> correlated_noise(const array<cfloat, 2>& a, index_t m, unsigned seed) {
  const index_t nc = a.shape(0);
  const auto g = test::random_array<cfloat, 2>(extents<2>{nc, m}, seed);
  array<cfloat, 2> n(extents<2>{nc, m});
  for (index_t i = 0; i < nc; ++i)
    for (index_t j = 0; j < nc; ++j)
      for (index_t s = 0; s < m; ++s) n(i, s) += a(i, j) * g(j, s);
  return n;
}

TEST(Combine, TrueMapsReturnTheObject) {
  const auto p = test::make_coil_phantom(8, 40, 48);
  const auto img = combine(p.images, p.maps);
  ASSERT_EQ(img.shape(), (extents<2>{40, 48}));
  double err = 0, ref = 0;
  for (index_t y = 0; y < 40; ++y)
    for (index_t x = 0; x < 48; ++x) {
      err += std::norm(std::complex<double>(img(y, x)) - double(p.object(y, x)));
      ref += double(p.object(y, x)) * p.object(y, x);
    }
  EXPECT_LT(std::sqrt(err / ref), 1e-6);
}

// 7 x 9 pixels: the all-coil SIMD kernel; 5 x 8192 (coil stride 320 KiB, a multiple of 64 KiB): coils
// two at a time into block sums (kernels::coil_streams_share_cache_sets). Both against double sums.
TEST(Combine, MatchesDirectFormulaIncludingZeroMapsAndSeveralSets) {
  for (const auto& [ny, nx] : {std::pair<index_t, index_t>{7, 9}, {5, 8192}}) {
    SCOPED_TRACE(std::to_string(ny) + " x " + std::to_string(nx));
    EXPECT_EQ(kernels::coil_streams_share_cache_sets(2 * 5, ny * nx * 8), nx == 8192);
    const auto i = test::random_array<cfloat, 3>(extents<3>{5, ny, nx}, 1);
    auto s = test::random_array<cfloat, 4>(extents<4>{2, 5, ny, nx}, 2);
    for (index_t c = 0; c < 5; ++c) s(1, c, 3, 4) = 0;  // a cropped pixel in map set 1
    const auto out = combine(i.cview(), s.cview());
    ASSERT_EQ(out.shape(), (extents<3>{2, ny, nx}));
    double worst = 0;
    for (index_t m = 0; m < 2; ++m)
      for (index_t y = 0; y < ny; ++y)
        for (index_t x = 0; x < nx; ++x) {
          std::complex<double> num = 0;
          double den = 0;
          for (index_t c = 0; c < 5; ++c) {
            num += std::conj(std::complex<double>(s(m, c, y, x))) * std::complex<double>(i(c, y, x));
            den += std::norm(std::complex<double>(s(m, c, y, x)));
          }
          const auto ref = den > 0 ? num / den : 0.0;
          worst = std::max(worst, std::abs(std::complex<double>(out(m, y, x)) - ref) / (1 + std::abs(ref)));
        }
    EXPECT_LT(worst, 1e-5);
    EXPECT_EQ(out(1, 3, 4), cfloat(0.f, 0.f));
    // One set of maps (coils, y, x) and a strided view of the images give the same numbers.
    const auto one = combine(i.cview(), s.cview().slice(0));
    for (index_t p = 0; p < ny * nx; ++p) ASSERT_EQ(one.data()[p], out.data()[p]) << p;
  }
}
TEST(Combine, WithNoiseCovarianceIsSHPsiInvIOverSHPsiInvS) {
  const index_t nc = 6;
  const auto a = mixing_matrix(nc, 4);
  array<cfloat, 2> psi(extents<2>{nc, nc});
  for (index_t r = 0; r < nc; ++r)
    for (index_t c = 0; c < nc; ++c)
      for (index_t k = 0; k < nc; ++k) psi(r, c) += a(r, k) * std::conj(a(c, k));
  const auto i = test::random_array<cfloat, 3>(extents<3>{nc, 5, 6}, 5);
  const auto s = test::random_array<cfloat, 3>(extents<3>{nc, 5, 6}, 6);
  const auto out = combine(i.cview(), s.cview(), psi.cview());
  Eigen::MatrixXcd pm(nc, nc);
  for (index_t r = 0; r < nc; ++r)
    for (index_t c = 0; c < nc; ++c) pm(r, c) = std::complex<double>(psi(r, c));
  const Eigen::MatrixXcd pinv = pm.inverse();
  for (index_t y = 0; y < 5; ++y)
    for (index_t x = 0; x < 6; ++x) {
      Eigen::VectorXcd sv(nc), iv(nc);
      for (index_t c = 0; c < nc; ++c) {
        sv(c) = std::complex<double>(s(c, y, x));
        iv(c) = std::complex<double>(i(c, y, x));
      }
      const std::complex<double> ref = (sv.adjoint() * pinv * iv)(0) / (sv.adjoint() * pinv * sv)(0);
      EXPECT_LT(std::abs(std::complex<double>(out(y, x)) - ref), 1e-4 * std::abs(ref));
    }
}

TEST(Combine, RejectsMismatchedShapes) {
  array<cfloat, 3> i(extents<3>{4, 8, 8}), s(extents<3>{4, 8, 7});
  EXPECT_THROW(combine(i.cview(), s.cview()), InvalidArgument);
  array<cfloat, 4> s2(extents<4>{2, 3, 8, 8});
  EXPECT_THROW(combine(i.cview(), s2.cview()), InvalidArgument);
}

TEST(Noise, CovarianceAndWhiteningFromCorrelatedNoise) {
  const index_t nc = 8, m = 20000;
  const auto a = mixing_matrix(nc, 7);
  const auto n = correlated_noise(a, m, 8);
  const auto psi = noise_covariance(n.cview());
  // Direct (N N^H)/(M-1) in double.
  for (index_t r = 0; r < nc; ++r)
    for (index_t c = 0; c < nc; ++c) {
      std::complex<double> ref = 0;
      for (index_t s = 0; s < m; ++s) ref += std::complex<double>(n(r, s)) * std::conj(std::complex<double>(n(c, s)));
      ref /= double(m - 1);
      EXPECT_LT(std::abs(std::complex<double>(psi(r, c)) - ref), 1e-5 * std::abs(psi(0, 0)));
    }
  const auto w = noise_prewhitener(n.cview());
  const auto white = prewhiten(n.cview(), w.cview());
  const auto psi_w = noise_covariance(white.cview());
  for (index_t r = 0; r < nc; ++r)
    for (index_t c = 0; c < nc; ++c) EXPECT_NEAR(std::abs(psi_w(r, c) - cfloat(r == c ? 1.f : 0.f)), 0.0, 1e-4);
  // Gadgetron's SNR-unit scale: sqrt(2 * dwell_acq / dwell_noise * 0.793).
  prewhitener_options g;
  g.scaling = noise_scaling::snr_units;
  g.acquisition_dwell = 5.0;
  g.noise_dwell = 2.5;
  const auto wg = noise_prewhitener(n.cview(), g);
  const double k = std::sqrt(2.0 * 5.0 / 2.5 * 0.793);
  for (index_t r = 0; r < nc; ++r)
    for (index_t c = 0; c < nc; ++c) EXPECT_LT(std::abs(std::complex<double>(wg(r, c)) - k * std::complex<double>(w(r, c))), 1e-5 * k);
}

TEST(Noise, MatchesBartWhiten) {
  if (!test::have_bart()) GTEST_SKIP() << "bart not installed";
  const index_t nc = 6, m = 4000;
  const auto a = mixing_matrix(nc, 9);
  const auto n = correlated_noise(a, m, 10);
  const auto x = test::random_array<cfloat, 3>(extents<3>{nc, 16, 20}, 11);
  // BART wants coils in dim 3: x as [20 16 1 nc], noise as [m 1 1 nc].
  write_cfl(test::tmp_path("wh_x"), array<cfloat, 3>(x).reshape(extents<4>{nc, 1, 16, 20}).cview());
  write_cfl(test::tmp_path("wh_n"), array<cfloat, 2>(n).reshape(extents<4>{nc, 1, 1, m}).cview());
  ASSERT_EQ(test::run_bart("whiten wh_x wh_n wh_out"), 0);
  const auto bart_out = read_cfl<3>(test::tmp_path("wh_out"));
  const auto ours = prewhiten(x.cview(), noise_prewhitener(n.cview()).cview());
  EXPECT_LT(test::relative_error(ours, bart_out), 1e-4);
}

TEST(Noise, InPlaceEqualsOutOfPlaceAndNaiveProduct) {
  // 4 coils x 3 x 6000 samples: 18000 per coil, so chunks of 256 and blocks of 4096 end in partial
  // ones; the middle readout is unacquired (zero in every coil, which the in-place path skips) and so is
  // a stretch of the last one.
  const index_t nc = 4;
  const auto a = mixing_matrix(nc, 3);
  const auto w = noise_prewhitener(correlated_noise(a, 5000, 4).cview());
  auto x = test::random_array<cfloat, 3>(extents<3>{nc, 3, 6000}, 5);
  for (index_t c = 0; c < nc; ++c) {
    for (index_t s = 0; s < 6000; ++s) x(c, 1, s) = 0;
    for (index_t s = 1000; s < 2000; ++s) x(c, 2, s) = 0;
  }
  const auto out = prewhiten(x.cview(), w.cview());
  auto in = x;
  prewhiten_inplace(in.view(), w.cview());
  EXPECT_EQ(test::relative_error(in, out), 0.0);  // same arithmetic, bit for bit
  array<cfloat, 3> naive(x.shape());  // W x in double
  for (index_t i = 0; i < 3; ++i)
    for (index_t s = 0; s < 6000; ++s)
      for (index_t c = 0; c < nc; ++c) {
        std::complex<double> ref = 0;
        for (index_t j = 0; j < nc; ++j) ref += std::complex<double>(w(c, j)) * std::complex<double>(x(j, i, s));
        naive(c, i, s) = cfloat(ref);
      }
  EXPECT_LT(test::relative_error(in, naive), 1e-6);
  array<cfloat, 3> big(extents<3>{nc, 3, 2});
  extents<3> half = big.shape();
  half[2] = 1;
  const strided_view<cfloat, 3> strided(big.data(), half, big.strides());
  EXPECT_THROW(prewhiten_inplace(strided, w.cview()), InvalidArgument);
}

TEST(Noise, RejectsBadNoise) {
  array<cfloat, 2> one_sample(extents<2>{4, 1});
  EXPECT_THROW(noise_prewhitener(one_sample.cview()), DataError);
  array<cfloat, 2> dead(extents<2>{3, 100});  // all-zero channel: not positive definite
  auto g = test::random_array<cfloat, 2>(extents<2>{3, 100}, 1);
  for (index_t s = 0; s < 100; ++s) dead(0, s) = g(0, s), dead(1, s) = g(1, s);
  EXPECT_THROW(noise_prewhitener(dead.cview()), DataError);
  g(1, 5) = cfloat(INFINITY, 0.f);
  EXPECT_THROW(noise_prewhitener(g.cview()), DataError);
  array<cfloat, 2> w(extents<2>{3, 3});
  array<cfloat, 3> x(extents<3>{4, 2, 2});
  EXPECT_THROW(prewhiten(x.cview(), w.cview()), InvalidArgument);
}

}  // namespace
}  // namespace larmor
