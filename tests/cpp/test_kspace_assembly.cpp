// K-space assembly from synthetic acquisition streams: every flag and header field the chain honours,
// checked sample by sample against the k-space the stream was cut from.
#include "larmor/recon/recon.hpp"
#include "test_helpers.hpp"
#include "larmor/coils/rss.hpp"

namespace larmor {
namespace {

using io::acq_flag;
using io::flag_bit;

struct stream {
  io::raw_dataset raw;
  array<cfloat, 4> truth;  // (coils, z, y, x)
};

// A fully sampled Cartesian stream of a random k-space; `edit` may change each acquisition.
template <class Edit>
stream make_stream(index_t nc, index_t nz, index_t ny, index_t nx, Edit edit) {
  stream s;
  s.truth = test::random_array<cfloat, 4>(extents<4>{nc, nz, ny, nx}, 3);
  auto& h = s.raw.header;
  h.encoded_matrix = {static_cast<std::uint16_t>(nx), static_cast<std::uint16_t>(ny), static_cast<std::uint16_t>(nz)};
  h.recon_matrix = h.encoded_matrix;
  h.encoded_fov_mm = h.recon_fov_mm = {200.f, 200.f, 10.f};
  h.e1 = io::limit{0, static_cast<std::uint16_t>(ny - 1), static_cast<std::uint16_t>(ny / 2)};
  if (nz > 1) h.e2 = io::limit{0, static_cast<std::uint16_t>(nz - 1), static_cast<std::uint16_t>(nz / 2)};
  s.raw.source = "synthetic";
  for (index_t z = 0; z < nz; ++z)
    for (index_t y = 0; y < ny; ++y) {
      io::acquisition a;
      a.idx.kspace_encode_step_1 = static_cast<std::uint16_t>(y);
      a.idx.kspace_encode_step_2 = static_cast<std::uint16_t>(z);
      a.center_sample = static_cast<std::uint16_t>(nx / 2);
      a.data = array<cfloat, 2>(extents<2>{nc, nx});
      for (index_t c = 0; c < nc; ++c)
        for (index_t x = 0; x < nx; ++x) a.data(c, x) = s.truth(c, z, y, x);
      if (edit(a, z, y)) s.raw.acquisitions.push_back(std::move(a));
    }
  return s;
}
stream full_stream(index_t nc, index_t nz, index_t ny, index_t nx) {
  return make_stream(nc, nz, ny, nx, [](io::acquisition&, index_t, index_t) { return true; });
}

TEST(KspaceAssembly, FullySampledEvenAndOddSizes) {
  for (auto [ny, nx] : {std::pair<index_t, index_t>{10, 12}, {9, 11}}) {
    const auto s = full_stream(3, 1, ny, nx);
    const auto k = assemble_kspace(s.raw);
    ASSERT_EQ(k.imaging.size(), 1u);
    EXPECT_EQ(k.imaging[0].kspace.shape(), s.truth.shape());
    EXPECT_EQ(test::relative_error(k.imaging[0].kspace, s.truth), 0.0);
    EXPECT_EQ(k.imaging[0].lines, ny);
  }
}

// A reversed readout runs from +kx to -kx: recorded sample s of a reversed line starting at kx_first sits at
// kx_first - s, of a forward line at kx_first + s; grid column x holds kx = x - nx/2. center_sample is the
// centre counted in +kx order (the number the forward readout of the same echo carries: what Siemens'
// kSpaceCentreColumn and siemens_to_ismrmrd write), so a reversed line's recorded centre is ns - 1 - it.
void record_line(io::acquisition& a, const array<cfloat, 4>& truth, index_t y, index_t nx, index_t kx_first,
                 index_t ns, bool reverse) {
  const index_t nc = truth.shape(0);
  a.data = array<cfloat, 2>(extents<2>{nc, ns});
  for (index_t s = 0; s < ns; ++s) {
    const index_t kx = reverse ? kx_first - s : kx_first + s;
    const index_t x = ((kx + nx / 2) % nx + nx) % nx;
    for (index_t c = 0; c < nc; ++c) a.data(c, s) = truth(c, 0, y, x);
    if (kx == 0) a.center_sample = static_cast<std::uint16_t>(reverse ? ns - 1 - s : s);
  }
  if (reverse) a.flags |= flag_bit(acq_flag::is_reverse);
}

TEST(KspaceAssembly, ReverseLinesAreFlipped) {
  // Symmetric readouts: forward lines kx = -5..4, reversed ones 4..-5: the plain mirror.
  const index_t nx = 10;
  stream s = make_stream(2, 1, 8, nx, [](io::acquisition&, index_t, index_t) { return true; });
  for (auto& a : s.raw.acquisitions) {
    const index_t y = a.idx.kspace_encode_step_1;
    const bool rev = y % 2 == 1;
    record_line(a, s.truth, y, nx, rev ? nx / 2 - 1 : -nx / 2, nx, rev);
    EXPECT_EQ(a.center_sample, nx / 2);
  }
  EXPECT_EQ(test::relative_error(assemble_kspace(s.raw).imaging[0].kspace, s.truth), 0.0);
}

TEST(KspaceAssembly, ReversedAsymmetricEchoIsPlacedByItsCentreSample) {
  // Asymmetric echo (bipolar multi-echo, EPI without ramps): kx = -3..7 of a 16-sample grid (11 samples),
  // every other line recorded in reverse (+7 down to -3: recorded sample 7, centre 3 in +kx order).
  const index_t nx = 16, ns = 11;
  stream s = make_stream(3, 1, 6, nx, [](io::acquisition&, index_t, index_t) { return true; });
  for (auto& a : s.raw.acquisitions) {
    const index_t y = a.idx.kspace_encode_step_1;
    const bool rev = y % 2 == 1;
    record_line(a, s.truth, y, nx, rev ? 7 : -3, ns, rev);
    EXPECT_EQ(a.center_sample, 3);
  }
  const auto k = assemble_kspace(s.raw).imaging[0].kspace;
  for (index_t c = 0; c < 3; ++c)
    for (index_t y = 0; y < 6; ++y)
      for (index_t x = 0; x < nx; ++x) {
        const index_t kx = x - nx / 2;
        EXPECT_EQ(k(c, 0, y, x), kx >= -3 && kx <= 7 ? s.truth(c, 0, y, x) : cfloat(0.f, 0.f)) << y << " " << x;
      }
}

TEST(KspaceAssembly, AsymmetricEchoAndDiscardedSamples) {
  // 12-sample readouts; the scanner recorded 2 junk samples, then x = 4..11 (centre x = 6 is acquired
  // sample 2 + 2 = 4), then 1 junk sample.
  const auto s = make_stream(2, 1, 6, 12, [](io::acquisition& a, index_t, index_t) {
    array<cfloat, 2> d(extents<2>{2, 11});
    for (index_t c = 0; c < 2; ++c) {
      d(c, 0) = d(c, 1) = d(c, 10) = cfloat(99.f, 99.f);
      for (index_t x = 4; x < 12; ++x) d(c, x - 2) = a.data(c, x);
    }
    a.data = std::move(d);
    a.discard_pre = 2;
    a.discard_post = 1;
    a.center_sample = 4;
    return true;
  });
  const auto k = assemble_kspace(s.raw).imaging[0].kspace;
  for (index_t c = 0; c < 2; ++c)
    for (index_t y = 0; y < 6; ++y)
      for (index_t x = 0; x < 12; ++x) EXPECT_EQ(k(c, 0, y, x), x < 4 ? cfloat(0.f, 0.f) : s.truth(c, 0, y, x));
}

TEST(KspaceAssembly, PartialFourierLinesUseTheEncodingLimitCentre) {
  // 7 of 10 lines, numbered 0..6 with the k-space centre at e1 = 2: they belong at y = 3..9.
  auto s = make_stream(2, 1, 10, 8, [](io::acquisition& a, index_t, index_t y) {
    if (y < 3) return false;
    a.idx.kspace_encode_step_1 = static_cast<std::uint16_t>(y - 3);
    return true;
  });
  s.raw.header.e1 = io::limit{0, 6, 2};
  const auto k = assemble_kspace(s.raw).imaging[0].kspace;
  for (index_t y = 0; y < 10; ++y)
    for (index_t x = 0; x < 8; ++x) EXPECT_EQ(k(1, 0, y, x), y < 3 ? cfloat(0.f, 0.f) : s.truth(1, 0, y, x));
}

TEST(KspaceAssembly, SeparateCalibrationAndUndersampledImaging) {
  // R = 2 imaging lines, plus 4 separate ACS lines around the centre (flagged calibration only).
  auto s = make_stream(2, 1, 12, 8, [](io::acquisition&, index_t, index_t y) { return y % 2 == 0; });
  for (index_t y = 4; y < 8; ++y) {
    io::acquisition a;
    a.flags = flag_bit(acq_flag::is_parallel_calibration);
    a.idx.kspace_encode_step_1 = static_cast<std::uint16_t>(y);
    a.center_sample = 4;
    a.data = array<cfloat, 2>(extents<2>{2, 8});
    for (index_t c = 0; c < 2; ++c)
      for (index_t x = 0; x < 8; ++x) a.data(c, x) = s.truth(c, 0, y, x);
    s.raw.acquisitions.push_back(std::move(a));
  }
  s.raw.header.accel_e1 = 2;
  s.raw.header.calibration_mode = "separate";
  const auto k = assemble_kspace(s.raw);
  EXPECT_EQ(k.calibration_lines, 4);
  EXPECT_EQ(k.acceleration_y, 2);
  const auto& img = k.imaging[0].kspace;
  const auto& cal = k.calibration.begin()->second;
  for (index_t y = 0; y < 12; ++y) {
    EXPECT_EQ(img(0, 0, y, 3), y % 2 == 0 ? s.truth(0, 0, y, 3) : cfloat(0.f, 0.f)) << y;
    EXPECT_EQ(cal(0, 0, y, 3), (y >= 4 && y < 8) ? s.truth(0, 0, y, 3) : cfloat(0.f, 0.f)) << y;
  }
  // Undersampled: "auto" asks for a parallel-imaging method.
  EXPECT_THROW(recon(s.raw), DataError);
}

TEST(KspaceAssembly, InterleavedCalibrationIsTheUnionOfRepetitions) {
  auto s = make_stream(2, 1, 8, 6, [](io::acquisition& a, index_t, index_t y) {
    a.idx.repetition = static_cast<std::uint16_t>(y % 2);
    return true;
  });
  s.raw.header.calibration_mode = "interleaved";
  s.raw.header.accel_e1 = 2;
  const auto k = assemble_kspace(s.raw);
  ASSERT_EQ(k.imaging.size(), 2u);
  EXPECT_EQ(k.imaging[1].key.repetition, 1);
  EXPECT_EQ(k.imaging[1].kspace(1, 0, 2, 3), cfloat(0.f, 0.f));
  EXPECT_EQ(test::relative_error(k.calibration.begin()->second, s.truth), 0.0);
}

TEST(KspaceAssembly, SlicesAveragesNoiseAndSkippedReadouts) {
  auto s = make_stream(2, 1, 6, 8, [](io::acquisition&, index_t, index_t) { return true; });
  const auto base = s.raw.acquisitions;
  for (auto a : base) {  // a second average of slice 0, and slice 1 with doubled data
    a.idx.average = 1;
    s.raw.acquisitions.push_back(a);
    a.idx.average = 0;
    a.idx.slice = 1;
    for (auto& v : a.data) v *= 2.f;
    s.raw.acquisitions.push_back(a);
  }
  io::acquisition noise;
  noise.flags = flag_bit(acq_flag::is_noise_measurement);
  noise.data = test::random_array<cfloat, 2>(extents<2>{2, 50}, 9);
  s.raw.acquisitions.insert(s.raw.acquisitions.begin(), noise);
  for (auto f : {acq_flag::is_navigation_data, acq_flag::is_phasecorr_data, acq_flag::is_dummyscan_data,
                 acq_flag::is_rtfeedback_data}) {
    auto junk = base[2];
    junk.flags = flag_bit(f);
    for (auto& v : junk.data) v = cfloat(1e6f, 0.f);
    s.raw.acquisitions.push_back(junk);
  }
  const auto k = assemble_kspace(s.raw);
  ASSERT_EQ(k.imaging.size(), 2u);
  EXPECT_EQ(k.noise_scans, 1);
  EXPECT_EQ(k.skipped, 4);
  EXPECT_EQ(test::relative_error(k.noise, noise.data), 0.0);
  for (const auto& b : k.imaging) {
    array<cfloat, 4> expect = s.truth;
    // Slice 0: the mean of two equal averages = the truth; slice 1 (one average) holds 2x.
    if (b.key.slice == 1)
      for (auto& v : expect) v *= 2.f;
    EXPECT_EQ(test::relative_error(b.kspace, expect), 0.0) << "slice " << b.key.slice;
    for (auto n : b.readouts_per_line) EXPECT_EQ(n, b.key.slice == 0 ? 2 : 1);
  }
}

// Averages are means per line, also when only some lines were repeated (centre lines averaged more
// often, as in variable-averaging protocols): a line acquired 3 times with values v, v + d, v - d is v.
TEST(KspaceAssembly, AveragesAreMeansPerLine) {
  auto s = make_stream(2, 1, 8, 6, [](io::acquisition&, index_t, index_t) { return true; });
  const auto base = s.raw.acquisitions;
  for (index_t y = 3; y <= 4; ++y)
    for (float sign : {1.f, -1.f}) {
      auto a = base[static_cast<std::size_t>(y)];
      a.idx.average = sign > 0 ? 1 : 2;
      for (index_t c = 0; c < 2; ++c)
        for (index_t x = 0; x < 6; ++x) a.data(c, x) += sign * cfloat(1.f + static_cast<float>(x), 0.5f);
      s.raw.acquisitions.push_back(a);
    }
  const auto k = assemble_kspace(s.raw);
  ASSERT_EQ(k.imaging.size(), 1u);
  EXPECT_LT(test::relative_error(k.imaging[0].kspace, s.truth), 1e-6);
  EXPECT_EQ(k.imaging[0].readouts_per_line[3], 3);
  EXPECT_EQ(k.imaging[0].readouts_per_line[0], 1);
}

// The assembler fed one readout at a time (as a streaming reader does) gives what assemble_kspace gives
// on the whole list: noise, averages, slices, skipped readouts, 2x readout oversampling; the geometry of
// each buffer is its first readout's, kept after the readouts are gone.
TEST(KspaceAssembly, StreamedReadoutsEqualTheWholeList) {
  auto s = make_stream(2, 3, 6, 16, [](io::acquisition& a, index_t z, index_t y) {
    a.idx.slice = static_cast<std::uint16_t>((y + z) % 2);
    a.position = {float(y), float(z), 1.f};
    return true;
  });
  s.raw.header.recon_matrix = {8, 6, 3};
  s.raw.header.recon_fov_mm = {100.f, 200.f, 10.f};
  io::acquisition noise;
  noise.flags = flag_bit(acq_flag::is_noise_measurement);
  noise.data = test::random_array<cfloat, 2>(extents<2>{2, 40}, 4);
  s.raw.acquisitions.insert(s.raw.acquisitions.begin(), noise);
  auto nav = s.raw.acquisitions[5];
  nav.flags = flag_bit(acq_flag::is_navigation_data);
  s.raw.acquisitions.push_back(nav);
  const auto whole = assemble_kspace(s.raw);
  kspace_assembler as(s.raw.header, "streamed");
  for (auto a : s.raw.acquisitions) as.add(io::acquisition(std::move(a)));  // each copy dies after add()
  EXPECT_EQ(as.added(), static_cast<index_t>(s.raw.acquisitions.size()));
  const auto streamed = std::move(as).finish();
  ASSERT_EQ(streamed.imaging.size(), 2u);
  ASSERT_EQ(whole.imaging.size(), 2u);
  EXPECT_EQ(streamed.noise_scans, 1);
  EXPECT_EQ(streamed.skipped, 1);
  EXPECT_EQ(test::relative_error(streamed.noise, whole.noise), 0.0);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(streamed.imaging[i].kspace.shape(), (extents<4>{2, 3, 6, 8}));
    EXPECT_EQ(test::relative_error(streamed.imaging[i].kspace, whole.imaging[i].kspace), 0.0);
    EXPECT_EQ(streamed.imaging[i].lines, whole.imaging[i].lines);
    ASSERT_TRUE(streamed.imaging[i].first);
    EXPECT_EQ(streamed.imaging[i].first->position, whole.imaging[i].first->position);
    EXPECT_EQ(streamed.imaging[i].first->data.size(), 0);  // header only, no samples kept
  }
  // Slice 0 starts at (z, y) = (0, 0), slice 1 at (0, 1).
  EXPECT_EQ(streamed.imaging[1].first->position, (std::array<float, 3>{1.f, 0.f, 1.f}));
  kspace_assembler empty(s.raw.header, "empty");
  EXPECT_THROW(std::move(empty).finish(), DataError);
}

TEST(KspaceAssembly, ThreeDimensionalPartitions) {
  const auto s = full_stream(2, 4, 6, 8);
  EXPECT_EQ(test::relative_error(assemble_kspace(s.raw).imaging[0].kspace, s.truth), 0.0);
}

TEST(KspaceAssembly, ReadoutOversamplingIsRemoved) {
  // A 2x oversampled FOV along x: the recon keeps the central half of the image.
  auto s = full_stream(2, 1, 8, 16);
  s.raw.header.recon_matrix = {8, 8, 1};
  s.raw.header.recon_fov_mm = {100.f, 200.f, 10.f};
  const auto k = assemble_kspace(s.raw).imaging[0].kspace;
  ASSERT_EQ(k.shape(), (extents<4>{2, 1, 8, 8}));
  const auto full = ifftc(s.truth.cview(), {3});
  const auto got = ifftc(k.cview(), {3});
  for (index_t c = 0; c < 2; ++c)
    for (index_t y = 0; y < 8; ++y)
      for (index_t x = 0; x < 8; ++x) EXPECT_LT(std::abs(got(c, 0, y, x) - full(c, 0, y, x + 4)), 1e-5);
}

// Oversampling is removed readout by readout as they arrive: with averages (two readouts of each line, the
// second different), reversed readouts and asymmetric echoes (the first 5 samples not recorded), the
// buffer equals the full-width assembly cropped afterwards (inverse FFT along x, central half, FFT), and the
// acquired readout extent is the full-width one rescaled to the kept samples.
TEST(KspaceAssembly, PerReadoutOversamplingCropEqualsTheCropOfTheBuffer) {
  const index_t nx = 16, ny = 6;
  auto s = full_stream(3, 1, ny, nx);
  s.raw.header.recon_matrix = {8, 6, 1};
  s.raw.header.recon_fov_mm = {100.f, 200.f, 10.f};  // encoded 200 mm: 2x oversampling
  std::vector<io::acquisition> acqs;
  for (index_t y = 0; y < ny; ++y) {
    io::acquisition a = s.raw.acquisitions[static_cast<std::size_t>(y)];
    const bool reverse = y % 2 == 1, asymmetric = y % 3 == 0;
    const index_t ns = asymmetric ? nx - 5 : nx;
    record_line(a, s.truth, y, nx, reverse ? nx / 2 - 1 : -nx / 2 + (nx - ns), ns, reverse);
    acqs.push_back(a);
    for (auto& v : a.data) v *= cfloat(0.5f, 0.25f);  // a second, different readout of the line
    acqs.push_back(a);
  }
  s.raw.acquisitions = acqs;
  assembly_options keep_os;
  keep_os.remove_oversampling = false;
  const auto full = assemble_kspace(s.raw, keep_os), cropped = assemble_kspace(s.raw);
  ASSERT_EQ(cropped.imaging[0].kspace.shape(), (extents<4>{3, 1, ny, nx / 2}));
  auto hybrid = ifftc(full.imaging[0].kspace.cview(), {3});
  array<cfloat, 4> expected(extents<4>{3, 1, ny, nx / 2});
  for (index_t c = 0; c < 3; ++c)
    for (index_t y = 0; y < ny; ++y)
      for (index_t x = 0; x < nx / 2; ++x) expected(c, 0, y, x) = hybrid(c, 0, y, x + nx / 4);
  expected = fftc(expected.cview(), {3});
  const double err = test::relative_error(cropped.imaging[0].kspace, expected);
  std::printf("per-readout oversampling crop vs crop of the buffer: relative difference %.2e\n", err);
  EXPECT_LT(err, 1e-6);
  EXPECT_GT(test::relative_error(full.imaging[0].kspace, s.truth), 0.1);  // the averages changed the data
  EXPECT_EQ(full.imaging[0].readout_begin, 0);
  EXPECT_EQ(cropped.imaging[0].readout_begin, 0);
  EXPECT_EQ(cropped.imaging[0].readout_end, nx / 2);
}

TEST(KspaceAssembly, BadStreamsRaiseDataError) {
  auto expect_error = [](io::raw_dataset raw, const std::string& fragment) {
    try {
      assemble_kspace(raw);
      ADD_FAILURE() << "expected DataError containing '" << fragment << "'";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  auto s = full_stream(3, 1, 6, 8);
  auto r = s.raw;
  r.acquisitions[3].data = array<cfloat, 2>(extents<2>{2, 8});
  expect_error(r, "channels");
  r = s.raw;
  r.acquisitions[2].idx.kspace_encode_step_1 = 40;
  expect_error(r, "beyond the encoding limits");
  r = s.raw;
  r.acquisitions[1].data(0, 3) = cfloat(std::nanf(""), 0.f);
  expect_error(r, "NaN");
  r = s.raw;
  r.acquisitions[1].center_sample = 1;  // 8 samples centred at 1 cannot fit x = 0..7 with centre 4
  expect_error(r, "does not fit");
  r = s.raw;
  r.acquisitions.clear();
  expect_error(r, "zero acquisitions");
  r = s.raw;
  for (auto& a : r.acquisitions) a.flags = flag_bit(acq_flag::is_noise_measurement);
  expect_error(r, "no imaging readouts");
}

TEST(Recon, RssOfSyntheticStreamMatchesDirectComputation) {
  const auto s = full_stream(4, 1, 16, 20);
  recon_options o;
  o.method = "rss";
  const auto res = recon(s.raw, o);
  ASSERT_EQ(res.images.size(), 1u);
  const auto ref = rss(ifftc(s.truth.cview(), {2, 3}).cview());
  EXPECT_LT(test::relative_error(res.images[0].magnitude, ref), 1e-6);
  o.method = "no-such-method";
  EXPECT_THROW(recon(s.raw, o), InvalidArgument);
}

}  // namespace
}  // namespace larmor
