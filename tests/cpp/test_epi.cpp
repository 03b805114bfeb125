// EPI: the readout trapezoid, ramp-sampling regridding against the analytic signal of an object sampled on
// the ramps, the Nyquist phase fit against a known odd/even phase, an EPI simulator (object, coils, known
// odd/even shift, ramp sampling, + - + navigators) through the chain with ghost-to-signal ratios before and
// after, multi-slice and repetitions, refusals, and the real Siemens EPI scan against its GRE partner.
#include <ismrmrd/dataset.h>
#include <ismrmrd/xml.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <filesystem>
#include <random>
#include <sstream>
#include <vector>

#include "larmor/epi/epi_corrector.hpp"
#include "larmor/io/twix.hpp"
#include "larmor/recon/recon_file.hpp"
#include "test_helpers.hpp"
#include "larmor/coils/rss.hpp"

namespace larmor {
namespace {

using cd = std::complex<double>;
using io::acq_flag;
constexpr double pi = 3.14159265358979323846;

io::epi_trapezoid ramp_trapezoid(index_t samples, double dwell) {
  io::epi_trapezoid g;
  g.ramp_up_us = 100, g.flat_top_us = 200, g.ramp_down_us = 100, g.dwell_us = static_cast<float>(dwell);
  g.acq_delay_us = static_cast<float>(0.5 * (400 - static_cast<double>(samples) * dwell));
  g.samples = static_cast<std::uint32_t>(samples);
  return g;
}

// Samples of the 1D profile x (N pixels, x_j at j - N/2) at positions kappa: the analytic signal
// N^-1/2 sum_j x_j exp(-2 pi i kappa (j - N/2) / N), in double.
std::vector<cd> sample_profile(const std::vector<cd>& x, const std::vector<double>& kappa) {
  const index_t n = static_cast<index_t>(x.size());
  std::vector<cd> s(kappa.size());
  for (std::size_t i = 0; i < kappa.size(); ++i)
    for (index_t j = 0; j < n; ++j)
      s[i] += x[static_cast<std::size_t>(j)] *
              std::polar(1.0 / std::sqrt(double(n)), -2 * pi * kappa[i] * double(j - n / 2) / double(n));
  return s;
}

// A smooth object with an edge and a small detail, inside the central `support` of the N pixels.
std::vector<cd> test_profile(index_t n, double support) {
  std::vector<cd> x(static_cast<std::size_t>(n));
  for (index_t j = 0; j < n; ++j) {
    const double r = double(j - n / 2) / double(n);
    if (std::abs(r) < 0.45 * support)
      x[static_cast<std::size_t>(j)] = cd(1 + 0.5 * std::cos(2 * pi * r * 6), 0.3 * std::sin(2 * pi * r * 3)) +
                                       (std::abs(r - 0.1 * support) < 0.04 ? cd(0.4, 0) : cd(0, 0));
  }
  return x;
}

TEST(EpiTrapezoid, FlatTopGivesTheUniformGrid) {
  io::epi_trapezoid g;
  g.flat_top_us = 256;
  const auto k = epi::ramp_sample_positions(g, 128, 2.0, 128);
  for (index_t n = 0; n < 128; ++n) EXPECT_NEAR(k[static_cast<std::size_t>(n)], double(n - 64) + 0.5, 1e-9);
  // Moment: continuous at the corners, total area Tu/2 + Tf + Td/2.
  io::epi_trapezoid t;
  t.ramp_up_us = 100, t.flat_top_us = 200, t.ramp_down_us = 60;
  EXPECT_NEAR(epi::trapezoid_moment(t, 100 - 1e-9), epi::trapezoid_moment(t, 100 + 1e-9), 1e-6);
  EXPECT_NEAR(epi::trapezoid_moment(t, 300 - 1e-9), epi::trapezoid_moment(t, 300 + 1e-9), 1e-6);
  EXPECT_NEAR(epi::trapezoid_moment(t, 360), 50 + 200 + 30, 1e-9);
  EXPECT_NEAR(epi::trapezoid_moment(t, 50), 12.5, 1e-12);
}

TEST(EpiTrapezoid, RampSamplesOfTheSiemensReadout) {
  // data/scans ep2d_bold: ramps 160 us, flat top 240 us, delay 32 us, 160 samples of 3.1 us.
  io::epi_trapezoid g;
  g.ramp_up_us = 160, g.flat_top_us = 240, g.ramp_down_us = 160, g.acq_delay_us = 32;
  const auto k = epi::ramp_sample_positions(g, 160, 3.1, 160);
  for (std::size_t n = 0; n < 80; ++n) EXPECT_NEAR(k[n], -k[159 - n], 1e-9);  // balanced window: symmetric
  // On the flat top the step is 160 * 3.1 / (ADC area): wider than the Nyquist step of the encoded FOV.
  const double area = epi::trapezoid_moment(g, 528) - epi::trapezoid_moment(g, 32);
  EXPECT_NEAR(k[81] - k[80], 160 * 3.1 / area, 1e-9);
  EXPECT_NEAR(k[80], 0.5 * 160 * 3.1 / area, 1e-9);
  EXPECT_GT(k[81] - k[80], 1.2);
  EXPECT_LT(k[1] - k[0], 0.5);  // dense on the ramp
  for (std::size_t n = 1; n < k.size(); ++n) EXPECT_GT(k[n], k[n - 1]);
  // Too long an ADC window is bad data, named.
  EXPECT_THROW(epi::ramp_sample_positions(g, 200, 3.1, 160), DataError);
}

// Ramp-sampled readouts (forward and reversed) of an object inside the recon FOV, regridded, against the
// analytic uniform k-space (fftc of the object); a plain placement of the same samples as if uniform is
// the "before".
TEST(EpiRegrid, RampSamplesBackOntoTheUniformGrid) {
  for (const index_t n : {128, 96}) {
    const index_t ns = n;
    const auto g = ramp_trapezoid(ns, 384.0 / double(ns));
    const auto kappa = epi::ramp_sample_positions(g, ns, g.dwell_us, n);
    const auto x = test_profile(n, 0.5);
    std::vector<double> uniform(static_cast<std::size_t>(n));
    for (index_t m = 0; m < n; ++m) uniform[static_cast<std::size_t>(m)] = double(m - n / 2);
    const auto truth = sample_profile(x, uniform);
    for (const bool reversed : {false, true}) {
      std::vector<double> pos = kappa;
      if (reversed)
        for (auto& v : pos) v = -v;
      const auto s = sample_profile(x, pos);
      array<cfloat, 2> in(extents<2>{1, ns});
      for (index_t i = 0; i < ns; ++i) in(0, i) = cfloat(s[static_cast<std::size_t>(i)]);
      epi::regrid_options ro;
      ro.support = 0.5;
      const epi::ramp_regridder r(pos, n, ro);
      const auto k = r.to_kspace(in.cview());
      double num = 0, den = 0, naive = 0;
      for (index_t m = 0; m < n; ++m) {
        const cd t = truth[static_cast<std::size_t>(m)];
        num += std::norm(cd(k(0, m)) - t), den += std::norm(t);
        const cd plain = cd(in(0, reversed ? n - 1 - m : m));
        naive += std::norm(plain - t);
      }
      const double err = std::sqrt(num / den), before = std::sqrt(naive / den);
      std::printf("regrid N=%td %s: relative k-space error %.2e (uniform placement %.3f)\n", n,
                  reversed ? "reversed" : "forward", err, before);
      EXPECT_LT(err, 2e-3);
      EXPECT_GT(before, 0.2);
    }
  }
}

// White noise through the regridding: its gain inside the FOV stays near 1 (regularised inverse).
TEST(EpiRegrid, NoiseGainInsideTheFov) {
  const index_t n = 160;
  io::epi_trapezoid g;
  g.ramp_up_us = 160, g.flat_top_us = 240, g.ramp_down_us = 160, g.acq_delay_us = 32;
  epi::regrid_options ro;
  ro.support = 0.5;
  const epi::ramp_regridder r(epi::ramp_sample_positions(g, n, 3.1, n), n, ro);
  // Row norms of the readout-image operator = noise gain per pixel for unit white noise.
  double worst = 0;
  for (index_t j = n / 4; j < 3 * n / 4; ++j) {
    double s = 0;
    for (index_t i = 0; i < n; ++i) s += std::norm(r.matrix()(i, j));
    worst = std::max(worst, std::sqrt(s));
  }
  std::printf("regrid noise gain inside the FOV: %.3f\n", worst);
  EXPECT_LT(worst, 1.2);
  EXPECT_GT(worst, 0.9);
}

TEST(EpiGhost, FitRecoversAKnownPhase) {
  const index_t n = 128, coils = 4;
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0, 1);
  const double a = 0.7, b = 0.045;  // rad, rad/pixel (a shift of 0.92 samples)
  array<cfloat, 2> f(extents<2>{coils, n}), r(extents<2>{coils, n});
  for (index_t c = 0; c < coils; ++c)
    for (index_t x = 0; x < n; ++x) {
      const double u = double(x - n / 2);
      const double mag = std::abs(u) < 30 ? 1 + 0.3 * std::cos(u / 5) : 0;
      const cd v = mag * std::polar(1.0 + 0.2 * double(c), 0.5 * double(c) + 0.01 * u * u / 10);
      f(c, x) = cfloat(v + 0.02 * cd(noise(rng), noise(rng)));
      r(c, x) = cfloat(v * std::polar(1.0, a + b * u) + 0.02 * cd(noise(rng), noise(rng)));
    }
  const auto p = epi::fit_nyquist_phase({epi::nyquist_correlation(f.data(), r.data(), coils, n)});
  std::printf("nyquist fit: constant %.4f (true %.4f), slope %.5f (true %.5f)\n", p.constant, a, p.slope, b);
  ASSERT_TRUE(p.valid);
  EXPECT_NEAR(p.constant, a, 0.01);
  EXPECT_NEAR(p.slope, b, 5e-4);
  // Applied, the halves meet: forward * e^{i phi/2} == reversed * e^{-i phi/2} (up to the noise).
  epi::apply_nyquist_phase(f.data(), coils, n, p, false);
  epi::apply_nyquist_phase(r.data(), coils, n, p, true);
  double num = 0, den = 0;
  for (index_t i = 0; i < f.size(); ++i) num += std::norm(f.data()[i] - r.data()[i]), den += std::norm(f.data()[i]);
  EXPECT_LT(std::sqrt(num / den), 0.05);
  // Nothing to fit: invalid, and applying it changes nothing.
  EXPECT_FALSE(epi::fit_nyquist_phase({}).valid);
}

// ---------------------------------------------------------------------------------------------------------
// EPI simulator.

struct epi_sim {
  index_t nx = 128, ny = 64, coils = 4, slices = 1, repetitions = 1, accel = 1;
  double a = 0.6, b = 0.05;           // odd/even phase: reversed echoes carry e^{i(a + b (x - nx/2))}
  double drift = 0.3;                  // navigator phase drift per echo (off-resonance), rad
  double noise = 1e-3;
  bool navigators = true, with_trapezoid = true;
  bool reference = false;              // a separate EPI reference scan (ACS) of the central lines, own navigators
  index_t reference_lines = 24;
  double ref_a = -0.4, ref_b = 0.03;   // its own odd/even phase
  index_t shots = 1;                   // segmented EPI: shot k reads ky = k, k + shots, ..., after its navigators
  double shot_da = 0.3;                // ... and its odd/even constant phase is a + shot_da * k
  // Multiband: `slices` slices excited `multiband` at a time (group g = slices g + j slices/multiband, labelled g),
  // slice j of a group shifted by j * FOV / caipi; a single-band reference pass over all slices first (rep 0).
  index_t multiband = 1, caipi = 1;
  unsigned seed = 5;
};

struct epi_scan {
  io::raw_dataset raw;
  std::vector<array<float, 2>> truth;  // RSS of the coil images per (repetition, slice), recon FOV (ny, nx/2)
};

// Coil images of slice s, repetition r: (coils, ny, nx).
array<cfloat, 3> sim_coil_images(const epi_sim& p, index_t s, index_t r) {
  array<cfloat, 3> im(extents<3>{p.coils, p.ny, p.nx});
  for (index_t c = 0; c < p.coils; ++c)
    for (index_t y = 0; y < p.ny; ++y)
      for (index_t x = 0; x < p.nx; ++x) {
        const double u = double(x - p.nx / 2) / double(p.nx / 4), v = double(y - p.ny / 2) / double(p.ny / 4);
        double obj = 0;
        if (u * u / 0.8 + v * v / 0.75 < 1) obj = 1.0 + 0.1 * double(s) + 0.05 * double(r);
        if ((u - 0.25) * (u - 0.25) + (v + 0.2) * (v + 0.2) < 0.04) obj += 0.6;
        if ((u + 0.3) * (u + 0.3) / 0.02 + (v - 0.3) * (v - 0.3) / 0.08 < 1) obj -= 0.5;
        // Multiband: a bright disc at a place of its own in every slice, so slices cannot pass for each other.
        const double du = u + 0.45 - 0.3 * double(s), dv = v + 0.35 - 0.2 * double(s % 2);
        if (p.multiband > 1 && du * du + dv * dv < 0.02) obj += 1.0;
        // Multiband: the coils see each slice differently (as slices along a real array do).
        const double ang = 2 * pi * double(c) / double(p.coils) + (p.multiband > 1 ? 0.6 * double(s) : 0.0);
        const double cx = 0.9 * std::cos(ang), cy = 0.9 * std::sin(ang);
        const double sens = std::exp(-((u - cx) * (u - cx) + (v - cy) * (v - cy)) / 1.5);
        im(c, y, x) = cfloat(cd(obj * sens) * std::polar(1.0, 0.7 * double(c) + 0.2 * u));
      }
  return im;
}

epi_scan simulate_epi(const epi_sim& p) {
  epi_scan out;
  auto& raw = out.raw;
  raw.source = "simulated EPI";
  auto& h = raw.header;
  h.encoded_matrix = {static_cast<std::uint16_t>(p.nx), static_cast<std::uint16_t>(p.ny), 1};
  h.recon_matrix = {static_cast<std::uint16_t>(p.nx / 2), static_cast<std::uint16_t>(p.ny), 1};
  h.encoded_fov_mm = {440, 220, 5};
  h.recon_fov_mm = {220, 220, 5};
  h.e1 = io::limit{0, static_cast<std::uint16_t>(p.ny - 1), static_cast<std::uint16_t>(p.ny / 2)};
  h.slice = io::limit{0, static_cast<std::uint16_t>(p.slices - 1), 0};
  h.repetition = io::limit{0, static_cast<std::uint16_t>(p.repetitions - 1), 0};
  h.accel_e1 = static_cast<std::uint16_t>(p.accel);
  if (p.reference) h.calibration_mode = "separate";
  h.multiband_factor = static_cast<std::uint16_t>(p.multiband);
  h.multiband_fov_shift = static_cast<std::uint16_t>(p.caipi);
  h.trajectory = "epi";
  const double dwell = 384.0 / double(p.nx);
  const auto g = ramp_trapezoid(p.nx, dwell);
  if (p.with_trapezoid) h.epi = g;
  const auto kappa = epi::ramp_sample_positions(g, p.nx, dwell, p.nx);
  std::mt19937 rng(p.seed);
  std::normal_distribution<double> gauss(0, 1);
  const double inv = 1 / std::sqrt(double(p.nx));
  // Sampling operators for both polarities: (ns, nx).
  auto op = [&](bool rev) {
    std::vector<cd> e(static_cast<std::size_t>(p.nx * p.nx));
    for (index_t n = 0; n < p.nx; ++n)
      for (index_t j = 0; j < p.nx; ++j)
        e[static_cast<std::size_t>(n * p.nx + j)] =
            std::polar(inv, -2 * pi * (rev ? -1 : 1) * kappa[static_cast<std::size_t>(n)] * double(j - p.nx / 2) /
                                double(p.nx));
    return e;
  };
  const auto ef = op(false), er = op(true);
  double peak = 0;
  // Truth: RSS over coils in the recon FOV, per (repetition, slice).
  for (index_t r = 0; r < p.repetitions; ++r)
    for (index_t s = 0; s < p.slices; ++s) {
      const auto im = sim_coil_images(p, s, r);
      array<float, 2> t(extents<2>{p.ny, p.nx / 2});
      for (index_t y = 0; y < p.ny; ++y)
        for (index_t x = 0; x < p.nx / 2; ++x) {
          double acc = 0;
          for (index_t c = 0; c < p.coils; ++c) acc += std::norm(im(c, y, x + p.nx / 4));
          t(y, x) = static_cast<float>(std::sqrt(acc));
        }
      out.truth.push_back(std::move(t));
    }
  // What is acquired: (repetition, slice label, coil images, single-band reference pass); multiband scans begin with
  // the reference pass over all slices, then each group's collapsed images.
  struct pass {
    index_t r, s;
    array<cfloat, 3> im;
    bool sb_reference;
  };
  std::vector<pass> passes;
  const index_t groups = p.slices / p.multiband;
  if (p.multiband > 1)
    for (index_t s = 0; s < p.slices; ++s) passes.push_back({0, s, sim_coil_images(p, s, 0), true});
  for (index_t r = 0; r < p.repetitions; ++r)
    for (index_t s = 0; s < (p.multiband > 1 ? groups : p.slices); ++s) {
      if (p.multiband == 1) {
        passes.push_back({r, s, sim_coil_images(p, s, r), false});
        continue;
      }
      array<cfloat, 3> sum(extents<3>{p.coils, p.ny, p.nx});
      for (index_t j = 0; j < p.multiband; ++j) {
        const auto im = sim_coil_images(p, s + j * groups, r);
        const index_t d = j * p.ny / p.caipi;  // np.roll(image, d, axis=y)
        for (index_t c = 0; c < p.coils; ++c)
          for (index_t y = 0; y < p.ny; ++y)
            for (index_t x = 0; x < p.nx; ++x) sum(c, (y + d) % p.ny, x) += im(c, y, x);
      }
      passes.push_back({r, s, std::move(sum), false});
    }
  for (const auto& ps : passes) {
    {
      const index_t r = ps.r, s = ps.s;
      const auto& im = ps.im;
      const auto hyb = fftc(im.cview(), {1});  // (coils, ky, x)
      for (const auto& v : hyb) peak = std::max(peak, double(std::abs(v)));
      index_t echo = 0;
      double da = 0;  // the current shot's extra odd/even constant phase
      auto readout = [&](index_t ky, bool rev, bool nav, double extra_phase, bool ref = false) {
        io::acquisition a;
        a.flags = (rev ? io::flag_bit(acq_flag::is_reverse) : 0) | (nav ? io::flag_bit(acq_flag::is_phasecorr_data) : 0) |
                  (ref ? io::flag_bit(acq_flag::is_parallel_calibration) : 0);
        a.idx.kspace_encode_step_1 = static_cast<std::uint16_t>(ky);
        a.idx.slice = static_cast<std::uint16_t>(s);
        a.idx.repetition = static_cast<std::uint16_t>(r);
        a.center_sample = static_cast<std::uint16_t>(p.nx / 2);
        a.sample_time_us = static_cast<float>(dwell);
        a.read_dir = {1, 0, 0}, a.phase_dir = {0, 1, 0}, a.slice_dir = {0, 0, 1};
        a.position = {0, 0, float(5 * s)};
        a.data = array<cfloat, 2>(extents<2>{p.coils, p.nx});
        const auto& e = rev ? er : ef;
        for (index_t c = 0; c < p.coils; ++c) {
          std::vector<cd> prof(static_cast<std::size_t>(p.nx));
          for (index_t x = 0; x < p.nx; ++x) {
            cd v = cd(hyb(c, ky, x)) * std::polar(1.0, extra_phase);
            if (rev) v *= std::polar(1.0, ref ? p.ref_a + p.ref_b * double(x - p.nx / 2) : p.a + da + p.b * double(x - p.nx / 2));
            prof[static_cast<std::size_t>(x)] = v;
          }
          for (index_t n = 0; n < p.nx; ++n) {
            cd acc = 0;
            for (index_t j = 0; j < p.nx; ++j) acc += e[static_cast<std::size_t>(n * p.nx + j)] * prof[static_cast<std::size_t>(j)];
            a.data(c, n) = cfloat(acc + p.noise * peak * cd(gauss(rng), gauss(rng)));
          }
        }
        if (nav) a.idx.kspace_encode_step_1 = static_cast<std::uint16_t>(p.ny / 2);
        raw.acquisitions.push_back(std::move(a));
        ++echo;
      };
      // the reference scan: its navigators, then the central lines, all of them (multiband: of every slice)
      if (p.reference && r == 0 && (p.multiband == 1 || ps.sb_reference)) {
        for (index_t i = 0; i < 3; ++i) readout(p.ny / 2, i == 1, true, p.drift * double(i), true);
        bool rev = false;
        for (index_t ky = p.ny / 2 - p.reference_lines / 2; ky < p.ny / 2 + p.reference_lines / 2; ++ky) {
          readout(ky, rev, false, 0.0, true);
          rev = !rev;
        }
      }
      for (index_t shot = 0; shot < p.shots; ++shot) {
        da = p.shot_da * double(shot);
        if (p.navigators)  // + - + at the k-space centre line, drifting in phase from echo to echo
          for (index_t i = 0; i < 3; ++i) readout(p.ny / 2, i == 1, true, p.drift * double(i));
        bool rev = false;
        for (index_t ky = shot; ky < p.ny; ky += p.shots) {
          if (ky % p.accel != 0) continue;
          readout(ky, rev, false, 0.0);
          rev = !rev;
        }
      }
      raw.acquisitions.back().flags |= io::flag_bit(acq_flag::last_in_slice);
    }
  }
  return out;
}

// Ghost-to-signal ratio of an (ny, nx) magnitude image of an object inside the central half in y: mean of
// the ghost band (outer quarter rows, where the N/2 ghost lands) over the mean of the object rows.
double ghost_to_signal(const array<float, 3>& img) {
  const index_t ny = img.shape(1), nx = img.shape(2);
  double ghost = 0, sig = 0;
  index_t ng = 0, nsig = 0;
  for (index_t y = 0; y < ny; ++y)
    for (index_t x = 0; x < nx; ++x) {
      const double v = img(0, y, x);
      if (y < ny / 8 || y >= ny - ny / 8) ghost += v, ++ng;
      else if (y >= 3 * ny / 8 && y < 5 * ny / 8 && x >= 3 * nx / 8 && x < 5 * nx / 8) sig += v, ++nsig;
    }
  return (ghost / double(ng)) / (sig / double(nsig));
}

double nrmse(const array<float, 3>& img, const array<float, 2>& truth) {
  double num = 0, den = 0;
  for (index_t y = 0; y < truth.shape(0); ++y)
    for (index_t x = 0; x < truth.shape(1); ++x)
      num += std::pow(double(img(0, y, x)) - truth(y, x), 2), den += std::pow(double(truth(y, x)), 2);
  return std::sqrt(num / den);
}

// The Cartesian chain on EPI readouts that skipped the corrector ("before"): flip only.
recon_result recon_as_cartesian(io::raw_dataset raw) {
  raw.header.trajectory = "cartesian";
  raw.header.epi.reset();
  recon_options o;
  o.method = "rss";
  return recon(raw, o);
}

// The corrector in front of the assembler, as recon(raw) does it, with a choice of fit; reports the fit of
// slice 0 and the navigator count.
recon_result recon_through_corrector(const io::raw_dataset& raw, epi::ghost_fit fit,
                                     epi::nyquist_phase* slice0 = nullptr, index_t* navigators = nullptr) {
  epi::epi_options eo;
  eo.fit = fit;
  epi::epi_corrector corrector(raw.header, eo);
  kspace_assembler as(corrector.corrected_header(), raw.source);
  auto emit = [&](io::acquisition&& a) { as.add(a); };
  for (auto a : raw.acquisitions) corrector.add(std::move(a), emit);
  corrector.finish(emit);
  if (slice0) *slice0 = fit == epi::ghost_fit::scan_wide ? corrector.scan_fit() : corrector.slice_fit(0);
  if (navigators) *navigators = corrector.navigators();
  recon_options o;
  o.method = "rss";
  return recon(std::move(as).finish(), corrector.corrected_header(), o);
}

TEST(EpiSimulated, GhostToSignalBeforeAndAfter) {
  epi_sim p;
  const auto scan = simulate_epi(p);
  const auto before = recon_as_cartesian(scan.raw);
  epi::nyquist_phase fit;
  index_t navigators = 0;
  const auto regrid_only = recon_through_corrector(scan.raw, epi::ghost_fit::none);
  const auto after = recon_through_corrector(scan.raw, epi::ghost_fit::per_slice, &fit, &navigators);
  ASSERT_EQ(after.images.size(), 1u);
  const auto& img = after.images[0].magnitude;
  ASSERT_EQ(img.shape(), (extents<3>{1, p.ny, p.nx / 2}));
  const double g0 = ghost_to_signal(before.images[0].magnitude), g1 = ghost_to_signal(regrid_only.images[0].magnitude),
               g2 = ghost_to_signal(img);
  const double e0 = nrmse(before.images[0].magnitude, scan.truth[0]), e2 = nrmse(img, scan.truth[0]);
  std::printf("simulated EPI: ghost/signal %.4f uncorrected, %.4f regridded only, %.5f corrected; NRMSE to truth "
              "%.3f -> %.4f; fit constant %.4f (true %.2f) slope %.5f (true %.3f)\n",
              g0, g1, g2, e0, e2, fit.constant, p.a, fit.slope, p.b);
  EXPECT_GT(g0, 0.05);
  EXPECT_LT(g2, g0 / 30);
  EXPECT_LT(g2, 0.01);  // the floor is the RSS of the added noise in the empty band
  EXPECT_LT(e2, 0.02);
  EXPECT_NEAR(fit.constant, p.a, 0.02);
  EXPECT_NEAR(fit.slope, p.b, 1e-3);
  EXPECT_EQ(navigators, 3);
}

// No navigators at all: the phase is fitted from the echoes themselves (referenceless), per slice.
TEST(EpiSimulated, WithoutNavigatorsFitFromTheEchoes) {
  epi_sim p;
  p.navigators = false, p.slices = 2;
  const auto scan = simulate_epi(p);
  epi::epi_corrector c(scan.raw.header);
  kspace_assembler as(c.corrected_header(), "no navigators");
  auto emit = [&](io::acquisition&& a) { as.add(a); };
  for (auto a : scan.raw.acquisitions) c.add(std::move(a), emit);
  c.finish(emit);
  EXPECT_TRUE(c.referenceless());
  recon_options o;
  o.method = "rss";
  const auto res = recon(std::move(as).finish(), c.corrected_header(), o);
  ASSERT_EQ(res.images.size(), 2u);
  const auto before = recon_as_cartesian(scan.raw);
  for (const auto& im : res.images) {
    const auto f = c.echo_fit(im.slice);
    const double g = ghost_to_signal(im.magnitude), e = nrmse(im.magnitude, scan.truth[im.slice]);
    std::printf("no navigators, slice %d: ghost/signal %.4f -> %.5f, NRMSE %.4f, fit %.4f %.5f (true %.2f %.3f)\n",
                int(im.slice), ghost_to_signal(before.images[im.slice].magnitude), g, e, f.constant, f.slope, p.a, p.b);
    EXPECT_NEAR(f.constant, p.a, 0.05);
    EXPECT_NEAR(f.slope, p.b, 2e-3);
    EXPECT_LT(g, 0.01);
    EXPECT_LT(e, 0.03);
  }
}

TEST(EpiSimulated, ScanWideFitOverSlicesAndRepetitions) {
  epi_sim p;
  p.nx = 64, p.ny = 32, p.slices = 3, p.repetitions = 2;
  const auto scan = simulate_epi(p);
  const auto res = recon_through_corrector(scan.raw, epi::ghost_fit::scan_wide);
  ASSERT_EQ(res.images.size(), 6u);
  for (std::size_t i = 0; i < res.images.size(); ++i) {
    const auto& im = res.images[i];
    const std::size_t t = static_cast<std::size_t>(im.repetition) * 3 + im.slice;
    const double e = nrmse(im.magnitude, scan.truth[t]);
    EXPECT_LT(e, 0.03) << "slice " << im.slice << " repetition " << im.repetition;
    EXPECT_LT(ghost_to_signal(im.magnitude), 0.01);
  }
}

// The batched fast path (fused regrid + Nyquist phase + FFT matrix, one product per group of echoes) emits
// the same readouts, in the same order, as the per-readout path (regrid, phase, FFT one readout at a time).
std::vector<io::acquisition> corrected_readouts(const io::raw_dataset& raw, epi::ghost_fit fit, bool batched) {
  epi::epi_options eo;
  eo.fit = fit, eo.batched = batched;
  epi::epi_corrector c(raw.header, eo);
  std::vector<io::acquisition> out;
  auto emit = [&](io::acquisition&& a) { out.push_back(std::move(a)); };
  for (auto a : raw.acquisitions) c.add(std::move(a), emit);
  c.finish(emit);
  return out;
}

double max_relative_difference(const std::vector<io::acquisition>& a, const std::vector<io::acquisition>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    EXPECT_EQ(a[i].flags, b[i].flags) << i;
    EXPECT_EQ(a[i].idx.kspace_encode_step_1, b[i].idx.kspace_encode_step_1) << i;
    EXPECT_EQ(a[i].idx.slice, b[i].idx.slice) << i;
    EXPECT_EQ(a[i].idx.repetition, b[i].idx.repetition) << i;
    EXPECT_EQ(a[i].center_sample, b[i].center_sample) << i;
    if (a[i].data.shape() != b[i].data.shape()) {
      ADD_FAILURE() << "readout " << i << " shapes differ";
      continue;
    }
    double d = 0, n = 0;
    for (index_t j = 0; j < a[i].data.size(); ++j)
      d += std::norm(cd(a[i].data.data()[j]) - cd(b[i].data.data()[j])), n += std::norm(cd(b[i].data.data()[j]));
    if (n > 0) worst = std::max(worst, std::sqrt(d / n));
  }
  return worst;
}

TEST(EpiFastPath, BatchedEqualsPerReadout) {
  epi_sim p;
  p.nx = 64, p.ny = 32, p.slices = 2, p.repetitions = 2, p.accel = 2, p.reference = true;
  auto scan = simulate_epi(p);
  // A noise readout in the middle of the stream (passed through unchanged, order kept) and readouts with
  // discarded samples (their own regridding matrix).
  io::acquisition noise;
  noise.flags = io::flag_bit(acq_flag::is_noise_measurement);
  noise.data = array<cfloat, 2>(extents<2>{p.coils, p.nx});
  noise.data(0, 0) = cfloat(1, 2);
  auto& acq = scan.raw.acquisitions;
  acq.insert(acq.begin() + static_cast<std::ptrdiff_t>(acq.size() / 2), noise);
  for (auto& a : acq)
    if (!a.has(acq_flag::is_noise_measurement) && a.idx.slice == 1 && a.idx.repetition == 1)
      a.discard_pre = 2, a.discard_post = 1;
  for (const auto fit : {epi::ghost_fit::per_slice, epi::ghost_fit::none, epi::ghost_fit::scan_wide}) {
    const auto fast = corrected_readouts(scan.raw, fit, true), slow = corrected_readouts(scan.raw, fit, false);
    const double d = max_relative_difference(fast, slow);
    std::printf("batched vs per-readout EPI correction (fit %d, %zu readouts): max relative difference %.2e\n",
                int(fit), fast.size(), d);
    EXPECT_LT(d, 1e-5);
    EXPECT_GT(fast.size(), 100u);
  }
  p.navigators = false, p.reference = false, p.repetitions = 1;  // referenceless: held, FFT in blocks
  const auto bare = simulate_epi(p);
  const double d = max_relative_difference(corrected_readouts(bare.raw, epi::ghost_fit::per_slice, true),
                                           corrected_readouts(bare.raw, epi::ghost_fit::per_slice, false));
  std::printf("referenceless: max relative difference %.2e\n", d);
  EXPECT_LT(d, 1e-5);
}

// The readout-oversampling crop inside the fused product: the assembled k-space equals the one the assembler
// makes from the full encoded readouts (its own inverse FFT, crop, FFT), for each fit mode; the corrected
// header carries the recon FOV's matrix. Odd grid (nx = 70, 35 kept) and even (64 -> 32).
TEST(EpiFastPath, OversamplingCropInTheProductEqualsTheAssemblersCrop) {
  for (const index_t nx : {index_t{64}, index_t{70}}) {
    epi_sim p;
    p.nx = nx, p.ny = 32, p.slices = 2, p.repetitions = 2;
    const auto scan = simulate_epi(p);
    for (const auto fit : {epi::ghost_fit::per_slice, epi::ghost_fit::scan_wide}) {
      std::vector<array<cfloat, 4>> kspace;
      for (const bool crop : {true, false}) {
        epi::epi_options eo;
        eo.fit = fit, eo.remove_oversampling = crop;
        epi::epi_corrector c(scan.raw.header, eo);
        const auto h = c.corrected_header();
        EXPECT_EQ(h.encoded_matrix[0], crop ? nx / 2 : nx);
        EXPECT_EQ(c.emitted_samples(), crop ? nx / 2 : nx);
        const auto& raw_h = scan.raw.header;
        EXPECT_FLOAT_EQ(h.encoded_fov_mm[0], crop ? raw_h.recon_fov_mm[0] : raw_h.encoded_fov_mm[0]);
        kspace_assembler as(h, scan.raw.source);
        index_t wrong = 0;
        auto emit = [&](io::acquisition&& a) {
          wrong += a.samples() != h.encoded_matrix[0];
          as.add(a);
        };
        for (auto a : scan.raw.acquisitions) c.add(std::move(a), emit);
        c.finish(emit);
        EXPECT_EQ(wrong, 0);
        auto k = std::move(as).finish();
        ASSERT_FALSE(k.imaging.empty());
        kspace.push_back(std::move(k.imaging[0].kspace));
      }
      ASSERT_EQ(kspace[0].shape(), kspace[1].shape());
      double d = 0, n = 0;
      for (index_t i = 0; i < kspace[0].size(); ++i)
        d += std::norm(cd(kspace[0].data()[i]) - cd(kspace[1].data()[i])), n += std::norm(cd(kspace[1].data()[i]));
      std::printf("EPI oversampling crop in the product, nx %lld, fit %d: relative difference %.2e\n",
                  static_cast<long long>(nx), int(fit), std::sqrt(d / n));
      EXPECT_LT(std::sqrt(d / n), 1e-5);
      EXPECT_GT(n, 0);
    }
  }
}

// Segmented (multi-shot) EPI: two interleaved shots, each after its own + - + navigators. Same odd/even phase
// in both shots: corrected like a single shot. Shot-dependent phase (0.6 and 0.9 rad): each shot's navigator set
// renews the fit (the last one is 0.9), but the symmetric correction (+-phi/2) leaves the shots at phi_k / 2, an
// inter-shot phase of 0.15 rad that nothing here removes (docs/epi.md, not done).
TEST(EpiSimulated, TwoShotsEachWithItsNavigators) {
  epi_sim p;
  p.nx = 64, p.ny = 32, p.shots = 2, p.shot_da = 0;
  const auto same = simulate_epi(p);
  const double e0 = nrmse(recon_through_corrector(same.raw, epi::ghost_fit::per_slice).images[0].magnitude,
                          same.truth[0]);
  p.shot_da = 0.3;
  const auto scan = simulate_epi(p);
  epi::nyquist_phase last;
  index_t navigators = 0;
  const auto per_shot = recon_through_corrector(scan.raw, epi::ghost_fit::per_slice, &last, &navigators);
  const auto pooled = recon_through_corrector(scan.raw, epi::ghost_fit::scan_wide);
  ASSERT_EQ(per_shot.images.size(), 1u);
  const double e1 = nrmse(per_shot.images[0].magnitude, scan.truth[0]),
               e2 = nrmse(pooled.images[0].magnitude, scan.truth[0]);
  std::printf("two-shot EPI: NRMSE %.4f (same phase in both shots); shot phases 0.6/0.9: %.4f with per-shot fits "
              "(last fit %.4f), %.4f with one pooled fit\n", e0, e1, last.constant, e2);
  EXPECT_LT(e0, 0.03);
  EXPECT_EQ(navigators, 6);
  EXPECT_NEAR(last.constant, p.a + p.shot_da, 0.02);
  EXPECT_LT(e1, e2);
}

// Multi-slice, repetitions through recon(raw): the chain routes EPI through the corrector itself and emits
// one image per slice and repetition.
TEST(EpiChain, MultiSliceRepetitionsThroughRecon) {
  epi_sim p;
  p.nx = 64, p.ny = 32, p.slices = 2, p.repetitions = 3;
  const auto scan = simulate_epi(p);
  recon_options o;
  o.method = "rss";
  const auto res = recon(scan.raw, o);
  ASSERT_EQ(res.images.size(), 6u);
  double worst = 0;
  for (const auto& im : res.images) {
    const std::size_t t = static_cast<std::size_t>(im.repetition) * 2 + im.slice;
    worst = std::max(worst, nrmse(im.magnitude, scan.truth[t]));
  }
  std::printf("EPI chain, 2 slices x 3 repetitions: worst NRMSE %.4f\n", worst);
  EXPECT_LT(worst, 0.03);
}

// Multiband EPI (ramp sampling, odd/even phase, navigators): 4 slices at MB 2 with CAIPI FOV/2, a single-band
// reference pass, then 3 repetitions of 2 collapsed groups. Every slice comes out at its own index and position
// and equals the RSS truth of that slice; ramp regridding and ghost correction run before the separation.
TEST(EpiChain, MultibandSeriesComesOutAsItsSlices) {
  for (index_t caipi : {2, 1}) {
    epi_sim p;
    p.nx = 64, p.ny = 32, p.slices = 4, p.repetitions = 3, p.coils = 8;
    p.multiband = 2, p.caipi = caipi;
    const auto scan = simulate_epi(p);
    recon_options o;
    o.method = "rss";
    const auto res = recon(scan.raw, o);
    ASSERT_EQ(res.images.size(), 12u);
    double worst = 0, worst_other = 1e9;
    for (const auto& im : res.images) {
      EXPECT_FLOAT_EQ(im.position[2], 5.f * im.slice);
      worst = std::max(worst, nrmse(im.magnitude, scan.truth[static_cast<std::size_t>(im.repetition * 4 + im.slice)]));
      for (index_t s = 0; s < 4; ++s)
        if (s != im.slice)
          worst_other = std::min(worst_other, nrmse(im.magnitude, scan.truth[static_cast<std::size_t>(im.repetition * 4 + s)]));
    }
    std::printf("multiband EPI, 4 slices MB 2, CAIPI FOV/%d, 3 repetitions: worst NRMSE %.4f (other slices >= %.4f)\n",
                static_cast<int>(caipi), worst, worst_other);
    // Measured: 0.028 with CAIPI FOV/2, 0.067 without (coil encoding alone); the other slices are >= 0.17 away.
    EXPECT_LT(worst, caipi == 2 ? 0.05 : 0.09);
    EXPECT_GT(worst_other, 0.14);
  }
}

// In-plane acceleration R = 2 with a separate EPI reference scan (its own navigators and odd/even phase):
// GRAPPA calibrated on the corrected reference, one image per repetition.
TEST(EpiChain, GrappaWithASeparateReferenceScan) {
  epi_sim p;
  p.nx = 64, p.ny = 48, p.coils = 8, p.accel = 2, p.reference = true, p.repetitions = 2;
  const auto scan = simulate_epi(p);
  epi::epi_corrector probe(scan.raw.header);
  recon_options o;
  o.method = "grappa";
  const auto res = recon(scan.raw, o);
  ASSERT_EQ(res.images.size(), 2u);
  double worst = 0, ghost = 0;
  for (const auto& im : res.images) {
    worst = std::max(worst, nrmse(im.magnitude, scan.truth[im.repetition]));
    ghost = std::max(ghost, ghost_to_signal(im.magnitude));
  }
  // The reference scan's navigators are fitted on their own.
  const auto sink = [](io::acquisition&&) {};
  for (auto a : scan.raw.acquisitions) probe.add(std::move(a), sink);
  const auto ref_fit = probe.slice_fit(0, true), img_fit = probe.slice_fit(0, false);
  std::printf("EPI GRAPPA R=2, separate reference: worst NRMSE %.4f, ghost/signal %.4f; reference fit %.3f %.4f "
              "(true %.2f %.3f), imaging fit %.3f %.4f (true %.2f %.3f)\n",
              worst, ghost, ref_fit.constant, ref_fit.slope, p.ref_a, p.ref_b, img_fit.constant, img_fit.slope, p.a,
              p.b);
  EXPECT_NEAR(ref_fit.constant, p.ref_a, 0.02);
  EXPECT_NEAR(ref_fit.slope, p.ref_b, 1e-3);
  EXPECT_NEAR(img_fit.constant, p.a, 0.02);
  EXPECT_LT(worst, 0.05);
  EXPECT_LT(ghost, 0.01);
}

// ISMRMRD: the trapezoid as Gadgetron's trajectoryDescription, streamed through recon_file; without it,
// refused with one line.
std::string write_ismrmrd_epi(const io::raw_dataset& raw, const std::string& name, bool description) {
  ISMRMRD::IsmrmrdHeader h;
  h.experimentalConditions.H1resonanceFrequency_Hz = 123000000;
  ISMRMRD::Encoding e;
  const auto& r = raw.header;
  e.encodedSpace.matrixSize = {r.encoded_matrix[0], r.encoded_matrix[1], r.encoded_matrix[2]};
  e.encodedSpace.fieldOfView_mm = {r.encoded_fov_mm[0], r.encoded_fov_mm[1], r.encoded_fov_mm[2]};
  e.reconSpace.matrixSize = {r.recon_matrix[0], r.recon_matrix[1], r.recon_matrix[2]};
  e.reconSpace.fieldOfView_mm = {r.recon_fov_mm[0], r.recon_fov_mm[1], r.recon_fov_mm[2]};
  ISMRMRD::Limit l1;
  l1.minimum = r.e1->minimum, l1.maximum = r.e1->maximum, l1.center = r.e1->center;
  e.encodingLimits.kspace_encoding_step_1 = l1;
  e.trajectory = ISMRMRD::TrajectoryType::EPI;
  if (description) {
    const auto& g = *r.epi;
    ISMRMRD::TrajectoryDescription d;
    d.identifier = "ConventionalEPI";
    auto lp = [&](const char* n, long v) { d.userParameterLong.push_back(ISMRMRD::UserParameterLong{n, v}); };
    lp("etl", static_cast<long>(r.encoded_matrix[1]));
    lp("numberOfNavigators", 3);
    lp("rampUpTime", std::lround(g.ramp_up_us));
    lp("rampDownTime", std::lround(g.ramp_down_us));
    lp("flatTopTime", std::lround(g.flat_top_us));
    lp("acqDelayTime", std::lround(g.acq_delay_us));
    lp("numSamples", static_cast<long>(r.encoded_matrix[0]));
    d.userParameterDouble.push_back(ISMRMRD::UserParameterDouble{"dwellTime", g.dwell_us});
    e.trajectoryDescription = d;
  }
  h.encoding.push_back(e);
  std::ostringstream xml;
  ISMRMRD::serialize(h, xml);
  const auto path = test::tmp_path(name);
  std::filesystem::remove(path);
  ISMRMRD::Dataset ds(path.c_str(), "dataset", true);
  ds.writeHeader(xml.str());
  for (const auto& a : raw.acquisitions) {
    ISMRMRD::Acquisition q(static_cast<uint16_t>(a.samples()), static_cast<uint16_t>(a.channels()));
    q.clearAllFlags();
    for (std::uint64_t bit = 1; bit <= 64; ++bit)  // setFlag takes ISMRMRD's 1-based bit number
      if (a.flags & (std::uint64_t{1} << (bit - 1))) q.setFlag(bit);
    q.center_sample() = a.center_sample;
    {  // the packed acquisition header puts this float at an unaligned offset: set it by value
      ISMRMRD::AcquisitionHeader hd = q.getHead();
      hd.sample_time_us = a.sample_time_us;
      q.setHead(hd);
    }
    q.idx().kspace_encode_step_1 = a.idx.kspace_encode_step_1;
    q.idx().slice = a.idx.slice;
    q.idx().repetition = a.idx.repetition;
    std::copy(a.data.begin(), a.data.end(), q.data_begin());
    ds.appendAcquisition(q);
  }
  return path;
}

TEST(EpiIsmrmrd, TrajectoryDescriptionThroughRecon) {
  epi_sim p;
  p.nx = 64, p.ny = 32, p.slices = 2;
  auto scan = simulate_epi(p);
  ASSERT_EQ(scan.raw.header.epi->acq_delay_us, 8.0f);  // whole microseconds, as acqDelayTime is a long
  const auto path = write_ismrmrd_epi(scan.raw, "epi_sim.h5", true);
  const auto raw = io::read_ismrmrd(path);
  EXPECT_EQ(raw.header.trajectory, "epi");
  EXPECT_EQ(raw.header.trajectory_identifier, "ConventionalEPI");
  ASSERT_TRUE(raw.header.epi.has_value());
  EXPECT_EQ(raw.header.epi->ramp_up_us, 100);
  EXPECT_EQ(raw.header.epi->flat_top_us, 200);
  EXPECT_EQ(raw.header.epi->navigators, 3u);
  EXPECT_FLOAT_EQ(raw.header.epi->dwell_us, 6.0f);
  recon_options o;
  o.method = "rss";
  const auto streamed = recon_file(path, o);
  const auto in_memory = recon(scan.raw, o);
  ASSERT_EQ(streamed.images.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_LT(nrmse(streamed.images[i].magnitude, scan.truth[streamed.images[i].slice]), 0.03);
    EXPECT_LT(test::relative_error(streamed.images[i].magnitude, in_memory.images[i].magnitude), 1e-5);
  }
  const auto bare = write_ismrmrd_epi(scan.raw, "epi_sim_bare.h5", false);
  try {
    recon_file(bare, o);
    ADD_FAILURE() << "EPI without trajectoryDescription was reconstructed";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("trapezoid"), std::string::npos) << e.what();
  }
}

TEST(EpiRefusal, NoTrapezoidNoUnknownTrajectory) {
  epi_sim p;
  p.nx = 32, p.ny = 16, p.with_trapezoid = false;
  auto scan = simulate_epi(p);
  EXPECT_THROW(epi::epi_corrector c(scan.raw.header), DataError);
  try {
    recon(scan.raw);
    ADD_FAILURE() << "EPI without a trapezoid was reconstructed";
  } catch (const DataError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("trapezoid"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  // EPI readouts handed to the Cartesian assembler directly, and an unknown trajectory: refused.
  scan.raw.header.epi = ramp_trapezoid(32, 12);
  EXPECT_THROW(kspace_assembler(scan.raw.header, "direct"), DataError);
  scan.raw.header.trajectory = "spiral";
  EXPECT_THROW(recon(scan.raw), DataError);
  scan.raw.header.trajectory = "other";
  EXPECT_THROW(kspace_assembler(scan.raw.header, "other"), DataError);
}

// ---------------------------------------------------------------------------------------------------------
// The real scan: data/scans/twixtools_gre_epi_2ch, Siemens Skyra 2.89 T phantom, ep2d_bold (80 x 80, 2 coils,
// ramp-sampled, + - + navigators) against the GRE of the same phantom and FOV (160 x 160), the GRE brought to
// 80 x 80 by cropping its k-space.

std::string scan(const std::string& rel) { return std::string(LARMOR_SCANS) + "/twixtools_gre_epi_2ch/" + rel; }

double correlation(const array<float, 2>& a, const array<float, 2>& b) {
  double ma = 0, mb = 0;
  const double n = double(a.size());
  for (index_t i = 0; i < a.size(); ++i) ma += a.data()[i], mb += b.data()[i];
  ma /= n, mb /= n;
  double sab = 0, saa = 0, sbb = 0;
  for (index_t i = 0; i < a.size(); ++i) {
    const double x = a.data()[i] - ma, y = b.data()[i] - mb;
    sab += x * y, saa += x * x, sbb += y * y;
  }
  return sab / std::sqrt(saa * sbb);
}

array<float, 2> slice0(const io::image_record& r) {
  array<float, 2> out(extents<2>{r.magnitude.shape(1), r.magnitude.shape(2)});
  std::copy(r.magnitude.data(), r.magnitude.data() + out.size(), out.data());
  return out;
}

TEST(EpiRealScan, TwixHeaderCarriesTheTrapezoid) {
  if (!std::filesystem::exists(scan("epi.dat"))) GTEST_SKIP() << "epi.dat absent";
  const auto raw = io::read_twix(scan("epi.dat"));
  EXPECT_EQ(raw.header.trajectory, "epi");
  ASSERT_TRUE(raw.header.epi.has_value());
  const auto& g = *raw.header.epi;
  EXPECT_EQ(g.ramp_up_us, 160);
  EXPECT_EQ(g.flat_top_us, 240);
  EXPECT_EQ(g.ramp_down_us, 160);
  EXPECT_EQ(g.acq_delay_us, 32);
  EXPECT_FLOAT_EQ(g.dwell_us, 3.1f);
  EXPECT_EQ(g.samples, 160u);
  EXPECT_EQ(g.regrid_mode, 2);
  // The GRE partner stays Cartesian.
  if (!std::filesystem::exists(scan("gre.dat"))) return;
  const auto gre = io::read_twix(scan("gre.dat"));
  EXPECT_EQ(gre.header.trajectory, "cartesian");
  EXPECT_FALSE(gre.header.epi.has_value());
}

TEST(EpiRealScan, EpiAgainstItsGrePartner) {
  if (!std::filesystem::exists(scan("epi.dat")) || !std::filesystem::exists(scan("gre.dat")))
    GTEST_SKIP() << "scans absent";
  const auto raw = io::read_twix(scan("epi.dat"));
  // Reference: the GRE k-space (readout oversampling removed: 2 x 160 x 160) cropped to the central 80 x 80.
  const auto gk = assemble_kspace(io::read_twix(scan("gre.dat")));
  const auto& k = gk.imaging[0].kspace;
  ASSERT_EQ(k.shape(), (extents<4>{2, 1, 160, 160}));
  array<cfloat, 3> crop(extents<3>{2, 80, 80});
  for (index_t c = 0; c < 2; ++c)
    for (index_t y = 0; y < 80; ++y)
      for (index_t x = 0; x < 80; ++x) crop(c, y, x) = k(c, 0, y + 40, x + 40);
  const auto gre_img = rss(ifftc(crop.cview(), {1, 2}).cview());  // (80, 80)
  array<float, 2> gre(extents<2>{80, 80});
  std::copy(gre_img.data(), gre_img.data() + gre.size(), gre.data());

  const auto before = recon_as_cartesian(raw);
  epi::nyquist_phase fit, wide_fit;
  const auto regrid_only = recon_through_corrector(raw, epi::ghost_fit::none);
  const auto after = recon_through_corrector(raw, epi::ghost_fit::per_slice, &fit);
  const auto wide = recon_through_corrector(raw, epi::ghost_fit::scan_wide, &wide_fit);
  recon_options o;
  o.method = "rss";
  const auto chain = recon(raw, o);  // the chain's own routing
  ASSERT_EQ(after.images.size(), 1u);
  ASSERT_EQ(after.images[0].magnitude.shape(), (extents<3>{1, 80, 80}));
  const double r0 = correlation(slice0(before.images[0]), gre), r1 = correlation(slice0(regrid_only.images[0]), gre),
               r2 = correlation(slice0(after.images[0]), gre), r3 = correlation(slice0(wide.images[0]), gre),
               r4 = correlation(slice0(chain.images[0]), gre);
  std::printf("epi.dat vs gre.dat (80 x 80 RSS): correlation %.4f uncorrected, %.4f regridded only, %.4f per-slice "
              "ghost correction, %.4f scan-wide, %.4f recon(raw); fit constant %.3f rad, slope %.4f rad/pixel\n",
              r0, r1, r2, r3, r4, fit.constant, fit.slope);
  EXPECT_TRUE(fit.valid);
  EXPECT_NEAR(wide_fit.slope, fit.slope, 1e-6);  // one slice, one navigator set: the same fit
  EXPECT_GT(r2, r0 + 0.2);  // 0.66 -> 0.93 when this was written
  EXPECT_GT(r2, 0.9);
  EXPECT_GT(r3, 0.9);
  EXPECT_LT(std::abs(fit.slope), 0.03);  // a fifth of a sample between odd and even echoes
  EXPECT_NEAR(r4, r2, 1e-6);
  // The same scan with its navigators dropped: the referenceless fit from the echoes.
  auto bare = raw;
  bare.acquisitions.erase(std::remove_if(bare.acquisitions.begin(), bare.acquisitions.end(),
                                         [](const io::acquisition& a) { return a.has(acq_flag::is_phasecorr_data); }),
                          bare.acquisitions.end());
  const auto refless = recon(bare, o);
  const double fast_vs_slow = max_relative_difference(corrected_readouts(raw, epi::ghost_fit::per_slice, true),
                                                      corrected_readouts(raw, epi::ghost_fit::per_slice, false));
  std::printf("epi.dat: batched vs per-readout correction, max relative difference %.2e\n", fast_vs_slow);
  EXPECT_LT(fast_vs_slow, 1e-5);
  const double r5 = correlation(slice0(refless.images[0]), gre);
  std::printf("epi.dat without its navigators (fit from the echoes): correlation %.4f\n", r5);
  EXPECT_GT(r5, 0.9);
}

}  // namespace
}  // namespace larmor
