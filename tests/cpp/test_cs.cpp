// Tests of cs/cs.hpp: the SENSE adapter (linear_operator) against sense_operator, the data scale, l1-wavelet
// and TV against CG-SENSE and against `bart pics -l1` / `-R T` at each tool's best lambda on a simulated
// noisy acquisition (variable-density random point mask), the recon method, bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "coil_phantom.hpp"
#include "larmor/cs/cs.hpp"
#include "larmor/io/cfl.hpp"
#include "larmor/sampling/poisson_mask.hpp"
#include "test_helpers.hpp"

using namespace larmor;

namespace {

// Variable density: P(sampled) = min(1, density / (r/rmax)^falloff...) with a fully sampled centre.
array<unsigned char, 2> vd_points(index_t ny, index_t nx, double accel, index_t calib, unsigned seed) {
  array<unsigned char, 2> m({ny, nx});
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  for (index_t y = 0; y < ny; ++y)
    for (index_t x = 0; x < nx; ++x) {
      const double dy = (y - ny / 2) / double(ny / 2), dx = (x - nx / 2) / double(nx / 2);
      const double r = std::sqrt(dy * dy + dx * dx);
      const bool centre = std::abs(y - ny / 2) < calib / 2 && std::abs(x - nx / 2) < calib / 2;
      const double p = std::min(1.0, 1.6 / accel * std::pow(1 - std::min(r, 1.0) + 0.12, 2.0) * 2.2);
      m(y, x) = centre || u(rng) < p ? 1 : 0;
    }
  return m;
}

struct sim {
  test::coil_phantom p;
  array<unsigned char, 2> mask;
  array<cfloat, 3> k;
  double fraction = 0;
};

sim make_sim(index_t nc, index_t ny, index_t nx, double accel) {
  sim s{test::make_coil_phantom(nc, ny, nx, 2e-3, 5), vd_points(ny, nx, accel, 12, 7), {}, 0};
  s.k = s.p.kspace;
  for (index_t c = 0; c < nc; ++c)
    for (index_t i = 0; i < ny * nx; ++i)
      if (!s.mask.data()[i]) s.k.data()[c * ny * nx + i] = 0;
  for (auto v : s.mask) s.fraction += v;
  s.fraction /= double(ny * nx);
  return s;
}

double err_vs_object(const array<cfloat, 2>& img, const array<float, 2>& obj) {
  double num = 0, den = 0;
  for (index_t i = 0; i < img.size(); ++i) {
    num += std::norm(img.data()[i] - cfloat(obj.data()[i])), den += double(obj.data()[i]) * obj.data()[i];
  }
  return std::sqrt(num / den);
}

}  // namespace

TEST(CsOperator, AdapterIsTheSenseOperatorInItsInternalLayout) {
  const index_t nc = 4, ny = 24, nx = 20;
  auto p = test::make_coil_phantom(nc, ny, nx);
  for (int mode = 0; mode < 2; ++mode) {
    array<float, 2> w({ny, nx});
    std::mt19937 rng(3);
    for (index_t y = 0; y < ny; ++y)
      for (index_t x = 0; x < nx; ++x) w(y, x) = mode == 0 ? float(y % 3 == 0) : float(rng() % 3 == 0);
    const sense_operator<2> op(p.maps.cview(), w.cview());
    ASSERT_EQ(op.line_mode(), mode == 0);
    const sense_linear_operator<2> A(op);
    const auto sh = A.internal_shape();
    EXPECT_EQ(sh[0], mode == 0 ? nx : ny);
    auto x = test::random_array<cfloat, 2>({ny, nx}, 5);
    array<cfloat, 1> xi({ny * nx}), ni({ny * nx}), ki({nc * ny * nx}), bi({ny * nx});
    op.to_internal(x.cview(), xi.data());
    A.normal(xi.data(), ni.data());
    array<cfloat, 2> n2({ny, nx});
    op.from_internal(ni.data(), n2.view());
    EXPECT_LT(test::relative_error(n2, op.normal(x.cview())), 1e-6);
    A.apply(xi.data(), ki.data());
    const auto k = op.forward(x.cview());
    EXPECT_LT(test::relative_error(array<cfloat, 3>(k).reshape(extents<1>{nc * ny * nx}), ki), 1e-6);
    A.adjoint(ki.data(), bi.data());  // A^H A x through apply/adjoint = normal
    EXPECT_LT(test::relative_error(bi, ni), 1e-5);
  }
}

TEST(Cs, DataScaleIsThe90thPercentileOfTheCentralImage) {
  // One coil, a constant image c = 3 over 64 x 64: fftc (unitary) is one peak c * 64 at the centre; the
  // 32 x 32 central crop's unitary inverse FFT is the constant c * 64 / 32 = 6 everywhere (p90 = max).
  array<cfloat, 3> k({1, 64, 64});
  k(0, 32, 32) = cfloat(3.f * 64.f, 0);
  EXPECT_NEAR(detail::cs_data_scale(k.cview()), 6.f, 1e-5);
  // BART's rule on the data of the next test (bart pics -d4 printed p90 0.323771 for the same k-space).
}

TEST(Cs, L1WaveletAndTvBeatCgSenseAndMatchBartAtBestLambda) {
  const index_t nc = 4, ny = 48, nx = 48;
  auto s = make_sim(nc, ny, nx, 3);
  std::printf("sampled fraction %.3f\n", s.fraction);
  cgsense_options co;
  co.iters = 30;
  const double e_cg = err_vs_object(cgsense(s.k.cview(), s.p.maps.cview(), co).image, s.p.object);
  // bart is a declared dependency (scripts/install-deps.sh): without it the comparison half fails, not passes.
  const bool bart = test::have_bart();
  if (!bart)
    ADD_FAILURE() << "bart was not found when the tests were configured: install it (scripts/install-deps.sh); "
                     "the larmor-only assertions below still run";
  if (bart) {
    write_cfl(test::tmp_path("cs_maps"), array<cfloat, 3>(s.p.maps).reshape(extents<4>{nc, 1, ny, nx}).cview());
    write_cfl(test::tmp_path("cs_k"), array<cfloat, 3>(s.k).reshape(extents<4>{nc, 1, ny, nx}).cview());
  }
  for (int pen = 0; pen < 2; ++pen) {
    double best = 1e9, best_bart = 1e9;
    float lb = 0, lbb = 0;
    for (float lam : pen == 0 ? std::vector<float>{0.002f, 0.004f, 0.008f} : std::vector<float>{0.001f, 0.004f}) {
      cs_options o;
      (pen == 0 ? o.wavelet : o.tv) = lam;
      o.iters = pen == 0 ? 40 : 15;
      const double e = err_vs_object(cs(s.k.cview(), s.p.maps.cview(), o).image, s.p.object);
      if (e < best) best = e, lb = lam;
      if (bart) {
        const std::string out = "cs_out";
        char args[256];
        std::snprintf(args, sizeof args, pen == 0 ? "pics -S -l1 -r %g -i 40 cs_k cs_maps %s" : "pics -S -R T:3:0:%g -i 15 cs_k cs_maps %s",
                      double(lam), out.c_str());
        ASSERT_EQ(test::run_bart(std::string(args) + " 2>/dev/null"), 0);
        const auto bi = read_cfl<2>(test::tmp_path(out));
        const double eb = err_vs_object(bi, s.p.object);
        if (eb < best_bart) best_bart = eb, lbb = lam;
      }
    }
    std::printf("%s: larmor best NRMSE %.4f (lambda %g), bart %.4f (lambda %g), cgsense %.4f\n",
                pen == 0 ? "l1-wavelet" : "TV", best, double(lb), best_bart, double(lbb), e_cg);
    // Against the object (measured: l1-wavelet 0.217, TV 0.390 after its 15 iterations, CG-SENSE 0.367; bart
    // pics 0.225 / 0.503): the wavelet recon well ahead of CG-SENSE, TV held near its own error, which is
    // not below CG-SENSE's at 15 iterations.
    if (pen == 0) {
      EXPECT_LT(best, 0.65 * e_cg);
    } else {
      EXPECT_LT(best, 0.43);
    }
    if (bart) {
      EXPECT_LE(best, best_bart * 1.0 + 1e-4);
    }
  }
}

// Regression against `bart pics -l1` on the real 16-channel brain (fully sampled 128^2, Poisson-disc mask
// R = 8 with a 20^2 centre, the same `bart ecalib -m1` maps, 40 iterations): at each tool's best lambda of a
// three-point sweep around its optimum (factor 1.5 apart; larmor's scale is sqrt(ny nx) / 32 = 4 times
// BART's, docs/compressed_sensing.md), larmor's NRMSE against the maps' combination of the fully sampled
// data must not exceed BART's. Before the coarse band was thresholded and the last iterates averaged,
// larmor was 2-3 % behind here.
TEST(Cs, L1WaveletNoWorseThanBartPicsOnTheRealBrain) {
  const std::string dat = std::string(LARMOR_SCANS) + "/pulseq_invivo_brain_16ch/2024-02-06-164128_localcoil16ch.dat";
  if (!test::have_bart() || !std::filesystem::exists(dat)) GTEST_SKIP() << "bart or the brain scan is missing";
  test::run_bart("twixread -x 128 -y 128 -c 16 -a 128 '" + dat + "' cs_brain_full 2>/dev/null");
  const auto full = read_cfl<3>(test::tmp_path("cs_brain_full"));  // (coils, y, x)
  ASSERT_EQ(full.shape(), (extents<3>{16, 128, 128}));
  const auto mask = poisson_mask(128, 128, 8, 20, 0);
  auto k = full;
  for (index_t c = 0; c < 16; ++c)
    for (index_t y = 0; y < 128; ++y)
      for (index_t x = 0; x < 128; ++x)
        if (!mask(y, x)) k(c, y, x) = 0;
  write_cfl(test::tmp_path("cs_brain_k"), array<cfloat, 3>(k).reshape(extents<4>{16, 1, 128, 128}).cview());
  ASSERT_EQ(test::run_bart("ecalib -m1 cs_brain_k cs_brain_m >/dev/null 2>&1"), 0);
  const auto maps = array<cfloat, 4>(read_cfl<4>(test::tmp_path("cs_brain_m"))).reshape(extents<3>{16, 128, 128});
  const auto img = ifftc(full.cview());
  array<cfloat, 2> ref({128, 128});
  for (index_t c = 0; c < 16; ++c)
    for (index_t y = 0; y < 128; ++y)
      for (index_t x = 0; x < 128; ++x) ref(y, x) += std::conj(maps(c, y, x)) * img(c, y, x);
  auto err = [&](const array<cfloat, 2>& u) {  // NRMSE after the best complex factor
    std::complex<double> num = 0;
    double den = 0, rr = 0;
    for (index_t i = 0; i < u.size(); ++i) {
      num += std::conj(std::complex<double>(u.data()[i])) * std::complex<double>(ref.data()[i]);
      den += std::norm(std::complex<double>(u.data()[i]));
      rr += std::norm(std::complex<double>(ref.data()[i]));
    }
    const std::complex<double> a = num / den;
    double e = 0;
    for (index_t i = 0; i < u.size(); ++i) e += std::norm(a * std::complex<double>(u.data()[i]) - std::complex<double>(ref.data()[i]));
    return std::sqrt(e / rr);
  };
  double best = 1e9, best_bart = 1e9;
  for (float lam : {0.0009f, 0.00135f, 0.002f}) {
    cs_options o;
    o.wavelet = lam;
    o.iters = 40;
    const double e = err(cs(k.cview(), maps.cview(), o).image);
    std::printf("larmor lambda %g: %.4f\n", double(lam), e);
    best = std::min(best, e);
  }
  for (float lam : {0.0036f, 0.0054f, 0.008f}) {
    char args[160];
    std::snprintf(args, sizeof args, "pics -S -l1 -r %g -i 40 cs_brain_k cs_brain_m cs_brain_x 2>/dev/null", double(lam));
    ASSERT_EQ(test::run_bart(args), 0);
    const double e = err(read_cfl<2>(test::tmp_path("cs_brain_x")));
    std::printf("bart pics lambda %g: %.4f\n", double(lam), e);
    best_bart = std::min(best_bart, e);
  }
  std::printf("real brain 16 ch, Poisson R 8, 40 it.: best NRMSE larmor %.4f, bart pics %.4f\n", best, best_bart);
  EXPECT_LE(best, best_bart);
}

TEST(Cs, SeededCycleSpinningIsReproducible) {
  auto s = make_sim(4, 48, 40, 3);
  cs_options o;
  o.wavelet = 0.003f;
  o.iters = 10;
  o.seed = 5;
  const auto a = cs(s.k.cview(), s.p.maps.cview(), o).image, b = cs(s.k.cview(), s.p.maps.cview(), o).image;
  EXPECT_EQ(test::relative_error(a, b), 0.0);
  o.seed = 6;
  EXPECT_GT(test::relative_error(cs(s.k.cview(), s.p.maps.cview(), o).image, a), 0.0);
}

TEST(Cs, RejectsBadInput) {
  auto s = make_sim(4, 32, 32, 3);
  cs_options o;
  EXPECT_THROW(cs(s.k.cview(), s.p.maps.cview(), o), InvalidArgument);  // no penalty
  o.wavelet = -1;
  EXPECT_THROW(cs(s.k.cview(), s.p.maps.cview(), o), InvalidArgument);
  o.wavelet = 0.01f;
  o.iters = 0;
  EXPECT_THROW(cs(s.k.cview(), s.p.maps.cview(), o), InvalidArgument);
  o.iters = 5;
  o.tv = 0.01f;
  o.solver = cs_solver::fista;
  EXPECT_THROW(cs(s.k.cview(), s.p.maps.cview(), o), InvalidArgument);
  array<cfloat, 3> zero(s.k.shape());
  o.solver = cs_solver::automatic;
  EXPECT_THROW(cs(zero.cview(), s.p.maps.cview(), o), DataError);
}

TEST(Sampling, PoissonMaskHasTheRequestedDensityCentreAndSpacing) {
  const index_t ny = 96, nx = 64, calib = 16;
  const auto m = poisson_mask(ny, nx, 4.0, calib, 3);
  index_t n = 0;
  for (auto v : m) n += v;
  EXPECT_NEAR(double(n), ny * nx / 4.0, 0.011 * ny * nx / 4.0);
  for (index_t y = ny / 2 - calib / 2; y < ny / 2 + calib / 2; ++y)
    for (index_t x = nx / 2 - calib / 2; x < nx / 2 + calib / 2; ++x) EXPECT_EQ(m(y, x), 1);
  // Variable density: the inner half (by radius) is denser than the outer part.
  double in = 0, nin = 0, out = 0, nout = 0;
  for (index_t y = 0; y < ny; ++y)
    for (index_t x = 0; x < nx; ++x) {
      const double r = std::hypot((y - ny / 2) / double(ny / 2), (x - nx / 2) / double(nx / 2));
      (r < 0.5 ? in : out) += m(y, x);
      (r < 0.5 ? nin : nout) += 1;
    }
  EXPECT_GT(in / nin, 2 * out / nout);
  // Poisson disc: outside the centre no two samples are neighbours (distance 1).
  int touching = 0;
  for (index_t y = 0; y + 1 < ny; ++y)
    for (index_t x = 0; x < nx; ++x)
      if (std::abs(y - ny / 2) > calib && m(y, x) && m(y + 1, x)) ++touching;
  EXPECT_EQ(touching, 0);
  // Deterministic per seed.
  const auto m2 = poisson_mask(ny, nx, 4.0, calib, 3), m3 = poisson_mask(ny, nx, 4.0, calib, 4);
  EXPECT_TRUE(std::equal(m.begin(), m.end(), m2.begin()));
  EXPECT_FALSE(std::equal(m.begin(), m.end(), m3.begin()));
  EXPECT_THROW(poisson_mask(ny, nx, 0.5, calib), InvalidArgument);
  EXPECT_THROW(poisson_mask(32, 32, 8.0, 20), InvalidArgument);
  const auto l = variable_density_lines(128, 4.0, 16, 1);
  EXPECT_EQ(std::count(l.begin(), l.end(), 1), 32);
  for (index_t y = 56; y < 72; ++y) EXPECT_EQ(l[y], 1);
  EXPECT_EQ(l, variable_density_lines(128, 4.0, 16, 1));
}

namespace {

// Reference LLR prox: explicit block loops, Eigen's JacobiSVD (a different SVD path than the prox's Gram
// eigen-decomposition), singular values soft-thresholded.
array<cfloat, 3> llr_reference(const array<cfloat, 3>& x, double t, index_t b, index_t sy, index_t sx) {
  const index_t T = x.shape(0), ny = x.shape(1), nx = x.shape(2);
  array<cfloat, 3> out(x.shape());
  for (index_t y0 = 0; y0 < ny; y0 += b)
    for (index_t x0 = 0; x0 < nx; x0 += b) {
      const index_t ly = std::min(b, ny - y0), lx = std::min(b, nx - x0);
      Eigen::MatrixXcd C(ly * lx, T);
      auto at = [&](index_t i, index_t j) { return std::make_pair((y0 + i + sy) % ny, (x0 + j + sx) % nx); };
      for (index_t t = 0; t < T; ++t)
        for (index_t i = 0; i < ly; ++i)
          for (index_t j = 0; j < lx; ++j) {
            const auto [yy, xx] = at(i, j);
            C(i * lx + j, t) = std::complex<double>(x(t, yy, xx));
          }
      Eigen::JacobiSVD<Eigen::MatrixXcd> svd(C, Eigen::ComputeThinU | Eigen::ComputeThinV);
      Eigen::VectorXd sv = svd.singularValues();
      for (Eigen::Index k = 0; k < sv.size(); ++k) sv[k] = std::max(0.0, sv[k] - t);
      const Eigen::MatrixXcd R = svd.matrixU() * sv.asDiagonal() * svd.matrixV().adjoint();
      for (index_t t = 0; t < T; ++t)
        for (index_t i = 0; i < ly; ++i)
          for (index_t j = 0; j < lx; ++j) {
            const auto [yy, xx] = at(i, j);
            out(t, yy, xx) = cfloat(R(i * lx + j, t));
          }
    }
  return out;
}

}  // namespace

TEST(Llr, ProxIsBlockwiseSingularValueThresholding) {
  const index_t T = 6, ny = 20, nx = 13;  // partial blocks along both axes
  auto x = test::random_array<cfloat, 3>({T, ny, nx}, 11);
  // A low-rank part per block plus noise: thresholding then keeps some singular values and kills others.
  for (index_t t = 0; t < T; ++t)
    for (index_t p = 0; p < ny * nx; ++p) x.data()[t * ny * nx + p] = 0.3f * x.data()[t * ny * nx + p] + float(t + 1) * std::sin(0.1f * p);
  const float lambda = 0.8f, alpha = 1.5f;
  array<cfloat, 3> out({T, ny, nx});
  llr_prox fixed({T, ny, nx}, lambda, 8, false);
  fixed.apply(alpha, x.data(), out.data());
  const auto ref = llr_reference(x, double(alpha) * lambda, 8, 0, 0);
  EXPECT_LT(test::relative_error(out, ref), 1e-5);
  EXPECT_GT(test::relative_error(out, x), 0.05);  // the threshold acted
  // value = lambda sum of singular values (shift 0).
  double nuc = 0;
  for (index_t y0 = 0; y0 < ny; y0 += 8)
    for (index_t x0 = 0; x0 < nx; x0 += 8) {
      const index_t ly = std::min<index_t>(8, ny - y0), lx = std::min<index_t>(8, nx - x0);
      Eigen::MatrixXcd C(ly * lx, T);
      for (index_t t = 0; t < T; ++t)
        for (index_t i = 0; i < ly; ++i)
          for (index_t j = 0; j < lx; ++j) C(i * lx + j, t) = std::complex<double>(x(t, y0 + i, x0 + j));
      nuc += Eigen::JacobiSVD<Eigen::MatrixXcd>(C).singularValues().sum();
    }
  EXPECT_NEAR(fixed.value(x.data()), lambda * nuc, 1e-4 * lambda * nuc);
  // Random shifts: seeded, in [0, 8), and the prox is the thresholding on the shifted grid; in place works.
  llr_prox a({T, ny, nx}, lambda, 8, true, 42), b({T, ny, nx}, lambda, 8, true, 42);
  array<cfloat, 3> oa = x, ob({T, ny, nx});
  a.apply(alpha, oa.data(), oa.data());
  b.apply(alpha, x.data(), ob.data());
  EXPECT_EQ(test::relative_error(oa, ob), 0.0);
  const auto sh = a.last_shift();
  ASSERT_EQ(sh.size(), 2u);
  EXPECT_TRUE(sh[0] >= 0 && sh[0] < 8 && sh[1] >= 0 && sh[1] < 8);
  EXPECT_LT(test::relative_error(oa, llr_reference(x, double(alpha) * lambda, 8, sh[0], sh[1])), 1e-5);
}

namespace {

// Dynamic phantom: Shepp-Logan with a disc whose intensity pulses over the frames and a second one that
// moves along x; per-frame variable-density masks (different seeds), noise.
struct dyn_sim {
  array<cfloat, 3> truth;  // (T, y, x)
  array<cfloat, 3> maps;   // (coils, y, x)
  array<cfloat, 4> k;      // (T, coils, y, x)
};

dyn_sim make_dyn(index_t T, index_t nc, index_t n, double accel) {
  auto p = test::make_coil_phantom(nc, n, n);
  dyn_sim d{array<cfloat, 3>({T, n, n}), p.maps, array<cfloat, 4>({T, nc, n, n})};
  std::mt19937 rng(9);
  std::normal_distribution<float> g(0.f, 1.f);
  array<float, 2> ones({n, n});
  for (auto& v : ones) v = 1.f;
  const sense_operator<2> op(p.maps.cview(), ones.cview());
  for (index_t t = 0; t < T; ++t) {
    array<cfloat, 2> xt({n, n});
    for (index_t y = 0; y < n; ++y)
      for (index_t x = 0; x < n; ++x) {
        const double dy = (y - 0.45 * n) / n, dx = (x - 0.5 * n) / n, mx = (x - (0.35 + 0.03 * t) * n) / n,
                     my = (y - 0.6 * n) / n;
        float v = p.object(y, x);
        if (dy * dy + dx * dx < 0.01) v += 0.5f * float(1 + std::sin(2 * M_PI * t / T));
        if (mx * mx + my * my < 0.004) v += 0.6f;
        xt(y, x) = v;
        d.truth(t, y, x) = v;
      }
    const auto kt = op.forward(xt.cview());
    const auto m = vd_points(n, n, accel, 8, 100 + unsigned(t));
    for (index_t c = 0; c < nc; ++c)
      for (index_t i = 0; i < n * n; ++i)
        d.k.data()[(t * nc + c) * n * n + i] =
            m.data()[i] ? kt.data()[c * n * n + i] + 0.01f * cfloat(g(rng), g(rng)) : cfloat(0);
  }
  return d;
}

// NRMSE after the best complex scalar fit (so that zero-filled is not penalised for its scale).
double fitted_nrmse(const array<cfloat, 3>& img, const array<cfloat, 3>& truth) {
  std::complex<double> num = 0;
  double den = 0, ref = 0;
  for (index_t i = 0; i < img.size(); ++i) {
    num += std::conj(std::complex<double>(img.data()[i])) * std::complex<double>(truth.data()[i]);
    den += std::norm(img.data()[i]);
  }
  const std::complex<double> a = num / den;
  double e = 0;
  for (index_t i = 0; i < img.size(); ++i) {
    e += std::norm(a * std::complex<double>(img.data()[i]) - std::complex<double>(truth.data()[i]));
    ref += std::norm(truth.data()[i]);
  }
  return std::sqrt(e / ref);
}

}  // namespace

TEST(CsDynamic, LlrAndTimeTvBeatZeroFilled) {
  const index_t T = 6, nc = 4, n = 32;
  const auto d = make_dyn(T, nc, n, 5.0);
  // Zero-filled: sum_c conj(S_c) ifftc(k_tc) per frame.
  array<cfloat, 3> zf({T, n, n});
  for (index_t t = 0; t < T; ++t) {
    const auto b = detail::sense_adjoint(d.k.cview().slice(t), d.maps.cview(), nullptr, false);
    std::copy(b.begin(), b.end(), zf.data() + t * n * n);
  }
  const double e_zf = fitted_nrmse(zf, d.truth);
  cs_options o;
  o.iters = 30;
  o.llr = 0.05f;
  const auto llr = cs_dynamic(d.k.cview(), d.maps.cview(), o);
  ASSERT_EQ(llr.image.shape(), (extents<3>{T, n, n}));
  const double e_llr = fitted_nrmse(llr.image, d.truth);
  cs_options ot;
  ot.iters = 10;
  ot.tv_time = 0.05f;
  ot.tv = 0.005f;
  const auto tvt = cs_dynamic(d.k.cview(), d.maps.cview(), ot);
  const double e_tvt = fitted_nrmse(tvt.image, d.truth);
  std::printf("dynamic 6 frames 4 coils 32^2 R~5: NRMSE zero-filled %.4f, LLR %.4f, TV time+space %.4f\n", e_zf, e_llr,
              e_tvt);
  EXPECT_LT(e_llr, 0.7 * e_zf);  // measured 0.335 vs 0.607
  EXPECT_LT(e_tvt, 0.9 * e_zf);  // measured 0.477 vs 0.607 (10 ADMM iterations)
  // LLR needs the time axis: static cs() refuses it.
  cs_options bad;
  bad.llr = 0.1f;
  EXPECT_THROW(cs(d.k.cview().slice(0), d.maps.cview(), bad), InvalidArgument);
}

TEST(Cs, PogmSolvesTheSameProblemAsFista) {
  const auto s = make_sim(4, 32, 32, 3.0);
  cs_options f;
  f.wavelet = 0.01f;
  f.cycle_spin = false;
  f.iters = 200;
  const auto xf = cs(s.k.cview(), s.p.maps.cview(), f);
  cs_options p = f;
  p.solver = cs_solver::pogm;
  p.iters = 150;
  const auto xp = cs(s.k.cview(), s.p.maps.cview(), p);
  EXPECT_LT(test::relative_error(xp.image, xf.image), 5e-3);
  p.iters = 20;
  f.iters = 20;
  const auto ap = cs(s.k.cview(), s.p.maps.cview(), p), af = cs(s.k.cview(), s.p.maps.cview(), f);
  // After 20 iterations POGM is closer to the minimiser than FISTA (its rate is ~2x better).
  EXPECT_LT(test::relative_error(ap.image, xf.image), test::relative_error(af.image, xf.image));
}
