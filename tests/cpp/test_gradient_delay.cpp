// RING gradient-delay estimation (nufft/gradient_delay.hpp) on radial data simulated with known delays: the
// spokes sample k = u dk n + dk S n, the data are the exact DFT of a pixel image at those positions (direct
// sums in double, written here). The estimate must recover S to a small fraction of a sample, with and without
// noise, with 2x and without readout oversampling; the corrected trajectory must equal the true one.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <random>
#include <vector>

#include "larmor/nufft/gradient_delay.hpp"

using namespace larmor;

namespace {

constexpr double pi = 3.14159265358979323846;

struct radial_data {
  index_t spokes, coils, samples, N;
  std::vector<float> nominal, actual;  // (spokes * samples, 2) in (x, y), cycles per FOV
  std::vector<cfloat> data;            // (spokes, coils, samples)
};

// spokes over 2 pi (alternating directions, like bart traj -r), dk = 1 / oversampling cycles per FOV
radial_data simulate(index_t N, index_t spokes, index_t coils, index_t oversampling, double sxx, double syy,
                     double sxy, double noise, unsigned seed, double golden = 0) {
  radial_data r{spokes, coils, N * oversampling, N, {}, {}, {}};
  const index_t ns = r.samples;
  const double dk = 1.0 / static_cast<double>(oversampling);
  r.nominal.resize(static_cast<std::size_t>(spokes * ns * 2));
  r.actual.resize(r.nominal.size());
  for (index_t i = 0; i < spokes; ++i) {
    const double a = golden > 0 ? std::fmod(static_cast<double>(i) * golden, 2 * pi) : 2 * pi * static_cast<double>(i) / spokes;
    const double nx = std::cos(a), ny = std::sin(a);
    const double shx = dk * (sxx * nx + sxy * ny), shy = dk * (sxy * nx + syy * ny);
    for (index_t s = 0; s < ns; ++s) {
      const double u = (static_cast<double>(s) - static_cast<double>(ns / 2)) * dk;
      const std::size_t m = static_cast<std::size_t>(i * ns + s);
      r.nominal[2 * m] = static_cast<float>(u * nx), r.nominal[2 * m + 1] = static_cast<float>(u * ny);
      r.actual[2 * m] = static_cast<float>(u * nx + shx), r.actual[2 * m + 1] = static_cast<float>(u * ny + shy);
    }
  }
  // object: two ellipses with a phase, coil maps smooth Gaussians around the FOV
  std::vector<cdouble> img(static_cast<std::size_t>(coils * N * N));
  for (index_t c = 0; c < coils; ++c)
    for (index_t y = 0; y < N; ++y)
      for (index_t x = 0; x < N; ++x) {
        const double px = (static_cast<double>(x) - N / 2) / N, py = (static_cast<double>(y) - N / 2) / N;
        double v = (px * px / 0.12 + py * py / 0.16 < 1) ? 1.0 : 0.0;
        if ((px - 0.1) * (px - 0.1) / 0.01 + py * py / 0.03 < 1) v = 0.3;
        const double ca = 2 * pi * static_cast<double>(c) / coils;
        const double w = std::exp(-((px - 0.5 * std::cos(ca)) * (px - 0.5 * std::cos(ca)) +
                                    (py - 0.5 * std::sin(ca)) * (py - 0.5 * std::sin(ca))) / 0.2);
        img[static_cast<std::size_t>((c * N + y) * N + x)] = v * w * std::polar(1.0, ca + 3 * px);
      }
  r.data.resize(static_cast<std::size_t>(spokes * coils * ns));
  std::mt19937 g(seed);
  std::normal_distribution<double> nd;
  std::vector<cdouble> ex(static_cast<std::size_t>(N)), ey(ex.size());
  for (index_t i = 0; i < spokes; ++i)
    for (index_t s = 0; s < ns; ++s) {
      const std::size_t m = static_cast<std::size_t>(i * ns + s);
      for (index_t j = 0; j < N; ++j) {
        const double rj = static_cast<double>(j - N / 2) / N;
        ex[static_cast<std::size_t>(j)] = std::polar(1.0, -2 * pi * r.actual[2 * m] * rj);
        ey[static_cast<std::size_t>(j)] = std::polar(1.0, -2 * pi * r.actual[2 * m + 1] * rj);
      }
      for (index_t c = 0; c < coils; ++c) {
        cdouble acc = 0;
        for (index_t y = 0; y < N; ++y) {
          cdouble row = 0;
          for (index_t x = 0; x < N; ++x) row += img[static_cast<std::size_t>((c * N + y) * N + x)] * ex[static_cast<std::size_t>(x)];
          acc += row * ey[static_cast<std::size_t>(y)];
        }
        acc /= static_cast<double>(N);
        r.data[static_cast<std::size_t>((i * coils + c) * ns + s)] = cfloat(acc + noise * cdouble(nd(g), nd(g)));
      }
    }
  return r;
}

gradient_delay_estimate estimate(const radial_data& r, double crop) {
  const auto sp = find_radial_spokes(r.nominal.data(), r.spokes, r.samples, 2, 0, 1);
  EXPECT_TRUE(sp.radial) << sp.why_not;
  ring_options o;
  o.crop = crop;
  return ring_gradient_delay(r.data.data(), r.spokes, r.coils, r.samples, sp.directions.data(), sp.centre.data(), o);
}

}  // namespace

TEST(RingGradientDelay, RecoversKnownDelays) {
  struct c { double sxx, syy, sxy; };
  for (const c s : {c{0.6, -0.4, 0.15}, c{-1.3, 0.9, 0.0}, c{0.25, 0.25, -0.3}}) {
    const auto r = simulate(48, 48, 6, 2, s.sxx, s.syy, s.sxy, 0.0, 1);
    const auto e = estimate(r, 0.6);
    EXPECT_NEAR(e.sxx, s.sxx, 0.01) << e.describe();
    EXPECT_NEAR(e.syy, s.syy, 0.01) << e.describe();
    EXPECT_NEAR(e.sxy, s.sxy, 0.01) << e.describe();
    EXPECT_GE(e.pairs, 20);  // each intersection once
  }
}

TEST(RingGradientDelay, NoDelayNoiseGoldenAngleAndNoOversampling) {
  {  // no delay: nothing found
    const auto e = estimate(simulate(48, 40, 6, 2, 0, 0, 0, 0.0, 2), 0.6);
    EXPECT_LT(std::abs(e.sxx) + std::abs(e.syy) + std::abs(e.sxy), 0.01) << e.describe();
  }
  {  // noise at ~5 % of the k-space centre's magnitude per sample, golden-angle spokes
    const auto e = estimate(simulate(48, 64, 6, 2, 0.7, 0.3, -0.2, 0.05, 3, pi * (std::sqrt(5.0) - 1)), 0.6);
    EXPECT_NEAR(e.sxx, 0.7, 0.02) << e.describe();
    EXPECT_NEAR(e.syy, 0.3, 0.02) << e.describe();
    EXPECT_NEAR(e.sxy, -0.2, 0.02) << e.describe();
  }
  {  // readout not oversampled: no cropping
    const auto e = estimate(simulate(48, 48, 6, 1, 0.5, -0.5, 0.1, 0.0, 4), 1.0);
    EXPECT_NEAR(e.sxx, 0.5, 0.01) << e.describe();
    EXPECT_NEAR(e.syy, -0.5, 0.01) << e.describe();
    EXPECT_NEAR(e.sxy, 0.1, 0.01) << e.describe();
  }
}

TEST(RingGradientDelay, CorrectedTrajectoryIsTheTrueOne) {
  const auto r = simulate(32, 24, 4, 2, 0.8, -0.6, 0.2, 0.0, 5);
  const auto sp = find_radial_spokes(r.nominal.data(), r.spokes, r.samples, 2, 0, 1);
  ASSERT_TRUE(sp.radial);
  EXPECT_NEAR(sp.centre[3], 32.0, 1e-6);
  EXPECT_NEAR(sp.spacing[3], 0.5, 1e-6);
  auto k = r.nominal;
  gradient_delay_estimate s;
  s.sxx = 0.8, s.syy = -0.6, s.sxy = 0.2;
  correct_radial_trajectory(k.data(), r.spokes, r.samples, 2, 0, 1, sp, s);
  for (std::size_t i = 0; i < k.size(); ++i) EXPECT_NEAR(k[i], r.actual[i], 1e-4);
}

TEST(RingGradientDelay, RefusesWhatItCannotEstimate) {
  const auto r = simulate(32, 16, 4, 2, 0.3, 0.3, 0, 0.0, 6);
  const auto sp = find_radial_spokes(r.nominal.data(), r.spokes, r.samples, 2, 0, 1);
  // all spokes parallel: no intersections
  std::vector<double> dirs(static_cast<std::size_t>(2 * r.spokes));
  for (index_t i = 0; i < r.spokes; ++i) dirs[static_cast<std::size_t>(2 * i)] = i % 2 ? 1 : -1;
  EXPECT_THROW(ring_gradient_delay(r.data.data(), r.spokes, r.coils, r.samples, dirs.data(), sp.centre.data()), DataError);
  // a spiral is not radial, and says which readout and why
  std::vector<float> spiral(static_cast<std::size_t>(4 * 64 * 2));
  for (index_t i = 0; i < 4; ++i)
    for (index_t s = 0; s < 64; ++s) {
      const double rad = 0.25 * static_cast<double>(s), a = 0.2 * static_cast<double>(s) + i;
      spiral[static_cast<std::size_t>(2 * (i * 64 + s))] = static_cast<float>(rad * std::cos(a));
      spiral[static_cast<std::size_t>(2 * (i * 64 + s) + 1)] = static_cast<float>(rad * std::sin(a));
    }
  const auto ns = find_radial_spokes(spiral.data(), 4, 64, 2, 0, 1);
  EXPECT_FALSE(ns.radial);
  EXPECT_NE(ns.why_not.find("readout 0"), std::string::npos);
  // centre-out (UTE-like) spokes: k = 0 at the first sample; the periodic interpolation would wrap
  std::vector<double> ute(static_cast<std::size_t>(r.spokes), 0.5);
  EXPECT_THROW(ring_gradient_delay(r.data.data(), r.spokes, r.coils, r.samples, sp.directions.data(), ute.data()), DataError);
  auto bad = r.data;
  bad[5] = cfloat(std::nanf(""), 0);
  EXPECT_THROW(ring_gradient_delay(bad.data(), r.spokes, r.coils, r.samples, sp.directions.data(), sp.centre.data()), DataError);
}
