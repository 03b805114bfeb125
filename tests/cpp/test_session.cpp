// recon_session: images come out when their buffer is complete, equal to the whole-file chain
// (recon(assemble_kspace(raw)): every readout sorted first, then every buffer reconstructed — the path that
// does not depend on when buffers close), with at most the open buffers held, and cancel() from another
// thread stops the work.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "coil_phantom.hpp"
#include "larmor/recon/recon.hpp"
#include "test_helpers.hpp"

namespace larmor {
namespace {

using io::acq_flag;
using io::flag_bit;

// k-space (coils, y, x) of slice s: the phantom scaled by (1 + s) so slices are told apart.
array<cfloat, 3> slice_kspace(const test::coil_phantom& p, index_t s) {
  array<cfloat, 3> k = p.kspace;
  for (auto& v : k) v *= static_cast<float>(1 + s);
  return k;
}

io::encoding_header header_for(index_t ny, index_t nx, index_t slices, index_t accel = 1) {
  io::encoding_header h;
  h.encoded_matrix = {static_cast<std::uint16_t>(nx), static_cast<std::uint16_t>(ny), 1};
  h.recon_matrix = h.encoded_matrix;
  h.encoded_fov_mm = h.recon_fov_mm = {220.f, 220.f, 5.f};
  h.e1 = io::limit{0, static_cast<std::uint16_t>(ny - 1), static_cast<std::uint16_t>(ny / 2)};
  h.accel_e1 = static_cast<std::uint16_t>(accel);
  (void)slices;
  return h;
}

// The reference: every readout sorted first, then every buffer (kspace_assembler + recon(assembled)).
recon_result whole_file(const io::raw_dataset& raw, const recon_options& o = {}) {
  return recon(assemble_kspace(raw), raw.header, o);
}

// Pushes raw's readouts one by one; records after which readout each image came out.
struct streamed {
  std::vector<io::image_record> images;
  std::vector<index_t> emitted_after;  // readout index (0-based) whose push made the image
  index_t max_open = 0;
  std::string method;
};
streamed stream(const io::raw_dataset& raw, const recon_options& o = {}) {
  streamed out;
  index_t pushed = 0;
  recon_session s(raw.header, o, [&](io::image_record&& r) {
    out.images.push_back(std::move(r));
    out.emitted_after.push_back(pushed - 1);
  });
  for (const auto& a : raw.acquisitions) {
    ++pushed;
    s.push(a);
    out.max_open = std::max(out.max_open, s.open_buffer_count());
  }
  pushed = static_cast<index_t>(raw.acquisitions.size()) + 1;  // finish(): after the last readout
  s.finish();
  out.method = s.method();
  return out;
}

// Images equal, matched by their loop indices.
void expect_same_images(const std::vector<io::image_record>& a, const std::vector<io::image_record>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& x : a) {
    bool found = false;
    for (const auto& y : b)
      if (x.slice == y.slice && x.contrast == y.contrast && x.repetition == y.repetition && x.phase == y.phase &&
          x.set == y.set) {
        found = true;
        EXPECT_LT(test::relative_error(x.magnitude, y.magnitude), 1e-6) << "slice " << x.slice << " contrast "
                                                                        << x.contrast << " rep " << x.repetition;
        EXPECT_EQ(x.position, y.position);
      }
    EXPECT_TRUE(found) << "slice " << x.slice;
  }
}

TEST(Session, SequentialSlicesComeOutAsEachSliceEndsHoldingOneBuffer) {
  const index_t nc = 6, n = 48, slices = 4;
  const auto p = test::make_coil_phantom(nc, n, n, 0.01);
  io::raw_dataset raw;
  raw.header = header_for(n, n, slices);
  std::vector<index_t> last_readout;
  for (index_t s = 0; s < slices; ++s) {
    const auto k = slice_kspace(p, s);
    for (index_t y = 0; y < n; ++y) raw.acquisitions.push_back(test::line_readout(k, y, s));
    raw.acquisitions.back().flags |= flag_bit(acq_flag::last_in_slice);
    last_readout.push_back(static_cast<index_t>(raw.acquisitions.size()) - 1);
  }
  const auto st = stream(raw);
  const auto ref = whole_file(raw);
  ASSERT_EQ(st.images.size(), static_cast<std::size_t>(slices));
  for (index_t s = 0; s < slices; ++s) {
    EXPECT_EQ(st.images[s].slice, s);
    EXPECT_EQ(st.emitted_after[s], last_readout[s]) << "slice " << s << " not emitted at its last readout";
    EXPECT_EQ(st.images[s].image_index, s + 1);
  }
  EXPECT_EQ(st.max_open, 1);  // one slice open at a time: each closed by the push of its last readout
  expect_same_images(st.images, ref.images);
  EXPECT_EQ(st.method, ref.method);
  // recon(raw) is the session: the same images in the same order.
  const auto r = recon(raw);
  ASSERT_EQ(r.images.size(), st.images.size());
  for (std::size_t i = 0; i < r.images.size(); ++i) EXPECT_EQ(r.images[i].slice, st.images[i].slice);
}

TEST(Session, InterleavedSlicesCloseEachOnItsLastLine) {
  // Line y of every slice before line y + 1 (2D interleaved multi-slice): all slices open until the last
  // lines; each closes on its own ACQ_LAST_IN_SLICE.
  const index_t nc = 4, n = 32, slices = 3;
  const auto p = test::make_coil_phantom(nc, n, n, 0.01);
  io::raw_dataset raw;
  raw.header = header_for(n, n, slices);
  for (index_t y = 0; y < n; ++y)
    for (index_t s = 0; s < slices; ++s) {
      raw.acquisitions.push_back(test::line_readout(slice_kspace(p, s), y, s));
      if (y == n - 1) raw.acquisitions.back().flags |= flag_bit(acq_flag::last_in_slice);
    }
  const auto st = stream(raw);
  const index_t total = static_cast<index_t>(raw.acquisitions.size());
  ASSERT_EQ(st.images.size(), static_cast<std::size_t>(slices));
  for (index_t s = 0; s < slices; ++s) EXPECT_EQ(st.emitted_after[s], total - slices + s);
  EXPECT_EQ(st.max_open, slices);
  expect_same_images(st.images, whole_file(raw).images);
}

TEST(Session, MultiEchoFlaggedOnlyOnTheLastEchoClosesEveryEcho) {
  const index_t nc = 4, n = 32, echoes = 3;
  const auto p = test::make_coil_phantom(nc, n, n, 0.01);
  io::raw_dataset raw;
  raw.header = header_for(n, n, 1);
  for (index_t y = 0; y < n; ++y)
    for (index_t e = 0; e < echoes; ++e)
      raw.acquisitions.push_back(test::line_readout(slice_kspace(p, e), y, 0, 0, 0, e));
  raw.acquisitions.back().flags |= flag_bit(acq_flag::last_in_slice);  // only echo 2's last line
  const auto st = stream(raw);
  ASSERT_EQ(st.images.size(), static_cast<std::size_t>(echoes));
  for (index_t e = 0; e < echoes; ++e) {
    EXPECT_EQ(st.images[e].contrast, e);
    EXPECT_EQ(st.emitted_after[e], static_cast<index_t>(raw.acquisitions.size()) - 1);
  }
  expect_same_images(st.images, whole_file(raw).images);
}

TEST(Session, TimeSeriesWithoutFlagsEmitsARepetitionWhenTheNextBegins) {
  const index_t nc = 4, n = 32, reps = 3;
  const auto p = test::make_coil_phantom(nc, n, n, 0.01);
  io::raw_dataset raw;
  raw.header = header_for(n, n, 1);
  std::vector<index_t> first_of_rep;
  for (index_t r = 0; r < reps; ++r) {
    first_of_rep.push_back(static_cast<index_t>(raw.acquisitions.size()));
    for (index_t y = 0; y < n; ++y)
      raw.acquisitions.push_back(test::line_readout(slice_kspace(p, r), y, 0, r));
  }
  const auto st = stream(raw);
  ASSERT_EQ(st.images.size(), static_cast<std::size_t>(reps));
  EXPECT_EQ(st.emitted_after[0], first_of_rep[1]);
  EXPECT_EQ(st.emitted_after[1], first_of_rep[2]);
  EXPECT_EQ(st.emitted_after[2], static_cast<index_t>(raw.acquisitions.size()));  // at finish()
  expect_same_images(st.images, whole_file(raw).images);
}

// GRAPPA R = 2 with a separate ACS block: the reference scan first streams; after the imaging lines the
// slices wait for it (finish), and both equal the whole-file chain.
io::raw_dataset grappa_scan(bool acs_first, index_t slices) {
  const index_t nc = 8, n = 48, acs = 16;
  const auto p = test::make_coil_phantom(nc, n, n, 0.002);
  io::raw_dataset raw;
  raw.header = header_for(n, n, slices, 2);
  std::vector<io::acquisition> ref, img;
  for (index_t s = 0; s < slices; ++s) {
    const auto k = slice_kspace(p, s);
    for (index_t y = n / 2 - acs / 2; y < n / 2 + acs / 2; ++y) {
      ref.push_back(test::line_readout(k, y, s));
      ref.back().flags |= flag_bit(acq_flag::is_parallel_calibration);
    }
    for (index_t y = 0; y < n; y += 2) img.push_back(test::line_readout(k, y, s));
    img.back().flags |= flag_bit(acq_flag::last_in_slice);
  }
  auto& a = raw.acquisitions;
  if (acs_first) a.insert(a.end(), ref.begin(), ref.end());
  a.insert(a.end(), img.begin(), img.end());
  if (!acs_first) a.insert(a.end(), ref.begin(), ref.end());
  return raw;
}

TEST(Session, AcceleratedSlicesWaitForTheirCalibration) {
  for (bool acs_first : {true, false}) {
    const auto raw = grappa_scan(acs_first, 2);
    const auto st = stream(raw);
    const auto ref = whole_file(raw);
    EXPECT_EQ(st.method, "grappa");
    ASSERT_EQ(st.images.size(), 2u);
    const index_t total = static_cast<index_t>(raw.acquisitions.size());
    if (acs_first) {
      EXPECT_LT(st.emitted_after[0], total - 1);  // slice 0 before slice 1's readouts
    } else {
      EXPECT_EQ(st.emitted_after[0], total);  // waited for finish()
      EXPECT_EQ(st.emitted_after[1], total);
    }
    expect_same_images(st.images, ref.images);
  }
}

TEST(Session, ASliceBeyondItsEncodingLimitsGetsItsCalibrationBack) {
  // The header announces one buffer per slice (no repetition limit); a second repetition of slice 0 comes
  // after slice 0 was released: its calibration is restored and its image equals the first repetition's.
  // It is made when its last line arrives, not held until finish() (a time series longer than the header
  // says must still stream).
  auto raw = grappa_scan(true, 2);
  std::vector<io::acquisition> again;
  for (const auto& a : raw.acquisitions)
    if (a.idx.slice == 0 && !a.has(acq_flag::is_parallel_calibration)) {
      again.push_back(a);
      again.back().idx.repetition = 1;
    }
  raw.acquisitions.insert(raw.acquisitions.end(), again.begin(), again.end());
  const auto st = stream(raw);
  ASSERT_EQ(st.images.size(), 3u);
  EXPECT_EQ(st.images[2].slice, 0);
  EXPECT_EQ(st.images[2].repetition, 1);
  EXPECT_EQ(st.emitted_after[2], static_cast<index_t>(raw.acquisitions.size()) - 1);
  EXPECT_LT(test::relative_error(st.images[2].magnitude, st.images[0].magnitude), 1e-6);
  EXPECT_EQ(st.method, "grappa");
}

TEST(Session, NoiseAfterTheFirstImageIsCountedNotUsedAndSlicesSelect) {
  const index_t nc = 4, n = 32;
  const auto p = test::make_coil_phantom(nc, n, n, 0.01);
  io::raw_dataset raw;
  raw.header = header_for(n, n, 2);
  auto noise = [&](unsigned seed) {
    io::acquisition a;
    a.flags = flag_bit(acq_flag::is_noise_measurement);
    a.data = test::random_array<cfloat, 2>(extents<2>{nc, 256}, seed);
    for (index_t i = 0; i < n; ++i) a.data(1, i) += 0.5f * a.data(0, i);  // correlated coils
    return a;
  };
  raw.acquisitions.push_back(noise(5));
  for (index_t s = 0; s < 2; ++s) {
    for (index_t y = 0; y < n; ++y) raw.acquisitions.push_back(test::line_readout(slice_kspace(p, s), y, s));
    raw.acquisitions.back().flags |= flag_bit(acq_flag::last_in_slice);
    if (s == 0) raw.acquisitions.push_back(noise(6));  // after slice 0's image
  }
  recon_session s(raw.header);
  for (const auto& a : raw.acquisitions) s.push(a);
  s.finish();
  EXPECT_EQ(s.noise_readouts_ignored(), 1);
  auto imgs = s.take_images();
  ASSERT_EQ(imgs.size(), 2u);
  // The reference pre-whitens with the first noise readout only.
  io::raw_dataset first_noise = raw;
  first_noise.acquisitions.erase(first_noise.acquisitions.begin() + 1 + n);
  expect_same_images(imgs, whole_file(first_noise).images);
  // Only slice 1.
  recon_options o;
  o.slices = {1};
  const auto one = recon(raw, o);
  ASSERT_EQ(one.images.size(), 1u);
  EXPECT_EQ(one.images[0].slice, 1);
  // (both noise readouts come before its first image: the whole-file chain's whitening)
  const auto all = whole_file(raw).images;
  EXPECT_LT(test::relative_error(one.images[0].magnitude, all[1].magnitude), 1e-6);
  o.slices = {7};
  EXPECT_THROW(recon(raw, o), DataError);
}

// A 3D 2 x 2 GRAPPA scan with embedded ACS (lines off the lattice flagged calibration only, as Siemens
// data and bench/make_ismrmrd3d have them), two repetitions while the header announces one: the session
// lets its calibration go once ESPIRiT has the calibration block (the slice's last image, as announced)
// and restores it for the second repetition. Both images equal the whole-file chain's, which keeps it.
TEST(Session, VolumeCalibrationReleasedBeforeTheMapsGivesTheSameImages) {
  const index_t nc = 8, n = 24, nz = 16, acs_y = 12, acs_z = 10;
  const auto p = test::make_coil_phantom(nc, n, n, 0.002);
  io::raw_dataset raw;
  raw.header = header_for(n, n, 1, 2);
  raw.header.accel_e2 = 2;
  raw.header.calibration_mode = "embedded";
  raw.header.encoded_matrix[2] = raw.header.recon_matrix[2] = static_cast<std::uint16_t>(nz);
  raw.header.e2 = io::limit{0, static_cast<std::uint16_t>(nz - 1), static_cast<std::uint16_t>(nz / 2)};
  for (std::uint16_t rep : {0, 1})
    for (index_t z = 0; z < nz; ++z)
      for (index_t y = 0; y < n; ++y) {
        const bool lattice = y % 2 == 0 && z % 2 == 0;
        const bool acs = y >= n / 2 - acs_y / 2 && y < n / 2 + acs_y / 2 && z >= nz / 2 - acs_z / 2 &&
                         z < nz / 2 + acs_z / 2;
        if (!lattice && !acs) continue;
        auto a = test::line_readout(p.kspace, y, 0, rep);
        a.idx.kspace_encode_step_2 = static_cast<std::uint16_t>(z);
        const float w = std::exp(-0.02f * static_cast<float>((z - nz / 2) * (z - nz / 2)));
        for (auto& v : a.data) v *= w * static_cast<float>(1 + (y * 7 + z * 3) % 5) * 0.25f;
        if (acs) a.flags |= flag_bit(lattice ? acq_flag::is_parallel_calibration_and_imaging
                                             : acq_flag::is_parallel_calibration);
        raw.acquisitions.push_back(std::move(a));
      }
  const auto st = stream(raw);
  const auto ref = whole_file(raw);
  EXPECT_EQ(st.method, "grappa");
  ASSERT_EQ(st.images.size(), 2u);
  expect_same_images(st.images, ref.images);
}

TEST(Session, CancelFromAnotherThreadStopsTheWork) {
  // A 3D buffer: cancel from another thread once the ESPIRiT maps have started (their first progress
  // report), while the remaining x positions are computed.
  const index_t nc = 4, n = 24, nz = 12;
  const auto p = test::make_coil_phantom(nc, n, n, 0.01);
  io::raw_dataset raw;
  raw.header = header_for(n, n, 1);
  raw.header.encoded_matrix[2] = raw.header.recon_matrix[2] = static_cast<std::uint16_t>(nz);
  raw.header.e2 = io::limit{0, static_cast<std::uint16_t>(nz - 1), static_cast<std::uint16_t>(nz / 2)};
  for (index_t z = 0; z < nz; ++z)
    for (index_t y = 0; y < n; ++y) {
      auto a = test::line_readout(p.kspace, y, 0);
      a.idx.kspace_encode_step_2 = static_cast<std::uint16_t>(z);
      const float w = std::exp(-0.02f * static_cast<float>((z - nz / 2) * (z - nz / 2)));
      for (auto& v : a.data) v *= w;
      raw.acquisitions.push_back(std::move(a));
    }
  std::atomic<bool> started{false}, cancel_called{false};
  recon_options o;
  o.method = "espirit";
  o.progress = [&](const std::string& m) {
    if (m.find("ESPIRiT maps") == std::string::npos || started.load()) return;
    started.store(true);  // the maps are being computed: wait (bounded) for the other thread's cancel()
    for (int i = 0; i < 5000 && !cancel_called.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  recon_session s(raw.header, o);
  for (const auto& a : raw.acquisitions) s.push(a);
  std::chrono::steady_clock::time_point cancelled_at;
  std::thread canceller([&] {
    while (!started.load()) std::this_thread::yield();
    cancelled_at = std::chrono::steady_clock::now();
    s.cancel();
    cancel_called.store(true);
  });
  EXPECT_THROW(s.finish(), Cancelled);
  const auto stopped = std::chrono::steady_clock::now();
  canceller.join();
  EXPECT_TRUE(s.cancelled());
  EXPECT_EQ(s.images_made(), 0);
  std::printf("cancel -> Cancelled thrown after %.1f ms\n",
              std::chrono::duration<double, std::milli>(stopped - cancelled_at).count());
  EXPECT_THROW(s.push(raw.acquisitions[0]), Cancelled);  // unusable after
}

TEST(Session, PushAfterFinishIsRefused) {
  const index_t n = 16;
  const auto p = test::make_coil_phantom(2, n, n);
  recon_session s(header_for(n, n, 1));
  for (index_t y = 0; y < n; ++y) s.push(test::line_readout(p.kspace, y, 0));
  s.finish();
  EXPECT_EQ(s.take_images().size(), 1u);
  EXPECT_THROW(s.push(test::line_readout(p.kspace, 0, 0)), InvalidArgument);
  recon_session empty(header_for(n, n, 1));
  EXPECT_THROW(empty.finish(), DataError);
}

}  // namespace
}  // namespace larmor
