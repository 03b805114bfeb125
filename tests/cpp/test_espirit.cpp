// ESPIRiT: against the known sensitivities of a simulated acquisition, against BART ecalib on the
// same k-space, the warm-started per-pixel solver against cold starts, 3D, several maps, bad input.
#include "coil_phantom.hpp"
#include <filesystem>

#include "larmor/coils/coil_compress.hpp"
#include "larmor/coils/combine.hpp"
#include "larmor/coils/espirit.hpp"
#include "test_helpers.hpp"
#include "larmor/io/cfl.hpp"
#include "larmor/coils/rss.hpp"

namespace larmor {
namespace {

TEST(CalibrationRegion, FindsEmbeddedAcsLinesOfUndersampledData) {
  auto p = test::make_coil_phantom(4, 64, 48);
  // Keep every 3rd line plus 12 central lines (y = 26..37).
  for (index_t y = 0; y < 64; ++y)
    if (y % 3 != 0 && (y < 26 || y >= 38))
      for (index_t c = 0; c < 4; ++c)
        for (index_t x = 0; x < 48; ++x) p.kspace(c, y, x) = 0;
  const auto r = find_calibration_region(p.kspace.cview(), 24);
  EXPECT_EQ(r.begin[0], 26);
  EXPECT_EQ(r.end[0], 38);
  EXPECT_EQ(r.begin[1], 24 - 12);
  EXPECT_EQ(r.end[1], 24 + 12);
  const auto full = find_calibration_region(test::make_coil_phantom(2, 20, 30).kspace.cview(), 24);
  EXPECT_EQ(full.size(0), 20);  // clipped to the matrix
  EXPECT_EQ(full.size(1), 24);
}

TEST(Espirit, RecoversSimulatedSensitivities) {
  const auto p = test::make_coil_phantom(8, 96, 96, 1e-4);
  const auto r = espirit(p.kspace.cview());
  ASSERT_EQ(r.maps.shape(), (extents<4>{1, 8, 96, 96}));
  const auto px = test::object_pixels(p.object);
  const auto [lo, mean] = test::cosine_stats(r.maps.view().slice(0), p.maps, px);
  EXPECT_GT(mean, 0.999);
  EXPECT_GT(lo, 0.99);
  // Unit norm where kept, eigenvalue ~1 inside the object.
  double ev = 0;
  for (auto [y, x] : px) {
    double n2 = 0;
    for (index_t c = 0; c < 8; ++c) n2 += std::norm(r.maps(0, c, y, x));
    EXPECT_NEAR(n2, 1.0, 1e-4);
    ev += r.eigenvalues(0, y, x);
  }
  EXPECT_NEAR(ev / static_cast<double>(px.size()), 1.0, 0.02);
  EXPECT_GT(r.kernels_kept, 8);
  EXPECT_LT(r.kernels_kept, 8 * 36);
}

// The warm start and early exit are shortcuts: a cold start with many iterations per pixel must give
// the same maps.
TEST(Espirit, WarmStartMatchesColdStartWithManyIterations) {
  const auto p = test::make_coil_phantom(6, 64, 64, 1e-3);
  espirit_options fast, slow;
  slow.warm_start = false;
  slow.iters = 300;
  slow.tol = 0;
  const auto a = espirit(p.kspace.cview(), fast), b = espirit(p.kspace.cview(), slow);
  const auto px = test::object_pixels(p.object);
  const auto [lo, mean] = test::cosine_stats(a.maps.view().slice(0), b.maps.view().slice(0), px);
  EXPECT_GT(lo, 0.9999);
  EXPECT_LT(test::relative_error(a.eigenvalues, b.eigenvalues), 1e-4);
  // BART's phase convention is applied to both, so inside the object the maps agree including phase.
  double num = 0, den = 0;
  for (auto [y, x] : px)
    for (index_t c = 0; c < 6; ++c) {
      num += std::norm(std::complex<double>(a.maps(0, c, y, x)) - std::complex<double>(b.maps(0, c, y, x)));
      den += std::norm(std::complex<double>(b.maps(0, c, y, x)));
    }
  EXPECT_LT(std::sqrt(num / den), 1e-3);
}

TEST(Espirit, TwoMapsAreOrthonormalPerPixel) {
  const auto p = test::make_coil_phantom(8, 64, 64, 1e-3);
  espirit_options o;
  o.maps = 2;
  o.crop = 0;
  const auto r = espirit(p.kspace.cview(), o);
  ASSERT_EQ(r.maps.shape(0), 2);
  for (auto [y, x] : test::object_pixels(p.object)) {
    std::complex<double> ip = 0;
    for (index_t c = 0; c < 8; ++c) ip += std::conj(std::complex<double>(r.maps(0, c, y, x))) * std::complex<double>(r.maps(1, c, y, x));
    EXPECT_LT(std::abs(ip), 1e-3);
    EXPECT_GE(r.eigenvalues(0, y, x), r.eigenvalues(1, y, x));
  }
}

TEST(Espirit, ThreeDimensionalRecoversSensitivities) {
  // 3D object: the 2D phantom on 12 partitions, coil sensitivities varying smoothly along z.
  const index_t nc = 4, nz = 12, ny = 32, nx = 32;
  const auto p2 = test::make_coil_phantom(nc, ny, nx);
  array<cfloat, 4> img(extents<4>{nc, nz, ny, nx}), truth(extents<4>{nc, nz, ny, nx});
  for (index_t c = 0; c < nc; ++c)
    for (index_t z = 0; z < nz; ++z)
      for (index_t y = 0; y < ny; ++y)
        for (index_t x = 0; x < nx; ++x) {
          // Smooth and periodic along z (band-limited, as real receive fields are over the FOV).
          const float t = 2.f * 3.14159265f * static_cast<float>(z) / static_cast<float>(nz);
          const cfloat s = p2.maps(c, y, x) * std::polar(1.f + 0.3f * std::cos(t + static_cast<float>(c)),
                                                         0.5f * std::sin(t + 0.7f * static_cast<float>(c)));
          truth(c, z, y, x) = s;
          img(c, z, y, x) = s * p2.object(y, x);
        }
  const auto k = fftc(img.cview(), {1, 2, 3});
  espirit_options o;
  o.calib = 12;
  o.kernel = 4;
  const auto r = espirit(k.cview(), o);
  ASSERT_EQ(r.maps.shape(), (extents<5>{1, nc, nz, ny, nx}));
  // The 32-pixel phantom touches the top and bottom of the FOV, where periodic wrap-around makes any
  // k-space kernel see both edges: compare away from them.
  auto px = test::object_pixels(p2.object);
  px.erase(std::remove_if(px.begin(), px.end(), [&](auto p) { return p.first < 3 || p.first > ny - 4; }), px.end());
  // (coils, y, x) view of partition z of a (coils, z, y, x) array.
  auto partition = [&](const cfloat* base, index_t z) {
    return strided_view<const cfloat, 3>(base + z * ny * nx, extents<3>{nc, ny, nx}, extents<3>{nz * ny * nx, nx, 1});
  };
  for (index_t z : {2, 6, 9}) {
    const auto [lo, mean] = test::cosine_stats(partition(r.maps.data(), z), partition(truth.data(), z), px);
    EXPECT_GT(mean, 0.995) << "partition " << z;
    EXPECT_GT(lo, 0.95) << "partition " << z;
  }
}

TEST(Espirit, AgreesWithBartEcalib) {
  if (!test::have_bart()) GTEST_SKIP() << "bart not installed";
  const auto p = test::make_coil_phantom(8, 128, 128, 2e-3);
  const array<cfloat, 4> k4 = array<cfloat, 3>(p.kspace).reshape(extents<4>{8, 1, 128, 128});
  write_cfl(test::tmp_path("esp_k"), k4.cview());
  ASSERT_EQ(test::run_bart("ecalib -m1 esp_k esp_bart"), 0);
  const auto bart_maps = read_cfl<3>(test::tmp_path("esp_bart"));  // [x y 1 coils 1] -> (coils, y, x)
  const auto ours = espirit(p.kspace.cview());
  const auto px = test::object_pixels(p.object);
  const auto [lo, mean] = test::cosine_stats(ours.maps.view().slice(0), bart_maps, px);
  EXPECT_GT(lo, 0.99);
  EXPECT_GT(mean, 0.999);
  // Same support: where BART crops, we crop (apart from a few edge pixels).
  index_t differ = 0, total = 0;
  for (index_t y = 0; y < 128; ++y)
    for (index_t x = 0; x < 128; ++x) {
      const bool a = ours.maps(0, 0, y, x) != cfloat(0.f, 0.f), b = bart_maps(0, y, x) != cfloat(0.f, 0.f);
      differ += a != b;
      ++total;
    }
  EXPECT_LT(static_cast<double>(differ) / static_cast<double>(total), 0.02);
}

// The real 16-channel in-vivo brain (Pulseq, MIT licence, data/scans), read independently by
// `bart twixread` (it aborts on the trailing ACQEND scan after writing every line, so its exit status is
// not used): our maps against `bart ecalib` on the same k-space, and the ESPIRiT image of 16 -> 8
// SVD-compressed data against the uncompressed one.
TEST(Espirit, RealBrain16ChannelsAgreesWithBartAndSurvivesCompression) {
  const std::string dat = std::string(LARMOR_SCANS) + "/pulseq_invivo_brain_16ch/2024-02-06-164128_localcoil16ch.dat";
  if (!test::have_bart() || !std::filesystem::exists(dat)) GTEST_SKIP() << "bart or the brain scan is missing";
  test::run_bart("twixread -x 128 -y 128 -c 16 -a 128 '" + dat + "' brain_k 2>/dev/null");
  ASSERT_TRUE(std::filesystem::exists(test::tmp_path("brain_k.cfl")));
  ASSERT_EQ(test::run_bart("ecalib -m1 brain_k brain_bart"), 0);
  const auto k = read_cfl<3>(test::tmp_path("brain_k"));  // [x y 1 coils] -> (coils, y, x)
  ASSERT_EQ(k.shape(), (extents<3>{16, 128, 128}));
  const auto bart_maps = read_cfl<3>(test::tmp_path("brain_bart"));
  const auto ours = espirit(k.cview());
  // Inside the head: RSS above 15 % of its maximum and kept by both.
  const auto img = rss(ifftc(k.cview()).cview());
  const float peak = *std::max_element(img.begin(), img.end());
  std::vector<std::pair<index_t, index_t>> head;
  for (index_t y = 0; y < 128; ++y)
    for (index_t x = 0; x < 128; ++x)
      if (img(y, x) > 0.15f * peak && ours.maps(0, 0, y, x) != cfloat(0.f, 0.f) && bart_maps(0, y, x) != cfloat(0.f, 0.f))
        head.emplace_back(y, x);
  ASSERT_GT(head.size(), 3000u);
  const auto [lo, mean] = test::cosine_stats(ours.maps.view().slice(0), bart_maps, head);
  EXPECT_GT(mean, 0.995);
  EXPECT_GT(lo, 0.95);
  // 16 -> 8 virtual coils: the ESPIRiT-combined magnitude image changes by little.
  auto combined = [&](const array<cfloat, 3>& kk) {
    const auto m = espirit_maps(kk.cview());
    return combine(ifftc(kk.cview()).cview(), m.cview());
  };
  const auto full = combined(k), cc = combined(coil_compress(k, 8));
  double num = 0, den = 0;
  for (auto [y, x] : head) {
    const double a = std::abs(full(0, y, x)), b = std::abs(cc(0, y, x));
    num += (a - b) * (a - b);
    den += a * a;
  }
  EXPECT_LT(std::sqrt(num / den), 0.05);
  std::printf("brain: cosine vs bart ecalib mean %.5f min %.4f; 16->8 compressed image difference %.4f\n", mean, lo,
              std::sqrt(num / den));
}

TEST(Espirit, RejectsBadArguments) {
  const auto p = test::make_coil_phantom(4, 32, 32);
  const auto k = p.kspace.cview();
  espirit_options o;
  o.kernel = 8;
  o.calib = 6;
  EXPECT_THROW(espirit(k, o), InvalidArgument);  // kernel > calib
  o = {};
  o.threshold = 1.5;
  EXPECT_THROW(espirit(k, o), InvalidArgument);
  o = {};
  o.maps = 5;
  EXPECT_THROW(espirit(k, o), InvalidArgument);  // more maps than coils
  o = {};
  o.crop = -0.1;
  EXPECT_THROW(espirit(k, o), InvalidArgument);
  o = {};
  o.kernel = 40;
  o.calib = 40;
  EXPECT_THROW(espirit(k, o), InvalidArgument);  // kernel larger than the matrix
  auto bad = p.kspace;
  bad(1, 3, 3) = cfloat(std::nanf(""), 0.f);
  EXPECT_THROW(espirit(bad.cview()), DataError);
  array<cfloat, 3> zero(extents<3>{4, 32, 32});
  EXPECT_THROW(espirit(zero.cview()), DataError);
  // Too few ACS lines for the kernel: R = 4 with 4 central lines.
  auto under = p.kspace;
  for (index_t y = 0; y < 32; ++y)
    if (y % 4 != 0 && (y < 14 || y >= 18))
      for (index_t c = 0; c < 4; ++c)
        for (index_t x = 0; x < 32; ++x) under(c, y, x) = 0;
  try {
    espirit(under.cview());
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("smaller than the kernel"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace larmor
