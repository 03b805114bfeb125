// Long sessions: what a streaming session counts while a scan runs must count what it holds now, not
// what it ever held. A k-space budget that added every buffer ever opened refused a 32-coil 96 x 96
// 60-slice fMRI series after ~120 volumes on a 16 GiB machine; image_index (16 bits in ISMRMRD) wraps
// after 65,535 images; methods' kept state is found by what it was made from, not by an address.
#include <cstdio>

#include "coil_phantom.hpp"
#include "larmor/recon/recon.hpp"
#include "test_helpers.hpp"

namespace larmor {
namespace {

using io::acq_flag;
using io::flag_bit;

io::encoding_header series_header(index_t n, index_t slices, index_t reps) {
  io::encoding_header h;
  h.encoded_matrix = {static_cast<std::uint16_t>(n), static_cast<std::uint16_t>(n), 1};
  h.recon_matrix = h.encoded_matrix;
  h.encoded_fov_mm = h.recon_fov_mm = {220.f, 220.f, 5.f};
  h.e1 = io::limit{0, static_cast<std::uint16_t>(n - 1), static_cast<std::uint16_t>(n / 2)};
  h.slice = io::limit{0, static_cast<std::uint16_t>(slices - 1), 0};
  h.repetition = io::limit{0, static_cast<std::uint16_t>(reps - 1), 0};
  return h;
}

// A 4-coil 32 x 32 series of 3 slices: each buffer is 4 * 32 * 32 * 8 = 32 KiB. The budget lets 4 buffers
// be open at once; the series opens 3 slices x 40 repetitions = 120 buffers (3.75 MiB, 30x the budget),
// one slice at a time, and every image comes out. Repetitions go beyond the header's limits (a series
// longer than announced) and each slice's image is checked against the ideal (RSS of the phantom).
TEST(LongSeries, KspaceBudgetCountsOpenBuffersNotEveryBufferEverOpened) {
  const index_t nc = 4, n = 32, slices = 3, reps = 40;
  const auto p = test::make_coil_phantom(nc, n, n, 0.0);
  recon_options o;
  o.method = "rss";
  o.kspace_budget_bytes = 4.0 * nc * n * n * sizeof(cfloat);
  std::vector<io::image_record> out;
  recon_session s(series_header(n, slices, 10), o, [&](io::image_record&& r) { out.push_back(std::move(r)); });
  index_t max_open = 0;
  for (index_t r = 0; r < reps; ++r)
    for (index_t sl = 0; sl < slices; ++sl)
      for (index_t y = 0; y < n; ++y) {
        s.push(test::line_readout(p.kspace, y, sl, r, y == n - 1 ? flag_bit(acq_flag::last_in_slice) : 0));
        max_open = std::max(max_open, s.open_buffer_count());
      }
  s.finish();
  ASSERT_EQ(out.size(), static_cast<std::size_t>(slices * reps));
  EXPECT_LE(max_open, 1);
  // Noise-free data: every image is the root sum of squares of the phantom's coil images (its ground truth).
  array<float, 3> truth(extents<3>{1, n, n});
  for (index_t y = 0; y < n; ++y)
    for (index_t x = 0; x < n; ++x) {
      double e = 0;
      for (index_t c = 0; c < nc; ++c) e += std::norm(p.images(c, y, x));
      truth(0, y, x) = static_cast<float>(std::sqrt(e));
    }
  for (const auto& img : out) EXPECT_LT(test::relative_error(img.magnitude, truth), 1e-4);
  // The image counter goes on across the header's announced repetitions.
  for (std::size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i].image_index, io::image_index_for(static_cast<long long>(i) + 1));
}

// The budget still refuses what does not fit at once: here every slice is held open (interleaved lines of
// 6 slices, no slice ends before the last line), 6 buffers against a budget of 4.
TEST(LongSeries, KspaceBudgetRefusesTooManyOpenBuffersWithOneClearLine) {
  const index_t nc = 4, n = 32, slices = 6;
  const auto p = test::make_coil_phantom(nc, n, n, 0.0);
  recon_options o;
  o.method = "rss";
  o.kspace_budget_bytes = 4.0 * nc * n * n * sizeof(cfloat);
  recon_session s(series_header(n, slices, 1), o);
  try {
    for (index_t y = 0; y < n; ++y)
      for (index_t sl = 0; sl < slices; ++sl)
        s.push(test::line_readout(p.kspace, y, sl, 0, y == n - 1 ? flag_bit(acq_flag::last_in_slice) : 0));
    FAIL() << "six open buffers passed a budget of four";
  } catch (const DataError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("beside 4 open buffers"), std::string::npos) << m;
    EXPECT_NE(m.find("budget"), std::string::npos) << m;
  }
}

// Buffers that must wait for the end of the scan (interleaved calibration: the union of all repetitions)
// count too: a long interleaved series beyond the budget is refused when the buffers pile up, not by the
// operating system.
TEST(LongSeries, BuffersWaitingForTheEndOfTheScanCountAgainstTheBudget) {
  const index_t nc = 4, n = 32;
  const auto p = test::make_coil_phantom(nc, n, n, 0.0);
  recon_options o;
  o.kspace_budget_bytes = 3.5 * nc * n * n * sizeof(cfloat);
  auto h = series_header(n, 1, 8);
  h.calibration_mode = "interleaved";
  h.accel_e1 = 2;
  recon_session s(h, o);
  index_t pushed_reps = 0;
  try {
    for (index_t r = 0; r < 8; ++r, ++pushed_reps)
      for (index_t y = r % 2; y < n; y += 2)
        s.push(test::line_readout(p.kspace, y, 0, r, y + 2 >= n ? flag_bit(acq_flag::last_in_slice) : 0));
    FAIL() << "eight waiting buffers passed a budget of 3.5";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("must wait for the end of the scan"), std::string::npos) << e.what();
  }
  EXPECT_LE(pushed_reps, 4);
}

TEST(LongSeries, ImageIndexWrapsAfter65535AndIsNeverZero) {
  EXPECT_EQ(io::image_index_for(1), 1);
  EXPECT_EQ(io::image_index_for(65535), 65535);
  EXPECT_EQ(io::image_index_for(65536), 1);
  EXPECT_EQ(io::image_index_for(65537), 2);
  EXPECT_EQ(io::image_index_for(3 * 65535), 65535);
  EXPECT_EQ(io::image_index_for(0), 1);
}

}  // namespace
}  // namespace larmor
