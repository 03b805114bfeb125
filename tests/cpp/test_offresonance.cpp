// Off-resonance-corrected non-Cartesian SENSE (nufft/time_segmentation.hpp, nufft/noncartesian_sense.hpp)
// against the exact, non-approximated encoding written here as a direct sum in double:
//   y_c(m) = N^-1/2 sum_r S_c(r) x(r) exp(i 2 pi f(r) t_m) exp(-2 pi i k_m.r / N),   r = j - N//2
// The time-segmentation interpolator is checked on the map's own pixel frequencies (not only its histogram),
// the operator's apply, adjoint and normal (Toeplitz and not) within the stated error, and CG-SENSE on a
// spiral with a known field removes the off-resonance blur.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <limits>
#include <random>
#include <vector>

#include "larmor/nufft/noncartesian_sense.hpp"
#include "larmor/nufft/time_segmentation.hpp"
#include "larmor/nufft/trajectory.hpp"

using namespace larmor;

namespace {

constexpr double pi = 3.14159265358979323846;

struct problem {
  std::vector<index_t> N;        // image axes
  index_t coils = 3, M = 0;
  std::vector<cfloat> maps;      // (coils, n)
  std::vector<float> hz;         // (n)
  std::vector<double> k, t;      // (M, D), (M)
  index_t n() const {
    index_t s = 1;
    for (auto v : N) s *= v;
    return s;
  }
};

// A smooth field (a gradient plus a bump, range about [-range/2, range/2] Hz), smooth complex coil maps,
// a variable-density spiral-like set of points with readout times t = t0 + readout * (sample / samples).
problem make_problem(std::vector<index_t> N, index_t interleaves, index_t samples, double range, double readout,
                     unsigned seed) {
  problem p;
  p.N = N;
  const std::size_t D = N.size();
  const index_t n = p.n();
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  p.hz.resize(static_cast<std::size_t>(n));
  p.maps.resize(static_cast<std::size_t>(p.coils * n));
  for (index_t j = 0; j < n; ++j) {
    double pos[3] = {0, 0, 0}, r2 = 0;
    index_t rem = j;
    for (std::size_t d = D; d-- > 0;) {
      pos[d] = (static_cast<double>(rem % N[d]) - static_cast<double>(N[d]) / 2) / static_cast<double>(N[d]);
      rem /= N[d];
      r2 += pos[d] * pos[d];
    }
    p.hz[static_cast<std::size_t>(j)] =
        static_cast<float>(range * (0.6 * pos[D - 1] + 0.4 * std::exp(-r2 / 0.02) - 0.1));
    for (index_t c = 0; c < p.coils; ++c) {
      const double a = 2 * pi * static_cast<double>(c) / static_cast<double>(p.coils);
      const double w = std::exp(-((pos[D - 1] - 0.4 * std::cos(a)) * (pos[D - 1] - 0.4 * std::cos(a)) +
                                  (pos[0] - 0.4 * std::sin(a)) * (pos[0] - 0.4 * std::sin(a))));
      p.maps[static_cast<std::size_t>(c * n + j)] = cfloat(std::polar(w, a + 2.0 * pos[0]));
    }
  }
  p.M = interleaves * samples;
  p.k.resize(static_cast<std::size_t>(p.M * index_t(D)));
  p.t.resize(static_cast<std::size_t>(p.M));
  const double kmax = static_cast<double>(N[D - 1]) / 2;
  for (index_t i = 0; i < interleaves; ++i)
    for (index_t s = 0; s < samples; ++s) {
      const index_t m = i * samples + s;
      const double f = static_cast<double>(s) / static_cast<double>(samples);
      const double rad = kmax * std::pow(f, 1.3), ang = 2 * pi * (4 * f + static_cast<double>(i) / interleaves);
      p.k[static_cast<std::size_t>(m * index_t(D) + index_t(D) - 1)] = rad * std::cos(ang);
      p.k[static_cast<std::size_t>(m * index_t(D) + index_t(D) - 2)] = rad * std::sin(ang);
      if (D == 3) p.k[static_cast<std::size_t>(m * 3)] = (u(g) * 0.5) * static_cast<double>(N[0]);
      p.t[static_cast<std::size_t>(m)] = 1e-3 + readout * f;
    }
  return p;
}

// exp(-2 pi i k_m.r / N) exp(i 2 pi f(r) t_m) for pixel j and point m
cdouble encoding(const problem& p, index_t m, index_t j) {
  const std::size_t D = p.N.size();
  index_t rem = j;
  double ph = 0;
  for (std::size_t d = D; d-- > 0;) {
    const index_t jd = rem % p.N[d];
    rem /= p.N[d];
    ph += p.k[static_cast<std::size_t>(m * index_t(D) + index_t(d))] * static_cast<double>(jd - p.N[d] / 2) /
          static_cast<double>(p.N[d]);
  }
  return std::polar(1.0, -2 * pi * ph + 2 * pi * static_cast<double>(p.hz[static_cast<std::size_t>(j)]) *
                                           p.t[static_cast<std::size_t>(m)]);
}

std::vector<cdouble> exact_apply(const problem& p, const std::vector<cfloat>& x) {
  const index_t n = p.n();
  std::vector<cdouble> y(static_cast<std::size_t>(p.coils * p.M), 0);
  for (index_t m = 0; m < p.M; ++m)
    for (index_t j = 0; j < n; ++j) {
      const cdouble e = encoding(p, m, j) * cdouble(x[static_cast<std::size_t>(j)]);
      for (index_t c = 0; c < p.coils; ++c)
        y[static_cast<std::size_t>(c * p.M + m)] += cdouble(p.maps[static_cast<std::size_t>(c * n + j)]) * e;
    }
  for (auto& v : y) v /= std::sqrt(static_cast<double>(n));
  return y;
}

std::vector<cdouble> exact_adjoint(const problem& p, const std::vector<cdouble>& y) {
  const index_t n = p.n();
  std::vector<cdouble> x(static_cast<std::size_t>(n), 0);
  for (index_t j = 0; j < n; ++j) {
    cdouble s = 0;
    for (index_t m = 0; m < p.M; ++m) {
      const cdouble e = std::conj(encoding(p, m, j));
      for (index_t c = 0; c < p.coils; ++c)
        s += std::conj(cdouble(p.maps[static_cast<std::size_t>(c * n + j)])) * e * y[static_cast<std::size_t>(c * p.M + m)];
    }
    x[static_cast<std::size_t>(j)] = s / std::sqrt(static_cast<double>(n));
  }
  return x;
}

double rel_err(const cfloat* a, const std::vector<cdouble>& ref) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) num += std::norm(cdouble(a[i]) - ref[i]), den += std::norm(ref[i]);
  return std::sqrt(num / den);
}

std::vector<cfloat> random_image(index_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> r;
  std::vector<cfloat> x(static_cast<std::size_t>(n));
  for (auto& v : x) v = cfloat(r(g), r(g));
  return x;
}

template <std::size_t D>
noncartesian_sense_operator<D> make_operator(const problem& p, bool toeplitz, int segments, double tolerance = 1e-3) {
  extents<D + 1> ms{};
  ms[0] = p.coils;
  for (std::size_t d = 0; d < D; ++d) ms[d + 1] = p.N[d];
  field_map_correction fm;
  fm.fieldmap_hz = p.hz.data();
  fm.sample_times = p.t.data();
  fm.segmentation.segments = segments;
  fm.segmentation.tolerance = tolerance;
  return noncartesian_sense_operator<D>(strided_view<const cfloat, D + 1>(p.maps.data(), ms), p.k.data(), p.M, 1e-7,
                                        toeplitz, fm);
}

}  // namespace

// The interpolator on every pixel's own frequency and every sample time: its error is within the stated
// maximum (which is measured on histogram bin centres) and shrinks as segments are added.
TEST(TimeSegmentation, ApproximatesThePhasorWithinItsStatedError) {
  const problem p = make_problem({32, 32}, 8, 200, 400.0, 10e-3, 1);
  double last = 1e9;
  for (int L : {2, 4, 6, 8, 10}) {
    time_segmentation_options o;
    o.segments = L;
    const auto ts = make_time_segmentation(p.hz.data(), p.n(), p.t.data(), p.M, o);
    ASSERT_EQ(ts.segments(), L);
    ASSERT_EQ(ts.distinct_times(), 200);  // the interleaves share their sample times
    double worst = 0, sum = 0;
    for (index_t j = 0; j < p.n(); j += 3)
      for (index_t m = 0; m < p.M; m += 7) {
        const double f = p.hz[static_cast<std::size_t>(j)];
        cdouble approx = 0;
        for (index_t l = 0; l < L; ++l)
          approx += cdouble(ts.coefficient(l, m)) * std::polar(1.0, 2 * pi * f * ts.segment_times[static_cast<std::size_t>(l)]);
        const double e = std::abs(approx - std::polar(1.0, 2 * pi * f * p.t[static_cast<std::size_t>(m)]));
        worst = std::max(worst, e), sum += e * e;
      }
    // bin centres vs the pixel's own frequency: within a bin the error moves by at most its slope x half a bin
    EXPECT_LE(worst, ts.max_error * 1.5 + 2e-3) << "L = " << L;
    EXPECT_LT(ts.rms_error, last) << "L = " << L;
    last = ts.rms_error;
  }
  EXPECT_LT(last, 1e-3);  // 400 Hz over a 10 ms readout: 10 segments are enough for 1e-3
  time_segmentation_options automatic;  // segments = 0: the smallest L that meets the tolerance
  const auto ts = make_time_segmentation(p.hz.data(), p.n(), p.t.data(), p.M, automatic);
  EXPECT_LE(ts.rms_error, 1e-3);
  time_segmentation_options fewer;
  fewer.segments = static_cast<int>(ts.segments()) - 1;
  EXPECT_GT(make_time_segmentation(p.hz.data(), p.n(), p.t.data(), p.M, fewer).rms_error, 1e-3);
}

TEST(TimeSegmentation, ConstantFieldIsExactWithOneSegment) {
  std::vector<float> hz(64, 37.5f);
  std::vector<double> t{1e-3, 2e-3, 5e-3, 2e-3};
  const auto ts = make_time_segmentation(hz.data(), 64, t.data(), 4);
  ASSERT_EQ(ts.segments(), 1);
  EXPECT_LT(ts.max_error, 1e-9);
  for (index_t m = 0; m < 4; ++m)
    EXPECT_LT(std::abs(cdouble(ts.coefficient(0, m)) * std::polar(1.0, 2 * pi * 37.5 * ts.segment_times[0]) -
                       std::polar(1.0, 2 * pi * 37.5 * t[static_cast<std::size_t>(m)])),
              1e-6);
}

TEST(TimeSegmentation, RefusesBadInput) {
  std::vector<float> hz(4, 0.f);
  std::vector<double> t(4, 0.0);
  hz[2] = std::nanf("");
  EXPECT_THROW(make_time_segmentation(hz.data(), 4, t.data(), 4), InvalidArgument);
  hz[2] = 0;
  t[1] = 2.5;  // seconds: a 2.5 s readout is a unit mistake
  EXPECT_THROW(make_time_segmentation(hz.data(), 4, t.data(), 4), InvalidArgument);
  t[1] = std::numeric_limits<double>::infinity();
  EXPECT_THROW(make_time_segmentation(hz.data(), 4, t.data(), 4), InvalidArgument);
  t[1] = 0;
  time_segmentation_options o;
  o.segments = -1;
  EXPECT_THROW(make_time_segmentation(hz.data(), 4, t.data(), 4, o), InvalidArgument);
}

// apply and adjoint against the exact sums: the error is the segmentation's (stated) plus the NUFFT's.
TEST(OffResonanceSense, MatchesTheExactEncoding2D) {
  const problem p = make_problem({20, 24}, 6, 90, 300.0, 12e-3, 2);
  const auto x = random_image(p.n(), 3);
  const auto ref = exact_apply(p, x);
  std::vector<cfloat> y(ref.size()), xa(static_cast<std::size_t>(p.n()));
  std::vector<cdouble> yr(ref.size());
  std::mt19937 g(4);
  std::normal_distribution<double> r;
  for (auto& v : yr) v = cdouble(r(g), r(g));
  std::vector<cfloat> yf(yr.begin(), yr.end());
  const auto xref = exact_adjoint(p, yr);
  double last = 1e9;
  for (int L : {3, 6, 12}) {
    auto op = make_operator<2>(p, true, L);
    ASSERT_TRUE(op.corrected());
    op.apply(x.data(), y.data());
    const double e = rel_err(y.data(), ref);
    EXPECT_LE(e, 2 * op.segmentation().rms_error + 1e-5) << "L = " << L;
    EXPECT_LT(e, last);
    last = e;
    op.adjoint(yf.data(), xa.data());
    EXPECT_LE(rel_err(xa.data(), xref), 2 * op.segmentation().rms_error + 1e-5) << "L = " << L;
  }
  EXPECT_LT(last, 1e-4);
  // without the field map the same data are far off: the test can tell corrected from plain
  extents<3> ms{p.coils, 20, 24};
  noncartesian_sense_operator<2> plain(strided_view<const cfloat, 3>(p.maps.data(), ms), p.k.data(), p.M, 1e-7);
  plain.apply(x.data(), y.data());
  EXPECT_GT(rel_err(y.data(), ref), 0.3);
}

// The Toeplitz normal (segment-pair kernels) and adjoint(apply) against the exact A^H A x, 2D and 3D.
TEST(OffResonanceSense, NormalMatchesTheExactNormal) {
  {
    const problem p = make_problem({16, 18}, 5, 80, 250.0, 10e-3, 5);
    const auto x = random_image(p.n(), 6);
    const auto ref = exact_adjoint(p, exact_apply(p, x));
    std::vector<cfloat> out(static_cast<std::size_t>(p.n()));
    for (bool toeplitz : {true, false}) {
      auto op = make_operator<2>(p, toeplitz, 0, 1e-5);
      EXPECT_EQ(op.uses_toeplitz(), toeplitz);
      op.normal(x.data(), out.data());
      EXPECT_LE(rel_err(out.data(), ref), 4 * op.segmentation().rms_error + 2e-5) << "toeplitz " << toeplitz;
    }
  }
  {
    const problem p = make_problem({6, 8, 10}, 4, 60, 200.0, 8e-3, 7);
    const auto x = random_image(p.n(), 8);
    const auto ref = exact_adjoint(p, exact_apply(p, x));
    std::vector<cfloat> out(static_cast<std::size_t>(p.n()));
    auto op = make_operator<3>(p, true, 0, 1e-5);
    op.normal(x.data(), out.data());
    EXPECT_LE(rel_err(out.data(), ref), 4 * op.segmentation().rms_error + 2e-5);
    std::vector<cfloat> y(static_cast<std::size_t>(p.coils * p.M));
    op.apply(x.data(), y.data());
    EXPECT_LE(rel_err(y.data(), exact_apply(p, x)), 2 * op.segmentation().rms_error + 2e-5);
  }
}

// CG-SENSE of spiral data simulated with the exact off-resonance model: with the field map the image is
// recovered; without it the off-resonance blur stays.
TEST(OffResonanceSense, CgSenseRemovesTheBlur) {
  const problem p = make_problem({24, 24}, 40, 160, 240.0, 16e-3, 9);
  // a smooth-edged object (its spectrum is negligible beyond the spiral's k_max) with two intensities
  std::vector<cfloat> truth(static_cast<std::size_t>(p.n()), cfloat(0));
  for (index_t j = 0; j < p.n(); ++j) {
    const double y = static_cast<double>(j / 24) - 12, x = static_cast<double>(j % 24) - 12;
    const double r = std::sqrt(x * x / 64 + y * y / 81);
    truth[static_cast<std::size_t>(j)] = cfloat(static_cast<float>((0.6 + 0.4 / (1 + std::exp(2 - x))) / (1 + std::exp((r - 1) * 8))), 0);
  }
  const auto yd = exact_apply(p, truth);
  std::vector<cfloat> y(yd.begin(), yd.end());
  std::vector<cdouble> truth_d(truth.begin(), truth.end());
  extents<3> ms{p.coils, 24, 24};
  strided_view<const cfloat, 3> mv(p.maps.data(), ms);
  cgsense_noncartesian_options o;
  o.iters = 200;  // no density compensation: CG converges slowly, the plain image's error grows meanwhile
  o.tol = 1e-9;
  const auto plain = cgsense_noncartesian<2>(y.data(), mv, p.k.data(), p.M, o);
  o.offresonance.fieldmap_hz = p.hz.data();
  o.offresonance.sample_times = p.t.data();
  const auto fixed = cgsense_noncartesian<2>(y.data(), mv, p.k.data(), p.M, o);
  const double e_plain = rel_err(plain.image.data(), truth_d), e_fixed = rel_err(fixed.image.data(), truth_d);
  EXPECT_GT(e_plain, 0.5);
  EXPECT_LT(e_fixed, 0.02);
  EXPECT_GE(fixed.segmentation.segments(), 2);
  EXPECT_LE(fixed.segmentation.rms_error, 1e-3);
}
