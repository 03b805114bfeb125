// Pseudo-replica noise maps (recon/pseudo_replica.hpp) against analytic noise: the identity and a 2-coil
// sum under white and coloured noise (variance of c0 + c1 = Psi_00 + Psi_11 + 2 Re Psi_01), the acquired
// mask, reproducibility for a seed, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "larmor/recon/pseudo_replica.hpp"

using namespace larmor;

namespace {
double mean(const array<float, 1>& a) {
  double s = 0;
  for (index_t i = 0; i < a.size(); ++i) s += a[i];
  return s / static_cast<double>(a.size());
}
}  // namespace

TEST(PseudoReplica, MatchesAnalyticNoise) {
  const index_t n = 256;
  std::vector<cfloat> k(2 * n, cfloat(1, 0));
  auto sum = [&](const cfloat* x) {
    std::vector<cfloat> out(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = x[i] + x[n + i];
    return out;
  };
  pseudo_replica_options o;
  o.replicas = 400;
  auto white = pseudo_replica(sum, k.data(), 2, 2 * n, nullptr, nullptr, o);
  EXPECT_NEAR(mean(white.noise_std), std::sqrt(2.0), 0.02);  // two unit-variance coils
  EXPECT_NEAR(white.snr[0], 2.0 / white.noise_std[0], 1e-5);
  const std::vector<cfloat> psi{cfloat(3, 0), cfloat(0.5f, 0.5f), cfloat(0.5f, -0.5f), cfloat(1, 0)};
  auto coloured = pseudo_replica(sum, k.data(), 2, 2 * n, nullptr, psi.data(), o);
  EXPECT_NEAR(mean(coloured.noise_std), std::sqrt(3.0 + 1.0 + 2 * 0.5), 0.03);
  // the same seed gives the same map
  auto again = pseudo_replica(sum, k.data(), 2, 2 * n, nullptr, psi.data(), o);
  for (index_t i = 0; i < n; ++i) EXPECT_EQ(again.noise_std[i], coloured.noise_std[i]);
  // noise only where acquired
  std::vector<std::uint8_t> acquired(static_cast<std::size_t>(n), 0);
  for (index_t i = 0; i < n; i += 4) acquired[static_cast<std::size_t>(i)] = 1;
  auto masked = pseudo_replica(sum, k.data(), 2, 2 * n, acquired.data(), nullptr, o);
  for (index_t i = 0; i < n; ++i) {
    if (i % 4) EXPECT_EQ(masked.noise_std[i], 0.f);
    else EXPECT_GT(masked.noise_std[i], 0.8f);
  }
}

TEST(PseudoReplica, RefusesBadInput) {
  std::vector<cfloat> k(8, cfloat(1, 0));
  auto id = [](const cfloat* x) { return std::vector<cfloat>(x, x + 4); };
  pseudo_replica_options o;
  EXPECT_THROW(pseudo_replica(id, k.data(), 3, 8, nullptr, nullptr, o), InvalidArgument);  // 8 not 3 coils
  o.replicas = 1;
  EXPECT_THROW(pseudo_replica(id, k.data(), 2, 8, nullptr, nullptr, o), InvalidArgument);
  o.replicas = 4;
  const std::vector<cfloat> bad{cfloat(1, 0), cfloat(2, 0), cfloat(2, 0), cfloat(1, 0)};  // eigenvalue -1
  EXPECT_THROW(pseudo_replica(id, k.data(), 2, 8, nullptr, bad.data(), o), InvalidArgument);
  int calls = 0;
  auto shrinking = [&](const cfloat* x) { return std::vector<cfloat>(x, x + (calls++ ? 3 : 4)); };
  EXPECT_THROW(pseudo_replica(shrinking, k.data(), 2, 8, nullptr, nullptr, o), InvalidArgument);
}
