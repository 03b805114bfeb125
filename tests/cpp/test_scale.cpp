// Scale (issue 15): 3D ESPIRiT with the default 6^3 kernel on odd sizes against `bart ecalib`, the
// virtual-coil path above 32 coils against the exact one, 1 vs 2 threads, progress callbacks, and
// exceptions inside parallel loops reaching the caller as larmor errors.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <atomic>
#include <new>

#include "coil_phantom.hpp"
#include "larmor/coils/espirit.hpp"
#include "larmor/io/cfl.hpp"
#include "larmor/pi/grappa.hpp"
#include "test_helpers.hpp"

using namespace larmor;

namespace {

// (coils, z, y, x) k-space of the 2D phantom extruded along z with sensitivities varying smoothly in z.
struct phantom3 {
  array<cfloat, 4> kspace, maps;
  array<float, 2> object;
};
phantom3 make_phantom3(index_t nc, index_t nz, index_t ny, index_t nx, float noise) {
  const auto p2 = test::make_coil_phantom(nc, ny, nx);
  phantom3 p;
  p.object = p2.object;
  array<cfloat, 4> img(extents<4>{nc, nz, ny, nx});
  p.maps = array<cfloat, 4>(extents<4>{nc, nz, ny, nx});
  for (index_t c = 0; c < nc; ++c)
    for (index_t z = 0; z < nz; ++z)
      for (index_t y = 0; y < ny; ++y)
        for (index_t x = 0; x < nx; ++x) {
          const float t = 2.f * 3.14159265f * static_cast<float>(z) / static_cast<float>(nz);
          const cfloat s = p2.maps(c, y, x) * std::polar(1.f + 0.3f * std::cos(t + static_cast<float>(c)),
                                                         0.5f * std::sin(t + 0.7f * static_cast<float>(c)));
          p.maps(c, z, y, x) = s;
          img(c, z, y, x) = s * p2.object(y, x);
        }
  p.kspace = fftc(img.cview(), {1, 2, 3});
  std::mt19937 rng(11);
  std::normal_distribution<float> g(0.f, noise);
  for (auto& v : p.kspace) v += cfloat(g(rng), g(rng));
  return p;
}

strided_view<const cfloat, 3> partition(const cfloat* base, index_t nc, index_t nz, index_t ny, index_t nx, index_t z) {
  return {base + z * ny * nx, extents<3>{nc, ny, nx}, extents<3>{nz * ny * nx, nx, 1}};
}

}  // namespace

// 3D ESPIRiT, BART's defaults (6^3 kernel, threshold 0.001, crop 0.8) with a 12^3 calibration region,
// on an odd-sized 4-coil volume (15 x 23 x 21), against `bart ecalib -r 12 -m1` on the same k-space.
TEST(Scale, Espirit3DDefaultKernelOddSizesAgreesWithBart) {
  if (!test::have_bart()) GTEST_SKIP() << "bart not installed";
  const index_t nc = 4, nz = 15, ny = 23, nx = 21;
  const auto p = make_phantom3(nc, nz, ny, nx, 2e-3f);
  write_cfl(test::tmp_path("scale_k3"), p.kspace.cview());  // [x y z coils]
  ASSERT_EQ(test::run_bart("ecalib -r 12 -m1 scale_k3 scale_bart3"), 0);
  const auto bart = read_cfl<4>(test::tmp_path("scale_bart3"));  // [x y z coils 1] -> (coils, z, y, x)
  ASSERT_EQ(bart.shape(), p.kspace.shape());
  espirit_options o;
  o.calib = 12;
  const auto r = espirit(p.kspace.cview(), o);
  auto px = test::object_pixels(p.object);
  px.erase(std::remove_if(px.begin(), px.end(), [&](auto q) { return q.first < 3 || q.first > ny - 4; }), px.end());
  for (index_t z : {3, 7, 11}) {
    const auto [lo, mean] = test::cosine_stats(partition(r.maps.data(), nc, nz, ny, nx, z),
                                               partition(bart.data(), nc, nz, ny, nx, z), px);
    std::printf("3D 6^3 kernel, partition %td: |cos| vs bart ecalib mean %.5f min %.4f\n", z, mean, lo);
    EXPECT_GT(mean, 0.999) << "partition " << z;
    EXPECT_GT(lo, 0.99) << "partition " << z;
    // and against the true sensitivities
    const auto [tlo, tmean] = test::cosine_stats(partition(r.maps.data(), nc, nz, ny, nx, z),
                                                 partition(p.maps.data(), nc, nz, ny, nx, z), px);
    EXPECT_GT(tmean, 0.99) << "partition " << z;
    (void)tlo;
  }
}

// Above 32 coils the eigenproblems run in virtual coils; the maps equal the exact (uncompressed) ones.
TEST(Scale, EspiritVirtualCoilsMatchExactMaps) {
  const index_t nc = 40, n = 80;
  const auto p = test::make_coil_phantom(nc, n, n, 2e-3);
  espirit_options exact;
  exact.compress_above = 0;
  const auto a = espirit(p.kspace.cview());
  const auto b = espirit(p.kspace.cview(), exact);
  EXPECT_LT(a.virtual_coils, nc);
  EXPECT_GE(a.virtual_coils, 8);
  EXPECT_EQ(b.virtual_coils, nc);
  const auto px = test::object_pixels(p.object);
  const auto [lo, mean] = test::cosine_stats(a.maps.view().slice(0), b.maps.view().slice(0), px);
  const auto [tlo, tmean] = test::cosine_stats(a.maps.view().slice(0), p.maps, px);
  std::printf("40 coils -> %td virtual: |cos| vs exact mean %.5f min %.4f; vs truth mean %.5f\n", a.virtual_coils, mean,
              lo, tmean);
  EXPECT_GT(mean, 0.999);
  EXPECT_GT(lo, 0.99);
  EXPECT_GT(tmean, 0.99);
  (void)tlo;
}

// 1 and 2 threads: bit-identical maps (every readout column is solved independently).
TEST(Scale, EspiritSameResultForOneAndTwoThreads) {
  const auto p = make_phantom3(6, 12, 20, 18, 1e-3f);
  espirit_options o;
  o.calib = 10;
  o.kernel = 4;
  set_num_threads(1);
  const auto a = espirit(p.kspace.cview(), o);
  set_num_threads(2);
  const auto b = espirit(p.kspace.cview(), o);
  set_num_threads(0);
  ASSERT_EQ(a.maps.size(), b.maps.size());
  for (index_t i = 0; i < a.maps.size(); ++i) ASSERT_EQ(a.maps[i], b.maps[i]) << i;
}

TEST(Scale, ProgressCallbacksCountEveryUnit) {
  const auto p = make_phantom3(4, 10, 16, 19, 1e-3f);
  espirit_options o;
  o.calib = 10;
  o.kernel = 4;
  std::vector<index_t> seen;
  index_t total = 0;
  o.progress = [&](index_t done, index_t t) { seen.push_back(done), total = t; };
  set_num_threads(2);
  const auto r = espirit(p.kspace.cview(), o);
  ASSERT_EQ(total, 19);
  ASSERT_EQ(seen.size(), 19u);
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<index_t>(i + 1));
  // GRAPPA unmixing: one report per block of 8 readout positions.
  const auto k = grappa_calibrate(grappa_acs(p.kspace.cview()).cview(), sampling_lattice{2, 2, 0, 0, 0});
  seen.clear();
  const auto u = grappa_unmixing(k, r.maps.view().slice(0), [&](index_t done, index_t t) { seen.push_back(done), total = t; });
  set_num_threads(0);
  EXPECT_EQ(total, 3);
  EXPECT_EQ(seen, (std::vector<index_t>{1, 2, 3}));
  EXPECT_EQ(u.shape(), p.kspace.shape());
}

// An exception in a loop body reaches the caller (larmor errors as thrown, bad_alloc and others as
// larmor::Error) for 1 and 2 threads, and the loop stops early.
TEST(Scale, ExceptionsInParallelLoopsReachTheCaller) {
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    std::atomic<index_t> ran{0};
    EXPECT_THROW(parallel_for(1000, [&](index_t i) {
                   ++ran;
                   LARMOR_CHECK_DATA(i != 3, "bad item ", i);
                 }),
                 DataError);
    EXPECT_LT(ran.load(), 1000);
    EXPECT_THROW(parallel_for(100, [&](index_t i) {
                   if (i == 50) throw std::bad_alloc();
                 }),
                 Error);
    EXPECT_THROW(parallel_for_dynamic(100, [&](index_t i) {
                   if (i == 7) throw std::runtime_error("plain");
                 }),
                 Error);
    try {
      parallel_for_blocks(100, 10, [&](index_t first, index_t) {
        if (first == 90) throw std::bad_alloc();
      });
      ADD_FAILURE() << "no exception";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("out of memory"), std::string::npos) << e.what();
    }
#ifndef __SANITIZE_ADDRESS__  // AddressSanitizer reports an impossible allocation instead of throwing
    // A real allocation failure inside a library parallel loop.
    EXPECT_THROW(parallel_for(4, [&](index_t) {
                   std::vector<char> huge(static_cast<std::size_t>(1) << 62);
                   huge[0] = 1;
                 }),
                 Error);
#endif
  }
  set_num_threads(0);
}

// Randomized subspace iteration for the large calibration Gram matrices: on a 700 x 700 Hermitian
// matrix with 150 eigenvalues above the threshold (geometric decay) and a noise floor, the eigenvalues
// above it equal LAPACK's to 1e-4 and the subspace is the same (|det| of the overlap ~ 1); ESPIRiT maps
// through it equal the exact ones.
TEST(Scale, RandomizedEigenpairsMatchExact) {
  const index_t m = 700, k = 150;
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.f, 1.f);
  // The random unitary in double (Eigen's complex<float> SSE path trips UBSan's alignment check).
  Eigen::MatrixXcd X(m, m);
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < m; ++j) X(i, j) = std::complex<double>(nd(rng), nd(rng));
  const Eigen::MatrixXcd Qd = Eigen::HouseholderQR<Eigen::MatrixXcd>(X).householderQ();
  const Eigen::MatrixXcf Qm = Qd.cast<cfloat>();
  Eigen::VectorXf ev(m);
  for (index_t i = 0; i < m; ++i) ev(i) = i < k ? std::pow(0.97f, static_cast<float>(i)) : 2e-4f * (1.f + 0.1f * nd(rng));
  const Eigen::MatrixXcf H = Qm * ev.cast<cfloat>().asDiagonal() * Qm.adjoint();
  std::vector<cfloat> g(static_cast<std::size_t>(m * m)), g2;
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < m; ++j) g[static_cast<std::size_t>(i * m + j)] = H(i, j);
  g2 = g;
  std::vector<float> lam(static_cast<std::size_t>(m)), lam2(static_cast<std::size_t>(m));
  ASSERT_TRUE(detail::top_eigenpairs(m, g, lam, 1e-3));
  ASSERT_TRUE(kernels::hermitian_eig(m, g2.data(), lam2.data()));
  index_t above = 0;
  for (index_t i = 0; i < m; ++i) above += lam2[static_cast<std::size_t>(i)] > 1e-3f * lam2[m - 1];
  EXPECT_EQ(above, k);
  for (index_t i = 0; i < above; ++i)
    EXPECT_NEAR(lam[static_cast<std::size_t>(m - 1 - i)], lam2[static_cast<std::size_t>(m - 1 - i)], 1e-4) << i;
  // Subspace overlap: ||U_rand^H U_exact||_F^2 / k ~ 1.
  double ov = 0;
  for (index_t i = 0; i < above; ++i)
    for (index_t j = 0; j < above; ++j) {
      std::complex<double> s = 0;
      for (index_t r = 0; r < m; ++r)
        s += std::conj(std::complex<double>(g[static_cast<std::size_t>((m - 1 - i) * m + r)])) *
             std::complex<double>(g2[static_cast<std::size_t>((m - 1 - j) * m + r)]);
      ov += std::norm(s);
    }
  EXPECT_GT(ov / static_cast<double>(above), 0.999);
  // Through ESPIRiT: 6 coils, 6^3 kernel, 14^3 calibration (729 x 729 Gram A A^H): randomized == exact.
  const auto p = make_phantom3(6, 16, 18, 18, 2e-3f);
  espirit_options exact, rnd;
  exact.calib = rnd.calib = 14;
  rnd.exact_eig_limit = 0;
  const auto a = espirit(p.kspace.cview(), exact), b = espirit(p.kspace.cview(), rnd);
  EXPECT_EQ(a.kernels_kept, b.kernels_kept);
  auto px = test::object_pixels(p.object);
  for (index_t z : {5, 9}) {
    const auto [lo, mean] = test::cosine_stats(partition(a.maps.data(), 6, 16, 18, 18, z),
                                               partition(b.maps.data(), 6, 16, 18, 18, z), px);
    EXPECT_GT(mean, 0.9999) << z;
    EXPECT_GT(lo, 0.999) << z;
  }
}
