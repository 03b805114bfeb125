// BART .cfl/.hdr interop: round trip, dimension order against BART itself, malformed files.
#include <fstream>

#include "test_helpers.hpp"
#include "larmor/io/cfl.hpp"
#include "larmor/coils/rss.hpp"
#include "larmor/fft/fft.hpp"

namespace larmor {
namespace {

TEST(Cfl, RoundTripKeepsShapeAndValues) {
  const auto x = test::random_array<cfloat, 3>(extents<3>{3, 5, 7}, 1);
  write_cfl(test::tmp_path("rt"), x.cview());
  const auto d = read_cfl(test::tmp_path("rt"));
  EXPECT_EQ(d.bart_dims.size(), 16u);
  EXPECT_EQ(d.bart_dims[0], 7);  // x first in BART
  EXPECT_EQ(d.shape(), (std::vector<index_t>{3, 5, 7}));
  const auto y = read_cfl<3>(test::tmp_path("rt"));
  EXPECT_EQ(test::relative_error(y, x), 0.0);
  // Asking for a higher rank adds leading size-1 axes.
  const auto y4 = read_cfl<4>(test::tmp_path("rt"));
  EXPECT_EQ(y4.shape(), (extents<4>{1, 3, 5, 7}));
}

TEST(Cfl, DimensionOrderAgreesWithBart) {
  if (!test::have_bart()) GTEST_SKIP() << "bart not installed";
  // (coils=3, y=4, x=5) is BART [5 4 3]; BART's slice along dim 2 picks a coil.
  const auto x = test::random_array<cfloat, 3>(extents<3>{3, 4, 5}, 2);
  write_cfl(test::tmp_path("order_in"), x.cview());
  ASSERT_EQ(test::run_bart("slice 2 1 order_in order_coil1"), 0);
  const auto coil1 = read_cfl<2>(test::tmp_path("order_coil1"));
  ASSERT_EQ(coil1.shape(), (extents<2>{4, 5}));
  for (index_t y = 0; y < 4; ++y)
    for (index_t xx = 0; xx < 5; ++xx) EXPECT_EQ(coil1(y, xx), x(1, y, xx));
}

TEST(Cfl, ReadsAFileWrittenByBart) {
  if (!test::have_bart()) GTEST_SKIP() << "bart not installed";
  // An 8-coil, 32x32 k-space phantom: BART dims [32 32 1 8] -> (8, 1, 32, 32) -> rank 3 (8, 32, 32).
  ASSERT_EQ(test::run_bart("phantom -k -x 32 -s 8 bart_ph"), 0);
  const auto k = read_cfl<3>(test::tmp_path("bart_ph"));
  EXPECT_EQ(k.shape(), (extents<3>{8, 32, 32}));
  // BART's phantom peaks at the k-space centre (16, 16) in every coil.
  for (index_t c = 0; c < 8; ++c) {
    float peak = 0;
    index_t py = -1, px = -1;
    for (index_t y = 0; y < 32; ++y)
      for (index_t xx = 0; xx < 32; ++xx)
        if (std::abs(k(c, y, xx)) > peak) peak = std::abs(k(c, y, xx)), py = y, px = xx;
    EXPECT_NEAR(py, 16, 1) << c;
    EXPECT_NEAR(px, 16, 1) << c;
  }
  // And the image RSS we compute equals BART's rss of its own inverse FFT.
  ASSERT_EQ(test::run_bart("fft -u -i 3 bart_ph bart_img"), 0);
  ASSERT_EQ(test::run_bart("rss 8 bart_img bart_rss"), 0);
  const auto bart_rss = read_cfl<2>(test::tmp_path("bart_rss"));
  const auto ours = rss(ifftc(k.cview()).cview());
  double num = 0, den = 0;
  for (index_t i = 0; i < ours.size(); ++i) num += std::norm(bart_rss[i] - ours[i]), den += std::norm(bart_rss[i]);
  EXPECT_LT(std::sqrt(num / den), 2e-6);
}

TEST(Cfl, MalformedFilesGiveClearErrors) {
  EXPECT_THROW(read_cfl(test::tmp_path("does_not_exist")), DataError);
  {
    std::ofstream(test::tmp_path("bad_hdr.hdr")) << "# Dimensions\n4 x 1\n";
    std::ofstream(test::tmp_path("bad_hdr.cfl")) << "";
  }
  try {
    read_cfl(test::tmp_path("bad_hdr"));
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("'x'"), std::string::npos) << e.what();
  }
  {
    std::ofstream(test::tmp_path("short.hdr")) << "# Dimensions\n4 4\n";
    std::ofstream(test::tmp_path("short.cfl"), std::ios::binary) << "12345678";
  }
  try {
    read_cfl(test::tmp_path("short"));
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("expected 128"), std::string::npos) << e.what();
  }
  std::ofstream(test::tmp_path("nodims.hdr")) << "# Command\nfoo\n";
  EXPECT_THROW(read_cfl(test::tmp_path("nodims")), DataError);
  const auto x = test::random_array<cfloat, 3>(extents<3>{2, 3, 4}, 1);
  write_cfl(test::tmp_path("rank3"), x.cview());
  EXPECT_THROW(read_cfl<2>(test::tmp_path("rank3")), DataError);
}

}  // namespace
}  // namespace larmor
