// CG-SENSE and the SENSE operator: adjoint and normal-operator identities in both modes (line masks
// without the x FFT, point masks with it), convergence to the dense least-squares solution of an
// explicit encoding matrix (Eigen), agreement with SENSE, random line and Poisson-like masks with ACS,
// `bart pics -l2 -r 0 -i N` iterate by iterate, the real 16-channel brain against bart pics, bad input.
#include "larmor/pi/cgsense.hpp"

#include <filesystem>
#include <random>

#include "larmor/coils/espirit.hpp"
#include "larmor/pi/sense.hpp"
#include "sense_phantom.hpp"
#include "test_helpers.hpp"
#include "larmor/io/cfl.hpp"
#include "larmor/coils/combine.hpp"

namespace larmor {
namespace {

template <class A, class B>
std::complex<double> inner(const A& a, const B& b) {
  std::complex<double> s = 0;
  for (index_t i = 0; i < a.size(); ++i) s += std::conj(std::complex<double>(a[i])) * std::complex<double>(b[i]);
  return s;
}

// A random line mask with a fully sampled centre (variable density along y, all x).
std::vector<unsigned char> random_lines(index_t nz, index_t ny, double p, index_t acs, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<unsigned char> m(static_cast<std::size_t>(nz * ny));
  for (index_t z = 0; z < nz; ++z)
    for (index_t y = 0; y < ny; ++y)
      m[static_cast<std::size_t>(z * ny + y)] = u(rng) < p || std::abs(y - ny / 2) < acs / 2;
  return m;
}

// A Poisson-disc-like point mask over (y, x): random points with density falling off from the centre,
// a fully sampled central block.
array<unsigned char, 2> random_points(index_t ny, index_t nx, unsigned seed, double density = 0.45, double falloff = 3) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  array<unsigned char, 2> m(extents<2>{ny, nx});
  for (index_t y = 0; y < ny; ++y)
    for (index_t x = 0; x < nx; ++x) {
      const double dy = double(y - ny / 2) / ny, dx = double(x - nx / 2) / nx, r = std::sqrt(dy * dy + dx * dx);
      m(y, x) = (std::abs(y - ny / 2) < 6 && std::abs(x - nx / 2) < 6) || u(rng) < density * std::exp(-falloff * r);
    }
  return m;
}

TEST(SenseOperator, AdjointAndNormalIdentitiesInBothModes) {
  const index_t nc = 5, ny = 24, nx = 20;
  const auto maps = test::random_array<cfloat>(extents<3>{nc, ny, nx}, 3);
  const auto x = test::random_array<cfloat>(extents<2>{ny, nx}, 4);
  const auto y = test::random_array<cfloat>(extents<3>{nc, ny, nx}, 5);
  const auto lines = random_lines(1, ny, 0.4, 4, 1);
  array<float, 2> wl(extents<2>{ny, nx});
  for (index_t yy = 0; yy < ny; ++yy)
    for (index_t xx = 0; xx < nx; ++xx) wl(yy, xx) = lines[static_cast<std::size_t>(yy)];
  const auto pts = random_points(ny, nx, 2);
  array<float, 2> wp(extents<2>{ny, nx});
  for (index_t i = 0; i < wp.size(); ++i) wp[i] = pts[i];
  for (const auto* w : {&wl, &wp}) {
    const sense_operator<2> op(maps.cview(), w->cview());
    EXPECT_EQ(op.line_mode(), w == &wl);
    const auto ax = op.forward(x.cview());
    const auto ahy = op.adjoint(y.cview());
    const auto lhs = inner(ax, y), rhs = inner(x, ahy);
    EXPECT_LT(std::abs(lhs - rhs) / std::abs(lhs), 1e-5);
    // normal == adjoint(forward), and equals the direct formula sum conj(S) ifftc(M fftc(S x)).
    const auto n1 = op.normal(x.cview());
    const auto n2 = op.adjoint(ax.cview());
    EXPECT_LT(test::relative_error(n1, n2), 1e-5) << (w == &wl ? "line mode" : "point mode");
  }
  // 3D, line mode over (z, y) and point mode.
  const index_t nz = 6;
  const auto m3 = test::random_array<cfloat>(extents<4>{nc, nz, ny, nx}, 6);
  const auto x3 = test::random_array<cfloat>(extents<3>{nz, ny, nx}, 7);
  const auto l3 = random_lines(nz, ny, 0.3, 4, 8);
  line_mask lm;
  lm.nz = nz, lm.ny = ny, lm.acquired = l3;
  const sense_operator<3> op3(m3.cview(), lm);
  EXPECT_TRUE(op3.line_mode());
  EXPECT_LT(test::relative_error(op3.normal(x3.cview()), op3.adjoint(op3.forward(x3.cview()).cview())), 1e-5);
  array<float, 3> w3(extents<3>{nz, ny, nx});
  std::mt19937 rng(9);
  for (auto& v : w3) v = rng() % 3 == 0 ? 1.f : 0.f;
  const sense_operator<3> op3p(m3.cview(), w3.cview());
  EXPECT_FALSE(op3p.line_mode());
  EXPECT_LT(test::relative_error(op3p.normal(x3.cview()), op3p.adjoint(op3p.forward(x3.cview()).cview())), 1e-5);
}

// The centred unitary DFT along one axis of a row-major double array (shape n), straight from the
// definition: out[u] = N^-1/2 sum_m in[m] exp(sign 2 pi i (u - N/2)(m - N/2) / N).
void direct_dft_axis(std::vector<std::complex<double>>& v, const std::vector<index_t>& n, std::size_t axis,
                     int sign) {
  index_t inner = 1, outer = 1;
  for (std::size_t a = axis + 1; a < n.size(); ++a) inner *= n[a];
  for (std::size_t a = 0; a < axis; ++a) outer *= n[a];
  const index_t len = n[axis];
  std::vector<std::complex<double>> line(static_cast<std::size_t>(len));
  for (index_t o = 0; o < outer; ++o)
    for (index_t i = 0; i < inner; ++i) {
      auto at = [&](index_t m) -> std::complex<double>& {
        return v[static_cast<std::size_t>((o * len + m) * inner + i)];
      };
      for (index_t u = 0; u < len; ++u) {
        std::complex<double> s = 0;
        for (index_t m = 0; m < len; ++m)
          s += at(m) * std::polar(1.0, sign * 2 * M_PI * double(u - len / 2) * double(m - len / 2) / double(len));
        line[static_cast<std::size_t>(u)] = s / std::sqrt(double(len));
      }
      for (index_t u = 0; u < len; ++u) at(u) = line[static_cast<std::size_t>(u)];
    }
}

// A = M F S and A^H A from the definition in double: maps (coils, pix...), weights over pix.
struct direct_sense {
  std::vector<index_t> shape;
  index_t nc, npix;
  std::vector<std::complex<double>> maps;
  std::vector<double> w;
  std::vector<std::complex<double>> forward(const std::vector<std::complex<double>>& x) const {
    std::vector<std::complex<double>> k(static_cast<std::size_t>(nc * npix));
    for (index_t c = 0; c < nc; ++c) {
      std::vector<std::complex<double>> v(static_cast<std::size_t>(npix));
      for (index_t p = 0; p < npix; ++p) v[p] = maps[c * npix + p] * x[p];
      for (std::size_t a = 0; a < shape.size(); ++a) direct_dft_axis(v, shape, a, -1);
      for (index_t p = 0; p < npix; ++p) k[c * npix + p] = w[p] * v[p];
    }
    return k;
  }
  std::vector<std::complex<double>> adjoint(const std::vector<std::complex<double>>& k) const {
    std::vector<std::complex<double>> x(static_cast<std::size_t>(npix), 0.0);
    for (index_t c = 0; c < nc; ++c) {
      std::vector<std::complex<double>> v(k.begin() + c * npix, k.begin() + (c + 1) * npix);
      for (index_t p = 0; p < npix; ++p) v[p] *= w[p];
      for (std::size_t a = 0; a < shape.size(); ++a) direct_dft_axis(v, shape, a, +1);
      for (index_t p = 0; p < npix; ++p) x[p] += std::conj(maps[c * npix + p]) * v[p];
    }
    return x;
  }
};

template <class A>
double error_vs_direct(const A& a, const std::vector<std::complex<double>>& ref) {
  double num = 0, den = 0;
  for (index_t i = 0; i < a.size(); ++i) {
    num += std::norm(std::complex<double>(a.data()[i]) - ref[static_cast<std::size_t>(i)]);
    den += std::norm(ref[static_cast<std::size_t>(i)]);
  }
  return std::sqrt(num / den);
}

template <std::size_t D>
void check_against_direct(const array<cfloat, D + 1>& maps, strided_view<const cfloat, D + 1> maps_view,
                          const array<float, D>& w, bool expect_lines, unsigned seed) {
  const auto x = test::random_array<cfloat>(w.shape(), seed);
  extents<D + 1> ks{};
  ks[0] = maps.shape(0);
  for (std::size_t a = 0; a < D; ++a) ks[a + 1] = w.shape(a);
  const auto y = test::random_array<cfloat>(ks, seed + 1);
  direct_sense ref;
  ref.shape.assign(w.shape().begin(), w.shape().end());
  ref.nc = maps.shape(0);
  ref.npix = w.size();
  ref.maps.assign(maps.begin(), maps.end());
  ref.w.assign(w.begin(), w.end());
  const std::vector<std::complex<double>> xd(x.begin(), x.end()), yd(y.begin(), y.end());
  const auto kd = ref.forward(xd);
  const auto nd = ref.adjoint(kd), ad = ref.adjoint(yd);
  // 1 and 2 threads, line mode with and without its transposed copy of the maps: each builds its own
  // operator; the normal operators must agree bit for bit.
  std::vector<array<cfloat, D>> normals;
  for (int run = 0; run < 4; ++run) {
    const int threads = 1 + run % 2;
    const thread_count_scope scope(threads);
    const sense_operator<D> op(maps_view, w.cview(), run < 2 ? sense_operator<D>::default_copy_max_bytes : 0.0);
    EXPECT_EQ(op.line_mode(), expect_lines);
    EXPECT_EQ(op.copies_maps(), expect_lines && run < 2);
    EXPECT_LT(error_vs_direct(op.forward(x.cview()), kd), 2e-6) << threads << " threads";
    EXPECT_LT(error_vs_direct(op.adjoint(y.cview()), ad), 2e-6) << threads << " threads";
    normals.push_back(op.normal(x.cview()));
    EXPECT_LT(error_vs_direct(normals.back(), nd), 2e-6) << threads << " threads";
  }
  // The same bits on 1 and 2 threads, with and without the copy.
  for (std::size_t r = 1; r < normals.size(); ++r)
    for (index_t i = 0; i < normals[0].size(); ++i)
      ASSERT_EQ(normals[0].data()[i], normals[r].data()[i]) << r << " " << i;
}

// The operator against A = M F S written from the definition (direct DFT, double), in line mode with a
// readout length that is not a multiple of the 8-position blocks (20, 13), in point mode, in 3D, and on
// maps passed as a strided view (every other coil of a larger array).
TEST(SenseOperator, MatchesTheDirectDftDefinition) {
  const index_t nc = 5, ny = 12;
  for (index_t nx : {20, 13}) {
    const auto maps = test::random_array<cfloat>(extents<3>{nc, ny, nx}, 11);
    const auto lines = random_lines(1, ny, 0.4, 4, 2);
    array<float, 2> wl(extents<2>{ny, nx}), wp(extents<2>{ny, nx});
    std::mt19937 rng(5);
    for (index_t y = 0; y < ny; ++y)
      for (index_t x = 0; x < nx; ++x) {
        wl(y, x) = lines[static_cast<std::size_t>(y)] ? 0.5f + float(y % 3) : 0.f;  // weights, not only 0/1
        wp(y, x) = rng() % 3 == 0 ? 1.f : 0.f;
      }
    check_against_direct<2>(maps, maps.cview(), wl, true, 20);
    check_against_direct<2>(maps, maps.cview(), wp, false, 30);
    // One coil: the point-mask normal runs its single coil group on all threads.
    array<cfloat, 3> one(extents<3>{1, ny, nx});
    std::copy(maps.data(), maps.data() + ny * nx, one.data());
    check_against_direct<2>(one, one.cview(), wp, false, 35);
  }
  const index_t nz = 6, nx = 10;
  const auto m3 = test::random_array<cfloat>(extents<4>{nc, nz, ny, nx}, 12);
  const auto l3 = random_lines(nz, ny, 0.3, 4, 8);
  array<float, 3> w3(extents<3>{nz, ny, nx});
  for (index_t z = 0; z < nz; ++z)
    for (index_t y = 0; y < ny; ++y)
      for (index_t x = 0; x < nx; ++x) w3(z, y, x) = l3[static_cast<std::size_t>(z * ny + y)];
  check_against_direct<3>(m3, m3.cview(), w3, true, 40);
  // Strided maps: coils 0, 2, 4, ... of a (2 nc) array; the operator copies them to be contiguous.
  const auto wide = test::random_array<cfloat>(extents<4>{2 * nc, nz, ny, nx}, 13);
  array<cfloat, 4> every_other(extents<4>{nc, nz, ny, nx});
  for (index_t c = 0; c < nc; ++c)
    std::copy(wide.data() + 2 * c * nz * ny * nx, wide.data() + (2 * c + 1) * nz * ny * nx,
              every_other.data() + c * nz * ny * nx);
  const strided_view<const cfloat, 4> strided(wide.data(), {nc, nz, ny, nx},
                                              {2 * nz * ny * nx, ny * nx, nx, 1});
  check_against_direct<3>(every_other, strided, w3, true, 50);
}

// Run to convergence, CG-SENSE is the dense least-squares solution (E^H E + reg I)^-1 E^H k.
TEST(CgSense, ConvergesToDenseLeastSquares) {
  const index_t nc = 4, ny = 16, nx = 12;
  auto p = test::make_coil_phantom(nc, ny, nx, 0.02);
  const auto lines = random_lines(1, ny, 0.35, 4, 3);
  const auto pts = random_points(ny, nx, 4);
  for (int mode = 0; mode < 2; ++mode)
    for (float reg : {0.f, 0.02f}) {
      auto k = p.kspace;
      std::vector<float> mask(static_cast<std::size_t>(ny * nx));
      for (index_t y = 0; y < ny; ++y)
        for (index_t x = 0; x < nx; ++x) {
          const bool on = mode == 0 ? lines[static_cast<std::size_t>(y)] != 0 : pts(y, x) != 0;
          mask[static_cast<std::size_t>(y * nx + x)] = on;
          if (!on)
            for (index_t c = 0; c < nc; ++c) k(c, y, x) = 0;
        }
      const auto e = test::encoding_matrix(p.maps.data(), nc, 1, ny, nx, mask);
      Eigen::VectorXcd kv(nc * ny * nx);
      for (index_t i = 0; i < kv.size(); ++i) kv(i) = k[i];
      const Eigen::MatrixXcd g = e.adjoint() * e + double(reg) * Eigen::MatrixXcd::Identity(ny * nx, ny * nx);
      const Eigen::VectorXcd ref = g.ldlt().solve(e.adjoint() * kv);
      cgsense_options o;
      o.reg = reg;
      o.iters = 500;
      o.tol = 1e-6f;
      const auto r = cgsense(k.cview(), p.maps.cview(), o);
      double num = 0, den = 0;
      for (index_t i = 0; i < ny * nx; ++i)
        num += std::norm(std::complex<double>(r.image[i]) - ref(i)), den += std::norm(ref(i));
      EXPECT_LT(std::sqrt(num / den), 2e-4) << "mode " << mode << " reg " << reg;
      EXPECT_LT(r.iterations, 500);
      EXPECT_EQ(r.residuals.size(), static_cast<std::size_t>(r.iterations + 1));
      EXPECT_LE(r.residuals.back(), 1e-6f);
    }
}

// Regular lattice + ACS: CG-SENSE converges to the SENSE image (the same problem solved per alias group).
TEST(CgSense, AgreesWithSenseOnRegularLattices) {
  const index_t nc = 8, ny = 64, nx = 48;
  auto p = test::make_coil_phantom(nc, ny, nx, 1e-3);
  sampling_lattice L;
  L.ry = 4, L.offset_y = 1;
  test::keep_lines(p.kspace, test::lattice_with_acs(L, 1, ny, 0));
  sense_options so;
  so.reg = 1e-3f;
  const auto s = sense(p.kspace.cview(), p.maps.cview(), so);
  cgsense_options o;
  o.reg = 1e-3f;
  o.iters = 300;
  o.tol = 1e-7f;
  const auto r = cgsense(p.kspace.cview(), p.maps.cview(), o);
  EXPECT_LT(test::relative_error(r.image, s), 1e-4);
  // Residuals fall: overall by orders of magnitude, and never back above the start.
  for (std::size_t i = 1; i < r.residuals.size(); ++i) EXPECT_LT(r.residuals[i], 1.f);
  EXPECT_LT(r.residuals[r.residuals.size() / 2], 1e-2f);

  // 3D 2x2 CAIPI: same, with the maps as (1, coils, z, y, x).
  auto p3 = test::make_coil_phantom_3d(6, 8, 16, 12);
  sampling_lattice L3;
  L3.ry = 2, L3.rz = 2, L3.shift = 1;
  test::keep_lines(p3.kspace, test::lattice_with_acs(L3, 8, 16, 0));
  const array<cfloat, 5> m5 = array<cfloat, 4>(p3.maps).reshape(extents<5>{1, 6, 8, 16, 12});
  const auto s3 = sense(p3.kspace.cview(), m5.cview());
  cgsense_options o3;
  o3.iters = 300;
  o3.tol = 1e-7f;
  const auto r3 = cgsense(p3.kspace.cview(), m5.cview(), o3);
  EXPECT_LT(test::relative_error(r3.image, s3), 1e-4);
  EXPECT_LT(test::relative_error(r3.image, p3.object), 1e-3);
}

// Variable-density random lines and a Poisson-like point mask, each with ACS: the object comes back.
TEST(CgSense, RandomLineAndPointMasksWithAcsRecoverTheObject) {
  const index_t nc = 8, ny = 96, nx = 96;
  auto p = test::make_coil_phantom(nc, ny, nx, 1e-4);
  array<cfloat, 2> truth(p.object.shape());
  for (index_t i = 0; i < truth.size(); ++i) truth[i] = p.object[i];
  // Jittered random lines: one of every two, chosen at random, plus 24 ACS lines; mask read from the data.
  std::vector<unsigned char> lines(static_cast<std::size_t>(ny));
  std::mt19937 rng(21);
  for (index_t y = 0; y < ny; y += 2) lines[static_cast<std::size_t>(y + index_t(rng() % 2))] = 1;
  for (index_t y = ny / 2 - 12; y < ny / 2 + 12; ++y) lines[static_cast<std::size_t>(y)] = 1;
  auto kl = p.kspace;
  test::keep_lines(kl, [&](index_t, index_t y) { return lines[static_cast<std::size_t>(y)] != 0; });
  cgsense_options o;
  o.iters = 60;
  const auto rl = cgsense(kl.cview(), p.maps.cview(), o);
  // Points: the mask given as bytes; k-space keeps values off the mask, which must be ignored.
  const auto pts = random_points(ny, nx, 22, 0.6, 1.5);
  index_t kept = 0;
  for (auto v : pts) kept += v;
  const auto rp = cgsense(p.kspace.cview(), p.maps.cview(), pts.cview(), o);
  const double el = test::relative_error(rl.image, truth), ep = test::relative_error(rp.image, truth);
  EXPECT_LT(el, 0.005);
  EXPECT_LT(ep, 0.05);
  std::printf("random lines (%.2f of k-space): error %.4f in %d iterations; points (R %.1f): error %.4f in %d\n",
              double(std::count(lines.begin(), lines.end(), 1)) / double(ny), el, rl.iterations,
              double(ny * nx) / double(kept), ep, rp.iterations);
  // The line mask as a line_mask gives the same iterates as the mask from the data.
  const auto rl2 = cgsense(kl.cview(), p.maps.cview(), acquired_lines(kl.cview()), o);
  EXPECT_LT(test::relative_error(rl2.image, rl.image), 1e-6);
}

// bart pics -l2 -r 0 -i N -w 1 (BART's data scaling fixed to 1, so both solve the same equations from
// x0 = 0): the same iterate after N = 5 and 20 iterations, on lines and on points.
TEST(CgSense, SameIteratesAsBartPics) {
  if (!test::have_bart()) GTEST_SKIP() << "bart not installed";
  const index_t nc = 8, ny = 96, nx = 80;
  auto p = test::make_coil_phantom(nc, ny, nx, 1e-3);
  const auto lines = random_lines(1, ny, 0.3, 16, 31);
  auto kl = p.kspace;
  test::keep_lines(kl, [&](index_t, index_t y) { return lines[static_cast<std::size_t>(y)] != 0; });
  auto kp = p.kspace;
  const auto pts = random_points(ny, nx, 32);
  for (index_t c = 0; c < nc; ++c)
    for (index_t i = 0; i < ny * nx; ++i)
      if (!pts[i]) kp[c * ny * nx + i] = 0;
  // BART dims [x y z coils] = our (coils, z, y, x) in C order.
  write_cfl(test::tmp_path("cgs_maps"), array<cfloat, 3>(p.maps).reshape(extents<4>{nc, 1, ny, nx}).cview());
  for (int mode = 0; mode < 2; ++mode) {
    const auto& k = mode == 0 ? kl : kp;
    const std::string kname = mode == 0 ? "cgs_kl" : "cgs_kp";
    write_cfl(test::tmp_path(kname), array<cfloat, 3>(k).reshape(extents<4>{nc, 1, ny, nx}).cview());
    for (int iters : {5, 20}) {
      const std::string out = kname + "_pics" + std::to_string(iters);
      ASSERT_EQ(test::run_bart("pics -l2 -r 0 -i " + std::to_string(iters) + " -w 1 " + kname + " cgs_maps " + out), 0);
      const auto bart_img = read_cfl<2>(test::tmp_path(out));  // [x y] -> (y, x)
      cgsense_options o;
      o.iters = iters;
      o.tol = 0;
      const auto r = cgsense(k.cview(), p.maps.cview(), o);
      ASSERT_EQ(r.iterations, iters);
      const double e = test::relative_error(r.image, bart_img);
      EXPECT_LT(e, 1e-3) << (mode == 0 ? "lines" : "points") << " iters " << iters;
      std::printf("vs bart pics -l2 -r 0 -i %d (%s): NRMSE %.2e\n", iters, mode == 0 ? "lines" : "points", e);
    }
  }
}

// The real 16-channel brain, retrospectively undersampled R = 3 with 24 ACS lines: CG-SENSE with
// ESPIRiT maps from the ACS against the fully sampled combine(ifftc(k), maps); no worse than
// bart pics -l2 with the same maps and iterations.
TEST(CgSense, RealBrainR3NoWorseThanBartPics) {
  const std::string dat = std::string(LARMOR_SCANS) + "/pulseq_invivo_brain_16ch/2024-02-06-164128_localcoil16ch.dat";
  if (!test::have_bart() || !std::filesystem::exists(dat)) GTEST_SKIP() << "bart or the brain scan is missing";
  test::run_bart("twixread -x 128 -y 128 -c 16 -a 128 '" + dat + "' cgs_brain_k 2>/dev/null");
  ASSERT_TRUE(std::filesystem::exists(test::tmp_path("cgs_brain_k.cfl")));
  const auto full = read_cfl<3>(test::tmp_path("cgs_brain_k"));  // (coils, y, x)
  ASSERT_EQ(full.shape(), (extents<3>{16, 128, 128}));
  auto k = full;
  test::keep_lines(k, [](index_t, index_t y) { return y % 3 == 0 || (y >= 64 - 12 && y < 64 + 12); });
  const auto maps = espirit_maps(k.cview());  // (1, coils, y, x) from the 24 ACS lines
  const auto ref = combine(ifftc(full.cview()).cview(), maps.view().slice(0));
  write_cfl(test::tmp_path("cgs_brain_u"), array<cfloat, 3>(k).reshape(extents<4>{16, 1, 128, 128}).cview());
  write_cfl(test::tmp_path("cgs_brain_m"), array<cfloat, 4>(maps).reshape(extents<4>{16, 1, 128, 128}).cview());
  for (int iters : {10, 30}) {
    const std::string out = "cgs_brain_pics" + std::to_string(iters);
    ASSERT_EQ(test::run_bart("pics -l2 -r 0 -i " + std::to_string(iters) + " -w 1 cgs_brain_u cgs_brain_m " + out), 0);
    const auto bart_img = read_cfl<2>(test::tmp_path(out));
    cgsense_options o;
    o.iters = iters;
    o.tol = 0;
    const auto r = cgsense(k.cview(), maps.cview(), o);
    const double ours = test::relative_error(r.image, ref), bart = test::relative_error(bart_img, ref);
    EXPECT_LE(ours, bart + 1e-3) << iters << " iterations";
    EXPECT_LT(test::relative_error(r.image, bart_img), 1e-3);
    EXPECT_LT(ours, 0.2);
    std::printf("brain R=3 + 24 ACS, %d iterations: NRMSE vs fully sampled: larmor %.4f, bart pics %.4f; "
                "larmor vs bart %.2e\n", iters, ours, bart, test::relative_error(r.image, bart_img));
  }
}

TEST(CgSense, RejectsBadInput) {
  const index_t nc = 4, ny = 32, nx = 24;
  auto p = test::make_coil_phantom(nc, ny, nx);
  const auto other = simulated_coil_maps<float>(nc, ny + 2, nx);
  try {
    cgsense(p.kspace.cview(), other.cview());
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("maps have shape (4, 34, 24)"), std::string::npos) << e.what();
  }
  array<cfloat, 3> zero(p.kspace.shape());
  EXPECT_THROW(cgsense(zero.cview(), p.maps.cview()), DataError);
  auto inf = p.kspace;
  inf(0, 0, 0) = cfloat(std::numeric_limits<float>::infinity(), 0.f);
  EXPECT_THROW(cgsense(inf.cview(), p.maps.cview()), DataError);
  array<unsigned char, 2> bad_mask(extents<2>{ny, nx + 1});
  EXPECT_THROW(cgsense(p.kspace.cview(), p.maps.cview(), bad_mask.cview()), InvalidArgument);
  array<unsigned char, 2> empty_mask(extents<2>{ny, nx});
  EXPECT_THROW(cgsense(p.kspace.cview(), p.maps.cview(), empty_mask.cview()), DataError);
  line_mask lm;
  lm.nz = 1, lm.ny = ny + 1, lm.acquired.assign(static_cast<std::size_t>(ny + 1), 1);
  EXPECT_THROW(cgsense(p.kspace.cview(), p.maps.cview(), lm), InvalidArgument);
  cgsense_options o;
  o.iters = 0;
  EXPECT_THROW(cgsense(p.kspace.cview(), p.maps.cview(), o), InvalidArgument);
  o = {};
  o.reg = -0.1f;
  EXPECT_THROW(cgsense(p.kspace.cview(), p.maps.cview(), o), InvalidArgument);
  array<cfloat, 4> two(extents<4>{2, nc, ny, nx});
  EXPECT_THROW(cgsense(p.kspace.cview(), two.cview()), InvalidArgument);
}

}  // namespace
}  // namespace larmor
