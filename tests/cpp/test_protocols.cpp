// Clinical protocols through the whole chain (recon(raw)): partial Fourier alone and with GRAPPA, an
// asymmetric echo, interleaved calibration for every repetition, several contrasts sharing one
// calibration scan, complex/phase/real output, recon matrix interpolation and refusal of a header that
// sizes more memory than the machine has. References are the algorithms called directly on the same
// k-space and analytic ground truth — never the chain's own arithmetic.
#include <cstdio>

#include "coil_phantom.hpp"
#include "larmor/io/ismrmrd.hpp"
#include "larmor/recon/recon.hpp"
#include "test_helpers.hpp"
#include "larmor/coils/espirit.hpp"
#include "larmor/coils/combine.hpp"

namespace larmor {
namespace {

using io::acq_flag;
using io::flag_bit;

// A smooth-phase object (what POCS and homodyne assume) times the simulated coils: (coils, y, x) k-space
// and the complex object (y, x).
struct scan {
  array<cfloat, 3> kspace;
  array<cfloat, 2> object;
  array<cfloat, 3> maps;
};

scan smooth_phase_scan(index_t nc, index_t ny, index_t nx, double noise = 0.0) {
  auto p = test::make_coil_phantom(nc, ny, nx, 0.0);
  scan s;
  s.object = array<cfloat, 2>(extents<2>{ny, nx});
  for (index_t y = 0; y < ny; ++y)
    for (index_t x = 0; x < nx; ++x) {
      const double u = (x - nx / 2.0) / nx, v = (y - ny / 2.0) / ny;
      const double phase = 0.8 * u + 1.5 * v * v - 0.6 * u * v + 0.3;
      s.object(y, x) = p.object(y, x) * cfloat(static_cast<float>(std::cos(phase)), static_cast<float>(std::sin(phase)));
    }
  s.maps = p.maps;
  array<cfloat, 3> imgs(p.maps.shape());
  for (index_t c = 0; c < nc; ++c)
    for (index_t y = 0; y < ny; ++y)
      for (index_t x = 0; x < nx; ++x) imgs(c, y, x) = p.maps(c, y, x) * s.object(y, x);
  s.kspace = fftc(imgs.cview());
  if (noise > 0) {
    const auto n = test::random_array<cfloat, 3>(s.kspace.shape(), 11);
    for (index_t i = 0; i < s.kspace.size(); ++i) s.kspace[i] += static_cast<float>(noise) * n[i];
  }
  return s;
}

// The readouts of k-space (coils, y, x) for the lines `keep(y)` says, e1 counted from `first` (the encoding
// limits say so: minimum first, centre ny/2 - first ... as scanners number partial-Fourier lines).
template <class Keep>
io::raw_dataset raw_from(const array<cfloat, 3>& k, Keep keep, index_t first = 0, std::uint16_t contrast = 0,
                         std::uint16_t repetition = 0) {
  const index_t nc = k.shape(0), ny = k.shape(1), nx = k.shape(2);
  io::raw_dataset raw;
  raw.source = "synthetic protocol";
  auto& h = raw.header;
  h.encoded_matrix = {static_cast<std::uint16_t>(nx), static_cast<std::uint16_t>(ny), 1};
  h.recon_matrix = h.encoded_matrix;
  h.encoded_fov_mm = h.recon_fov_mm = {220.f, 220.f, 5.f};
  h.e1 = io::limit{0, static_cast<std::uint16_t>(ny - 1 - first), static_cast<std::uint16_t>(ny / 2 - first)};
  for (index_t y = first; y < ny; ++y) {
    const int what = keep(y);  // 0 skip, 1 imaging, 2 ACS + imaging
    if (!what) continue;
    io::acquisition a;
    a.idx.kspace_encode_step_1 = static_cast<std::uint16_t>(y - first);
    a.idx.contrast = contrast;
    a.idx.repetition = repetition;
    a.center_sample = static_cast<std::uint16_t>(nx / 2);
    if (what == 2) a.flags |= flag_bit(acq_flag::is_parallel_calibration_and_imaging);
    a.data = array<cfloat, 2>(extents<2>{nc, nx});
    for (index_t c = 0; c < nc; ++c)
      for (index_t x = 0; x < nx; ++x) a.data(c, x) = k(c, y, x);
    raw.acquisitions.push_back(std::move(a));
  }
  return raw;
}

// || |a| - s |b| || / || s |b| || with the least-squares scale s.
template <class A, class B>
double magnitude_nrmse(const A& a, const B& b) {
  double ab = 0, bb = 0;
  for (index_t i = 0; i < a.size(); ++i) ab += std::abs(a.data()[i]) * std::abs(b.data()[i]), bb += std::norm(std::abs(b.data()[i]));
  const double s = ab / bb;
  double e = 0;
  for (index_t i = 0; i < a.size(); ++i) e += std::pow(std::abs(a.data()[i]) - s * std::abs(b.data()[i]), 2);
  return std::sqrt(e / (s * s * bb));
}

array<float, 2> image_2d(const io::image_record& r) {
  return array<float, 3>(r.magnitude).reshape(extents<2>{r.magnitude.shape(1), r.magnitude.shape(2)});
}

// Truth as the chain reports it with unit-norm ESPIRiT maps: |object| x ||S|| per pixel.
array<float, 2> truth_image(const scan& s) {
  const index_t nc = s.maps.shape(0), ny = s.object.shape(0), nx = s.object.shape(1);
  array<float, 2> t(extents<2>{ny, nx});
  for (index_t y = 0; y < ny; ++y)
    for (index_t x = 0; x < nx; ++x) {
      double n2 = 0;
      for (index_t c = 0; c < nc; ++c) n2 += std::norm(s.maps(c, y, x));
      t(y, x) = static_cast<float>(std::abs(s.object(y, x)) * std::sqrt(n2));
    }
  return t;
}

TEST(Protocols, PartialFourierInTheChainBeatsZeroFillingAndEqualsPocsOnTheSameKspace) {
  const index_t nc = 6, n = 96;
  const auto s = smooth_phase_scan(nc, n, n);
  const auto truth = truth_image(s);
  for (index_t first : {n * 3 / 8, n / 4, n / 8}) {  // 5/8, 6/8, 7/8
    const auto raw = raw_from(s.kspace, [](index_t) { return 1; }, first);
    recon_options pocs, zero;
    zero.partial_fourier.method = partial_fourier_method::zero;
    const auto rp = recon(raw, pocs), rz = recon(raw, zero);
    EXPECT_EQ(rp.method, "espirit");
    const double ep = magnitude_nrmse(image_2d(rp.images[0]), truth);
    const double ez = magnitude_nrmse(image_2d(rz.images[0]), truth);
    // The same k-space through partial_fourier directly, then ESPIRiT + Roemer (the chain's method).
    array<cfloat, 4> k4(extents<4>{nc, 1, n, n});
    for (index_t c = 0; c < nc; ++c)
      for (index_t y = first; y < n; ++y)
        for (index_t x = 0; x < n; ++x) k4(c, 0, y, x) = s.kspace(c, y, x);
    const auto filled = partial_fourier(k4.cview(), {-2});
    const strided_view<const cfloat, 3> f3(filled.data(), extents<3>{nc, n, n});
    const auto maps = espirit_maps(f3);
    const auto direct = combine(ifftc(f3).cview(), maps.cview());
    const double ed = magnitude_nrmse(direct, truth);
    std::printf("partial Fourier %td/%td: chain POCS %.4f, direct POCS %.4f, zero filled %.4f\n", n - first, n, ep, ed, ez);
    EXPECT_LT(ep, 0.7 * ez);
    EXPECT_NEAR(ep, ed, 0.05 * ed + 1e-3);
  }
}

TEST(Protocols, HomodyneOptionAndAsymmetricEcho) {
  const index_t nc = 4, n = 80;
  const auto s = smooth_phase_scan(nc, n, n);
  const auto truth = truth_image(s);
  // Asymmetric echo: the first 20 of 80 readout samples not recorded (centre_sample = 40 - 20).
  auto raw = raw_from(s.kspace, [](index_t) { return 1; });
  for (auto& a : raw.acquisitions) {
    array<cfloat, 2> d(extents<2>{nc, n - 20});
    for (index_t c = 0; c < nc; ++c)
      for (index_t x = 20; x < n; ++x) d(c, x - 20) = a.data(c, x);
    a.data = std::move(d);
    a.center_sample = static_cast<std::uint16_t>(n / 2 - 20);
  }
  recon_options zero;
  zero.partial_fourier.method = partial_fourier_method::zero;
  const double e_pocs = magnitude_nrmse(image_2d(recon(raw).images[0]), truth);
  const double e_zero = magnitude_nrmse(image_2d(recon(raw, zero).images[0]), truth);
  recon_options homodyne;
  homodyne.partial_fourier.method = partial_fourier_method::homodyne;
  const double e_homo = magnitude_nrmse(image_2d(recon(raw, homodyne).images[0]), truth);
  std::printf("asymmetric echo 60/80: POCS %.4f, homodyne %.4f, zero filled %.4f\n", e_pocs, e_homo, e_zero);
  EXPECT_LT(e_pocs, 0.7 * e_zero);
  EXPECT_LT(e_homo, e_zero);
}

TEST(Protocols, GrappaWithPartialFourierEqualsFillThenPocs) {
  const index_t nc = 8, n = 96, first = n / 4;  // R = 2 + 24 ACS + partial Fourier 6/8
  const auto s = smooth_phase_scan(nc, n, n, 1e-4);
  const auto truth = truth_image(s);
  auto keep = [&](index_t y) { return std::abs(y - n / 2) < 12 ? 2 : (y % 2 == 0 ? 1 : 0); };
  auto raw = raw_from(s.kspace, keep, first);
  raw.header.accel_e1 = 2;
  raw.header.calibration_mode = "embedded";
  recon_options zero;
  zero.partial_fourier.method = partial_fourier_method::zero;
  const auto rp = recon(raw), rz = recon(raw, zero);
  EXPECT_EQ(rp.method, "grappa");
  const double ep = magnitude_nrmse(image_2d(rp.images[0]), truth);
  const double ez = magnitude_nrmse(image_2d(rz.images[0]), truth);
  // Directly: the same zero-filled k-space, grappa() fill, partial_fourier, ESPIRiT maps of the ACS, Roemer.
  array<cfloat, 4> k4(extents<4>{nc, 1, n, n});
  for (index_t c = 0; c < nc; ++c)
    for (index_t y = first; y < n; ++y)
      if (keep(y))
        for (index_t x = 0; x < n; ++x) k4(c, 0, y, x) = s.kspace(c, y, x);
  const strided_view<const cfloat, 3> k3(k4.data(), extents<3>{nc, n, n});
  auto filled = grappa(k3);
  array<cfloat, 4> f4 = std::move(filled).reshape(extents<4>{nc, 1, n, n});
  f4 = partial_fourier(f4.cview(), {-2}, {}, {{first, n}});
  const strided_view<const cfloat, 3> f3(f4.data(), extents<3>{nc, n, n});
  const auto maps = espirit_maps(k3);
  const double ed = magnitude_nrmse(combine(ifftc(f3).cview(), maps.cview()), truth);
  std::printf("GRAPPA R=2 + PF 6/8: chain %.4f, direct %.4f, PF zero filled %.4f\n", ep, ed, ez);
  // The chain calibrates on the 23 flagged ACS lines, grappa(k) on the 25-line fully sampled centre the
  // lattice lines extend it to: the chain must be at least as good (it is better: 0.023 vs 0.037).
  EXPECT_LT(ep, 0.8 * ez);
  EXPECT_LT(ep, 1.05 * ed + 1e-3);
}

// Interleaved acceleration: repetition r samples the lattice y = r (mod R); the calibration is the union.
// Every repetition's chain image equals GRAPPA (k-space fill, same ESPIRiT maps) on the same k-space.
TEST(Protocols, InterleavedCalibrationEveryRepetitionMatchesGrappaOnTheSameKspace) {
  for (auto [nc, R] : {std::pair<index_t, index_t>{8, 2}, {8, 3}, {12, 4}}) {
    const index_t n = 96;
    const auto s = smooth_phase_scan(nc, n, n, 2e-4);
    io::raw_dataset raw;
    for (index_t r = 0; r < R; ++r) {
      auto part = raw_from(s.kspace, [&](index_t y) { return (y % R) == r ? 1 : 0; }, 0, 0,
                           static_cast<std::uint16_t>(r));
      if (r == 0) raw.header = part.header, raw.source = part.source;
      for (auto& a : part.acquisitions) raw.acquisitions.push_back(std::move(a));
    }
    raw.header.accel_e1 = static_cast<std::uint16_t>(R);
    raw.header.calibration_mode = "interleaved";
    const auto res = recon(raw);
    EXPECT_EQ(res.method, "grappa");
    ASSERT_EQ(res.images.size(), static_cast<std::size_t>(R));
    const auto kd = assemble_kspace(raw);
    const auto& cal = kd.calibration.begin()->second;
    const strided_view<const cfloat, 3> c3(cal.data(), extents<3>{nc, n, n});
    const auto maps = espirit_maps(c3);
    for (const auto& b : kd.imaging) {
      const strided_view<const cfloat, 3> k3(b.kspace.data(), extents<3>{nc, n, n});
      const auto filled = grappa(k3, c3);
      const auto direct = combine(ifftc(filled.cview()).cview(), maps.cview());
      const auto& img = res.images[b.key.repetition];
      ASSERT_EQ(img.repetition, b.key.repetition);
      const double e_chain = magnitude_nrmse(image_2d(img), truth_image(s));
      const double e_direct = magnitude_nrmse(direct, truth_image(s));
      std::printf("interleaved %td coils R=%td rep %d: chain %.4f, grappa on the same k-space %.4f\n", nc, R,
                  b.key.repetition, e_chain, e_direct);
      EXPECT_LT(e_chain, 1.05 * e_direct + 2e-3);
    }
  }
}

// Two contrasts (echoes) share one calibration scan stored with contrast 0: both use it; GRAPPA runs for
// both, and the second contrast's image is as good as the first's.
TEST(Protocols, ContrastsShareTheSlicesCalibration) {
  const index_t nc = 8, n = 64, R = 2;
  const auto s = smooth_phase_scan(nc, n, n, 1e-4);
  io::raw_dataset raw;
  auto acs = raw_from(s.kspace, [&](index_t y) { return std::abs(y - n / 2) < 12 ? 1 : 0; });
  raw.header = acs.header;
  raw.source = acs.source;
  raw.header.accel_e1 = R;
  raw.header.calibration_mode = "separate";
  for (auto& a : acs.acquisitions) {
    a.flags = flag_bit(acq_flag::is_parallel_calibration);
    raw.acquisitions.push_back(std::move(a));
  }
  for (std::uint16_t contrast : {0, 1}) {
    auto part = raw_from(s.kspace, [&](index_t y) { return y % R == 0 ? 1 : 0; }, 0, contrast);
    for (auto& a : part.acquisitions) raw.acquisitions.push_back(std::move(a));
  }
  const auto res = recon(raw);
  EXPECT_EQ(res.method, "grappa");
  ASSERT_EQ(res.images.size(), 2u);
  const double e0 = magnitude_nrmse(image_2d(res.images[0]), truth_image(s));
  const double e1 = magnitude_nrmse(image_2d(res.images[1]), truth_image(s));
  std::printf("contrast 0: %.4f, contrast 1 (calibration of contrast 0): %.4f\n", e0, e1);
  EXPECT_LT(e0, 0.05);
  EXPECT_NEAR(e1, e0, 1e-6);
}

TEST(Protocols, ComplexPhaseAndRealOutput) {
  const index_t nc = 4, n = 48;
  const auto s = smooth_phase_scan(nc, n, n);
  const auto raw = raw_from(s.kspace, [](index_t) { return 1; });
  recon_options o;
  o.method = "espirit";
  o.output = io::image_type::complex;
  const auto rc = recon(raw, o);
  const auto& im = rc.images[0];
  ASSERT_EQ(im.complex_image.shape(), (extents<3>{1, n, n}));
  // The complex image is the Roemer combination with ESPIRiT maps, computed here directly on the same
  // k-space (its phase is the object's plus the smooth phase the ESPIRiT maps leave: BART's convention);
  // |complex| is the magnitude.
  const auto maps = espirit_maps(s.kspace.cview());
  const auto direct = combine(ifftc(s.kspace.cview()).cview(), maps.cview());
  array<cfloat, 3> d3(extents<3>{1, n, n});
  std::copy(direct.data(), direct.data() + d3.size(), d3.data());
  const double err = test::relative_error(im.complex_image, d3);
  std::printf("complex output vs combine(ifftc(k), espirit_maps(k)): %.2e\n", err);
  EXPECT_LT(err, 1e-5);
  for (index_t p = 0; p < im.magnitude.size(); ++p)
    EXPECT_NEAR(std::abs(im.complex_image[p]), im.magnitude[p], 1e-5f * (1 + im.magnitude[p]));
  // Written as ISMRMRD images of the asked type and read back.
  for (auto t : {io::image_type::complex, io::image_type::phase, io::image_type::real}) {
    o.output = t;
    const auto r = recon(raw, o);
    const auto path = test::tmp_path(std::string("protocol_") + io::image_type_name(t) + ".h5");
    io::write_ismrmrd_images(path, r.images);
    const auto back = io::read_ismrmrd_images(path);
    ASSERT_EQ(back.size(), 1u);
    EXPECT_EQ(back[0].type, t);
    const index_t p = (n / 2) * n + n / 3;
    const cfloat v = r.images[0].complex_image[p];
    if (t == io::image_type::complex) {
      EXPECT_EQ(back[0].complex_image[p], v);
    } else {
      EXPECT_FLOAT_EQ(back[0].magnitude[p], t == io::image_type::phase ? std::arg(v) : v.real());
    }
  }
  EXPECT_THROW(io::parse_image_type("sepia"), InvalidArgument);
}

// A recon matrix twice the encoded one: zero-padding interpolation. Reference: the band-limited
// interpolation of the coil-combined image evaluated by a direct DFT in double.
TEST(Protocols, ReconMatrixLargerThanEncodedIsInterpolated) {
  const index_t nc = 2, n = 32;
  const auto s = smooth_phase_scan(nc, n, n);
  auto raw = raw_from(s.kspace, [](index_t) { return 1; });
  raw.header.recon_matrix = {2 * n, 2 * n, 1};
  recon_options o;
  o.method = "espirit";
  o.output = io::image_type::complex;
  const auto big = recon(raw, o).images[0];
  ASSERT_EQ(big.magnitude.shape(), (extents<3>{1, 2 * n, 2 * n}));
  raw.header.recon_matrix = {n, n, 1};
  const auto small = recon(raw, o).images[0];
  // K = fftc(small) (unitary, n x n); interpolated(Y, X) = sqrt(4) / (2n) sum_k K exp(+2 pi i k r / (2n)),
  // r = position - n (the centred grid of 2n), k = index - n/2.
  const auto K = fftc(strided_view<const cfloat, 2>(small.complex_image.data(), extents<2>{n, n}));
  double num = 0, den = 0;
  for (index_t Y = 0; Y < 2 * n; Y += 3)
    for (index_t X = 0; X < 2 * n; X += 5) {
      std::complex<double> v = 0;
      for (index_t ky = 0; ky < n; ++ky)
        for (index_t kx = 0; kx < n; ++kx) {
          const double ph = 2 * M_PI * ((ky - n / 2) * double(Y - n) + (kx - n / 2) * double(X - n)) / (2.0 * n);
          v += std::complex<double>(K(ky, kx)) * std::polar(1.0, ph);
        }
      v *= 2.0 / (2.0 * n);
      num += std::norm(std::complex<double>(big.complex_image(0, Y, X)) - v);
      den += std::norm(v);
    }
  std::printf("recon matrix 2x: relative error vs the direct band-limited interpolation %.2e\n", std::sqrt(num / den));
  EXPECT_LT(std::sqrt(num / den), 1e-4);
}

TEST(Protocols, HeaderThatSizesMoreThanMemoryIsRefusedBeforeAllocation) {
  const auto s = smooth_phase_scan(2, 16, 16);
  auto raw = raw_from(s.kspace, [](index_t) { return 1; });
  raw.header.encoded_matrix = {60000, 60000, 60000};  // 2 coils x 60000^3: far beyond any memory
  raw.header.e1 = io::limit{0, 59999, 30000};
  try {
    recon(raw);
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("more than this machine's"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace larmor
