// B0 field maps written by the chain (recon_options::fieldmap_sink) for a multi-echo scan streamed through
// recon_session: echoes simulated as coil images S_c x exp(i 2 pi f TE_e), f a known smooth field (a gradient
// and a bump, -120 .. +170 Hz; the phase wraps between the echoes, dTE = 2.46 ms: only |f| < 203 Hz is
// unambiguous per pixel), against that f. One map per slice once its last echo is made; none (and a message)
// for rss or without echo times.
#include <cmath>
#include <string>
#include <vector>

#include "coil_phantom.hpp"
#include "larmor/recon/recon.hpp"
#include "test_helpers.hpp"

namespace larmor {
namespace {

constexpr double pi = 3.14159265358979323846;

struct result {
  std::vector<io::image_record> images, maps;
  std::vector<std::string> messages;
  bool said(const std::string& s) const {
    for (const auto& m : messages)
      if (m.find(s) != std::string::npos) return true;
    return false;
  }
};

array<float, 2> field(index_t n) {
  array<float, 2> f(extents<2>{n, n});
  for (index_t y = 0; y < n; ++y)
    for (index_t x = 0; x < n; ++x) {
      const double u = (static_cast<double>(x) - n / 2) / n, v = (static_cast<double>(y) - n / 2) / n;
      f(y, x) = static_cast<float>(150 * u + 120 * std::exp(-((u - 0.1) * (u - 0.1) + (v + 0.1) * (v + 0.1)) / 0.02) - 30);
    }
  return f;
}

result run(const test::coil_phantom& p, const array<float, 2>& hz, const std::vector<float>& te_ms,
           const std::string& method, index_t slices = 1) {
  const index_t nc = p.maps.shape(0), n = p.maps.shape(1), echoes = static_cast<index_t>(te_ms.size());
  io::encoding_header h;
  h.encoded_matrix = {static_cast<std::uint16_t>(n), static_cast<std::uint16_t>(n), 1};
  h.recon_matrix = h.encoded_matrix;
  h.encoded_fov_mm = h.recon_fov_mm = {220.f, 220.f, 4.f};
  h.e1 = io::limit{0, static_cast<std::uint16_t>(n - 1), static_cast<std::uint16_t>(n / 2)};
  h.contrast = io::limit{0, static_cast<std::uint16_t>(echoes - 1), 0};
  h.echo_times_ms = te_ms;
  result out;
  recon_options o;
  o.method = method;
  o.progress = [&](const std::string& s) { out.messages.push_back(s); };
  o.fieldmap_sink = [&](io::image_record&& r) { out.maps.push_back(std::move(r)); };
  recon_session s(h, o, [&](io::image_record&& r) { out.images.push_back(std::move(r)); });
  for (index_t sl = 0; sl < slices; ++sl)
    for (index_t e = 0; e < echoes; ++e) {
      array<cfloat, 3> imgs(p.maps.shape());
      for (index_t c = 0; c < nc; ++c)
        for (index_t y = 0; y < n; ++y)
          for (index_t x = 0; x < n; ++x)
            imgs(c, y, x) = p.images(c, y, x) *
                            cfloat(std::polar(1.0, 2 * pi * static_cast<double>(hz(y, x)) * 1e-3 * te_ms[static_cast<std::size_t>(e)]));
      const auto k = fftc(imgs.cview());
      for (index_t y = 0; y < n; ++y) {
        io::acquisition a;
        a.idx.kspace_encode_step_1 = static_cast<std::uint16_t>(y);
        a.idx.contrast = static_cast<std::uint16_t>(e);
        a.idx.slice = static_cast<std::uint16_t>(sl);
        a.center_sample = static_cast<std::uint16_t>(n / 2);
        a.data = array<cfloat, 2>(extents<2>{nc, n});
        for (index_t c = 0; c < nc; ++c)
          for (index_t x = 0; x < n; ++x) a.data(c, x) = k(c, y, x);
        s.push(std::move(a));
      }
    }
  s.finish();
  return out;
}

}  // namespace

TEST(ChainFieldmap, MultiEchoScanGivesTheFieldInHz) {
  const auto p = test::make_coil_phantom(8, 96, 96, 0.002);
  const auto hz = field(96);
  for (const std::string method : {"espirit", "inati"}) {
    const auto out = run(p, hz, {2.0f, 4.46f, 7.1f}, method, 2);
    ASSERT_EQ(out.images.size(), 6u);
    ASSERT_EQ(out.maps.size(), 2u) << method;  // one per slice
    EXPECT_EQ(out.maps[1].slice, 1);
    const auto& m = out.maps[0];
    EXPECT_EQ(m.series_index, 3);
    EXPECT_EQ(m.type, io::image_type::real);
    double se = 0, worst = 0, count = 0;
    for (index_t y = 2; y < 94; ++y)
      for (index_t x = 2; x < 94; ++x) {
        if (p.object(y, x) < 0.15f || m.complex_image(0, y, x).real() == 0.f) continue;
        const double d = m.complex_image(0, y, x).real() - hz(y, x);
        se += d * d, worst = std::max(worst, std::abs(d)), count += 1;
      }
    ASSERT_GT(count, 1500);
    EXPECT_LT(std::sqrt(se / count), 1.0) << method;  // Hz (measured 0.48; the 1-pixel smoothing bends the bump)
    EXPECT_LT(worst, 8.0) << method;                   // measured 5.0
  }
}

TEST(ChainFieldmap, SaysWhyThereIsNoMap) {
  const auto p = test::make_coil_phantom(4, 48, 48);
  const auto hz = field(48);
  const auto rss = run(p, hz, {2.0f, 4.46f}, "rss");
  EXPECT_TRUE(rss.maps.empty());
  EXPECT_TRUE(rss.said("method rss keeps no phase"));
  const auto one = run(p, hz, {2.0f}, "espirit");
  EXPECT_TRUE(one.maps.empty());
  EXPECT_TRUE(one.said("two or more needed"));
  const auto unordered = run(p, hz, {4.46f, 2.0f}, "espirit");  // TEs that are not an echo train: no map, said
  EXPECT_TRUE(unordered.maps.empty());
  EXPECT_EQ(unordered.images.size(), 2u);
  EXPECT_TRUE(unordered.said("not a train of increasing echoes"));
}

}  // namespace larmor
