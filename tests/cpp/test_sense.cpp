// SENSE unfolding and g-factor: against the known object of noiseless simulated acquisitions (2D R = 2,
// 3, 4 with 24 ACS lines and odd offsets; 3D 2x2 and 2x2 CAIPIRINHA shift 1), against the least-squares
// solution with an explicit encoding matrix (Eigen) with noise and Tikhonov, g-factor against the
// brute-force formula and a pseudo-replica noise estimate, and bad input.
#include "larmor/pi/sense.hpp"

#include <random>

#include "sense_phantom.hpp"
#include "test_helpers.hpp"

namespace larmor {
namespace {

// Relative error inside the object (where the truth is not ~0).
template <class A, class B>
double object_error(const A& img, const B& truth) {
  double num = 0, den = 0, peak = 0;
  for (index_t i = 0; i < truth.size(); ++i) peak = std::max(peak, double(std::abs(truth[i])));
  for (index_t i = 0; i < truth.size(); ++i)
    if (std::abs(truth[i]) > 0.05 * peak) {
      num += std::norm(std::complex<double>(img[i]) - std::complex<double>(truth[i]));
      den += std::norm(std::complex<double>(truth[i]));
    }
  return std::sqrt(num / den);
}

struct case2d {
  index_t r, offset;
};
class Sense2D : public ::testing::TestWithParam<case2d> {};

TEST_P(Sense2D, NoiselessUnfoldsToTheObjectWithTrueMaps) {
  const auto [r, off] = GetParam();
  const index_t nc = 8, ny = 96, nx = 64;
  auto p = test::make_coil_phantom(nc, ny, nx);
  sampling_lattice L;
  L.ry = r;
  L.offset_y = off;
  test::keep_lines(p.kspace, test::lattice_with_acs(L, 1, ny, 24));
  const auto img = sense(p.kspace.cview(), p.maps.cview());
  array<cfloat, 2> truth(p.object.shape());
  for (index_t i = 0; i < truth.size(); ++i) truth[i] = p.object[i];
  const double err = test::relative_error(img, truth);
  EXPECT_LT(err, 1e-4) << "R " << r << " offset " << off;
  std::printf("sense 2D R=%td offset %td: relative error vs object %.2e\n", r, off, err);
}
INSTANTIATE_TEST_SUITE_P(Lattices, Sense2D,
                         ::testing::Values(case2d{2, 0}, case2d{2, 1}, case2d{3, 0}, case2d{3, 1}, case2d{4, 0},
                                           case2d{4, 3}),
                         [](const ::testing::TestParamInfo<case2d>& i) {
                           return "R" + std::to_string(i.param.r) + "_offset" + std::to_string(i.param.offset);
                         });

TEST(Sense, ThreeDimensional2x2AndCaipirinha) {
  const index_t nc = 8, nz = 16, ny = 32, nx = 24;
  for (index_t shift : {0, 1}) {
    auto p = test::make_coil_phantom_3d(nc, nz, ny, nx);
    sampling_lattice L;
    L.ry = 2, L.rz = 2, L.shift = shift;
    test::keep_lines(p.kspace, test::lattice_with_acs(L, nz, ny, 8, 6));
    const auto found = detect_lattice(acquired_lines(p.kspace.cview()));
    ASSERT_TRUE(found);
    EXPECT_EQ(found->ry * found->rz, 4);
    const auto img = sense(p.kspace.cview(), p.maps.cview());
    const double err = test::relative_error(img, p.object);
    EXPECT_LT(err, 1e-4) << "shift " << shift;
    // The same with the lattice given and the maps as (1, coils, z, y, x).
    sense_options o;
    o.lattice = L;
    const array<cfloat, 5> m5 = array<cfloat, 4>(p.maps).reshape(extents<5>{1, nc, nz, ny, nx});
    const auto img2 = sense(p.kspace.cview(), m5.cview(), o);
    EXPECT_LT(test::relative_error(img2, img), 1e-6);
    std::printf("sense 3D 2x2 shift %td: relative error vs object %.2e\n", shift, err);
  }
}

// Noisy data with Tikhonov: SENSE is the exact minimiser of ||M(F S x - k)||^2 + reg ||x||^2, which an
// explicit encoding matrix gives by brute force.
TEST(Sense, EqualsDenseLeastSquaresWithNoiseAndTikhonov) {
  const index_t nc = 4, ny = 12, nx = 8;
  for (float reg : {0.f, 0.05f}) {
    auto p = test::make_coil_phantom(nc, ny, nx, 0.05);
    sampling_lattice L;
    L.ry = 3, L.offset_y = 1;
    test::keep_lines(p.kspace, test::lattice_with_acs(L, 1, ny, 0));
    std::vector<float> mask(static_cast<std::size_t>(ny * nx));
    for (index_t y = 0; y < ny; ++y)
      for (index_t x = 0; x < nx; ++x) mask[static_cast<std::size_t>(y * nx + x)] = L.contains(0, y) ? 1.f : 0.f;
    const auto e = test::encoding_matrix(p.maps.data(), nc, 1, ny, nx, mask);
    Eigen::VectorXcd k(nc * ny * nx);
    for (index_t i = 0; i < k.size(); ++i) k(i) = p.kspace[i];
    const Eigen::MatrixXcd g = e.adjoint() * e + double(reg) * Eigen::MatrixXcd::Identity(ny * nx, ny * nx);
    const Eigen::VectorXcd ref = g.ldlt().solve(e.adjoint() * k);
    sense_options o;
    o.reg = reg;
    const auto img = sense(p.kspace.cview(), p.maps.cview(), o);
    double num = 0, den = 0;
    for (index_t i = 0; i < ny * nx; ++i) num += std::norm(std::complex<double>(img[i]) - ref(i)), den += std::norm(ref(i));
    EXPECT_LT(std::sqrt(num / den), 1e-5) << "reg " << reg;
  }
}

TEST(SenseGfactor, OneWithoutAccelerationAtLeastOneOtherwise) {
  const auto maps = simulated_coil_maps<float>(8, 64, 48);
  const auto g1 = sense_gfactor(maps.cview(), 1);
  for (float v : g1) EXPECT_NEAR(v, 1.f, 1e-5f);
  for (index_t r : {2, 4}) {
    const auto g = sense_gfactor(maps.cview(), r);
    double mean = 0;
    for (float v : g) {
      EXPECT_GE(v, 1.f - 1e-5f);
      mean += v;
    }
    mean /= double(g.size());
    EXPECT_GT(mean, 1.0);
    std::printf("g-factor 8 coils 64x48 R=%td: mean %.4f max %.4f\n", r, mean, double(*std::max_element(g.begin(), g.end())));
  }
  // Maps given as (1, coils, y, x) give the same map; zero sensitivity -> g = 0 there.
  auto m = maps;
  for (index_t c = 0; c < 8; ++c) m(c, 5, 7) = 0;
  const array<cfloat, 4> m4 = array<cfloat, 3>(m).reshape(extents<4>{1, 8, 64, 48});
  const auto g4 = sense_gfactor(m4.cview(), 2);
  EXPECT_EQ(g4(5, 7), 0.f);
  EXPECT_NEAR(g4(0, 0), sense_gfactor(maps.cview(), 2)(0, 0), 1e-6f);
}

// Brute force: g_p = sqrt([(E^H E)^-1]_pp [E_full^H E_full]_pp / R) with explicit encoding matrices.
TEST(SenseGfactor, MatchesExplicitEncodingMatrix) {
  struct cfg {
    index_t nz, ry, rz, shift;
  };
  for (auto c : {cfg{1, 2, 1, 0}, cfg{1, 3, 1, 0}, cfg{4, 2, 2, 0}, cfg{4, 2, 2, 1}}) {
    const index_t nc = 6, ny = 6, nx = 4, nz = c.nz;
    array<cfloat, 4> maps(extents<4>{nc, nz, ny, nx});
    if (nz == 1) {
      const auto m2 = simulated_coil_maps<float>(nc, ny, nx);
      std::copy(m2.begin(), m2.end(), maps.begin());
    } else {
      maps = test::make_coil_phantom_3d(nc, nz, ny, nx).maps;
    }
    sampling_lattice L;
    L.ry = c.ry, L.rz = c.rz, L.shift = c.shift;
    std::vector<float> mask(static_cast<std::size_t>(nz * ny * nx)), full(mask.size(), 1.f);
    for (index_t z = 0; z < nz; ++z)
      for (index_t y = 0; y < ny; ++y)
        for (index_t x = 0; x < nx; ++x) mask[static_cast<std::size_t>((z * ny + y) * nx + x)] = L.contains(z, y);
    const auto e = test::encoding_matrix(maps.data(), nc, nz, ny, nx, mask);
    const auto ef = test::encoding_matrix(maps.data(), nc, nz, ny, nx, full);
    const Eigen::MatrixXcd inv = (e.adjoint() * e).inverse();
    const Eigen::MatrixXcd ff = ef.adjoint() * ef;
    array<float, 3> g;
    if (nz == 1) {
      const auto g2 = sense_gfactor(strided_view<const cfloat, 3>(maps.data(), extents<3>{nc, ny, nx}), c.ry);
      g = array<float, 2>(g2).reshape(extents<3>{1, ny, nx});
    } else {
      const array<cfloat, 5> m5 = array<cfloat, 4>(maps).reshape(extents<5>{1, nc, nz, ny, nx});
      g = sense_gfactor(m5.cview(), c.ry, c.rz, c.shift);
    }
    double worst = 0;
    for (index_t p = 0; p < nz * ny * nx; ++p) {
      const double ref = std::sqrt(inv(p, p).real() * ff(p, p).real() / double(c.ry * c.rz));
      worst = std::max(worst, std::abs(double(g[p]) - ref) / ref);
    }
    EXPECT_LT(worst, 1e-4) << "nz " << nz << " ry " << c.ry << " rz " << c.rz << " shift " << c.shift;
  }
}

// Pseudo-replica: the noise in SENSE images of many noise-only acquisitions, relative to the noise of
// the fully sampled combination, is g sqrt(R).
TEST(SenseGfactor, AgreesWithPseudoReplicaNoise) {
  const index_t nc = 6, ny = 32, nx = 16, r = 2, reps = 120;
  const auto maps = simulated_coil_maps<float>(nc, ny, nx);
  const auto g = sense_gfactor(maps.cview(), r);
  std::mt19937 rng(11);
  std::normal_distribution<float> n01(0.f, 1.f);
  array<double, 2> var_r(extents<2>{ny, nx});
  sense_options o;
  o.lattice = sampling_lattice{r, 1, 0, 0, 0};
  for (index_t t = 0; t < reps; ++t) {
    array<cfloat, 3> k(extents<3>{nc, ny, nx});
    for (auto& v : k) v = cfloat(n01(rng), n01(rng)) * 0.70710678f;
    test::keep_lines(k, [&](index_t, index_t y) { return y % r == 0; });
    const auto img = sense(k.cview(), maps.cview(), o);
    for (index_t i = 0; i < ny * nx; ++i) var_r[i] += std::norm(img[i]) / double(reps);
  }
  // Fully sampled: var = 1 / sum_c |S_c|^2 (unit noise per sample, unitary FFT).
  double mean_ratio = 0;
  for (index_t y = 0; y < ny; ++y)
    for (index_t x = 0; x < nx; ++x) {
      double ss = 0;
      for (index_t c = 0; c < nc; ++c) ss += std::norm(maps(c, y, x));
      mean_ratio += std::sqrt(var_r(y, x) * ss / double(r)) / double(g(y, x));
    }
  mean_ratio /= double(ny * nx);
  EXPECT_NEAR(mean_ratio, 1.0, 0.03);
  std::printf("pseudo-replica g / analytic g, mean over the image: %.4f (%td replicas)\n", mean_ratio, reps);
}

TEST(Sense, NoisyErrorIsBoundedByTheGfactor) {
  const index_t nc = 8, ny = 96, nx = 64;
  const double sigma = 2e-3;
  auto p = test::make_coil_phantom(nc, ny, nx, sigma);
  sampling_lattice L;
  L.ry = 3;
  test::keep_lines(p.kspace, test::lattice_with_acs(L, 1, ny, 0));
  const auto img = sense(p.kspace.cview(), p.maps.cview());
  const auto g = sense_gfactor(p.maps.cview(), 3);
  // Expected noise variance per pixel: g^2 R sigma^2 / sum_c |S_c|^2 (complex noise of variance 2 sigma^2).
  double err2 = 0, pred2 = 0;
  for (index_t y = 0; y < ny; ++y)
    for (index_t x = 0; x < nx; ++x) {
      double ss = 0;
      for (index_t c = 0; c < nc; ++c) ss += std::norm(p.maps(c, y, x));
      err2 += std::norm(std::complex<double>(img(y, x)) - double(p.object(y, x)));
      pred2 += double(g(y, x)) * g(y, x) * 3 * 2 * sigma * sigma / ss;
    }
  const double ratio = std::sqrt(err2 / pred2);
  EXPECT_GT(ratio, 0.8);
  EXPECT_LT(ratio, 1.2);
  std::printf("noisy R=3: rms error / predicted rms error = %.3f\n", ratio);
}

TEST(Sense, RejectsBadInput) {
  const index_t nc = 4, ny = 64, nx = 32;
  auto p = test::make_coil_phantom(nc, ny, nx);
  // R = 3 does not divide 64 lines.
  auto k3 = p.kspace;
  test::keep_lines(k3, [](index_t, index_t y) { return y % 3 == 0; });
  try {
    sense(k3.cview(), p.maps.cview());
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("does not divide the 64"), std::string::npos) << e.what();
  }
  sense_options o;
  o.lattice = sampling_lattice{3, 1, 0, 0, 0};
  EXPECT_THROW(sense(k3.cview(), p.maps.cview(), o), InvalidArgument);
  // Maps / k-space shape mismatch.
  const auto small = simulated_coil_maps<float>(nc, ny, nx - 2);
  try {
    sense(p.kspace.cview(), small.cview());
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("maps have shape (4, 64, 30)"), std::string::npos) << e.what();
  }
  const auto fewer = simulated_coil_maps<float>(nc - 1, ny, nx);
  EXPECT_THROW(sense(p.kspace.cview(), fewer.cview()), InvalidArgument);
  // All-zero k-space, NaN.
  array<cfloat, 3> zero(p.kspace.shape());
  EXPECT_THROW(sense(zero.cview(), p.maps.cview()), DataError);
  auto nan = p.kspace;
  nan(1, 2, 3) = cfloat(std::nanf(""), 0.f);
  EXPECT_THROW(sense(nan.cview(), p.maps.cview()), DataError);
  // Irregular lines: no lattice -> DataError that points to cgsense.
  auto rnd = p.kspace;
  std::mt19937 rng(5);
  std::vector<bool> keep(ny);
  for (index_t y = 0; y < ny; ++y) keep[y] = (rng() % 3 == 0) || std::abs(y - ny / 2) < 4;
  test::keep_lines(rnd, [&](index_t, index_t y) { return keep[y]; });
  try {
    sense(rnd.cview(), p.maps.cview());
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("cgsense"), std::string::npos) << e.what();
  }
  // A given lattice whose lines were not all acquired (partial Fourier).
  auto pf = p.kspace;
  test::keep_lines(pf, [](index_t, index_t y) { return y % 2 == 0 && y >= 10; });
  o.lattice = sampling_lattice{2, 1, 0, 0, 0};
  EXPECT_THROW(sense(pf.cview(), p.maps.cview(), o), DataError);
  // Several sets of maps; negative reg; g-factor with a bad R.
  array<cfloat, 4> two(extents<4>{2, nc, ny, nx});
  EXPECT_THROW(sense(p.kspace.cview(), two.cview()), InvalidArgument);
  o = {};
  o.reg = -1;
  EXPECT_THROW(sense(p.kspace.cview(), p.maps.cview(), o), InvalidArgument);
  EXPECT_THROW(sense_gfactor(p.maps.cview(), 5), InvalidArgument);
  EXPECT_THROW(sense_gfactor(p.maps.cview(), 0), InvalidArgument);
}

}  // namespace
}  // namespace larmor
