// Siemens twix reader: the real scans in data/scans read into the raw_dataset model and compared
// sample by sample with `bart twixread` (an independent reader), flags and counters checked against what
// the data READMEs state, a VB file and a multi-raid file built here from the VD scans, the recon chain
// through to an RSS image, and malformed input (truncations, corrupt length fields, random mutations)
// that must raise larmor::DataError and never crash.
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <complex>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "larmor/io/cfl.hpp"
#include "larmor/io/ismrmrd.hpp"
#include "larmor/io/twix.hpp"
#include "larmor/recon/recon_file.hpp"
#include "test_helpers.hpp"
#include "larmor/coils/rss.hpp"

namespace larmor {
namespace {

using io::acq_flag;
using bytes = std::vector<std::uint8_t>;

std::string shared(const std::string& rel) { return std::string(LARMOR_SCANS) + "/" + rel; }
const std::string phantom_dat = "pulseq_phantom_32ch/meas_MID00243_FID33257_pulseq.dat";
const std::string brain_dat = "pulseq_invivo_brain_16ch/2024-02-06-164128_localcoil16ch.dat";
const std::string gre_dat = "twixtools_gre_epi_2ch/gre.dat";
const std::string epi_dat = "twixtools_gre_epi_2ch/epi.dat";

bytes slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void spit(const std::string& path, const bytes& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

template <class T>
T get(const bytes& b, std::size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof(T));
  return v;
}
template <class T>
void put(bytes& b, std::size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof(T));
}

#define REQUIRE_DATA(rel)                                                               \
  if (!std::filesystem::exists(shared(rel))) GTEST_SKIP() << shared(rel) << " is absent"

// An independent walk of a single-measurement VD file (written for the tests, from the documented
// layout): where the measurement, its header and each scan start.
struct vd_map {
  std::size_t meas_begin = 0, scans_begin = 0, acqend = 0;
  std::vector<std::size_t> scans;  // offsets of the ScanHeaders before ACQEND
};
vd_map walk_vd(const bytes& b) {
  vd_map m;
  m.meas_begin = static_cast<std::size_t>(get<std::uint64_t>(b, 8 + 8));
  m.scans_begin = m.meas_begin + get<std::uint32_t>(b, m.meas_begin);
  std::size_t p = m.scans_begin;
  while (!(get<std::uint64_t>(b, p + 40) & 1)) {
    m.scans.push_back(p);
    p += 192 + get<std::uint16_t>(b, p + 50) * (32 + 8 * std::size_t{get<std::uint16_t>(b, p + 48)});
  }
  m.acqend = p;
  return m;
}

// k-space of the file as `bart twixread` writes it: BART dims [x y z coils] -> (coils, z, y, x).
// bart aborts on some trailing ACQEND scans after writing all data (as in test_espirit), so its exit status
// is not used; the file must exist.
array<cfloat, 4> bart_kspace(const std::string& dat, const std::string& name, const std::string& dims = "-A") {
  std::filesystem::remove(test::tmp_path(name + ".cfl"));
  test::run_bart("twixread " + dims + " '" + dat + "' " + name + " 2>/dev/null");
  EXPECT_TRUE(std::filesystem::exists(test::tmp_path(name + ".cfl"))) << "bart twixread wrote nothing for " << dat;
  return read_cfl<4>(test::tmp_path(name));
}

index_t count_flag(const io::raw_dataset& raw, acq_flag f) {
  return std::count_if(raw.acquisitions.begin(), raw.acquisitions.end(), [&](const auto& a) { return a.has(f); });
}

// Every acquisition placed at its line counter without any interpretation (no reversal, no centring): what
// `bart twixread` does with the readouts it keeps.
array<cfloat, 4> raw_lines(const io::raw_dataset& raw, index_t ny, bool keep(const io::acquisition&)) {
  const auto& a0 = raw.acquisitions.front();
  array<cfloat, 4> k(extents<4>{a0.channels(), 1, ny, a0.samples()});
  for (const auto& a : raw.acquisitions) {
    if (!keep(a)) continue;
    for (index_t c = 0; c < a.channels(); ++c)
      for (index_t x = 0; x < a.samples(); ++x) k(c, 0, a.idx.kspace_encode_step_1, x) = a.data(c, x);
  }
  return k;
}

// ---------------------------------------------------------------------------------------------------------
// Real scans.

TEST(TwixRead, Phantom32chMatchesBartTwixread) {
  REQUIRE_DATA(phantom_dat);
  const auto raw = io::read_twix(shared(phantom_dat));
  ASSERT_EQ(raw.acquisitions.size(), 64u);
  for (const auto& a : raw.acquisitions) {
    ASSERT_EQ(a.channels(), 32);
    ASSERT_EQ(a.samples(), 64);
    EXPECT_EQ(a.center_sample, 32);
    EXPECT_EQ(a.flags & ~(io::flag_bit(acq_flag::first_in_slice) | io::flag_bit(acq_flag::last_in_slice) |
                          io::flag_bit(acq_flag::last_in_measurement)),
              0u);
  }
  EXPECT_TRUE(raw.acquisitions.front().has(acq_flag::first_in_slice));
  EXPECT_TRUE(raw.acquisitions.back().has(acq_flag::last_in_slice));
  EXPECT_TRUE(raw.acquisitions.back().has(acq_flag::last_in_measurement));
  for (int i = 0; i < 64; ++i) EXPECT_EQ(raw.acquisitions[static_cast<std::size_t>(i)].idx.kspace_encode_step_1, i);
  const auto& h = raw.header;
  EXPECT_EQ(h.encoded_matrix, (std::array<std::uint16_t, 3>{64, 64, 1}));
  EXPECT_EQ(h.recon_matrix, (std::array<std::uint16_t, 3>{64, 64, 1}));
  EXPECT_FLOAT_EQ(h.encoded_fov_mm[0], 128.f);
  EXPECT_FLOAT_EQ(h.recon_fov_mm[1], 128.f);
  EXPECT_FLOAT_EQ(h.recon_fov_mm[2], 30.f);
  EXPECT_EQ(h.protocol_name, "pulseq_v140_ice_fire");
  EXPECT_NEAR(h.system_field_strength_T, 2.89362f, 1e-4f);
  EXPECT_EQ(h.receiver_channels, 32);
  EXPECT_EQ(h.accel_e1, 1);
  ASSERT_TRUE(h.e1.has_value());
  EXPECT_EQ(h.e1->maximum, 63);
  EXPECT_EQ(h.e1->center, 32);
  // Transversal slice: the slice direction from the quaternion is the protocol's sNormal (0, 0, 1), the
  // position the MDH's (sag, cor, tra) = (-6.66, 45.40, 0).
  const auto& a0 = raw.acquisitions.front();
  EXPECT_NEAR(a0.slice_dir[2], 1.f, 1e-5f);
  EXPECT_NEAR(a0.position[0], -6.6586f, 1e-3f);
  EXPECT_NEAR(a0.position[1], 45.3995f, 1e-3f);

  const auto kd = assemble_kspace(raw);
  ASSERT_EQ(kd.imaging.size(), 1u);
  ASSERT_EQ(kd.imaging[0].kspace.shape(), (extents<4>{32, 1, 64, 64}));
  if (!test::have_bart()) GTEST_SKIP() << "bart not installed";
  const auto ref = bart_kspace(shared(phantom_dat), "twix_phantom");
  const double err = test::relative_error(kd.imaging[0].kspace, ref);
  std::printf("phantom 32ch: relative difference to bart twixread %.3g\n", err);
  EXPECT_LT(err, 1e-6);
}

TEST(TwixRead, Brain16chMatchesBartTwixread) {
  REQUIRE_DATA(brain_dat);
  // The measurement entry of this file stores length 0 (up to the end of the file), and its ACQEND scan
  // claims more bytes than follow it.
  const auto raw = io::read_twix(shared(brain_dat));
  ASSERT_EQ(raw.acquisitions.size(), 128u);
  EXPECT_EQ(raw.acquisitions.front().channels(), 16);
  EXPECT_EQ(raw.acquisitions.front().samples(), 128);
  EXPECT_EQ(raw.header.encoded_matrix, (std::array<std::uint16_t, 3>{128, 128, 1}));
  EXPECT_FLOAT_EQ(raw.header.recon_fov_mm[0], 256.f);
  EXPECT_FLOAT_EQ(raw.header.recon_fov_mm[2], 3.f);
  EXPECT_EQ(raw.header.protocol_name, "pulseq");
  const auto kd = assemble_kspace(raw);
  ASSERT_EQ(kd.imaging[0].kspace.shape(), (extents<4>{16, 1, 128, 128}));
  if (!test::have_bart()) GTEST_SKIP() << "bart not installed";
  const auto ref = bart_kspace(shared(brain_dat), "twix_brain", "-x 128 -y 128 -c 16 -a 128");
  const double err = test::relative_error(kd.imaging[0].kspace, ref);
  std::printf("brain 16ch: relative difference to bart twixread %.3g\n", err);
  EXPECT_LT(err, 1e-6);
}

TEST(TwixRead, GreWithReadoutOversampling) {
  REQUIRE_DATA(gre_dat);
  const auto raw = io::read_twix(shared(gre_dat));
  ASSERT_EQ(raw.acquisitions.size(), 160u);
  EXPECT_EQ(raw.acquisitions[0].samples(), 320);
  EXPECT_EQ(raw.acquisitions[0].channels(), 2);
  EXPECT_EQ(raw.acquisitions[0].center_sample, 160);
  const auto& h = raw.header;
  EXPECT_EQ(h.protocol_name, "gre");
  // 2x readout oversampling (flReadoutOSFactor): encoded 320 over 400 mm, recon 160 over 200 mm.
  EXPECT_EQ(h.encoded_matrix, (std::array<std::uint16_t, 3>{320, 160, 1}));
  EXPECT_EQ(h.recon_matrix, (std::array<std::uint16_t, 3>{160, 160, 1}));
  EXPECT_FLOAT_EQ(h.encoded_fov_mm[0], 400.f);
  EXPECT_FLOAT_EQ(h.recon_fov_mm[0], 200.f);
  EXPECT_EQ(h.e1->center, 80);
  // Slice normal (sSliceArray.asSlice[0].sNormal) = (6.6e-9, 0.0383878, 0.999263).
  const auto& s = raw.acquisitions[0].slice_dir;
  EXPECT_NEAR(s[0], 0.f, 1e-5f);
  EXPECT_NEAR(s[1], 0.0383878f, 1e-5f);
  EXPECT_NEAR(s[2], 0.999263f, 1e-5f);
  // Read, phase and slice directions are orthonormal.
  const auto& r = raw.acquisitions[0].read_dir;
  const auto& p = raw.acquisitions[0].phase_dir;
  EXPECT_NEAR(r[0] * p[0] + r[1] * p[1] + r[2] * p[2], 0.f, 1e-5f);
  EXPECT_NEAR(r[0] * s[0] + r[1] * s[1] + r[2] * s[2], 0.f, 1e-5f);

  assembly_options keep_os;
  keep_os.remove_oversampling = false;
  const auto full = assemble_kspace(raw, keep_os);
  EXPECT_EQ(full.imaging[0].kspace.shape(), (extents<4>{2, 1, 160, 320}));
  const auto cropped = assemble_kspace(raw);
  EXPECT_EQ(cropped.imaging[0].kspace.shape(), (extents<4>{2, 1, 160, 160}));
  if (!test::have_bart()) GTEST_SKIP() << "bart not installed";
  const auto ref = bart_kspace(shared(gre_dat), "twix_gre");
  const double err = test::relative_error(full.imaging[0].kspace, ref);
  std::printf("gre: relative difference to bart twixread %.3g\n", err);
  EXPECT_LT(err, 1e-6);
}

TEST(TwixRead, EpiReflectAndPhaseCorrection) {
  REQUIRE_DATA(epi_dat);
  const auto raw = io::read_twix(shared(epi_dat));
  ASSERT_EQ(raw.acquisitions.size(), 83u);
  // README: 80 lines x 160 samples x 2 channels, 40 REFLECT lines + 3 PHASCOR navigator scans.
  EXPECT_EQ(count_flag(raw, acq_flag::is_phasecorr_data), 3);
  index_t reflected_imaging = 0;
  for (const auto& a : raw.acquisitions)
    if (!a.has(acq_flag::is_phasecorr_data) && a.has(acq_flag::is_reverse)) ++reflected_imaging;
  EXPECT_EQ(reflected_imaging, 40);
  EXPECT_EQ(raw.header.encoded_matrix, (std::array<std::uint16_t, 3>{160, 80, 1}));
  EXPECT_EQ(raw.header.recon_matrix, (std::array<std::uint16_t, 3>{80, 80, 1}));
  EXPECT_EQ(raw.header.protocol_name, "ep2d_bold");
  assembly_options keep_os;
  keep_os.remove_oversampling = false;
  // The reader marks the scan EPI (test_epi regrids and ghost-corrects it); here the plain placement (flip
  // only) of the Cartesian assembler, which refuses trajectory "epi" itself.
  EXPECT_EQ(raw.header.trajectory, "epi");
  auto as_cartesian = raw;
  as_cartesian.header.trajectory = "cartesian";
  const auto kd = assemble_kspace(as_cartesian, keep_os);
  EXPECT_EQ(kd.skipped, 3);
  ASSERT_EQ(kd.imaging.size(), 1u);
  EXPECT_EQ(kd.imaging[0].lines, 80);
  // Reflected lines are reversed by the assembly: line y of the buffer equals the recorded samples reversed
  // (kSpaceCentreColumn 80 counts in +kx order for both polarities: x <- n - 1 - x; the placement is checked
  // against the scan's own echoes in EpiReversedEchoesMeetTheForwardOnes below).
  const auto& k = kd.imaging[0].kspace;
  for (const auto& a : raw.acquisitions) {
    if (a.has(acq_flag::is_phasecorr_data)) continue;
    const index_t y = a.idx.kspace_encode_step_1, n = a.samples();
    for (index_t x = 0; x < n; ++x)
      ASSERT_EQ(k(1, 0, y, x), a.data(1, a.has(acq_flag::is_reverse) ? n - 1 - x : x)) << "line " << y;
  }
  if (!test::have_bart()) GTEST_SKIP() << "bart not installed";
  // bart twixread keeps the samples as recorded (no reflection) and drops the PHASCOR scans.
  const auto ref = bart_kspace(shared(epi_dat), "twix_epi");
  const auto ours = raw_lines(raw, 80, [](const io::acquisition& a) { return !a.has(acq_flag::is_phasecorr_data); });
  const double err = test::relative_error(ours, ref);
  std::printf("epi: relative difference to bart twixread %.3g\n", err);
  EXPECT_LT(err, 1e-6);
}

// The reversed-readout placement against the scan's own echoes, not against the assembler's arithmetic.
// epi.dat's ADC window is symmetric about its readout lobe (trapezoid 160 + 240 + 160 us, ADC from 32 us for
// 160 x 3.1 us: 32..528 of 560 us; test_epi reads these from the header), so both polarities cross kx = 0 at
// the same point of the window, and once the reversed lines run in +kx order a forward and a reversed echo
// of the same object must sit at the same kx up to the gradient delay: a fraction of a sample (test_epi's
// ghost fit of this scan: |slope| < 0.03 rad/pixel). Placing the reversed lines one sample off (x <- n - x
// instead of n - 1 - x, or the reverse) shows here as a shift of about one sample. The shift d of reversed
// against forward echoes is measured in hybrid space (x image, line) with a direct DFT: c(x) = sum over
// coils of conj(F(x)) R(x) has the phase slope 2 pi d / N per pixel (the average phase step over the pixels
// with signal). Two references from the same scan: its three phase-correction navigators (no phase
// encoding: the same echo read in both directions) and its imaging lines (pairs F->R and R->F; half their
// difference cancels the object's own phase change from line to line). Measured on this scan: navigators
// 0.17 and imaging lines -0.27 samples with the reversed lines as recorded reversed (x = n - 1 - s); 1.17 and
// 0.73 with x = n - s.
using cd = std::complex<double>;

// Centred unitary inverse DFT of the x axis of every line: (coils, 1, y, x) -> (coils, y, x) in double.
std::vector<cd> hybrid_lines(const array<cfloat, 4>& k) {
  const index_t nc = k.shape(0), ny = k.shape(2), n = k.shape(3);
  std::vector<cd> w(static_cast<std::size_t>(n));
  const double two_pi = 2 * 3.14159265358979323846;
  for (index_t m = 0; m < n; ++m) w[static_cast<std::size_t>(m)] = std::polar(1.0, two_pi * double(m) / double(n));
  std::vector<cd> out(static_cast<std::size_t>(nc * ny * n));
  for (index_t c = 0; c < nc; ++c)
    for (index_t y = 0; y < ny; ++y)
      for (index_t x = 0; x < n; ++x) {
        cd s = 0;
        for (index_t u = 0; u < n; ++u) {
          const index_t m = (((x - n / 2) * (u - n / 2)) % n + n) % n;
          s += cd(k(c, 0, y, u)) * w[static_cast<std::size_t>(m)];
        }
        out[static_cast<std::size_t>((c * ny + y) * n + x)] = s / std::sqrt(double(n));
      }
  return out;
}

// The kx shift (samples) that the phase slope of c(x) stands for: the mean phase step between neighbouring
// pixels where |c| exceeds a fifth of its peak, times N / 2 pi.
double kx_shift(const std::vector<cd>& c) {
  const std::size_t n = c.size();
  double peak = 0;
  for (const auto& v : c) peak = std::max(peak, std::abs(v));
  cd step = 0;
  for (std::size_t x = 0; x + 1 < n; ++x)
    if (std::abs(c[x]) > 0.2 * peak && std::abs(c[x + 1]) > 0.2 * peak) step += std::conj(c[x]) * c[x + 1];
  return std::arg(step) * double(n) / (2 * 3.14159265358979323846);
}

TEST(TwixRead, EpiReversedEchoesMeetTheForwardOnes) {
  REQUIRE_DATA(epi_dat);
  const auto raw = io::read_twix(shared(epi_dat));
  auto cartesian = raw;
  cartesian.header.trajectory = "cartesian";
  cartesian.acquisitions.clear();
  auto navs = cartesian;
  std::map<index_t, bool> reversed_line;
  index_t nav = 0;
  for (const auto& a : raw.acquisitions) {
    if (!a.has(acq_flag::is_phasecorr_data)) {
      reversed_line[a.idx.kspace_encode_step_1] = a.has(acq_flag::is_reverse);
      cartesian.acquisitions.push_back(a);
      continue;
    }
    auto b = a;  // a navigator as an imaging line of its own (0, 1, 2), the assembler's placement
    for (const auto f : {acq_flag::is_phasecorr_data, acq_flag::is_rtfeedback_data, acq_flag::is_hpfeedback_data,
                         acq_flag::is_navigation_data})  // PHASCOR navigators also carry RTFEEDBACK here
      b.flags &= ~io::flag_bit(f);
    b.idx.kspace_encode_step_1 = static_cast<std::uint16_t>(nav);
    reversed_line[-1 - nav] = a.has(acq_flag::is_reverse);
    ++nav;
    navs.acquisitions.push_back(std::move(b));
  }
  ASSERT_EQ(nav, 3);
  assembly_options keep_os;
  keep_os.remove_oversampling = false;
  const auto ki = assemble_kspace(cartesian, keep_os), kn = assemble_kspace(navs, keep_os);
  ASSERT_EQ(ki.imaging.size(), 1u);
  ASSERT_EQ(kn.imaging.size(), 1u);
  const auto& k = ki.imaging[0].kspace;
  ASSERT_EQ(k.shape(), (extents<4>{2, 1, 80, 160}));
  const index_t nc = 2, ny = 80, n = 160;
  const index_t y_shift = ny / 2 - (raw.header.e1 ? raw.header.e1->center : ny / 2);
  const auto at = [](index_t i) { return static_cast<std::size_t>(i); };
  // Navigators: the forward one against the mean of the reversed ones.
  const auto hn = hybrid_lines(kn.imaging[0].kspace);
  std::vector<cd> f(at(nc * n)), r(f.size()), cn(at(n));
  index_t nf = 0, nr = 0;
  for (index_t i = 0; i < nav; ++i) {
    const bool rev = reversed_line[-1 - i];
    (rev ? nr : nf) += 1;
    for (index_t c = 0; c < nc; ++c)
      for (index_t x = 0; x < n; ++x) (rev ? r : f)[at(c * n + x)] += hn[at((c * ny + i + y_shift) * n + x)];
  }
  ASSERT_GT(nf, 0);
  ASSERT_GT(nr, 0);
  for (index_t c = 0; c < nc; ++c)
    for (index_t x = 0; x < n; ++x) cn[at(x)] += std::conj(f[at(c * n + x)]) * r[at(c * n + x)];
  const double d_nav = kx_shift(cn);
  // Imaging lines 20..60 (the centre of k-space): forward->reversed and reversed->forward neighbours.
  const auto hi = hybrid_lines(k);
  std::vector<cd> c_fr(at(n)), c_rf(c_fr.size());
  for (index_t y = 20; y < 60; ++y) {
    const index_t line = y - y_shift;
    ASSERT_TRUE(reversed_line.count(line) && reversed_line.count(line + 1)) << "line " << line;
    ASSERT_NE(reversed_line[line], reversed_line[line + 1]) << "EPI lines alternate in polarity";
    auto& acc = reversed_line[line] ? c_rf : c_fr;
    for (index_t c = 0; c < nc; ++c)
      for (index_t x = 0; x < n; ++x)
        acc[at(x)] += std::conj(hi[at((c * ny + y) * n + x)]) * hi[at((c * ny + y + 1) * n + x)];
  }
  const double d_img = 0.5 * (kx_shift(c_fr) - kx_shift(c_rf));
  std::printf("epi.dat: reversed vs forward echoes after placement: %.3f samples (navigators), %.3f (imaging "
              "lines)\n",
              d_nav, d_img);
  EXPECT_LT(std::abs(d_nav), 0.5) << "the reversed navigator echo sits " << d_nav
                                  << " samples from the forward one: reversed readouts misplaced";
  EXPECT_LT(std::abs(d_img), 0.5) << "reversed imaging lines sit " << d_img
                                  << " samples from the forward ones: reversed readouts misplaced";
}

// The chain: recon(raw, rss) against the RSS of the bart-read k-space transformed with ifftc.
TEST(TwixRecon, PhantomRssMatchesBartKspace) {
  REQUIRE_DATA(phantom_dat);
  if (!test::have_bart()) GTEST_SKIP() << "bart not installed";
  recon_options o;
  o.method = "rss";
  const auto res = recon(io::read_twix(shared(phantom_dat)), o);
  ASSERT_EQ(res.images.size(), 1u);
  const auto& img = res.images[0].magnitude;  // (z, y, x)
  ASSERT_EQ(img.shape(), (extents<3>{1, 64, 64}));
  const auto k = bart_kspace(shared(phantom_dat), "twix_phantom_rss");
  const auto coil_imgs = ifftc(k.cview(), {2, 3});
  const auto ref = rss(coil_imgs.cview(), 0);  // (z, y, x)
  double num = 0, den = 0;
  for (index_t y = 0; y < 64; ++y)
    for (index_t x = 0; x < 64; ++x) {
      num += std::pow(double(img(0, y, x)) - ref(0, y, x), 2);
      den += std::pow(double(ref(0, y, x)), 2);
    }
  const double nrmse = std::sqrt(num / den);
  std::printf("phantom rss: NRMSE to ifftc(bart twixread) %.3g\n", nrmse);
  EXPECT_LT(nrmse, 1e-5);
  // recon(path) dispatches .dat files to the twix reader.
  const auto via_path = recon(shared(phantom_dat), "rss");
  ASSERT_EQ(via_path.images.size(), 1u);
  EXPECT_EQ(via_path.images[0].magnitude(0, 32, 32), img(0, 32, 32));
}

// `larmor info` and `larmor recon` on a twix file.
TEST(TwixRecon, CommandLine) {
  REQUIRE_DATA(gre_dat);
  const auto out = test::tmp_path("twix_cli_gre.h5"), log = test::tmp_path("twix_cli_gre.txt");
  std::filesystem::remove(out);
  const std::string cli = std::string("'") + LARMOR_CLI + "' ";
  ASSERT_EQ(std::system((cli + "info '" + shared(gre_dat) + "' >'" + log + "' 2>&1").c_str()), 0);
  std::stringstream info;
  info << std::ifstream(log).rdbuf();
  EXPECT_NE(info.str().find("protocol        gre"), std::string::npos) << info.str();
  EXPECT_NE(info.str().find("coils           2"), std::string::npos) << info.str();
  EXPECT_NE(info.str().find("encoded matrix  320 x 160 x 1"), std::string::npos) << info.str();
  EXPECT_NE(info.str().find("recon matrix    160 x 160 x 1"), std::string::npos) << info.str();
  ASSERT_EQ(std::system((cli + "recon '" + shared(gre_dat) + "' -o '" + out + "' --method rss 2>'" + log + "'").c_str()),
            0);
  const auto images = io::read_ismrmrd_images(out);
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].magnitude.shape(), (extents<3>{1, 160, 160}));
  // A broken twix file: exit status 1, one line naming the reader, no output file.
  const auto bad = test::tmp_path("twix_cli_bad.dat");
  auto b = slurp(shared(gre_dat));
  b.resize(b.size() / 2);
  spit(bad, b);
  std::filesystem::remove(out);
  const int st = std::system((cli + "recon '" + bad + "' -o '" + out + "' 2>'" + log + "'").c_str());
  EXPECT_EQ(WEXITSTATUS(st), 1);
  std::stringstream err;
  err << std::ifstream(log).rdbuf();
  EXPECT_NE(err.str().find("read_twix"), std::string::npos) << err.str();
  EXPECT_FALSE(std::filesystem::exists(out));
}

// ---------------------------------------------------------------------------------------------------------
// Files built here from the VD scans: VB layout, sync data, several measurements.

// The phantom's scans rewritten as a VB file: MeasYaps text buffer, then per readout and channel a 128-byte
// MDH + samples, one SYNCDATA block after the first readout, and a final ACQEND MDH.
bytes vb_from_vd(const bytes& vd, const std::string& more_yaps = "") {
  const auto m = walk_vd(vd);
  bytes out(8);
  const std::string name = "MeasYaps";
  const std::string yaps = "### ASCCONV BEGIN ###\nsSliceArray.asSlice[0].dReadoutFOV\t = \t128.0\n"
                           "tProtocolName\t = \t\"\"vb_test\"\"\n" + more_yaps + "### ASCCONV END ###\n";
  out.insert(out.end(), name.begin(), name.end());
  out.push_back(0);
  const auto len = static_cast<std::uint32_t>(yaps.size());
  out.insert(out.end(), reinterpret_cast<const std::uint8_t*>(&len), reinterpret_cast<const std::uint8_t*>(&len) + 4);
  out.insert(out.end(), yaps.begin(), yaps.end());
  out.resize((out.size() + 31) / 32 * 32 + 10240, 0);  // header length >= 10000, as in real VB files
  put<std::uint32_t>(out, 0, static_cast<std::uint32_t>(out.size()));
  put<std::uint32_t>(out, 4, 1);
  auto mdh = [&](std::size_t scan, std::uint16_t channel) {
    bytes h(128, 0);
    std::memcpy(h.data() + 4, vd.data() + scan + 4, 16);   // measUID, scan counter, time stamps
    std::memcpy(h.data() + 20, vd.data() + scan + 40, 12);  // eval mask, samples, channels
    std::memcpy(h.data() + 32, vd.data() + scan + 52, 28);  // loop counters
    std::memcpy(h.data() + 60, vd.data() + scan + 80, 4);   // cut-off
    std::memcpy(h.data() + 64, vd.data() + scan + 84, 16);  // centre column .. centre partition
    std::memcpy(h.data() + 96, vd.data() + scan + 100, 28);  // slice data
    put<std::uint16_t>(h, 124, channel);
    return h;
  };
  for (std::size_t i = 0; i < m.scans.size(); ++i) {
    const std::size_t s = m.scans[i];
    const std::size_t ns = get<std::uint16_t>(vd, s + 48), nc = get<std::uint16_t>(vd, s + 50);
    for (std::size_t c = 0; c < nc; ++c) {
      auto h = mdh(s, static_cast<std::uint16_t>(c));
      put<std::uint32_t>(h, 0, static_cast<std::uint32_t>(nc * (128 + 8 * ns)));
      out.insert(out.end(), h.begin(), h.end());
      const std::uint8_t* d = vd.data() + s + 192 + c * (32 + 8 * ns) + 32;
      out.insert(out.end(), d, d + 8 * ns);
    }
    if (i == 0) {  // a sync-data block: 128-byte MDH with SYNCDATA + 72 bytes of payload
      bytes h(200, 0xAB);
      std::fill(h.begin(), h.begin() + 128, 0);
      put<std::uint32_t>(h, 0, 200);
      put<std::uint64_t>(h, 20, std::uint64_t{1} << 5);
      out.insert(out.end(), h.begin(), h.end());
    }
  }
  bytes end(128 + 16 * 8, 0);
  put<std::uint32_t>(end, 0, 256);
  put<std::uint64_t>(end, 20, 1);  // ACQEND
  out.insert(out.end(), end.begin(), end.end());
  return out;
}

void expect_same_acquisitions(const io::raw_dataset& a, const io::raw_dataset& b) {
  ASSERT_EQ(a.acquisitions.size(), b.acquisitions.size());
  for (std::size_t i = 0; i < a.acquisitions.size(); ++i) {
    const auto &x = a.acquisitions[i], &y = b.acquisitions[i];
    ASSERT_EQ(x.flags, y.flags) << i;
    ASSERT_EQ(x.idx.kspace_encode_step_1, y.idx.kspace_encode_step_1) << i;
    ASSERT_EQ(x.center_sample, y.center_sample) << i;
    ASSERT_EQ(x.position, y.position) << i;
    ASSERT_EQ(x.data.shape(), y.data.shape()) << i;
    ASSERT_TRUE(std::equal(x.data.begin(), x.data.end(), y.data.begin())) << i;
  }
}

TEST(TwixLayouts, VbFileReadsLikeTheVdOriginal) {
  REQUIRE_DATA(phantom_dat);
  const auto vd = slurp(shared(phantom_dat));
  const auto vb = vb_from_vd(vd);
  EXPECT_TRUE(io::looks_like_twix(vb.data(), vb.size()));
  const auto a = io::parse_twix(vd.data(), vd.size());
  const auto b = io::parse_twix(vb.data(), vb.size(), -1, "vb");
  expect_same_acquisitions(a, b);
  EXPECT_EQ(b.header.protocol_name, "vb_test");
  EXPECT_EQ(b.header.encoded_matrix, a.header.encoded_matrix);
  EXPECT_THROW(io::parse_twix(vb.data(), vb.size(), 1, "vb"), InvalidArgument);
  // Every truncation of the VB file before its ACQEND MDH is a DataError.
  const std::size_t acqend = vb.size() - 256;
  for (std::size_t cut = 0; cut < acqend + 128; cut += (acqend + 128) / 53 + 1) {
    bytes t(vb.begin(), vb.begin() + static_cast<std::ptrdiff_t>(cut));
    EXPECT_THROW(io::parse_twix(t.data(), t.size(), -1, "vb"), DataError) << "cut at " << cut;
  }
}

// The product SMS protocol (sSliceAcceleration, docs/sms.md) marks the scan multiband; a layout the chain cannot
// separate (this phantom has one slice) is refused with one line instead of reconstructed as collapsed slices.
TEST(TwixLayouts, MultibandProtocolIsReadAndRefused) {
  REQUIRE_DATA(phantom_dat);
  const auto vd = slurp(shared(phantom_dat));
  const auto plain = io::parse_twix(vd.data(), vd.size());
  EXPECT_EQ(plain.header.multiband_factor, 1);
  const auto vb = vb_from_vd(vd, "sSliceAcceleration.lMultiBandFactor\t = \t3\nsSliceAcceleration.lFOVShiftFactor\t = \t"
                                 "3\n");
  auto mb = io::parse_twix(vb.data(), vb.size(), -1, "mb");
  EXPECT_EQ(mb.header.multiband_factor, 3);
  EXPECT_EQ(mb.header.multiband_fov_shift, 3);
  try {
    (void)recon(mb);
    ADD_FAILURE() << "a multiband scan was reconstructed";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("slices (encoding limits) at MB 3 is not a whole number"), std::string::npos)
        << e.what();
  }
}

TEST(TwixLayouts, SyncDataIsSkippedAndMultiRaidSelectsMeasurements) {
  REQUIRE_DATA(phantom_dat);
  REQUIRE_DATA(gre_dat);
  const auto vd = slurp(shared(phantom_dat)), gre = slurp(shared(gre_dat));
  const auto m = walk_vd(vd), mg = walk_vd(gre);
  // Sync data inserted after the second scan (DMA length 192 + 104) changes nothing.
  bytes sync(vd.begin(), vd.begin() + static_cast<std::ptrdiff_t>(m.scans[2]));
  bytes block(296, 0x5A);
  std::fill(block.begin(), block.begin() + 192, 0);
  put<std::uint32_t>(block, 0, 296);
  put<std::uint64_t>(block, 40, std::uint64_t{1} << 5);
  sync.insert(sync.end(), block.begin(), block.end());
  sync.insert(sync.end(), vd.begin() + static_cast<std::ptrdiff_t>(m.scans[2]), vd.end());
  put<std::uint64_t>(sync, 8 + 16, 0);  // measurement length 0: up to the end of the file
  expect_same_acquisitions(io::parse_twix(sync.data(), sync.size()), io::parse_twix(vd.data(), vd.size()));

  // Two measurements: gre first (as an adjustment scan would be), the phantom last.
  const std::size_t g0 = mg.meas_begin, g1 = mg.acqend + 192, p0 = m.meas_begin, p1 = m.acqend + 192;
  bytes multi(10240, 0);
  put<std::uint32_t>(multi, 4, 2);
  put<std::uint64_t>(multi, 8 + 8, 10240);
  put<std::uint64_t>(multi, 8 + 16, g1 - g0);
  put<std::uint64_t>(multi, 8 + 152 + 8, 10240 + (g1 - g0));
  put<std::uint64_t>(multi, 8 + 152 + 16, p1 - p0);
  std::memcpy(multi.data() + 8 + 88, "gre", 3);
  std::memcpy(multi.data() + 8 + 152 + 88, "phantom", 7);
  multi.insert(multi.end(), gre.begin() + static_cast<std::ptrdiff_t>(g0), gre.begin() + static_cast<std::ptrdiff_t>(g1));
  multi.insert(multi.end(), vd.begin() + static_cast<std::ptrdiff_t>(p0), vd.begin() + static_cast<std::ptrdiff_t>(p1));
  const auto list = io::list_twix_measurements(multi.data(), multi.size());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].protocol_name, "gre");
  EXPECT_EQ(list[1].offset, 10240 + (g1 - g0));
  const auto first = io::parse_twix(multi.data(), multi.size(), 0);
  EXPECT_EQ(first.header.protocol_name, "gre");
  EXPECT_EQ(first.acquisitions.size(), 160u);
  expect_same_acquisitions(io::parse_twix(multi.data(), multi.size(), -1), io::parse_twix(vd.data(), vd.size()));
  expect_same_acquisitions(io::parse_twix(multi.data(), multi.size(), 1), io::parse_twix(vd.data(), vd.size()));
  EXPECT_THROW(io::parse_twix(multi.data(), multi.size(), 2), InvalidArgument);
}

// ---------------------------------------------------------------------------------------------------------
// Bad input.

template <class F>
std::string data_error_message(F&& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no DataError";
  return "";
}

TEST(TwixBadInput, MissingEmptyAndRandomFiles) {
  EXPECT_NE(data_error_message([] { io::read_twix(test::tmp_path("twix_missing.dat")); }).find("no such file"),
            std::string::npos);
  const auto empty = test::tmp_path("twix_empty.dat");
  spit(empty, {});
  EXPECT_NE(data_error_message([&] { io::read_twix(empty); }).find("empty"), std::string::npos);
  EXPECT_FALSE(io::is_twix_file(empty));
  EXPECT_FALSE(io::is_twix_file(test::tmp_path("twix_missing.dat")));
  std::mt19937 rng(7);
  for (std::size_t size : {1u, 7u, 8u, 100u, 9736u, 20000u, 300000u}) {
    for (int rep = 0; rep < 5; ++rep) {
      bytes b(size);
      for (auto& v : b) v = static_cast<std::uint8_t>(rng());
      if (rep == 1 && size >= 8) put<std::uint32_t>(b, 0, 100), put<std::uint32_t>(b, 4, 1);  // VD-looking
      if (rep == 2 && size >= 8) put<std::uint32_t>(b, 0, static_cast<std::uint32_t>(size / 2)),
                                 put<std::uint32_t>(b, 4, 2);  // VB-looking
      const auto msg = data_error_message([&] { io::parse_twix(b.data(), b.size(), -1, "random"); });
      EXPECT_EQ(msg.rfind("read_twix: random: ", 0), 0u) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
}

TEST(TwixBadInput, EveryTruncationIsADataError) {
  REQUIRE_DATA(phantom_dat);
  const auto vd = slurp(shared(phantom_dat));
  const auto m = walk_vd(vd);
  // With the stored measurement length, any cut before its end is caught by the raid entry.
  for (std::size_t cut : {std::size_t{0}, std::size_t{5}, std::size_t{100}, std::size_t{10239}, m.scans_begin,
                          m.acqend + 100}) {
    EXPECT_THROW(io::parse_twix(vd.data(), cut, -1, "cut"), DataError) << cut;
  }
  // With length 0 ("to the end of the file", as the brain scan stores it) the cut lands in the measurement
  // header, a text buffer, a ScanHeader, a ChannelHeader or the samples: ~50 offsets spread over the file
  // plus one inside each structure of the first and last scan.
  bytes open_ended = vd;
  put<std::uint64_t>(open_ended, 8 + 16, 0);
  std::vector<std::size_t> cuts;
  for (std::size_t c = 0; c < m.acqend + 192; c += (m.acqend + 192) / 50) cuts.push_back(c);
  for (std::size_t s : {m.scans.front(), m.scans.back()})
    for (std::size_t d : {0, 1, 100, 191, 192, 200, 223, 224, 300, 224 + 512, 224 + 544 + 16}) cuts.push_back(s + d);
  cuts.insert(cuts.end(), {m.meas_begin + 4, m.meas_begin + 8, m.meas_begin + 14, m.meas_begin + 5000, m.acqend,
                           m.acqend + 191});
  std::set<std::string> kinds;
  for (std::size_t cut : cuts) {
    const auto msg = data_error_message([&] { io::parse_twix(open_ended.data(), cut, -1, "cut"); });
    EXPECT_EQ(msg.rfind("read_twix: cut: ", 0), 0u) << cut << ": " << msg;
    kinds.insert(msg.substr(16, 20));
  }
  EXPECT_GE(kinds.size(), 4u);  // header, text buffer, scan header, scan data, missing ACQEND ...
  for (const auto& k : kinds) std::printf("  truncation message: %s...\n", k.c_str());
  EXPECT_NO_THROW(io::parse_twix(open_ended.data(), m.acqend + 192, -1, "cut"));
}

TEST(TwixBadInput, CorruptLengthFieldsAreDataErrors) {
  REQUIRE_DATA(phantom_dat);
  const auto vd = slurp(shared(phantom_dat));
  const auto m = walk_vd(vd);
  const std::size_t s = m.scans[3];
  struct edit {
    const char* what;
    std::size_t at;
    int size;  // 2, 4 or 8 bytes
    std::uint64_t value;
  };
  const edit edits[] = {
      {"raid count", 4, 4, 64},  // the last of 64 entries is all zeros: offset 0
      {"entry offset", 8 + 8, 8, ~std::uint64_t{0}},
      {"entry offset inside table", 8 + 8, 8, 100},
      {"entry length", 8 + 16, 8, vd.size()},
      {"header length", m.meas_begin, 4, 0xFFFFFFF0u},
      {"header length tiny", m.meas_begin, 4, 3},
      {"buffer count", m.meas_begin + 4, 4, 0xFFFFFFu},
      {"first buffer size", m.meas_begin + 8 + 7, 4, 0xFFFFFFF0u},  // "Config\0" then its size
      {"samples", s + 48, 2, 0xFFFF},
      {"channels", s + 50, 2, 0xFFFF},
      {"line counter", s + 52, 2, 0xFFFF},
      {"partition counter", s + 58, 2, 0xFFFF},
      {"centre column", s + 84, 2, 0xFFFF},
      {"sync flag with huge DMA length", s + 40, 8, 1u << 5},
  };
  for (const auto& e : edits) {
    bytes b = vd;
    put<std::uint64_t>(b, 8 + 16, 0);
    if (e.size == 2) put<std::uint16_t>(b, e.at, static_cast<std::uint16_t>(e.value));
    if (e.size == 4) put<std::uint32_t>(b, e.at, static_cast<std::uint32_t>(e.value));
    if (e.size == 8) put<std::uint64_t>(b, e.at, e.value);
    if (std::string(e.what) == "sync flag with huge DMA length") put<std::uint32_t>(b, s, 0x1FFFFFF);
    try {
      const auto raw = io::parse_twix(b.data(), b.size(), -1, "edit");
      (void)assemble_kspace(raw);
      ADD_FAILURE() << e.what << ": accepted";
    } catch (const DataError& err) {
      std::printf("  %-32s -> %s\n", e.what, err.what());
      EXPECT_EQ(std::string(err.what()).find('\n'), std::string::npos);
    }
  }
}

// Random mutations of the 32-channel file: parse_twix (and the k-space assembly of whatever parses) either
// returns or throws larmor::Error.
TEST(TwixBadInput, MutationLoop) {
  REQUIRE_DATA(phantom_dat);
  bytes b = slurp(shared(phantom_dat));
  const auto m = walk_vd(b);
  put<std::uint64_t>(b, 8 + 16, 0);
  // Positions worth hitting: the raid table, the measurement header and buffer names, every ScanHeader
  // and ChannelHeader field, anywhere.
  std::vector<std::size_t> hot;
  for (std::size_t i = 0; i < 8 + 2 * 152; ++i) hot.push_back(i);
  for (std::size_t i = 0; i < 64; ++i) hot.push_back(m.meas_begin + i);
  for (std::size_t s : m.scans) {
    for (std::size_t i = 0; i < 192; ++i) hot.push_back(s + i);
    for (std::size_t i = 0; i < 32; ++i) hot.push_back(s + 192 + i);
  }
  for (std::size_t i = 0; i < 192; ++i) hot.push_back(m.acqend + i);
  std::mt19937 rng(2026);
  const auto t0 = std::chrono::steady_clock::now();
  int parsed = 0, rejected = 0, assembled = 0;
  const int rounds = 2500;
  for (int r = 0; r < rounds; ++r) {
    std::vector<std::pair<std::size_t, std::uint8_t>> saved;
    const int n = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < n; ++k) {
      const std::size_t at = rng() % 4 ? hot[rng() % hot.size()] : rng() % b.size();
      saved.emplace_back(at, b[at]);
      const unsigned how = rng() % 4;
      b[at] = how == 0 ? static_cast<std::uint8_t>(rng()) : how == 1 ? std::uint8_t{0xFF}
              : how == 2 ? std::uint8_t{0} : static_cast<std::uint8_t>(b[at] ^ (1u << (rng() % 8)));
    }
    const std::size_t size = rng() % 8 == 0 ? rng() % b.size() : b.size();
    try {
      const auto raw = io::parse_twix(b.data(), size, -1, "mutant");
      ++parsed;
      (void)assemble_kspace(raw);
      ++assembled;
    } catch (const Error&) {
      ++rejected;
    }
    for (auto it = saved.rbegin(); it != saved.rend(); ++it) b[it->first] = it->second;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("mutation loop: %d mutants, %d parsed (%d assembled), %d rejected, %.2f s\n", rounds, parsed, assembled,
              rejected, seconds);
  EXPECT_GT(rejected, rounds / 10);
  EXPECT_GT(parsed, rounds / 10);
}

}  // namespace
}  // namespace larmor
