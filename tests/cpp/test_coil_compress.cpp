// Coil compression: SVD and GCC against BART `cc -S` / `cc -G` on the same k-space (compared through
// quantities a unitary rotation of the virtual coils leaves unchanged), image quality after compression,
// maps estimated on compressed data and expanded back, energy targets, bad input.
#include "coil_phantom.hpp"
#include "larmor/coils/chain_compression.hpp"
#include "larmor/coils/coil_compress.hpp"
#include "larmor/coils/combine.hpp"
#include "larmor/coils/espirit.hpp"
#include "larmor/recon/pi_methods.hpp"
#include "test_helpers.hpp"
#include "larmor/io/cfl.hpp"
#include "larmor/coils/rss.hpp"

namespace larmor {
namespace {

// sqrt(sum_v |x_v|^2) per sample: invariant under a unitary mixing of the coils.
array<float, 2> coil_norm(const array<cfloat, 3>& x) { return rss(x.cview()); }

double rel_err(const array<float, 2>& a, const array<float, 2>& b) {
  double n = 0, d = 0;
  for (index_t i = 0; i < a.size(); ++i) {
    n += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    d += double(b[i]) * b[i];
  }
  return std::sqrt(n / d);
}

TEST(CoilCompress, SvdMatchesBartCc) {
  if (!test::have_bart()) GTEST_SKIP() << "bart not installed";
  const auto p = test::make_coil_phantom(12, 64, 72, 2e-3);
  write_cfl(test::tmp_path("cc_k"), array<cfloat, 3>(p.kspace).reshape(extents<4>{12, 1, 64, 72}).cview());
  ASSERT_EQ(test::run_bart("cc -p 5 -S cc_k cc_bart"), 0);
  const auto bart = read_cfl<3>(test::tmp_path("cc_bart"));
  const auto ours = coil_compress(p.kspace, 5, compression_method::svd);
  ASSERT_EQ(ours.shape(), (extents<3>{5, 64, 72}));
  EXPECT_LT(rel_err(coil_norm(ours), coil_norm(bart)), 1e-3);
}

TEST(CoilCompress, GccMatchesBartCcInHybridSpace) {
  if (!test::have_bart()) GTEST_SKIP() << "bart not installed";
  const auto p = test::make_coil_phantom(12, 64, 72, 2e-3);
  write_cfl(test::tmp_path("gcc_k"), array<cfloat, 3>(p.kspace).reshape(extents<4>{12, 1, 64, 72}).cview());
  ASSERT_EQ(test::run_bart("cc -p 5 -G gcc_k gcc_bart"), 0);
  const auto bart = read_cfl<3>(test::tmp_path("gcc_bart"));
  const auto ours = coil_compress(p.kspace, 5, compression_method::gcc);
  // Per readout position the virtual coils may differ by a unitary rotation: compare after the x-IFFT.
  const auto hb = ifftc(bart.cview(), {-1}), ho = ifftc(ours.cview(), {-1});
  EXPECT_LT(rel_err(coil_norm(ho), coil_norm(hb)), 2e-2);
}

TEST(CoilCompress, CompressedEspiritImageKeepsQuality) {
  const auto p = test::make_coil_phantom(20, 96, 96, 5e-3);
  // Reference: object x ||S_true|| (ESPIRiT maps are unit-norm).
  const auto true_norm = rss(p.maps.cview());
  auto nrmse = [&](const array<cfloat, 3>& k) {
    const auto maps = espirit_maps(k.cview());
    const auto img = combine(ifftc(k.cview()).cview(), maps.cview());
    double n = 0, d = 0;
    for (index_t y = 0; y < 96; ++y)
      for (index_t x = 0; x < 96; ++x) {
        const double ref = double(p.object(y, x)) * true_norm(y, x);
        n += (std::abs(img(0, y, x)) - ref) * (std::abs(img(0, y, x)) - ref);
        d += ref * ref;
      }
    return std::sqrt(n / d);
  };
  const double full = nrmse(p.kspace);
  const double svd = nrmse(coil_compress(p.kspace, 8, compression_method::svd));
  const double gcc = nrmse(coil_compress(p.kspace, 8, compression_method::gcc));
  EXPECT_LT(full, 0.1);
  EXPECT_LE(svd, full * 1.02 + 1e-3) << "full " << full << " svd " << svd;
  EXPECT_LE(gcc, full * 1.02 + 1e-3) << "full " << full << " gcc " << gcc;
}

TEST(CoilCompress, MapsOnCompressedDataExpandBack) {
  const auto p = test::make_coil_phantom(16, 80, 80, 2e-3);
  coil_compress_options o;
  o.ncoils = 8;
  const auto cc = coil_compression_matrices(p.kspace.cview(), o);
  const auto kv = cc.apply(p.kspace.cview());
  const auto mv = espirit_maps(kv.cview());
  const auto expanded = expand_maps(mv.cview(), cc);
  ASSERT_EQ(expanded.shape(), (extents<4>{1, 16, 80, 80}));
  const auto direct = espirit_maps(p.kspace.cview());
  const auto px = test::object_pixels(p.object);
  const auto [lo, mean] = test::cosine_stats(expanded.view().slice(0), direct.view().slice(0), px);
  EXPECT_GT(mean, 0.999);
  EXPECT_GT(lo, 0.99);
}

TEST(CoilCompress, EnergyTargetAndReuseOnAnotherScan) {
  const auto p = test::make_coil_phantom(16, 64, 64, 1e-2);
  coil_compress_options o;
  o.energy = 0.99;
  const auto cc = coil_compression_matrices(p.kspace.cview(), o);
  EXPECT_GE(cc.retained_energy(), 0.99);
  EXPECT_LT(cc.virtual_coils, 16);
  coil_compress_options fewer = o;
  fewer.energy = 0;
  fewer.ncoils = cc.virtual_coils - 1;
  EXPECT_LT(coil_compression_matrices(p.kspace.cview(), fewer).retained_energy(), 0.99);
  // The same matrices applied twice give the same data; the rows are orthonormal (A A^H = I).
  EXPECT_EQ(test::relative_error(cc.apply(p.kspace.cview()), coil_compress(p.kspace, cc.virtual_coils)), 0.0);
  for (index_t a = 0; a < cc.virtual_coils; ++a)
    for (index_t b = 0; b < cc.virtual_coils; ++b) {
      std::complex<double> s = 0;
      for (index_t c = 0; c < 16; ++c) s += std::complex<double>(cc.matrix(a, c)) * std::conj(std::complex<double>(cc.matrix(b, c)));
      EXPECT_NEAR(std::abs(s - (a == b ? 1.0 : 0.0)), 0.0, 1e-5);
    }
}

TEST(CoilCompress, RejectsBadArguments) {
  const auto p = test::make_coil_phantom(4, 32, 32);
  EXPECT_THROW(coil_compress(p.kspace, 5), InvalidArgument);
  EXPECT_THROW(coil_compress(p.kspace, 0), InvalidArgument);
  EXPECT_THROW(parse_compression_method("pca"), InvalidArgument);
  array<cfloat, 3> zero(extents<3>{4, 32, 32});
  EXPECT_THROW(coil_compress(zero, 2), DataError);
  const auto cc = coil_compression_matrices(p.kspace.cview(), coil_compress_options{2, 0.0, compression_method::svd, 24});
  array<cfloat, 3> other(extents<3>{3, 32, 32});
  EXPECT_THROW(cc.apply(other.cview()), InvalidArgument);
}


// --- the recon chain's compression (coils/chain_compression.hpp) -------------------------------------

// Magnitude NRMSE of a against b (the chain's images differ by a per-pixel phase convention only).
double magnitude_nrmse(const array<cfloat, 3>& a, const array<cfloat, 3>& b) {
  double n = 0, d = 0;
  for (index_t i = 0; i < a.size(); ++i) {
    const double e = std::abs(a[i]) - std::abs(b[i]);
    n += e * e;
    d += std::norm(std::complex<double>(b[i]));
  }
  return std::sqrt(n / d);
}

// (coils, 1, y, x) k-space, R = 2 in y with `acs` central lines.
array<cfloat, 4> undersampled_2d(const test::coil_phantom& p, index_t acs) {
  const index_t nc = p.kspace.shape(0), ny = p.kspace.shape(1), nx = p.kspace.shape(2);
  array<cfloat, 4> k(extents<4>{nc, 1, ny, nx});
  for (index_t c = 0; c < nc; ++c)
    for (index_t y = 0; y < ny; ++y)
      if (y % 2 == 0 || std::abs(y - ny / 2) < acs / 2)
        for (index_t x = 0; x < nx; ++x) k(c, 0, y, x) = p.kspace(c, y, x);
  return k;
}

// (coils, z, y, x) volume: the 2D phantom and maps extruded along z with a per-coil z profile.
array<cfloat, 4> phantom_volume(index_t nc, index_t nz, index_t n, double noise) {
  const auto p = test::make_coil_phantom(nc, n, n);
  array<cfloat, 4> img(extents<4>{nc, nz, n, n});
  for (index_t c = 0; c < nc; ++c)
    for (index_t z = 0; z < nz; ++z) {
      const float zz = -1.f + 2.f * (z + 0.5f) / nz, zc = (c % 3) - 1.f;
      const cfloat prof = std::polar(std::exp(-(zz - zc) * (zz - zc)), 0.7f * zz);
      for (index_t y = 0; y < n; ++y)
        for (index_t x = 0; x < n; ++x) img(c, z, y, x) = p.images(c, y, x) * prof;
    }
  auto k = fftc(img.cview(), {1, 2, 3});
  std::mt19937 rng(11);
  std::normal_distribution<float> g(0.f, static_cast<float>(noise));
  for (auto& v : k) v += cfloat(g(rng), g(rng));
  return k;
}

TEST(ChainCompression, AutomaticAbove32CoilsKeepsTheCgsenseImage) {
  // 40 coils, R = 2 with 24 embedded ACS lines: the chain's ESPIRiT + CG-SENSE on the compressed buffer
  // vs on all coils.
  const auto p = test::make_coil_phantom(40, 64, 64, 2e-3);
  const auto k = undersampled_2d(p, 24);
  const auto cc = compression_for(nullptr, k, coil_compression_options{});
  ASSERT_TRUE(cc.active());
  EXPECT_EQ(cc.physical_coils(), 40);
  EXPECT_LT(cc.virtual_coils(), 40);
  EXPECT_GE(cc.virtual_coils(), 8);
  EXPECT_GE(cc.retained_energy(), 0.999);
  EXPECT_EQ(cc.matrices()->method, compression_method::svd);  // 2D
  auto kc = k;
  cc.apply(kc);
  ASSERT_EQ(kc.shape(), (extents<4>{cc.virtual_coils(), 1, 64, 64}));
  // Unacquired lines stay zero; the sampling lattice is unchanged.
  for (index_t y = 1; y < 64; y += 2)
    if (std::abs(y - 32) >= 12) {
      EXPECT_EQ(kc(0, 0, y, 5), cfloat(0.f, 0.f)) << y;
    }
  std::any s_full, s_comp;
  const auto full = detail::cgsense_method(k, nullptr, s_full);
  const auto comp = detail::cgsense_method(kc, cc.calibration(nullptr), s_comp);
  const double e = magnitude_nrmse(comp, full);
  EXPECT_LT(e, 0.01) << cc.describe();
  // Far too few coils must show: the test can fail.
  coil_compression_options two;
  two.coils = 2;
  auto k2 = k;
  compression_for(nullptr, k, two).apply(k2);
  std::any s2;
  EXPECT_GT(magnitude_nrmse(detail::cgsense_method(k2, nullptr, s2), full), 2 * e);
}

TEST(ChainCompression, OffFixedCountAndSmallArrays) {
  const auto p = test::make_coil_phantom(12, 32, 32, 1e-3);
  const auto k = undersampled_2d(p, 16);
  EXPECT_FALSE(compression_for(nullptr, k, coil_compression_options{}).active());  // 12 <= 32
  coil_compression_options o;
  o.coils = 5;
  const auto cc = compression_for(nullptr, k, o);
  ASSERT_TRUE(cc.active());
  EXPECT_EQ(cc.virtual_coils(), 5);
  EXPECT_NE(cc.describe().find("12 -> 5 virtual coils (SVD"), std::string::npos) << cc.describe();
  o.enabled = false;
  EXPECT_FALSE(compression_for(nullptr, k, o).active());
  o.enabled = true;
  o.coils = 12;  // not fewer than the buffer has
  EXPECT_FALSE(compression_for(nullptr, k, o).active());
  o.coils = 0;
  o.auto_above = 8;
  EXPECT_TRUE(compression_for(nullptr, k, o).active());
  auto same = k;
  chain_compression().apply(same);  // inactive: nothing
  EXPECT_EQ(test::relative_error(same, k), 0.0);
  o.coils = -1;
  EXPECT_THROW(compression_for(nullptr, k, o), InvalidArgument);
  o.coils = 4;
  array<cfloat, 4> other(extents<4>{11, 1, 32, 32});
  EXPECT_THROW(compression_for(nullptr, k, o).apply(other), InvalidArgument);
}

TEST(ChainCompression, SeparateCalibrationCompressedOnceWithTheSameMatrix) {
  const auto p = test::make_coil_phantom(36, 48, 48, 1e-3);
  auto cal = undersampled_2d(p, 48);  // a fully sampled calibration scan
  const auto k = undersampled_2d(p, 0);
  coil_compression_options o;
  o.coils = 10;
  const auto cc = compression_for(&cal, k, o);
  const array<cfloat, 4>* c1 = cc.calibration(&cal);
  ASSERT_NE(c1, &cal);
  EXPECT_EQ(c1, cc.calibration(&cal));
  ASSERT_EQ(c1->shape(0), 10);
  // Same matrix on both: the compressed buffer equals the compressed calibration on the buffer's lines.
  auto kc = k;
  cc.apply(kc);
  for (index_t v : {0, 9})
    for (index_t x : {3, 24}) EXPECT_EQ(kc(v, 0, 20, x), (*c1)(v, 0, 20, x));
  EXPECT_EQ(cc.calibration(nullptr), nullptr);
}

TEST(ChainCompression, GccAlongReadoutIn3dKeepsMaskEnergyAndWhiteNoise) {
  const index_t nc = 36, nz = 8, n = 32;
  auto k = phantom_volume(nc, nz, n, 1e-3);
  for (index_t c = 0; c < nc; ++c)  // 2 x 1 in (y, z) with 12 ACS lines
    for (index_t z = 0; z < nz; ++z)
      for (index_t y = 1; y < n; y += 2)
        if (std::abs(y - n / 2) >= 6)
          for (index_t x = 0; x < n; ++x) k(c, z, y, x) = 0;
  coil_compression_options o;
  o.coils = 12;
  const auto cc = compression_for(nullptr, k, o);
  ASSERT_TRUE(cc.active());
  EXPECT_EQ(cc.matrices()->method, compression_method::gcc);
  // Orthonormal rows at every readout position: white noise stays white.
  const auto& a = cc.matrices()->per_readout;
  for (index_t x : {0, 13, 31})
    for (index_t u = 0; u < 12; u += 5)
      for (index_t v = 0; v < 12; v += 4) {
        std::complex<double> s = 0;
        for (index_t c = 0; c < nc; ++c) s += std::complex<double>(a(x, u, c)) * std::conj(std::complex<double>(a(x, v, c)));
        EXPECT_NEAR(std::abs(s - (u == v ? 1.0 : 0.0)), 0.0, 1e-5) << x << " " << u << " " << v;
      }
  double before = 0, after = 0;
  for (const auto& v : k) before += std::norm(v);
  auto kc = k;
  cc.apply(kc);
  for (const auto& v : kc) after += std::norm(v);
  EXPECT_GT(after / before, 0.999);
  EXPECT_LE(after / before, 1.0 + 1e-5);
  EXPECT_EQ(kc(3, 2, 1, 7), cfloat(0.f, 0.f));  // unacquired line: exactly zero
  EXPECT_NE(kc(3, 2, 2, 7), cfloat(0.f, 0.f));
  // Pure white noise of variance 1 per coil keeps variance 1 per virtual coil.
  array<cfloat, 4> noise(k.shape());
  std::mt19937 rng(2);
  std::normal_distribution<float> g(0.f, std::sqrt(0.5f));
  for (auto& v : noise) v = cfloat(g(rng), g(rng));
  cc.apply(noise);
  double var = 0;
  for (const auto& v : noise) var += std::norm(v);
  EXPECT_NEAR(var / noise.size(), 1.0, 0.02);
}

TEST(ChainCompression, AsymmetricEchoIn3dFallsBackToSvd) {
  auto k = phantom_volume(36, 4, 32, 1e-3);
  for (index_t c = 0; c < 36; ++c)
    for (index_t z = 0; z < 4; ++z)
      for (index_t y = 0; y < 32; ++y)
        for (index_t x = 0; x < 8; ++x) k(c, z, y, x) = 0;
  coil_compression_options o;
  o.coils = 10;
  const auto cc = compression_for(nullptr, k, o);
  ASSERT_TRUE(cc.active());
  EXPECT_EQ(cc.matrices()->method, compression_method::svd);
  auto kc = k;
  cc.apply(kc);
  EXPECT_EQ(kc(0, 1, 9, 5), cfloat(0.f, 0.f));  // the missing part of the echo stays missing
}

}  // namespace
}  // namespace larmor
