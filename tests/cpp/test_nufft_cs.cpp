// Non-Cartesian compressed sensing (nufft/noncartesian_cs.hpp): undersampled radial Shepp-Logan with known
// coil maps, l1-wavelet CS against CG-SENSE (the same operator, bart pics' default 30 iterations) by NRMSE
// against the true object; the data scale makes lambda independent of the data's units.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "larmor/nufft/noncartesian_cs.hpp"
#include "larmor/nufft/nufft.hpp"
#include "larmor/nufft/trajectory.hpp"
#include "larmor/sim/phantom.hpp"

using namespace larmor;

namespace {

struct problem {
  array<float, 2> object;
  array<cfloat, 3> maps;
  std::vector<double> coords;
  array<cfloat, 2> y;
  index_t M = 0;
};

problem radial_problem(index_t n, index_t coils, index_t spokes, double noise) {
  problem p;
  p.object = shepp_logan<float>(n, n);
  p.maps = simulated_coil_maps<float>(coils, n, n);
  // unit-norm maps (as ESPIRiT gives): the image is the object itself
  for (index_t y = 0; y < n; ++y)
    for (index_t x = 0; x < n; ++x) {
      double ss = 0;
      for (index_t c = 0; c < coils; ++c) ss += std::norm(p.maps(c, y, x));
      for (index_t c = 0; c < coils; ++c) p.maps(c, y, x) /= static_cast<float>(std::sqrt(ss));
    }
  array<cfloat, 3> imgs(p.maps.shape());
  for (index_t c = 0; c < coils; ++c)
    for (index_t y = 0; y < n; ++y)
      for (index_t x = 0; x < n; ++x) imgs(c, y, x) = p.maps(c, y, x) * p.object(y, x);
  p.coords = radial_trajectory(spokes, 2 * n, static_cast<double>(n), radial_ordering::golden);
  p.M = spokes * 2 * n;
  p.y = nufft<float, 3, double>(imgs.cview(), strided_view<const double, 2>(p.coords.data(), extents<2>{p.M, 2}), 1e-6);
  std::mt19937 rng(5);
  std::normal_distribution<float> g(0.f, static_cast<float>(noise));
  for (auto& v : p.y) v += cfloat(g(rng), g(rng));
  return p;
}

double nrmse(const array<cfloat, 2>& x, const array<float, 2>& ref) {
  double num = 0, den = 0;
  for (index_t i = 0; i < ref.size(); ++i) num += std::norm(cdouble(x[i]) - cdouble(ref[i])), den += double(ref[i]) * ref[i];
  return std::sqrt(num / den);
}

}  // namespace

TEST(NufftCs, RadialWaveletBeatsCgSense) {
  const auto p = radial_problem(64, 8, 20, 0.02);
  cgsense_noncartesian_options co;
  co.iters = 30;
  const auto cg = cgsense_noncartesian<2>(p.y.data(), p.maps.cview(), p.coords.data(), p.M, co);
  cs_options o;
  o.wavelet = 0.05f;  // NRMSE 0.31, 0.30, 0.25, 0.20, 0.19 at 0.002, 0.005, 0.02, 0.05, 0.1
  o.iters = 60;
  const auto cs = cs_noncartesian<2>(p.y.data(), p.maps.cview(), p.coords.data(), p.M, o);
  const double e_cg = nrmse(cg.image, p.object), e_cs = nrmse(cs.image, p.object);
  std::printf("radial 20 golden-angle spokes, 64^2, 8 coils: NRMSE CG-SENSE %.4f, l1-wavelet CS %.4f (scale %.3g)\n",
              e_cg, e_cs, cs.scale);
  EXPECT_LT(e_cs, 0.75 * e_cg);  // measured 0.204 vs 0.333
  EXPECT_GT(cs.scale, 0.f);
  // The data scale: y x 1000 gives the same image x 1000 (lambda is relative to the scaled image).
  array<cfloat, 2> y2(p.y.shape());
  for (index_t i = 0; i < y2.size(); ++i) y2[i] = p.y[i] * 1000.f;
  const auto cs2 = cs_noncartesian<2>(y2.data(), p.maps.cview(), p.coords.data(), p.M, o);
  double num = 0, den = 0;
  for (index_t i = 0; i < cs.image.size(); ++i)
    num += std::norm(cs2.image[i] / 1000.f - cs.image[i]), den += std::norm(cs.image[i]);
  EXPECT_LT(std::sqrt(num / den), 1e-3);
  EXPECT_NEAR(cs2.scale / cs.scale, 1000.0, 1.0);
}
