// Walsh and Inati sensitivities: against the true maps of a simulated acquisition (up to the per-pixel
// phase), against a brute-force Walsh (explicit window sums + Eigen's eigensolver), against each other
// (Inati's iteration converges to Walsh's eigenvectors), in 3D, and on bad input.
#include <Eigen/Dense>

#include "coil_phantom.hpp"
#include "larmor/coils/combine.hpp"
#include "larmor/coils/inati.hpp"
#include "larmor/coils/walsh.hpp"
#include "test_helpers.hpp"

namespace larmor {
namespace {

TEST(Walsh, RecoversSimulatedSensitivities) {
  const auto p = test::make_coil_phantom(8, 96, 96, 0.05);
  const auto coil_imgs = ifftc(p.kspace.cview());
  const auto maps = walsh_maps(coil_imgs.cview(), 7);
  ASSERT_EQ(maps.shape(), coil_imgs.shape());
  const auto px = test::object_pixels(p.object, 0.15f);
  const auto [lo, mean] = test::cosine_stats(maps, p.maps, px);
  EXPECT_GT(mean, 0.99);  // noisy data (sigma 0.05): the local estimate is not exact
  EXPECT_GT(lo, 0.9);
  // Unit norm; combine() with them recovers the object's magnitude up to the map scale.
  for (auto [y, x] : px) {
    double n2 = 0;
    for (index_t c = 0; c < 8; ++c) n2 += std::norm(maps(c, y, x));
    ASSERT_NEAR(n2, 1.0, 1e-4);
  }
}

TEST(Walsh, MatchesBruteForceEigenvectors) {
  const auto p = test::make_coil_phantom(5, 24, 20, 0.02);
  const auto imgs = ifftc(p.kspace.cview());
  const index_t k = 5, h = 2;
  const auto maps = walsh_maps(imgs.cview(), k);
  for (index_t y = 0; y < 24; y += 3)
    for (index_t x = 0; x < 20; x += 3) {
      Eigen::MatrixXcd r = Eigen::MatrixXcd::Zero(5, 5);
      for (index_t yy = std::max<index_t>(0, y - h); yy <= std::min<index_t>(23, y + h); ++yy)
        for (index_t xx = std::max<index_t>(0, x - h); xx <= std::min<index_t>(19, x + h); ++xx) {
          Eigen::VectorXcd v(5);
          for (index_t c = 0; c < 5; ++c) v(c) = std::complex<double>(imgs(c, yy, xx));
          r += v * v.adjoint();
        }
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXcd> es(r);
      if (es.eigenvalues()(4) < 2 * es.eigenvalues()(3)) continue;  // no dominant direction (background)
      const Eigen::VectorXcd ref = es.eigenvectors().col(4);
      std::complex<double> ip = 0;
      for (index_t c = 0; c < 5; ++c) ip += std::conj(ref(c)) * std::complex<double>(maps(c, y, x));
      EXPECT_GT(std::abs(ip), 0.9999) << "pixel " << y << "," << x;
    }
}

TEST(Inati, ConvergesToWalshAndRecoversSensitivities) {
  const auto p = test::make_coil_phantom(8, 96, 96, 0.05);
  const auto imgs = ifftc(p.kspace.cview());
  const auto mi = inati_maps(imgs.cview(), 7, 10);
  const auto mw = walsh_maps(imgs.cview(), 7);
  const auto px = test::object_pixels(p.object, 0.15f);
  const auto [lo_w, mean_w] = test::cosine_stats(mi, mw, px);
  EXPECT_GT(mean_w, 0.999);
  const auto [lo, mean] = test::cosine_stats(mi, p.maps, px);
  EXPECT_GT(mean, 0.99);
  EXPECT_GT(lo, 0.9);
  // Same phase convention as Walsh: the maps agree including phase.
  double num = 0, den = 0;
  for (auto [y, x] : px)
    for (index_t c = 0; c < 8; ++c) {
      num += std::norm(std::complex<double>(mi(c, y, x)) - std::complex<double>(mw(c, y, x)));
      den += std::norm(std::complex<double>(mw(c, y, x)));
    }
  EXPECT_LT(std::sqrt(num / den), 0.05);
}

TEST(WalshInati, ThreeDimensional) {
  const index_t nc = 4, nz = 8, ny = 32, nx = 32;
  const auto p2 = test::make_coil_phantom(nc, ny, nx);
  array<cfloat, 4> img(extents<4>{nc, nz, ny, nx});
  for (index_t c = 0; c < nc; ++c)
    for (index_t z = 0; z < nz; ++z)
      for (index_t y = 0; y < ny; ++y)
        for (index_t x = 0; x < nx; ++x) img(c, z, y, x) = p2.images(c, y, x);
  const auto mw = walsh_maps(img.cview(), 5);
  const auto mi = inati_maps(img.cview(), 5, 10);
  const auto px = test::object_pixels(p2.object, 0.15f);
  for (const auto* m : {&mw, &mi}) {
    const strided_view<const cfloat, 3> mid(m->data() + 4 * ny * nx, extents<3>{nc, ny, nx},
                                            extents<3>{nz * ny * nx, nx, 1});
    const auto [lo, mean] = test::cosine_stats(mid, p2.maps, px);
    EXPECT_GT(mean, 0.99);
  }
}

TEST(WalshInati, RejectBadInput) {
  array<cfloat, 3> x(extents<3>{3, 8, 8});
  EXPECT_THROW(walsh_maps(x.cview(), 0), InvalidArgument);
  EXPECT_THROW(inati_maps(x.cview(), 5, 0), InvalidArgument);
  x(1, 2, 2) = cfloat(std::nanf(""), 0.f);
  EXPECT_THROW(walsh_maps(x.cview(), 5), DataError);
  EXPECT_THROW(inati_maps(x.cview()), DataError);
}

}  // namespace
}  // namespace larmor
