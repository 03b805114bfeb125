// Non-Cartesian SENSE operator (Toeplitz normal, adjointness), CG-SENSE against a dense least-squares
// solve, density compensation (Pipe-Menon) against the known densities, trajectories.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <complex>
#include <random>
#include <vector>

#include "larmor/nufft/density_compensation.hpp"
#include "larmor/nufft/noncartesian_sense.hpp"
#include "larmor/nufft/trajectory.hpp"

using namespace larmor;

namespace {

constexpr double pi = 3.14159265358979323846;

std::vector<cfloat> random_cf(index_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> nd;
  std::vector<cfloat> v(static_cast<std::size_t>(n));
  for (auto& e : v) e = cfloat(nd(g), nd(g));
  return v;
}

// Smooth synthetic coil maps (coils, ny, nx).
array<cfloat, 3> smooth_maps(index_t coils, index_t ny, index_t nx) {
  array<cfloat, 3> m({coils, ny, nx});
  for (index_t c = 0; c < coils; ++c) {
    const double cy = std::cos(2 * pi * c / coils) * ny * 0.6, cx = std::sin(2 * pi * c / coils) * nx * 0.6;
    for (index_t y = 0; y < ny; ++y)
      for (index_t x = 0; x < nx; ++x) {
        const double dy = y - ny / 2 - cy, dx = x - nx / 2 - cx;
        const double a = std::exp(-(dy * dy + dx * dx) / (ny * nx * 0.5));
        m(c, y, x) = cfloat(static_cast<float>(a * std::cos(0.1 * c * (x + y))), static_cast<float>(a * std::sin(0.1 * c * (x - y))));
      }
  }
  return m;
}

double rel(const cfloat* a, const cfloat* b, index_t n) {
  double num = 0, den = 0;
  for (index_t i = 0; i < n; ++i) num += std::norm(cdouble(a[i]) - cdouble(b[i])), den += std::norm(cdouble(b[i]));
  return std::sqrt(num / den);
}

}  // namespace

TEST(NufftSense, ToeplitzNormalEqualsApplyAdjoint) {
  const index_t ny = 20, nx = 24, coils = 3;
  const auto maps = smooth_maps(coils, ny, nx);
  const auto k = radial_trajectory(15, 48, 24, radial_ordering::golden);
  const index_t M = 15 * 48;
  noncartesian_sense_operator<2> toe(maps.cview(), k.data(), M, 1e-6, true), direct(maps.cview(), k.data(), M, 1e-6, false);
  const auto x = random_cf(ny * nx, 4);
  std::vector<cfloat> a(x.size()), b(x.size());
  toe.normal(x.data(), a.data());
  direct.normal(x.data(), b.data());
  EXPECT_LT(rel(a.data(), b.data(), ny * nx), 2e-5);
}

TEST(NufftSense, Adjointness) {
  const index_t ny = 16, nx = 16, coils = 4;
  const auto maps = smooth_maps(coils, ny, nx);
  const auto k = radial_trajectory(12, 32, 16);
  const index_t M = 12 * 32;
  noncartesian_sense_operator<2> op(maps.cview(), k.data(), M);
  const auto x = random_cf(op.input_size(), 1), y = random_cf(op.output_size(), 2);
  std::vector<cfloat> Ax(static_cast<std::size_t>(op.output_size())), AHy(x.size());
  op.apply(x.data(), Ax.data());
  op.adjoint(y.data(), AHy.data());
  cdouble s1 = 0, s2 = 0;
  for (std::size_t i = 0; i < Ax.size(); ++i) s1 += std::conj(cdouble(Ax[i])) * cdouble(y[i]);
  for (std::size_t i = 0; i < x.size(); ++i) s2 += std::conj(cdouble(x[i])) * cdouble(AHy[i]);
  EXPECT_LT(std::abs(s1 - s2) / std::abs(s1), 1e-5);
}

TEST(NufftSense, CgSenseMatchesDenseSolve) {
  const index_t ny = 12, nx = 14, coils = 4, spokes = 10, samples = 24, n = ny * nx;
  const auto maps = smooth_maps(coils, ny, nx);
  const auto k = radial_trajectory(spokes, samples, 14, radial_ordering::golden);
  const index_t M = spokes * samples;
  // dense encoding matrix E (coils*M x n) in double from the direct DFT
  Eigen::MatrixXcd E(coils * M, n);
  for (index_t c = 0; c < coils; ++c)
    for (index_t m = 0; m < M; ++m)
      for (index_t y = 0; y < ny; ++y)
        for (index_t x = 0; x < nx; ++x) {
          const double ph = k[static_cast<std::size_t>(2 * m)] * (y - ny / 2) / double(ny) +
                            k[static_cast<std::size_t>(2 * m + 1)] * (x - nx / 2) / double(nx);
          E(c * M + m, y * nx + x) = cdouble(maps(c, y, x)) * std::polar(1.0, -2 * pi * ph) / std::sqrt(double(n));
        }
  Eigen::VectorXcd truth(n);
  for (index_t y = 0; y < ny; ++y)
    for (index_t x = 0; x < nx; ++x) truth(y * nx + x) = cdouble((std::abs(y - 6) < 4 && std::abs(x - 7) < 5) ? 1.0 : 0.2, 0.1 * x);
  Eigen::VectorXcd yd = E * truth;
  std::vector<cfloat> ys(static_cast<std::size_t>(coils * M));
  std::mt19937 g(3);
  std::normal_distribution<double> nd;
  for (index_t i = 0; i < coils * M; ++i) ys[static_cast<std::size_t>(i)] = cfloat(yd(i) + 0.01 * cdouble(nd(g), nd(g)));
  const double reg = 0.01;
  Eigen::VectorXcd yv(coils * M);
  for (index_t i = 0; i < coils * M; ++i) yv(i) = cdouble(ys[static_cast<std::size_t>(i)]);
  Eigen::MatrixXcd N = E.adjoint() * E + reg * Eigen::MatrixXcd::Identity(n, n);
  Eigen::VectorXcd ref = N.ldlt().solve(E.adjoint() * yv);
  cgsense_noncartesian_options o;
  o.reg = static_cast<float>(reg);
  o.iters = 200;
  o.tol = 1e-7;
  for (bool toeplitz : {true, false}) {
    o.toeplitz = toeplitz;
    const auto res = cgsense_noncartesian<2>(ys.data(), maps.cview(), k.data(), M, o);
    std::vector<cfloat> rf(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) rf[static_cast<std::size_t>(i)] = cfloat(ref(i));
    EXPECT_LT(rel(res.image.data(), rf.data(), n), 1e-3) << "toeplitz " << toeplitz << " iters " << res.report.iterations;
  }
}

TEST(NufftDcf, CartesianGridGivesOne) {
  std::vector<double> k;
  for (int a = -8; a < 8; ++a)
    for (int b = -10; b < 10; ++b) k.push_back(a), k.push_back(b);
  const auto w = dcf_pipe_menon<2>(k.data(), 16 * 20, extents<2>{16, 20});
  // At the Nyquist spacing (2 fine-grid cells) the kernel-sum approximation of Pipe-Menon is 4 % low.
  for (float v : w) EXPECT_NEAR(v, 1.0f, 0.05f);
  // twice as dense (half-integer grid) -> 1/4
  std::vector<double> k2;
  for (int a = -16; a < 16; ++a)
    for (int b = -20; b < 20; ++b) k2.push_back(a * 0.5), k2.push_back(b * 0.5);
  const auto w2 = dcf_pipe_menon<2>(k2.data(), 32 * 40, extents<2>{16, 20});
  for (float v : w2) EXPECT_NEAR(v, 0.25f, 0.0025f);
}

TEST(NufftDcf, RadialMatchesAnalyticDensity) {
  // Uniform radial, S spokes, spacing dk: area per sample pi |k| dk / S away from the centre.
  const index_t S = 64, R = 128;
  const double n = 64, dk = n / R;
  const auto k = radial_trajectory(S, R, n);
  const auto w = dcf_pipe_menon<2>(k.data(), S * R, extents<2>{64, 64}, 30);
  const auto ramp = dcf_radial_ramp(k.data(), S * R);
  double err = 0, cnt = 0, err_r = 0;
  for (index_t s = 0; s < S; ++s)
    for (index_t i = 0; i < R; ++i) {
      const double r = std::abs(static_cast<double>(i - R / 2)) * dk;
      if (r < 6 || r > 24) continue;  // away from the centre and the edge of the disc
      const double expect = pi * r * dk / S;
      err += std::abs(w[static_cast<std::size_t>(s * R + i)] - expect) / expect;
      err_r += std::abs(ramp[static_cast<std::size_t>(s * R + i)] - expect) / expect;
      cnt += 1;
    }
  EXPECT_LT(err / cnt, 0.05);
  EXPECT_LT(err_r / cnt, 0.05);
}

TEST(NufftTrajectory, RadialKindsAndShapes) {
  const auto u = radial_trajectory(4, 8, 16);
  // spoke 1 of 4 uniform at 45 deg: sample 0 at r = -8
  EXPECT_NEAR(u[(1 * 8 + 0) * 2], -8 * std::sin(pi / 4), 1e-12);
  EXPECT_NEAR(u[(1 * 8 + 0) * 2 + 1], -8 * std::cos(pi / 4), 1e-12);
  EXPECT_NEAR(u[(0 * 8 + 4) * 2 + 1], 0.0, 1e-12);  // centre sample
  const double phi = (1 + std::sqrt(5.0)) / 2;
  EXPECT_NEAR(radial_angle(1, 10, radial_ordering::golden) * 180 / pi, 111.246, 1e-3);
  EXPECT_NEAR(radial_angle(1, 10, radial_ordering::tiny_golden), pi / (phi + 6), 1e-12);
  const auto sos = stack_of_stars_trajectory(4, 3, 8, 16);
  EXPECT_EQ(sos.size(), std::size_t(4 * 3 * 8 * 3));
  EXPECT_EQ(sos[0], -2.0);
  const auto kb = kooshball_trajectory(50, 16, 32);
  for (index_t s = 0; s < 50; ++s) {  // the first sample of each spoke lies on the sphere of radius 16
    const double* e = &kb[static_cast<std::size_t>(s * 16 * 3)];
    EXPECT_NEAR(std::sqrt(e[0] * e[0] + e[1] * e[1] + e[2] * e[2]), 16.0, 1e-9);
  }
  const auto sp = spiral_trajectory(4, 200, 32);
  double rmax = 0;
  for (std::size_t i = 0; i < sp.size(); i += 2) rmax = std::max(rmax, std::hypot(sp[i], sp[i + 1]));
  EXPECT_LE(rmax, 16.0);
  EXPECT_GT(rmax, 15.5);
  EXPECT_THROW(parse_radial_ordering("spiral"), InvalidArgument);
}
