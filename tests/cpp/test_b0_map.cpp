// B0 field maps from multi-echo GRE (fieldmap/b0_map.hpp) and the phase unwrapping under them
// (fieldmap/phase_unwrap.hpp), against known fields: echo images simulated from the model
// I_ec = m(r) s_c(r) exp(i 2 pi f(r) TE_e) with coil sensitivities whose phases differ per coil, fields
// that wrap several times at the echo spacing, and noise.
#include "larmor/fieldmap/b0_map.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

namespace larmor {
namespace {

constexpr double pi = 3.14159265358979323846;

// A smooth field (Hz) over ([z,] y, x): an off-centre Gaussian bump (susceptibility-like) on a linear
// gradient, from about -150 to +330 Hz.
double field_hz(double z, double y, double x) {
  const double r2 = (x - 0.25) * (x - 0.25) + (y + 0.15) * (y + 0.15) + z * z;
  return 280.0 * std::exp(-r2 / 0.08) + 120.0 * x - 60.0 * y + 30.0 * z - 20.0;
}

struct echo_data {
  array<cfloat, 5> echoes;  // (echoes, coils, nz, ny, nx)
  array<float, 3> truth;    // Hz
  array<unsigned char, 3> object;
};

// An ellipsoid of T2*-free magnitude 1 (plus a brighter core), nc coils with smooth magnitudes and
// phases (a different phase pattern per coil), complex white noise of `sigma`.
echo_data simulate(index_t nz, index_t ny, index_t nx, index_t nc, const std::vector<double>& te, double sigma,
                   unsigned seed) {
  const index_t ne = static_cast<index_t>(te.size());
  echo_data d{array<cfloat, 5>({ne, nc, nz, ny, nx}), array<float, 3>({nz, ny, nx}),
              array<unsigned char, 3>({nz, ny, nx})};
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0, sigma);
  for (index_t z = 0; z < nz; ++z)
    for (index_t y = 0; y < ny; ++y)
      for (index_t x = 0; x < nx; ++x) {
        const double zz = nz > 1 ? 2.0 * z / nz - 1 : 0, yy = 2.0 * y / ny - 1, xx = 2.0 * x / nx - 1;
        const double e = xx * xx / 0.72 + yy * yy / 0.56 + zz * zz / 0.8;
        const double m = e < 1 ? (e < 0.2 ? 1.5 : 1.0) : 0.0;
        const double f = field_hz(zz, yy, xx);
        d.truth(z, y, x) = static_cast<float>(f);
        d.object(z, y, x) = e < 1;
        for (index_t c = 0; c < nc; ++c) {
          const double a = 2 * pi * double(c) / double(nc);
          const double sm = std::exp(-((xx - 0.8 * std::cos(a)) * (xx - 0.8 * std::cos(a)) +
                                       (yy - 0.8 * std::sin(a)) * (yy - 0.8 * std::sin(a))) / 1.5);
          const double sph = 1.3 * a + 2.0 * xx * std::sin(a) - 1.5 * yy * std::cos(a) + 0.5 * zz;
          for (index_t ei = 0; ei < ne; ++ei) {
            const std::complex<double> v = m * sm * std::polar(1.0, sph + 2 * pi * f * te[ei]);
            d.echoes(ei, c, z, y, x) = cfloat(static_cast<float>(v.real() + noise(rng)),
                                              static_cast<float>(v.imag() + noise(rng)));
          }
        }
      }
  return d;
}

// RMS and max |error| (Hz) over the pixels of the object at least `margin` pixels inside its border
// (the border pixels are half in the background).
std::pair<double, double> error_inside(const array<float, 3>& hz, const echo_data& d, index_t margin = 2) {
  const index_t nz = hz.shape(0), ny = hz.shape(1), nx = hz.shape(2);
  double s = 0, mx = 0;
  index_t cnt = 0;
  for (index_t z = 0; z < nz; ++z)
    for (index_t y = margin; y < ny - margin; ++y)
      for (index_t x = margin; x < nx - margin; ++x) {
        bool inside = true;
        for (index_t dy = -margin; dy <= margin && inside; ++dy)
          for (index_t dx = -margin; dx <= margin && inside; ++dx) inside = d.object(z, y + dy, x + dx) != 0;
        if (!inside) continue;
        const double e = double(hz(z, y, x)) - d.truth(z, y, x);
        s += e * e, mx = std::max(mx, std::abs(e)), ++cnt;
      }
  EXPECT_GT(cnt, 0);
  return {std::sqrt(s / double(std::max<index_t>(cnt, 1))), mx};
}

TEST(PhaseUnwrap, RecoversAWrappedRampExactly) {
  // A 2D phase ramp and bump of up to ~25 rad, wrapped; masked disc; quality = 1.
  const index_t ny = 40, nx = 50;
  std::vector<float> psi(ny * nx), truth(ny * nx), q(ny * nx, 1.f);
  std::vector<unsigned char> mask(ny * nx);
  for (index_t y = 0; y < ny; ++y)
    for (index_t x = 0; x < nx; ++x) {
      const double t = 0.45 * x - 0.3 * y + 6 * std::exp(-((x - 30.0) * (x - 30.0) + (y - 15.0) * (y - 15.0)) / 60.0);
      truth[y * nx + x] = static_cast<float>(t);
      psi[y * nx + x] = static_cast<float>(std::arg(std::polar(1.0, t)));
      mask[y * nx + x] = (x - 25) * (x - 25) + (y - 20) * (y - 20) < 18 * 18;
    }
  const auto phi = unwrap_phase(psi.data(), mask.data(), q.data(), {ny, nx});
  // Equal to the truth up to one multiple of 2 pi for the whole region.
  double offset = 0;
  bool first = true;
  for (index_t p = 0; p < ny * nx; ++p) {
    if (!mask[p]) {
      EXPECT_EQ(phi[p], 0.f);
      continue;
    }
    const double dlt = phi[p] - truth[p];
    if (first) offset = dlt, first = false;
    ASSERT_NEAR(dlt, offset, 1e-4) << p;
  }
  EXPECT_NEAR(std::remainder(offset, 2 * pi), 0.0, 1e-4);
}

TEST(B0Map, TwoEchoesWithWrapsAgainstTheKnownField) {
  // dTE = 2.46 ms: |f| < 203 Hz is unambiguous per pixel; the field reaches ~330 Hz, so phase wraps.
  const std::vector<double> te{2.0e-3, 4.46e-3};
  const auto d = simulate(1, 64, 72, 8, te, 0.005, 1);
  b0_map_options o;
  o.smooth = 0;
  const auto r = b0_map<2>(strided_view<const cfloat, 4>(d.echoes.data(), {2, 8, 64, 72}), te, o);
  const auto hz3 = array<float, 2>(r.hz).reshape(extents<3>{1, 64, 72});
  const auto [rms, mx] = error_inside(hz3, d);
  EXPECT_LT(rms, 1.0) << "Hz";
  EXPECT_LT(mx, 5.0) << "Hz";
  // The mask covers the object and not the background far from it.
  index_t in = 0, out = 0;
  for (index_t i = 0; i < r.mask.size(); ++i) in += r.mask.data()[i] && d.object.data()[i], out += r.mask.data()[i] && !d.object.data()[i];
  EXPECT_GT(in, 0.95 * double(std::count(d.object.begin(), d.object.end(), 1)));
  EXPECT_EQ(out, 0);
}

TEST(B0Map, ThreeUnequalEchoes3D) {
  const std::vector<double> te{1.8e-3, 4.2e-3, 7.3e-3};
  const index_t nz = 12, ny = 40, nx = 44, nc = 4;
  const auto d = simulate(nz, ny, nx, nc, te, 0.03, 2);
  const strided_view<const cfloat, 5> v(d.echoes.data(), {3, nc, nz, ny, nx});
  b0_map_options raw;
  raw.smooth = 0;
  const auto r0 = b0_map<3>(v, te, raw);
  const auto [rms0, mx0] = error_inside(r0.hz, d);
  EXPECT_LT(rms0, 3.0) << "Hz, three echoes, no smoothing";
  EXPECT_LT(mx0, 25.0);
  // The least-squares fit over three echoes beats the first two echoes alone on the same data.
  const strided_view<const cfloat, 5> v2(d.echoes.data(), {2, nc, nz, ny, nx});
  const auto r2 = b0_map<3>(v2, {te[0], te[1]}, raw);
  EXPECT_LT(rms0, error_inside(r2.hz, d).first);
}

TEST(B0Map, SmoothingHelpsUnderNoise) {
  // Noise 0.15 of the signal, 8 coils, 2D: the default one-pixel Gaussian (normalised over the mask)
  // lowers the error against the known field, where the field's own curvature costs less than the noise.
  const std::vector<double> te{2.0e-3, 4.46e-3};
  const auto d = simulate(1, 96, 96, 8, te, 0.15, 5);
  const strided_view<const cfloat, 4> v(d.echoes.data(), {2, 8, 96, 96});
  b0_map_options raw;
  raw.smooth = 0;
  const auto e0 = error_inside(array<float, 2>(b0_map<2>(v, te, raw).hz).reshape(extents<3>{1, 96, 96}), d, 3);
  const auto e1 = error_inside(array<float, 2>(b0_map<2>(v, te, {}).hz).reshape(extents<3>{1, 96, 96}), d, 3);
  std::printf("rms Hz: raw %.2f, smoothed %.2f; max %.2f, %.2f\n", e0.first, e1.first, e0.second, e1.second);
  EXPECT_LT(e1.first, 0.8 * e0.first);
}

TEST(B0Map, CombinedImagesGiveTheSameField) {
  // One "coil" holding combined images with a smooth phase of their own: the phase difference removes it.
  const std::vector<double> te{2.0e-3, 4.46e-3};
  const auto d = simulate(1, 48, 48, 1, te, 0.002, 3);
  b0_map_options o;
  o.smooth = 0;
  const auto r = b0_map<2>(strided_view<const cfloat, 4>(d.echoes.data(), {2, 1, 48, 48}), te, o);
  EXPECT_LT(error_inside(array<float, 2>(r.hz).reshape(extents<3>{1, 48, 48}), d).first, 1.0);
}

TEST(B0Map, RefusesBadInput) {
  const std::vector<double> te{2.0e-3, 4.46e-3};
  auto d = simulate(1, 16, 16, 2, te, 0.0, 4);
  const strided_view<const cfloat, 4> v(d.echoes.data(), {2, 2, 16, 16});
  EXPECT_THROW(b0_map<2>(v, {2.0e-3}, {}), InvalidArgument);                // one time for two echoes
  EXPECT_THROW(b0_map<2>(v, {4.0e-3, 2.0e-3}, {}), InvalidArgument);        // decreasing
  EXPECT_THROW(b0_map<2>(v, {2.0, 4.46}, {}), InvalidArgument);             // milliseconds passed as seconds
  EXPECT_THROW(b0_map<2>(strided_view<const cfloat, 4>(d.echoes.data(), {1, 2, 16, 16}), {2e-3}, {}), InvalidArgument);
  b0_map_options bad;
  bad.mask_threshold = 1.5f;
  EXPECT_THROW(b0_map<2>(v, te, bad), InvalidArgument);
  b0_map_options tiny;
  tiny.smooth = 1e-23f;  // would underflow the Gaussian to 0/0
  EXPECT_THROW(b0_map<2>(v, te, tiny), InvalidArgument);
  d.echoes(1, 0, 0, 3, 3) = cfloat(std::nanf(""), 0.f);
  EXPECT_THROW(b0_map<2>(v, te, {}), DataError);
  array<cfloat, 4> zero({2, 2, 16, 16});
  EXPECT_THROW(b0_map<2>(zero.cview(), te, {}), DataError);
}

}  // namespace
}  // namespace larmor
