// NUFFT plan: type 2 / type 1 against a direct non-uniform DFT in double at each tolerance, adjointness,
// the grid identity with fftc, thread-count independence; the SIMD kernels (larmor/kernels/nufft_kernels.hpp)
// on every compiled Highway target against their scalar references, and the float plan on every target
// against the direct DFT.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <complex>
#include <random>
#include <string>
#include <vector>

#include "hwy/targets.h"
#include "larmor/fft/fft.hpp"
#include "larmor/kernels/nufft_kernels.hpp"
#include "larmor/nufft/es_kernel.hpp"
#include "larmor/nufft/plan.hpp"

using namespace larmor;

namespace {

constexpr double pi = 3.14159265358979323846;

template <std::size_t D>
index_t prod(const extents<D>& n) {
  index_t s = 1;
  for (auto v : n) s *= v;
  return s;
}

// The phase k.r / N of image pixel j (row-major, r = j - N//2 per axis) at point m.
template <std::size_t D>
double dft_phase(const extents<D>& N, const std::vector<double>& k, index_t m, index_t j) {
  index_t rem = j;
  double ph = 0;
  for (std::size_t d = D; d-- > 0;) {
    const index_t jd = rem % N[d];
    rem /= N[d];
    ph += k[static_cast<std::size_t>(m * index_t(D) + index_t(d))] * static_cast<double>(jd - N[d] / 2) /
          static_cast<double>(N[d]);
  }
  return ph;
}

// Direct type 2 in double: y(k) = N^-1/2 sum_r x(r) exp(-2 pi i k.r / N), r = j - N//2.
template <std::size_t D>
std::vector<cdouble> direct_forward(const extents<D>& N, const std::vector<cdouble>& x, const std::vector<double>& k,
                                    index_t M) {
  const index_t n = prod(N);
  std::vector<cdouble> y(static_cast<std::size_t>(M));
  for (index_t m = 0; m < M; ++m) {
    cdouble s = 0;
    for (index_t j = 0; j < n; ++j) s += x[static_cast<std::size_t>(j)] * std::polar(1.0, -2 * pi * dft_phase(N, k, m, j));
    y[static_cast<std::size_t>(m)] = s / std::sqrt(static_cast<double>(n));
  }
  return y;
}

// Direct type 1 (the adjoint): x(r) = N^-1/2 sum_k y(k) exp(+2 pi i k.r / N).
template <std::size_t D>
std::vector<cdouble> direct_adjoint(const extents<D>& N, const std::vector<cdouble>& y, const std::vector<double>& k,
                                    index_t M) {
  const index_t n = prod(N);
  std::vector<cdouble> x(static_cast<std::size_t>(n));
  for (index_t j = 0; j < n; ++j) {
    cdouble s = 0;
    for (index_t m = 0; m < M; ++m) s += y[static_cast<std::size_t>(m)] * std::polar(1.0, 2 * pi * dft_phase(N, k, m, j));
    x[static_cast<std::size_t>(j)] = s / std::sqrt(static_cast<double>(n));
  }
  return x;
}

template <class C>
double rel_err(const std::vector<C>& a, const std::vector<cdouble>& ref) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    num += std::norm(cdouble(a[i]) - ref[i]);
    den += std::norm(ref[i]);
  }
  return std::sqrt(num / den);
}

std::vector<cdouble> random_complex(index_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<double> nd;
  std::vector<cdouble> v(static_cast<std::size_t>(n));
  for (auto& e : v) e = cdouble(nd(g), nd(g));
  return v;
}

// Coordinates uniform in [-N/2, N/2) with a few outside (periodic) and a few exactly on the edges.
template <std::size_t D>
std::vector<double> random_coords(const extents<D>& N, index_t M, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> u(-0.5, 0.5);
  std::vector<double> k(static_cast<std::size_t>(M * index_t(D)));
  for (index_t m = 0; m < M; ++m)
    for (std::size_t d = 0; d < D; ++d) {
      double v = u(g) * static_cast<double>(N[d]);
      if (m % 17 == 3) v *= 2.5;                                   // outside the nominal range
      if (m == 1) v = -static_cast<double>(N[d]) / 2;              // edge
      if (m == 2) v = static_cast<double>(N[d]) / 2 - 1e-12;       // just below the other edge
      k[static_cast<std::size_t>(m * index_t(D) + index_t(d))] = v;
    }
  return k;
}

template <class Real, std::size_t D>
void check_against_direct(const extents<D>& N, index_t M, double eps, double factor = 10, double sigma = 2.0) {
  using C = std::complex<Real>;
  const index_t n = prod(N), batch = 2;
  const auto k = random_coords(N, M, 7u + static_cast<unsigned>(M));
  nufft_plan<Real, D> plan(N, eps, sigma);
  plan.set_points(k.data(), M);
  const auto x = random_complex(n * batch, 11);
  const auto y = random_complex(M * batch, 13);
  std::vector<C> xc(x.begin(), x.end()), yc(y.begin(), y.end());
  std::vector<C> yo(static_cast<std::size_t>(M * batch)), xo(static_cast<std::size_t>(n * batch));
  plan.forward(xc.data(), yo.data(), batch);
  plan.adjoint(yc.data(), xo.data(), batch);
  for (index_t b = 0; b < batch; ++b) {
    const std::vector<cdouble> xb(x.begin() + b * n, x.begin() + (b + 1) * n);
    const std::vector<cdouble> yb(y.begin() + b * M, y.begin() + (b + 1) * M);
    const std::vector<C> yob(yo.begin() + b * M, yo.begin() + (b + 1) * M);
    const std::vector<C> xob(xo.begin() + b * n, xo.begin() + (b + 1) * n);
    const double e2 = rel_err(yob, direct_forward(N, xb, k, M));
    const double e1 = rel_err(xob, direct_adjoint(N, yb, k, M));
    if (std::getenv("NUFFT_VERBOSE"))
      std::printf("D=%zu sigma=%g eps=%g w=%d e2=%.2e e1=%.2e\n", D, sigma, eps, plan.kernel_width(), e2, e1);
    EXPECT_LT(e2, factor * eps) << "type 2, D=" << D << " eps=" << eps << " width " << plan.kernel_width();
    EXPECT_LT(e1, factor * eps) << "type 1, D=" << D << " eps=" << eps << " width " << plan.kernel_width();
  }
}

}  // namespace

TEST(Nufft, DoubleMatchesDirectDftAtEachTolerance) {
  for (double eps : {1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9}) {
    check_against_direct<double, 1>({37}, 60, eps);
    check_against_direct<double, 2>({16, 21}, 150, eps);
    check_against_direct<double, 3>({8, 10, 7}, 90, eps);
  }
}

TEST(Nufft, FloatMatchesDirectDftAtEachTolerance) {
  for (double eps : {1e-2, 1e-3, 1e-4, 1e-5, 1e-6}) {
    check_against_direct<float, 1>({40}, 60, eps);
    check_against_direct<float, 2>({20, 16}, 150, eps);
    check_against_direct<float, 3>({8, 6, 10}, 90, eps);
  }
}

TEST(Nufft, Upsampling125MatchesDirectDft) {
  for (double eps : {1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9}) {
    check_against_direct<double, 1>({37}, 60, eps, 10, 1.25);
    check_against_direct<double, 2>({16, 21}, 150, eps, 10, 1.25);
    check_against_direct<double, 3>({8, 10, 7}, 90, eps, 10, 1.25);
  }
  for (double eps : {1e-3, 1e-6}) check_against_direct<float, 2>({20, 16}, 150, eps, 10, 1.25);
  check_against_direct<double, 2>({96, 80}, 200, 1e-6, 10, 1.25);
  const nufft_plan<float, 2> p({64, 64}, 1e-6, 1.25);  // FINUFFT's rule: w = 10, beta = 0.97 pi 0.6 w
  EXPECT_EQ(p.grid_shape()[0], 80);
  EXPECT_EQ(p.kernel_width(), 10);
  EXPECT_NEAR(p.kernel_beta(), 18.28, 0.01);
  EXPECT_THROW((nufft_plan<float, 2>({8, 8}, 1e-6, 1.5)), InvalidArgument);
}

TEST(Nufft, LargerGridManyBinsMatchesDirect) {
  // Enough cells for several bins per axis (interior bins spread straight into the grid).
  check_against_direct<double, 2>({96, 80}, 200, 1e-6);
  check_against_direct<float, 2>({96, 80}, 200, 1e-4);
  check_against_direct<double, 3>({20, 18, 24}, 60, 1e-5);
  check_against_direct<double, 1>({1100}, 200, 1e-7);
}

TEST(Nufft, Adjointness) {
  const extents<2> N{24, 30};
  const index_t M = 500, n = prod(N);
  const auto k = random_coords(N, M, 3);
  nufft_plan<float, 2> plan(N, 1e-5);
  plan.set_points(k.data(), M);
  const auto xd = random_complex(n, 1), yd = random_complex(M, 2);
  std::vector<cfloat> x(xd.begin(), xd.end()), y(yd.begin(), yd.end()), Ax(static_cast<std::size_t>(M)),
      AHy(static_cast<std::size_t>(n));
  plan.forward(x.data(), Ax.data(), 1);
  plan.adjoint(y.data(), AHy.data(), 1);
  cdouble a = 0, b = 0;
  for (index_t i = 0; i < M; ++i) a += std::conj(cdouble(Ax[static_cast<std::size_t>(i)])) * cdouble(y[static_cast<std::size_t>(i)]);
  for (index_t i = 0; i < n; ++i) b += std::conj(cdouble(x[static_cast<std::size_t>(i)])) * cdouble(AHy[static_cast<std::size_t>(i)]);
  EXPECT_LT(std::abs(a - b) / std::abs(a), 1e-5);
}

TEST(Nufft, IntegerCoordinatesEqualFftc) {
  for (const extents<2>& N : {extents<2>{16, 12}, extents<2>{15, 9}}) {
    const index_t n = prod(N);
    std::vector<double> k;
    for (index_t a = 0; a < N[0]; ++a)
      for (index_t b = 0; b < N[1]; ++b) {
        k.push_back(static_cast<double>(a - N[0] / 2));
        k.push_back(static_cast<double>(b - N[1] / 2));
      }
    nufft_plan<double, 2> plan(N, 1e-9);
    plan.set_points(k.data(), n);
    const auto x = random_complex(n, 5);
    std::vector<cdouble> y(static_cast<std::size_t>(n)), xb(static_cast<std::size_t>(n));
    plan.forward(x.data(), y.data(), 1);
    array<cdouble, 2> xa(N);
    std::copy(x.begin(), x.end(), xa.data());
    const auto ref = fftc(xa);
    std::vector<cdouble> r(ref.begin(), ref.end());
    EXPECT_LT(rel_err(y, r), 1e-8);
    // adjoint on the full grid is ifftc
    plan.adjoint(r.data(), xb.data(), 1);
    EXPECT_LT(rel_err(xb, x), 1e-8);
  }
}

TEST(Nufft, ThreadCountIndependent) {
  const extents<2> N{64, 64};
  const index_t M = 3000, n = prod(N), batch = 3;
  const auto k = random_coords(N, M, 9);
  nufft_plan<float, 2> plan(N, 1e-6);
  plan.set_points(k.data(), M);
  const auto xd = random_complex(n * batch, 1), yd = random_complex(M * batch, 2);
  std::vector<cfloat> x(xd.begin(), xd.end()), y(yd.begin(), yd.end());
  std::vector<cfloat> y1(static_cast<std::size_t>(M * batch)), y2(y1.size()), x1(x.size()), x2(x.size());
  const int saved = num_threads();
  set_num_threads(1);
  plan.forward(x.data(), y1.data(), batch);
  plan.adjoint(y.data(), x1.data(), batch);
  set_num_threads(2);
  plan.forward(x.data(), y2.data(), batch);
  plan.adjoint(y.data(), x2.data(), batch);
  set_num_threads(saved);
  const std::vector<cdouble> y1d(y1.begin(), y1.end()), x1d(x1.begin(), x1.end());
  EXPECT_LT(rel_err(y2, y1d), 1e-6);
  EXPECT_LT(rel_err(x2, x1d), 1e-6);
}

TEST(Nufft, RejectsBadArguments) {
  EXPECT_THROW((nufft_plan<float, 2>({16, 16}, 0.0)), InvalidArgument);
  EXPECT_THROW((nufft_plan<float, 2>({16, 16}, 1.5)), InvalidArgument);
  EXPECT_THROW((nufft_plan<float, 2>({0, 16}, 1e-3)), InvalidArgument);
  nufft_plan<float, 2> plan({16, 16}, 1e-3);
  const double bad[2] = {0.0, std::nan("")};
  EXPECT_THROW(plan.set_points(bad, 1), DataError);
}

namespace {

// Runs body once per Highway target compiled in and supported by this CPU, with dispatch forced to it.
template <class Body>
void for_each_target(Body&& body) {
  const auto targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  for (const int64_t t : targets) {
    hwy::SetSupportedTargetsForTest(t);
    SCOPED_TRACE(hwy::TargetName(t));
    ASSERT_STREQ(kernels::nufft_active_target(), hwy::TargetName(t)) << "dispatch did not switch target";
    body();
  }
  hwy::SetSupportedTargetsForTest(0);
}

double max_rel(const std::vector<cfloat>& a, const std::vector<cfloat>& ref) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    num = std::max(num, double(std::abs(a[i] - ref[i]))), den = std::max(den, double(std::abs(ref[i])));
  return num / den;
}

}  // namespace

// Every target against the scalar references: kernel values at every width 2..16 (the real ES polynomial),
// and spread / interpolate of overlapping windows of random points in 2D and 3D (rows of 2w floats cover
// every whole-vector + 8/4/2-lane split), with the cells just outside the windows checked untouched.
TEST(NufftKernels, EveryTargetMatchesScalarReference) {
  std::mt19937 g(5);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::string names;
  for (const int64_t t : hwy::SupportedAndGeneratedTargets()) names += std::string(hwy::TargetName(t)) + " ";
  std::printf("targets: %s\n", names.c_str());
  for_each_target([&] {
    for (int w = 2; w <= 16; ++w) {
      SCOPED_TRACE(w);
      const int S = (w + 7) / 8 * 8;
      const es_kernel_poly poly(es_kernel_params{w, 2.30 * w}, S);
      const std::vector<float> coef(poly.coef.begin(), poly.coef.end());
      const index_t np = 37;
      std::vector<float> z(static_cast<std::size_t>(3 * np));
      for (auto& e : z) e = u(g);
      std::vector<float> k(z.size() * static_cast<std::size_t>(S)), kr(k.size());
      kernels::es_kernel_values(coef.data(), poly.degree, S, z.data(), 3 * np, k.data());
      kernels::scalar::es_kernel_values(coef.data(), poly.degree, S, z.data(), 3 * np, kr.data());
      double ek = 0, mk = 0;
      for (std::size_t i = 0; i < k.size(); ++i)
        ek = std::max(ek, double(std::abs(k[i] - kr[i]))), mk = std::max(mk, double(std::abs(kr[i])));
      EXPECT_LT(ek, 1e-6 * mk);
      EXPECT_GT(mk, 0.5);
      // A box of w + 8 cells per axis; points at offsets 0..6 per axis (windows overlap): the last two cells
      // of each axis lie outside every window and must stay exactly zero (a load or store past a window's 2w
      // floats would add some other cell's value there).
      const index_t e = w + 8;
      for (int D = 2; D <= 3; ++D) {
        SCOPED_TRACE(D);
        const index_t st1 = e, st0 = D == 3 ? e * e : e, cells = D == 3 ? e * e * e : e * e;
        std::vector<std::ptrdiff_t> off(static_cast<std::size_t>(np));
        std::uniform_int_distribution<int> o(0, 6);
        for (auto& v : off) v = D == 3 ? o(g) * st0 + o(g) * st1 + o(g) : o(g) * st0 + o(g);
        std::vector<cfloat> v(static_cast<std::size_t>(np));
        for (auto& x : v) x = cfloat(u(g), u(g));
        // kernel values (np, D, S) from the first D * np z values
        std::vector<float> kd(kr.begin(), kr.begin() + static_cast<std::ptrdiff_t>(D * np * S));
        std::vector<cfloat> grid(static_cast<std::size_t>(cells)), gref = grid;
        std::vector<cfloat> src(static_cast<std::size_t>(cells));
        for (auto& x : src) x = cfloat(u(g), u(g));
        std::vector<cfloat> out(static_cast<std::size_t>(np)), oref(out.size());
        if (D == 2) {
          kernels::es_spread_2d(grid.data(), st0, off.data(), kd.data(), w, S, v.data(), np);
          kernels::scalar::es_spread_2d(gref.data(), st0, off.data(), kd.data(), w, S, v.data(), np);
          kernels::es_interp_2d(src.data(), st0, off.data(), kd.data(), w, S, out.data(), np);
          kernels::scalar::es_interp_2d(src.data(), st0, off.data(), kd.data(), w, S, oref.data(), np);
        } else {
          kernels::es_spread_3d(grid.data(), st0, st1, off.data(), kd.data(), w, S, v.data(), np);
          kernels::scalar::es_spread_3d(gref.data(), st0, st1, off.data(), kd.data(), w, S, v.data(), np);
          kernels::es_interp_3d(src.data(), st0, st1, off.data(), kd.data(), w, S, out.data(), np);
          kernels::scalar::es_interp_3d(src.data(), st0, st1, off.data(), kd.data(), w, S, oref.data(), np);
        }
        EXPECT_LT(max_rel(grid, gref), 2e-6);
        EXPECT_LT(max_rel(out, oref), 2e-6);
        index_t untouched = 0;
        for (index_t i = 0; i < cells; ++i)
          if (gref[static_cast<std::size_t>(i)] == cfloat(0)) {
            ++untouched;
            EXPECT_EQ(grid[static_cast<std::size_t>(i)], cfloat(0)) << "cell " << i << " outside every window";
          }
        EXPECT_GT(untouched, 0);
      }
    }
  });
}

// The float plan (2D and 3D go through the dispatched kernels) on every target against the direct DFT.
TEST(NufftKernels, FloatPlanOnEveryTargetMatchesDirectDft) {
  for_each_target([] {
    for (double eps : {1e-3, 1e-6}) {
      check_against_direct<float, 2>({20, 16}, 150, eps);
      check_against_direct<float, 3>({8, 6, 10}, 90, eps);
    }
    check_against_direct<float, 2>({96, 80}, 200, 1e-6);  // interior bins straight into the grid
    check_against_direct<float, 2>({20, 16}, 150, 1e-6, 10, 1.25);  // w = 10: 20-float rows
  });
}
