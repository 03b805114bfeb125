// Centered unitary FFT: against a direct DFT (the definition), round trip, Parseval, in place,
// strided input, float and double, odd sizes, plan reuse, and against `bart fft -u`.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "test_helpers.hpp"
#include "larmor/fft/fft.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/io/cfl.hpp"

namespace larmor {
namespace {

// Direct centered unitary DFT along one axis, in double precision, from the definition
//   X[k] = N^-1/2 sum_n x[n] exp(-+2 pi i (k - c)(n - c) / N),  c = floor(N/2),
// which is fftshift(fft(ifftshift(x)))/sqrt(N) for any N (numpy's shift semantics).
template <std::size_t R>
array<cdouble, R> naive_dft(const array<cdouble, R>& x, int axis, bool inverse) {
  array<cdouble, R> out(x.shape());
  const index_t n = x.shape(axis), c = n / 2;
  const double pi = 3.14159265358979323846, sgn = inverse ? 1.0 : -1.0;
  for_each_index(x.shape(), [&](const extents<R>& k) {
    extents<R> j = k;
    cdouble s = 0;
    for (index_t m = 0; m < n; ++m) {
      j[axis] = m;
      const double ph = sgn * 2 * pi * static_cast<double>((k[axis] - c) * (m - c) % n) / static_cast<double>(n);
      s += x.view()[j] * cdouble(std::cos(ph), std::sin(ph));
    }
    out.view()[k] = s / std::sqrt(static_cast<double>(n));
  });
  return out;
}

template <std::size_t R>
array<cdouble, R> naive_dft_axes(array<cdouble, R> x, const axis_list& axes, bool inverse) {
  for (int a : axes) x = naive_dft(x, normalize_axis("test", a, R), inverse);
  return x;
}

template <class T, std::size_t R>
array<cdouble, R> to_double(const array<T, R>& a) {
  array<cdouble, R> d(a.shape());
  for (index_t i = 0; i < a.size(); ++i) d[i] = cdouble(a[i]);
  return d;
}

template <class Real>
double tolerance() {
  return std::is_same_v<Real, float> ? 2e-6 : 1e-13;
}

template <class Real>
class FftTyped : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(FftTyped, Precisions);

struct case3 {
  extents<3> shape;
  axis_list axes;
};

TYPED_TEST(FftTyped, MatchesDirectDftEvenAndOddSizesManyAxisSets) {
  using C = std::complex<TypeParam>;
  const std::vector<case3> cases = {
      {{3, 8, 8}, {-2, -1}},  {{2, 7, 9}, {-2, -1}}, {{4, 6, 5}, {-1}},     {{5, 6, 4}, {1}},
      {{6, 5, 7}, {0, 1, 2}}, {{4, 4, 10}, {0, 2}},  {{3, 12, 1}, {1, 2}}, {{2, 1, 16}, {-1}},
  };
  for (const auto& c : cases) {
    const auto x = test::random_array<C, 3>(c.shape, 7);
    const auto ref_f = naive_dft_axes(to_double(x), c.axes, false);
    const auto ref_i = naive_dft_axes(to_double(x), c.axes, true);
    const auto got_f = fftc(x.cview(), c.axes);
    const auto got_i = ifftc(x.cview(), c.axes);
    EXPECT_LT(test::relative_error(to_double(got_f), ref_f), tolerance<TypeParam>())
        << "fftc shape " << shape_string(c.shape);
    EXPECT_LT(test::relative_error(to_double(got_i), ref_i), tolerance<TypeParam>())
        << "ifftc shape " << shape_string(c.shape);
  }
}

TYPED_TEST(FftTyped, OneAndFourDimensional) {
  using C = std::complex<TypeParam>;
  for (index_t n : {1, 2, 9, 16, 33}) {
    const auto x = test::random_array<C, 1>(extents<1>{n}, 3);
    EXPECT_LT(test::relative_error(to_double(fftc(x.cview(), {0})), naive_dft_axes(to_double(x), {0}, false)),
              tolerance<TypeParam>())
        << n;
  }
  const auto x4 = test::random_array<C, 4>(extents<4>{2, 5, 6, 4}, 4);  // (coils, z, y, x)
  EXPECT_LT(test::relative_error(to_double(fftc(x4.cview(), {1, 2, 3})),
                                 naive_dft_axes(to_double(x4), {1, 2, 3}, false)),
            tolerance<TypeParam>());
}

TYPED_TEST(FftTyped, RoundTripParsevalAndInPlace) {
  using C = std::complex<TypeParam>;
  for (const extents<3>& sh : {extents<3>{4, 32, 32}, extents<3>{3, 15, 17}}) {
    const auto x = test::random_array<C, 3>(sh, 11);
    const auto k = fftc(x.cview());
    EXPECT_LT(test::relative_error(ifftc(k.cview()), x), tolerance<TypeParam>());
    double ex = 0, ek = 0;
    for (index_t i = 0; i < x.size(); ++i) ex += std::norm(x[i]), ek += std::norm(k[i]);
    EXPECT_NEAR(ek / ex, 1.0, 10 * tolerance<TypeParam>());
    auto y = x;
    fftc_inplace(y);
    EXPECT_EQ(test::relative_error(y, k), 0.0);
    ifftc_inplace(y);
    EXPECT_LT(test::relative_error(y, x), tolerance<TypeParam>());
  }
}

TYPED_TEST(FftTyped, StridedInputAndInPlaceOnStridedView) {
  using C = std::complex<TypeParam>;
  // Every other coil and a reversed x axis of a bigger array.
  auto big = test::random_array<C, 3>(extents<3>{6, 8, 10}, 5);
  strided_view<const C, 3> v(big.data() + 9, extents<3>{3, 8, 10}, extents<3>{160, 10, -1});
  const auto dense = to_array(v);
  EXPECT_LT(test::relative_error(fftc(v), fftc(dense.cview())), tolerance<TypeParam>());
  strided_view<C, 3> mv(big.data() + 9, extents<3>{3, 8, 10}, extents<3>{160, 10, -1});
  ifftc_inplace(mv, {1, 2});
  EXPECT_LT(test::relative_error(to_array(strided_view<const C, 3>(mv)), ifftc(dense.cview(), {1, 2})),
            tolerance<TypeParam>());
}

TEST(Fft, PlansAreCachedAndReused) {
  auto x = test::random_array<cfloat, 3>(extents<3>{2, 24, 20}, 1);
  const auto first = fftw_plan_cache<float>::instance().plans_made();
  (void)fftc(x.cview());
  const auto before = fftw_plan_cache<float>::instance().plans_made();
  EXPECT_EQ(before, first + 1);
  for (int i = 0; i < 5; ++i) {
    (void)fftc(x.cview());
    (void)ifftc(x.cview());
    fftc_inplace(x);
  }
  // One more plan (the inverse direction); every other call reuses a cached plan.
  EXPECT_EQ(fftw_plan_cache<float>::instance().plans_made(), before + 1);
}

// A long-running process (a server) sees ever new shapes: the cache holds at most max_cached_plans plans,
// dropping the least recently used; a plan a caller still holds stays valid after the cache dropped it,
// and a dropped shape is planned again (same numbers) when it comes back.
TEST(Fft, PlanCacheIsBoundedAndHeldPlansOutliveIt) {
  auto& cache = fftw_plan_cache<float>::instance();
  const auto x = test::random_array<cfloat, 2>(extents<2>{3, 7}, 2);
  auto held_data = x;
  const std::vector<index_t> held_shape{3, 7};
  const auto held = cache.plan(held_shape, 0b10, FFTW_FORWARD, held_data.data(), held_data.data(), 1);
  for (index_t n = 1; n <= static_cast<index_t>(max_cached_plans) + 40; ++n) {
    array<cfloat, 2> a(extents<2>{1, 1000 + n});
    cache.plan({1, 1000 + n}, 0b10, FFTW_FORWARD, a.data(), a.data(), 1)->execute(a.data(), a.data());
    if (n % 16 == 0) (void)fftc(x.cview(), {1});  // used now and then: recently used, kept
    EXPECT_LE(cache.plans_cached(), max_cached_plans);
  }
  // The held plan was dropped from the cache (never used since) but still works.
  held->execute(held_data.data(), held_data.data());
  const auto again = fftc(x.cview(), {1});
  double e = 0, n2 = 0;
  for (index_t c = 0; c < 3; ++c)
    for (index_t k = 0; k < 7; ++k) {
      // fftc = shifted unitary DFT; the raw forward plan is the unshifted, unscaled DFT: compare with a direct sum.
      std::complex<double> s = 0;
      for (index_t j = 0; j < 7; ++j)
        s += std::complex<double>(x(c, j)) * std::polar(1.0, -2 * 3.14159265358979323846 * static_cast<double>(j * k) / 7);
      e += std::norm(std::complex<double>(held_data(c, k)) - s), n2 += std::norm(s);
    }
  EXPECT_LT(std::sqrt(e / n2), 1e-6);
  EXPECT_LT(test::relative_error(again, fftc(x.cview(), {1})), 1e-7);
}

// A batch above the measuring limit runs as sub-batches of one plan: same numbers as one plan for all.
// (The real limit is 1 GiB; the test passes 8 volumes, so chunks of 2. Sizes: 9 coils of 2 x 16 x 12 x 3,
// an odd coil count so the last chunk is shorter, and a trailing untransformed axis.)
TEST(Fft, LargeBatchesRunInChunksWithTheSameResult) {
  const auto x = test::random_array<cfloat, 5>(extents<5>{9, 2, 16, 12, 3}, 9);
  const std::vector<index_t> shape(x.shape().begin(), x.shape().end());
  const unsigned mask = 0b01110;  // axes 1, 2, 3
  const std::size_t volume_bytes = 2 * 16 * 12 * 3 * sizeof(cfloat);
  auto whole = x, chunked = x;
  fftw_plan_cache<float>::instance().plan(shape, mask, FFTW_FORWARD, whole.data(), whole.data(), 1)
      ->execute(whole.data(), whole.data());
  const auto plans_before = fftw_plan_cache<float>::instance().plans_made();
  const fft_planner_effort effort = fft_planner_effort_setting();
  set_fft_planner_effort(fft_planner_effort::measure);
  detail::execute_dft_inplace<float>(shape, mask, FFTW_FORWARD, chunked.data(), 1, 8 * volume_bytes);
  set_fft_planner_effort(effort);
  EXPECT_EQ(fftw_plan_cache<float>::instance().plans_made(), plans_before + 2);  // chunks of 2 and the last of 1
  EXPECT_LT(test::relative_error(chunked, whole), 1e-6);
  EXPECT_GT(test::relative_error(chunked, x), 0.5);  // it did transform
}

// Even sizes batched over coils go plane-wise (DFT, then one pass swapping each element with its
// half-shifted partner, modulated and scaled, per cache-sized chunk of planes):
// against the direct DFT, in place and out of place, 1 and 2 threads, N/2 odd and even, 1D/2D/3D blocks.
TEST(Fft, PlanewiseEvenBatchesMatchDirectDft) {
  const auto x = test::random_array<cdouble, 4>(extents<4>{9, 4, 6, 10}, 21);
  array<cfloat, 4> xf(x.shape());
  for (index_t i = 0; i < x.size(); ++i) xf[i] = cfloat(x[i]);
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const axis_list& axes : {axis_list{3}, axis_list{2, 3}, axis_list{1, 2, 3}}) {
      for (bool inverse : {false, true}) {
        const auto ref = naive_dft_axes(x, axes, inverse);
        const auto out = inverse ? ifftc(xf.cview(), axes) : fftc(xf.cview(), axes);
        auto inplace = xf;
        inverse ? ifftc_inplace(inplace, axes) : fftc_inplace(inplace, axes);
        EXPECT_LT(test::relative_error(to_double(out), ref), 2e-6) << threads << " " << axes.size() << " " << inverse;
        EXPECT_LT(test::relative_error(to_double(inplace), ref), 2e-6) << threads << " " << axes.size();
        const auto outd = inverse ? ifftc(x.cview(), axes) : fftc(x.cview(), axes);
        EXPECT_LT(test::relative_error(outd, ref), 1e-13);
      }
    }
  }
  set_num_threads(0);
}

TEST(Fft, ThreadCountDoesNotChangeResult) {
  const auto x = test::random_array<cfloat, 3>(extents<3>{8, 64, 64}, 2);
  set_num_threads(1);
  const auto a = fftc(x.cview());
  set_num_threads(2);
  const auto b = fftc(x.cview());
  set_num_threads(0);
  EXPECT_LT(test::relative_error(a, b), 1e-6);
}

// Measured plans can be kept as FFTW wisdom and read back (what LARMOR_FFTW_WISDOM does per process).
TEST(Fft, WisdomRoundTrip) {
  set_fft_planner_effort(fft_planner_effort::measure);
  const auto x = test::random_array<cfloat, 3>(extents<3>{3, 30, 18}, 4);
  const auto y = fftc(x.cview());
  const std::string path = test::tmp_path("larmor_wisdom");
  std::remove((path + ".f").c_str());
  EXPECT_FALSE(fft_wisdom_import(path));  // nothing there yet
  fft_wisdom_export(path);
  std::ifstream f(path + ".f");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("fftwf_wisdom"), std::string::npos);
  EXPECT_TRUE(fft_wisdom_import(path));
  EXPECT_THROW(fft_wisdom_export("/nonexistent-dir/w"), DataError);
  EXPECT_LT(test::relative_error(fftc(x.cview()), y), 1e-6);
}

// A host that plans its own FFTW transforms on another thread while larmor plans (issue 19 item 5):
// larmor makes FFTW's planner thread-safe (fftw[f]_make_planner_thread_safe), so both sides get correct
// plans. The host thread calls FFTW directly, outside larmor's mutex; larmor plans new shapes meanwhile.
TEST(Fft, PlansMadeConcurrentlyWithAHostThreadAreCorrect) {
  const auto x0 = test::random_array<cfloat, 2>(extents<2>{1, 1}, 1);
  (void)fftc(x0.cview());  // larmor initialises FFTW (threads, thread-safe planner) before the host starts
  double host_worst = 0, larmor_worst = 0;
  std::thread host([&] {
    for (int n = 5; n < 45; ++n) {
      // x[m] = exp(2 pi i 3 m / n): its unnormalised forward DFT is n at bin 3, zero elsewhere.
      std::vector<fftwf_complex> in(static_cast<std::size_t>(n)), out(static_cast<std::size_t>(n));
      fftwf_plan p = fftwf_plan_dft_1d(n, in.data(), out.data(), FFTW_FORWARD, FFTW_ESTIMATE);
      for (int m = 0; m < n; ++m) {
        const double ph = 2 * 3.14159265358979323846 * 3 * m / n;
        in[static_cast<std::size_t>(m)][0] = static_cast<float>(std::cos(ph));
        in[static_cast<std::size_t>(m)][1] = static_cast<float>(std::sin(ph));
      }
      fftwf_execute(p);
      fftwf_destroy_plan(p);
      for (int k = 0; k < n; ++k) {
        const double re = out[static_cast<std::size_t>(k)][0] - (k == 3 ? n : 0), im = out[static_cast<std::size_t>(k)][1];
        host_worst = std::max(host_worst, std::hypot(re, im) / n);
      }
    }
  });
  std::thread lib([&] {
    for (index_t n = 5; n < 25; ++n) {  // a new shape, so a new larmor plan, every time
      const auto x = test::random_array<cfloat, 2>(extents<2>{n, n + 1}, static_cast<unsigned>(n));
      const auto ref = naive_dft_axes(to_double(x), {0, 1}, false);
      larmor_worst = std::max(larmor_worst, test::relative_error(to_double(fftc(x.cview())), ref));
    }
  });
  host.join();
  lib.join();
  EXPECT_LT(host_worst, 1e-5);
  EXPECT_LT(larmor_worst, 2e-6);
}

TEST(Fft, BadAxesAreRejected) {
  array<cfloat, 3> x(extents<3>{2, 4, 4});
  EXPECT_THROW(fftc(x.cview(), {3}), InvalidArgument);
  EXPECT_THROW(fftc(x.cview(), {1, -2}), InvalidArgument);
  EXPECT_NO_THROW(fftc(x.cview(), {}));
  array<cfloat, 3> empty(extents<3>{0, 4, 4});
  EXPECT_EQ(fftc(empty.cview()).size(), 0);
}

// bart fft -u: unitary centered FFT; its bitmask counts BART dims (x = bit 0), ours are reversed.
TEST(Fft, MatchesBartFftUnitary) {
  if (!test::have_bart()) GTEST_SKIP() << "bart not installed";
  const auto x = test::random_array<cfloat, 3>(extents<3>{4, 48, 64}, 9);  // (coils, y, x) = BART [x y coils]
  write_cfl(test::tmp_path("fft_in"), x.cview());
  ASSERT_EQ(test::run_bart("fft -u 3 fft_in fft_bart"), 0);
  ASSERT_EQ(test::run_bart("fft -u -i 3 fft_in ifft_bart"), 0);
  const auto bart_f = read_cfl<3>(test::tmp_path("fft_bart"));
  const auto bart_i = read_cfl<3>(test::tmp_path("ifft_bart"));
  EXPECT_LT(test::relative_error(fftc(x.cview()), bart_f), 2e-6);
  EXPECT_LT(test::relative_error(ifftc(x.cview()), bart_i), 2e-6);
  // 3D transform of (coils, z, y, x) = BART [x y z coils], mask 7.
  const auto v = test::random_array<cfloat, 4>(extents<4>{2, 8, 16, 12}, 10);
  write_cfl(test::tmp_path("fft3_in"), v.cview());
  ASSERT_EQ(test::run_bart("fft -u 7 fft3_in fft3_bart"), 0);
  EXPECT_LT(test::relative_error(fftc(v.cview(), {1, 2, 3}), read_cfl<4>(test::tmp_path("fft3_bart"))), 2e-6);
}

}  // namespace
}  // namespace larmor
