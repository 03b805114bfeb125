// Root-sum-of-squares against a direct loop, along any axis and on strided input.
#include "test_helpers.hpp"
#include "larmor/coils/rss.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/kernels/coil_kernels.hpp"

namespace larmor {
namespace {

TEST(Rss, MatchesDirectLoopOnCoilAxis) {
  const auto x = test::random_array<cfloat, 3>(extents<3>{7, 33, 65}, 3);
  const auto r = rss(x.cview());
  ASSERT_EQ(r.shape(), (extents<2>{33, 65}));
  double worst = 0;
  for (index_t y = 0; y < 33; ++y)
    for (index_t xx = 0; xx < 65; ++xx) {
      double s = 0;
      for (index_t c = 0; c < 7; ++c) s += std::norm(cdouble(x(c, y, xx)));
      worst = std::max(worst, std::abs(r(y, xx) - std::sqrt(s)) / std::sqrt(s));
    }
  EXPECT_LT(worst, 2e-6);
}

TEST(Rss, OtherAxesStridesAndDouble) {
  const auto x = test::random_array<cdouble, 4>(extents<4>{3, 4, 5, 6}, 4);
  const auto r = rss(x.cview(), -1);
  ASSERT_EQ(r.shape(), (extents<3>{3, 4, 5}));
  double s = 0;
  for (index_t i = 0; i < 6; ++i) s += std::norm(x(2, 3, 4, i));
  EXPECT_NEAR(r(2, 3, 4), std::sqrt(s), 1e-14);
  // A view that steps through every second coil.
  strided_view<const cdouble, 4> v(x.data(), extents<4>{2, 4, 5, 6}, extents<4>{240, 30, 6, 1});
  const auto rv = rss(v);
  s = std::norm(x(0, 1, 2, 3)) + std::norm(x(2, 1, 2, 3));
  EXPECT_NEAR(rv(1, 2, 3), std::sqrt(s), 1e-14);
  EXPECT_THROW(rss(x.cview(), 4), InvalidArgument);
}

// 10 coils x 3 x 128 x 128: the coil stride (384 KiB) is a multiple of 64 KiB, so rss sums the coils
// four at a time (4 + 4 + 2) into blocks of the output; 48 x 31 x 64 (odd stride) takes the all-coil
// kernel. Both against the double-precision sum, for float and double, and 1 vs 2 threads.
TEST(Rss, CoilGroupsWhenTheStrideAliasesInTheCaches) {
  EXPECT_TRUE(kernels::coil_streams_share_cache_sets(64, 512 * 512 * 8));        // 64 ch x 512^2
  EXPECT_TRUE(kernels::coil_streams_share_cache_sets(32, 30 * 256 * 256 * 8));   // 30-slice stack
  EXPECT_TRUE(kernels::coil_streams_share_cache_sets(64, 256 * 256 * 128 * 8));  // 3D
  EXPECT_FALSE(kernels::coil_streams_share_cache_sets(8, 512 * 512 * 8));        // fewer coils than ways
  EXPECT_FALSE(kernels::coil_streams_share_cache_sets(64, 1000 * 1000 * 8));     // sets differ by 512 B
  EXPECT_FALSE(kernels::coil_streams_share_cache_sets(64, 320 * 260 * 8));       // 2 KiB steps
  EXPECT_TRUE(kernels::coil_streams_share_cache_sets(64, 384 * 384 * 8));        // 9 x 128 KiB

  const auto check = [](const auto& x) {
    const index_t nc = x.shape(0), npix = x.size() / nc;
    for (const int threads : {1, 2}) {
      set_num_threads(threads);
      const auto r = rss(x.cview());
      double worst = 0;
      for (index_t p = 0; p < npix; ++p) {
        double s = 0;
        for (index_t c = 0; c < nc; ++c) s += std::norm(cdouble(x.data()[c * npix + p]));
        worst = std::max(worst, std::abs(r.data()[p] - std::sqrt(s)) / std::sqrt(s));
      }
      EXPECT_LT(worst, sizeof(r.data()[0]) == 4 ? 2e-6 : 1e-14) << threads << " threads";
    }
    set_num_threads(0);
  };
  check(test::random_array<cfloat, 4>(extents<4>{10, 3, 128, 128}, 7));
  check(test::random_array<cdouble, 4>(extents<4>{10, 3, 64, 128}, 8));  // 384 KiB stride in double
  check(test::random_array<cfloat, 3>(extents<3>{48, 31, 64}, 9));
  // The grouped path writes, not accumulates, into a caller's buffer.
  const auto x = test::random_array<cfloat, 3>(extents<3>{12, 128, 128}, 10);
  array<float, 2> out(extents<2>{128, 128});
  for (index_t i = 0; i < out.size(); ++i) out[i] = 1e6f;
  rss(x, out);
  const auto fresh = rss(x.cview());
  for (index_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], fresh[i]) << i;
}

TEST(Rss, SingleCoilIsMagnitude) {
  const auto x = test::random_array<cfloat, 3>(extents<3>{1, 4, 4}, 5);
  const auto r = rss(x.cview());
  for (index_t i = 0; i < 16; ++i) EXPECT_FLOAT_EQ(r[i], std::abs(x[i]));
}

TEST(Rss, IntoCallersBufferEqualsNewArrayAndChecksShape) {
  const auto x = test::random_array<cfloat, 4>(extents<4>{5, 3, 17, 40}, 6);
  const auto fresh = rss(x.cview());
  array<float, 3> out(extents<3>{3, 17, 40});
  for (int pass = 0; pass < 2; ++pass) {  // the second pass overwrites, it does not accumulate
    rss(x, out);
    for (index_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], fresh[i]) << i;
  }
  // A strided destination (every second column of a wider buffer) takes the general path.
  array<float, 3> wide(extents<3>{3, 17, 80});
  strided_view<float, 3> every_second(wide.data(), extents<3>{3, 17, 40}, extents<3>{17 * 80, 80, 2});
  rss(x.cview(), every_second);
  EXPECT_NEAR(wide(2, 16, 78), fresh(2, 16, 39), 1e-6f * fresh(2, 16, 39));
  EXPECT_EQ(wide(2, 16, 79), 0.f);
  // Axis 1 (3 "coils") into a (5, 17, 40) buffer.
  array<float, 3> by_axis1(extents<3>{5, 17, 40});
  rss(x.cview(), by_axis1.view(), 1);
  const double s = std::norm(x(4, 0, 9, 7)) + std::norm(x(4, 1, 9, 7)) + std::norm(x(4, 2, 9, 7));
  EXPECT_NEAR(by_axis1(4, 9, 7), std::sqrt(s), 1e-6 * std::sqrt(s));
  array<float, 3> wrong(extents<3>{3, 17, 41});
  EXPECT_THROW(rss(x, wrong), InvalidArgument);
  EXPECT_THROW(rss(x.cview(), out.view(), 1), InvalidArgument);
}

}  // namespace
}  // namespace larmor
