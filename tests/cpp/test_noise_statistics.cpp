// Noise statistics (coils/noise_statistics.hpp) against noise of a known covariance: n = L w with w white
// unit complex Gaussian, so Psi = L L^H; sigma_c and rho_ij follow from L in closed form.
#include "larmor/coils/noise_statistics.hpp"

#include <gtest/gtest.h>

#include <random>

#include "larmor/core/array.hpp"

namespace larmor {
namespace {

TEST(NoiseStatistics, MatchTheCovarianceTheNoiseWasMadeWith) {
  const index_t nc = 4, per = 512, readouts = 40;
  // Lower-triangular mixing: coil 1 shares coil 0's noise strongly, coil 3 is independent and twice as loud.
  const std::complex<double> L[4][4] = {{1.0, 0, 0, 0}, {{0.6, 0.3}, 0.7, 0, 0}, {0.1, {0.0, -0.2}, 0.9, 0}, {0, 0, 0, 2.0}};
  std::mt19937 rng(7);
  std::normal_distribution<double> g(0, std::sqrt(0.5));  // E|w|^2 = 1
  noise_statistics_accumulator acc;
  for (index_t r = 0; r < readouts; ++r) {
    array<cfloat, 2> n({nc, per});
    for (index_t s = 0; s < per; ++s) {
      std::complex<double> w[4];
      for (auto& v : w) v = {g(rng), g(rng)};
      for (index_t i = 0; i < nc; ++i) {
        std::complex<double> v = 0;
        for (index_t j = 0; j < nc; ++j) v += L[i][j] * w[j];
        n(i, s) = cfloat(v);
      }
    }
    acc.add(n.cview());
  }
  const auto st = acc.result();
  EXPECT_EQ(st.samples, per * readouts);
  double psi[4][4];
  std::complex<double> cpsi[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      cpsi[i][j] = 0;
      for (int k = 0; k < 4; ++k) cpsi[i][j] += L[i][k] * std::conj(L[j][k]);
      psi[i][j] = std::abs(cpsi[i][j]);
    }
  for (int c = 0; c < 4; ++c) EXPECT_NEAR(st.sigma[c], std::sqrt(psi[c][c]), 0.02 * std::sqrt(psi[c][c])) << c;
  // The most coupled pair is (0, 1): rho = |0.6+0.3i| / sqrt(1 * (0.45 + 0.49)).
  EXPECT_EQ(st.max_pair_i, 0);
  EXPECT_EQ(st.max_pair_j, 1);
  EXPECT_NEAR(st.max_correlation, psi[0][1] / std::sqrt(psi[0][0] * psi[1][1]), 0.02);
  double mean = 0;
  for (int i = 1; i < 4; ++i)
    for (int j = 0; j < i; ++j) mean += psi[i][j] / std::sqrt(psi[i][i] * psi[j][j]);
  EXPECT_NEAR(st.mean_correlation, mean / 6, 0.02);
}

TEST(NoiseStatistics, SkipsNonFiniteSamplesAndReadoutsOfAnotherCoilCount) {
  noise_statistics_accumulator acc;
  array<cfloat, 2> n({2, 3});
  n(0, 0) = cfloat(1, 0), n(1, 0) = cfloat(0, 1);
  n(0, 1) = cfloat(std::nanf(""), 0);
  n(0, 2) = cfloat(-1, 0), n(1, 2) = cfloat(0, -1);
  acc.add(n.cview());
  EXPECT_EQ(acc.samples(), 2);
  EXPECT_EQ(acc.skipped(), 1);
  const auto st = acc.result();
  EXPECT_NEAR(st.sigma[0], 1.0, 1e-12);
  EXPECT_NEAR(st.max_correlation, 1.0, 1e-12);  // n_1 = i n_0 in both samples
  array<cfloat, 2> three({3, 2});
  acc.add(three.cview());
  EXPECT_EQ(acc.other_coils(), 1);
  EXPECT_EQ(acc.samples(), 2);
  EXPECT_EQ(noise_statistics_accumulator().result().samples, 0);
}

}  // namespace
}  // namespace larmor
