// Non-Cartesian raw data -> images (recon/noncartesian_recon.hpp): synthetic radial ISMRMRD files written with
// libismrmrd (Shepp-Logan x simulated coils, samples from a double-precision NUFFT at 1e-9), read back with
// libismrmrd (acquisitions + per-sample traj), reconstructed by noncartesian_assembler and compared with the
// known phantom |object| * rss(true maps); trajectory units detected (normalised, cycles, radians give the
// same image), ambiguous and impossible extents refused, stated units honoured.
#include <gtest/gtest.h>
#include <ismrmrd/dataset.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "larmor/io/ismrmrd.hpp"
#include "larmor/recon/noncartesian_recon.hpp"
#include "larmor/nufft/nufft.hpp"
#include "larmor/nufft/trajectory.hpp"
#include "larmor/recon/recon_file.hpp"
#include "larmor/sim/phantom.hpp"

using namespace larmor;

namespace {

constexpr double pi = 3.14159265358979323846;

std::string tmp_path(const std::string& name) { return std::string(LARMOR_TEST_TMP) + "/" + name; }

double relative_error(const array<float, 3>& a, const array<float, 3>& b) {
  double num = 0, den = 0;
  for (index_t i = 0; i < a.size(); ++i) num += (a[i] - b[i]) * double(a[i] - b[i]), den += b[i] * double(b[i]);
  return std::sqrt(num / den);
}

struct radial_case {
  index_t n = 64, coils = 4, spokes = 100, samples = 128;
  trajectory_units units = trajectory_units::normalised;
  double noise = 0;        // sigma of complex Gaussian noise on the imaging samples
  bool noise_scan = false;  // one correlated noise scan first
  int repetitions = 1;     // repetition r holds (r + 1) x the object
  double k_scale = 1;      // extra factor on the stored trajectory (for refused extents)
};

struct phantom_reference {
  // |object_disc| * rss(true maps), (y, x); object_disc: the object limited to the k-space disc |k| <= N/2
  // that radial spokes of length N cover (the corners of the Cartesian k-space are never measured)
  array<float, 2> expected;
  array<float, 2> object;
};

// Writes the file, returns the reference image.
phantom_reference write_radial(const std::string& path, const radial_case& rc) {
  const index_t n = rc.n, nc = rc.coils;
  phantom_reference ref{array<float, 2>(extents<2>{n, n}), shepp_logan<float>(n, n)};
  const auto maps = simulated_coil_maps<double>(nc, n, n);
  array<cdouble, 3> imgs(extents<3>{nc, n, n});
  for (index_t y = 0; y < n; ++y)
    for (index_t x = 0; x < n; ++x) {
      double ss = 0;
      for (index_t c = 0; c < nc; ++c) {
        imgs(c, y, x) = maps(c, y, x) * static_cast<double>(ref.object(y, x));
        ss += std::norm(maps(c, y, x));
      }
      ref.expected(y, x) = static_cast<float>(std::sqrt(ss));
    }
  array<cfloat, 2> ok(extents<2>{n, n});
  for (index_t i = 0; i < n * n; ++i) ok[i] = ref.object[i];
  ok = fftc(ok.cview());
  for (index_t y = 0; y < n; ++y)
    for (index_t x = 0; x < n; ++x) {
      const double ky = static_cast<double>(y - n / 2), kx = static_cast<double>(x - n / 2);
      if (ky * ky + kx * kx > 0.25 * static_cast<double>(n * n)) ok(y, x) = 0;
    }
  ok = ifftc(ok.cview());
  for (index_t i = 0; i < n * n; ++i) ref.expected[i] *= std::abs(ok[i]);
  const auto k = radial_trajectory(rc.spokes, rc.samples, static_cast<double>(n));  // (spokes, samples, (y, x))
  const index_t M = rc.spokes * rc.samples;
  const auto y = nufft<double, 3, double>(imgs.cview(), strided_view<const double, 2>(k.data(), extents<2>{M, 2}), 1e-9);
  const double f = rc.k_scale * (rc.units == trajectory_units::normalised ? 1.0 / static_cast<double>(n)
                                 : rc.units == trajectory_units::radians  ? 2 * pi / static_cast<double>(n)
                                                                           : 1.0);
  std::filesystem::remove(path);
  ISMRMRD::Dataset d(path.c_str(), "dataset", true);
  const std::string N = std::to_string(n);
  d.writeHeader("<?xml version=\"1.0\"?><ismrmrdHeader xmlns=\"http://www.ismrm.org/ISMRMRD\">"
                "<experimentalConditions><H1resonanceFrequency_Hz>63500000</H1resonanceFrequency_Hz>"
                "</experimentalConditions><encoding><encodedSpace><matrixSize><x>" + N + "</x><y>" + N +
                "</y><z>1</z></matrixSize><fieldOfView_mm><x>256</x><y>256</y><z>8</z></fieldOfView_mm>"
                "</encodedSpace><reconSpace><matrixSize><x>" + N + "</x><y>" + N +
                "</y><z>1</z></matrixSize><fieldOfView_mm><x>256</x><y>256</y><z>8</z></fieldOfView_mm>"
                "</reconSpace><encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>" +
                std::to_string(rc.spokes - 1) +
                "</maximum><center>0</center></kspace_encoding_step_1></encodingLimits>"
                "<trajectory>radial</trajectory></encoding></ismrmrdHeader>");
  std::mt19937 rng(7);
  std::normal_distribution<float> g(0.f, 1.f);
  if (rc.noise_scan) {  // correlated noise: channel c = sum_{j<=c} (j+1) e_j / (c+1)
    ISMRMRD::Acquisition a(256, static_cast<uint16_t>(nc));
    a.setFlag(ISMRMRD::ISMRMRD_ACQ_IS_NOISE_MEASUREMENT);
    std::vector<cfloat> e(static_cast<std::size_t>(nc));
    for (index_t s = 0; s < 256; ++s) {
      for (auto& v : e) v = cfloat(g(rng), g(rng));
      for (index_t c = 0; c < nc; ++c) {
        cfloat acc(0);
        for (index_t j = 0; j <= c; ++j) acc += static_cast<float>(j + 1) * e[static_cast<std::size_t>(j)];
        a.data(static_cast<uint16_t>(s), static_cast<uint16_t>(c)) = acc / static_cast<float>(c + 1);
      }
    }
    d.appendAcquisition(a);
  }
  for (int rep = 0; rep < rc.repetitions; ++rep)
    for (index_t s = 0; s < rc.spokes; ++s) {
      ISMRMRD::Acquisition a(static_cast<uint16_t>(rc.samples), static_cast<uint16_t>(nc), 2);
      a.idx().kspace_encode_step_1 = static_cast<uint16_t>(s);
      a.idx().repetition = static_cast<uint16_t>(rep);
      a.center_sample() = static_cast<uint16_t>(rc.samples / 2);
      {  // the header is a packed struct: its float arrays are set on a copy, not through references
        ISMRMRD::AcquisitionHeader hd = a.getHead();
        hd.position[0] = 1.5f, hd.position[1] = -2.f, hd.position[2] = 3.f;
        hd.read_dir[0] = 1.f, hd.phase_dir[1] = 1.f, hd.slice_dir[2] = 1.f;
        a.setHead(hd);
      }
      for (index_t i = 0; i < rc.samples; ++i) {
        const index_t m = s * rc.samples + i;
        a.traj(0, static_cast<uint16_t>(i)) = static_cast<float>(k[static_cast<std::size_t>(2 * m + 1)] * f);  // kx
        a.traj(1, static_cast<uint16_t>(i)) = static_cast<float>(k[static_cast<std::size_t>(2 * m)] * f);      // ky
        for (index_t c = 0; c < nc; ++c)
          a.data(static_cast<uint16_t>(i), static_cast<uint16_t>(c)) =
              cfloat(y(c, m) * static_cast<double>(rep + 1)) +
              static_cast<float>(rc.noise) * cfloat(g(rng), g(rng));
      }
      d.appendAcquisition(a);
    }
  return ref;
}

// Reads the file with libismrmrd and feeds the assembler (acquisition + its traj).
std::vector<io::image_record> recon_file(const std::string& path, noncartesian_recon_options o,
                                         std::string* description = nullptr) {
  ISMRMRD::Dataset d(path.c_str(), "dataset", false);
  std::string xml;
  d.readHeader(xml);
  const auto h = io::parse_ismrmrd_header(xml, path);
  noncartesian_assembler as(h, path, o);
  for (uint32_t i = 0; i < d.getNumberOfAcquisitions(); ++i) {
    ISMRMRD::Acquisition a;
    d.readAcquisition(i, a);
    io::acquisition b;
    const ISMRMRD::AcquisitionHeader hd = a.getHead();  // packed: read every field from a copy
    b.flags = hd.flags;
    b.center_sample = hd.center_sample;
    b.discard_pre = hd.discard_pre, b.discard_post = hd.discard_post;
    b.idx.kspace_encode_step_1 = hd.idx.kspace_encode_step_1;
    b.idx.repetition = hd.idx.repetition;
    b.idx.slice = hd.idx.slice;
    for (int j = 0; j < 3; ++j) b.position[static_cast<std::size_t>(j)] = hd.position[j];
    b.data = array<cfloat, 2>(extents<2>{a.active_channels(), a.number_of_samples()});
    for (index_t c = 0; c < b.channels(); ++c)
      for (index_t s = 0; s < b.samples(); ++s)
        b.data(c, s) = a.data(static_cast<uint16_t>(s), static_cast<uint16_t>(c));
    as.add(b, a.getTrajPtr(), a.trajectory_dimensions());
  }
  if (description) *description = as.describe();
  return as.finish();
}

// NRMSE of |image| against the reference over the object, after the least-squares scale.
double nrmse(const io::image_record& r, const phantom_reference& ref, double scale = 1) {
  double num = 0, den = 0, ab = 0, bb = 0;
  const index_t n = ref.expected.shape(0);
  for (index_t y = 0; y < n; ++y)
    for (index_t x = 0; x < n; ++x)
      if (ref.object(y, x) > 0.05f) {
        ab += double(r.magnitude(0, y, x)) * ref.expected(y, x) * scale;
        bb += double(ref.expected(y, x)) * ref.expected(y, x) * scale * scale;
      }
  const double a = bb > 0 ? ab / bb : 0;
  for (index_t y = 0; y < n; ++y)
    for (index_t x = 0; x < n; ++x)
      if (ref.object(y, x) > 0.05f) {
        const double e = double(ref.expected(y, x)) * scale;
        num += (r.magnitude(0, y, x) / a - e) * (r.magnitude(0, y, x) / a - e);
        den += e * e;
      }
  return std::sqrt(num / den);
}

template <class F>
void expect_data_error(F&& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "expected DataError containing '" << fragment << "'";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(NufftRecon, RadialIsmrmrdMatchesPhantom) {
  radial_case rc;
  rc.n = 48, rc.spokes = 76, rc.samples = 96;
  const auto path = tmp_path("nc_radial_norm.h5");
  const auto ref = write_radial(path, rc);
  noncartesian_recon_options o;
  std::string desc;
  const auto imgs = recon_file(path, o, &desc);
  ASSERT_EQ(imgs.size(), 1u);
  const auto& r = imgs[0];
  EXPECT_EQ(r.magnitude.shape(), (extents<3>{1, 48, 48}));
  EXPECT_FLOAT_EQ(r.position[0], 1.5f);
  EXPECT_FLOAT_EQ(r.position[1], -2.f);
  EXPECT_FLOAT_EQ(r.fov_mm[0], 256.f);
  const double e_cg = nrmse(r, ref);
  o.method = "gridding";
  const double e_grid = nrmse(recon_file(path, o)[0], ref);
  o.method = "cgsense";
  o.maps = "inati";
  const double e_inati = nrmse(recon_file(path, o)[0], ref);
  // gridding is the disc-limited image; CG-SENSE also extrapolates a little beyond the disc
  std::printf("fully sampled radial 48^2, 4 coils: NRMSE cgsense %.4f, gridding %.4f, cgsense+inati %.4f\n", e_cg,
              e_grid, e_inati);
  EXPECT_LT(e_cg, 0.11);  // measured 0.083 (gridding 0.040, inati maps 0.073)
  EXPECT_LT(e_grid, 0.06);
  EXPECT_LT(e_inati, 0.1);
  EXPECT_NE(desc.find("radial 2D, 76 readouts x 96 samples"), std::string::npos) << desc;
  EXPECT_NE(desc.find("normalised [-0.5, 0.5) (detected)"), std::string::npos) << desc;
}

TEST(NufftRecon, UnitsDetectedAlike) {
  noncartesian_recon_options o;
  o.method = "gridding";
  std::vector<std::vector<io::image_record>> out;
  for (auto u : {trajectory_units::normalised, trajectory_units::cycles_per_fov, trajectory_units::radians}) {
    radial_case rc;
    rc.spokes = 60;
    rc.units = u;
    const auto path = tmp_path(std::string("nc_units_") + trajectory_units_name(u) + ".h5");
    write_radial(path, rc);
    std::string desc;
    out.push_back(recon_file(path, o, &desc));
    const std::string range = u == trajectory_units::normalised       ? "normalised [-0.5, 0.5)"
                              : u == trajectory_units::cycles_per_fov ? "cycles/FOV [-N/2, N/2)"
                                                                      : "radians [-pi, pi)";
    EXPECT_NE(desc.find(range + " (detected)"), std::string::npos) << desc;
  }
  for (std::size_t i = 1; i < out.size(); ++i)
    EXPECT_LT(relative_error(out[i][0].magnitude, out[0][0].magnitude), 1e-4);
}

TEST(NufftRecon, AmbiguousAndImpossibleUnitsRefused) {
  radial_case rc;
  rc.n = 6, rc.coils = 2, rc.spokes = 16, rc.samples = 12, rc.units = trajectory_units::cycles_per_fov;
  const auto path = tmp_path("nc_ambiguous.h5");
  write_radial(path, rc);
  noncartesian_recon_options o;
  o.method = "gridding";
  o.maps = "inati";
  expect_data_error([&] { recon_file(path, o); }, "fits several units");
  o.units = trajectory_units::cycles_per_fov;  // stated: reconstructs
  std::string desc;
  const auto imgs = recon_file(path, o, &desc);
  EXPECT_EQ(imgs.size(), 1u);
  EXPECT_NE(desc.find("(stated)"), std::string::npos) << desc;
  radial_case small;
  small.spokes = 20, small.k_scale = 0.05;  // 5 % of k-space: fits no unit
  const auto p2 = tmp_path("nc_tiny.h5");
  write_radial(p2, small);
  expect_data_error([&] { recon_file(p2, noncartesian_recon_options{}); }, "fits none of");
  // No trajectory at all.
  io::encoding_header h;
  h.encoded_matrix = {16, 16, 1};
  noncartesian_assembler as(h, "x.h5");
  io::acquisition a;
  a.data = array<cfloat, 2>(extents<2>{2, 8});
  expect_data_error([&] { as.add(a); }, "carries no trajectory");
}

TEST(NufftRecon, UndersampledCgSenseBeatsGriddingAndNoiseIsWhitened) {
  radial_case rc;
  rc.coils = 8, rc.spokes = 32, rc.noise = 0.002, rc.noise_scan = true, rc.repetitions = 2;
  const auto path = tmp_path("nc_under.h5");
  const auto ref = write_radial(path, rc);
  noncartesian_recon_options o;
  o.iters = 15;
  std::vector<std::string> said;
  o.progress = [&](const std::string& s) { said.push_back(s); };
  const auto cg = recon_file(path, o);
  ASSERT_EQ(cg.size(), 2u);
  EXPECT_EQ(cg[0].repetition, 0);
  EXPECT_EQ(cg[1].repetition, 1);
  bool whitened = false;
  for (const auto& s : said) whitened |= s.find("noise pre-whitening from 1 noise scans") != std::string::npos;
  EXPECT_TRUE(whitened);
  o.method = "gridding";
  const auto gr = recon_file(path, o);
  const double e_cg = nrmse(cg[0], ref), e_gr = nrmse(gr[0], ref), e_cg2 = nrmse(cg[1], ref, 2.0);
  // repetition 1 holds twice the object: same maps (per slice), twice the image
  double s0 = 0, s1 = 0;
  for (index_t i = 0; i < cg[0].magnitude.size(); ++i) s0 += cg[0].magnitude[i], s1 += cg[1].magnitude[i];
  std::printf("radial 32 spokes 64^2, 8 coils: NRMSE cgsense %.4f, gridding %.4f; rep 1 / rep 0 = %.4f\n", e_cg,
              e_gr, s1 / s0);
  EXPECT_LT(e_cg, 0.1);  // measured 0.073 (gridding with the ramp dcf 0.092, with Pipe-Menon 0.169)
  EXPECT_LT(e_cg, 0.9 * e_gr);
  EXPECT_LT(e_cg2, 0.9 * e_gr);
  EXPECT_NEAR(s1 / s0, 2.0, 0.02);
}

namespace {

// The recon chain (recon_session -> noncartesian_assembler) on a radial ISMRMRD file: io::read_ismrmrd fills
// each readout's trajectory, and `larmor recon` gives the images the assembler gives on the same readouts.
TEST(NufftRecon, TheChainReconstructsRadialIsmrmrdFiles) {
  radial_case rc;
  rc.n = 32, rc.spokes = 50, rc.samples = 64;
  const auto path = tmp_path("nc_chain_radial.h5");
  write_radial(path, rc);
  const auto raw = io::read_ismrmrd(path);
  index_t with_traj = 0;
  for (const auto& a : raw.acquisitions) {
    if (a.has(io::acq_flag::is_noise_measurement)) continue;
    ASSERT_EQ(a.traj.shape(0), a.samples());
    EXPECT_EQ(a.traj.shape(1), 2);
    ++with_traj;
  }
  EXPECT_EQ(with_traj, rc.spokes);
  const auto direct = ::recon_file(path, noncartesian_recon_options{});
  const auto chain = ::larmor::recon_file(path, recon_options{});
  ASSERT_EQ(chain.images.size(), direct.size());
  EXPECT_EQ(chain.method, "cgsense (non-Cartesian)");
  EXPECT_LT(relative_error(chain.images[0].magnitude, direct[0].magnitude), 1e-6);
  EXPECT_EQ(chain.images[0].image_index, 1);
  recon_options grappa;
  grappa.method = "grappa";
  EXPECT_THROW(::larmor::recon_file(path, grappa), InvalidArgument);  // Cartesian methods refused
}

}  // namespace
