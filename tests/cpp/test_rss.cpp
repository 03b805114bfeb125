// Root-sum-of-squares against a direct loop, along any axis and on strided input.
#include "test_helpers.hpp"

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

TEST(Rss, SingleCoilIsMagnitude) {
  const auto x = test::random_array<cfloat, 3>(extents<3>{1, 4, 4}, 5);
  const auto r = rss(x.cview());
  for (index_t i = 0; i < 16; ++i) EXPECT_FLOAT_EQ(r[i], std::abs(x[i]));
}

}  // namespace
}  // namespace larmor
