// The chain's `auto` on the masks that used to fool it, through recon_session as a scanner streams them:
//   - a 2D point mask over (y, x) that fills more than half its bounding box was taken as fully sampled
//     and reconstructed with its holes: now compressed sensing;
//   - with no lattice, ry = 1 was assumed, so the random gaps at the sparse edges of a variable-density
//     mask were read as partial Fourier and POCS ran on the CS image: now an irregular mask's extent is
//     only known to within its widest gap, while a real partial Fourier (6/8) with such a mask still is;
//   - 3D Poisson-disc (z, y) masks: cs; a regular lattice whose centre is too small for the GRAPPA
//     kernel: cgsense. Each against the phantom's truth, not against another larmor path.
#include <algorithm>
#include <string>
#include <vector>

#include "coil_phantom.hpp"
#include "larmor/recon/recon.hpp"
#include "larmor/sampling/poisson_mask.hpp"
#include "test_helpers.hpp"

namespace larmor {
namespace {

struct outcome {
  std::string method;
  std::vector<std::string> messages;
  array<float, 3> image;
  bool said(const std::string& s) const {
    return std::any_of(messages.begin(), messages.end(), [&](const std::string& m) { return m.find(s) != std::string::npos; });
  }
};

// Streams k (coils, z, y, x) as readouts along x: every (z, y) line with a sample; `keep(z, y, x)` says
// which samples were acquired (the others are sent as zeros, as a point mask over (y, x) gives them).
template <class Keep>
outcome stream(const array<cfloat, 4>& k, Keep keep, index_t accel_y = 1, index_t last_line = -1) {
  const index_t nc = k.shape(0), nz = k.shape(1), ny = k.shape(2), nx = k.shape(3);
  io::encoding_header h;
  h.encoded_matrix = {static_cast<std::uint16_t>(nx), static_cast<std::uint16_t>(ny), static_cast<std::uint16_t>(nz)};
  h.recon_matrix = h.encoded_matrix;
  h.encoded_fov_mm = h.recon_fov_mm = {200.f, 200.f, nz > 1 ? 200.f : 5.f};
  // The encoding limits as a scanner writes them: a partial Fourier scan's stop before the end.
  h.e1 = io::limit{0, static_cast<std::uint16_t>(last_line >= 0 ? last_line : ny - 1), static_cast<std::uint16_t>(ny / 2)};
  if (nz > 1) h.e2 = io::limit{0, static_cast<std::uint16_t>(nz - 1), static_cast<std::uint16_t>(nz / 2)};
  h.accel_e1 = static_cast<std::uint16_t>(accel_y);
  outcome out;
  recon_options o;
  o.progress = [&](const std::string& s) { out.messages.push_back(s); };
  std::vector<io::image_record> images;
  recon_session s(h, o, [&](io::image_record&& r) { images.push_back(std::move(r)); });
  for (index_t z = 0; z < nz; ++z)
    for (index_t y = 0; y < ny; ++y) {
      bool any = false;
      for (index_t x = 0; x < nx && !any; ++x) any = keep(z, y, x);
      if (!any) continue;
      io::acquisition a;
      a.idx.kspace_encode_step_1 = static_cast<std::uint16_t>(y);
      a.idx.kspace_encode_step_2 = static_cast<std::uint16_t>(z);
      a.center_sample = static_cast<std::uint16_t>(nx / 2);
      a.data = array<cfloat, 2>(extents<2>{nc, nx});
      for (index_t c = 0; c < nc; ++c)
        for (index_t x = 0; x < nx; ++x) a.data(c, x) = keep(z, y, x) ? k(c, z, y, x) : cfloat(0.f, 0.f);
      s.push(std::move(a));
    }
  s.finish();
  EXPECT_EQ(images.size(), 1u);
  out.method = s.method();
  if (!images.empty()) out.image = std::move(images[0].magnitude);
  return out;
}

// The image against the object, after the best real scale (the chain's combination has its own scale).
double nrmse_to(const array<float, 3>& img, const array<float, 2>& truth) {
  double ab = 0, bb = 0;
  for (index_t y = 0; y < truth.shape(0); ++y)
    for (index_t x = 0; x < truth.shape(1); ++x) ab += img(0, y, x) * truth(y, x), bb += img(0, y, x) * img(0, y, x);
  const double a = bb > 0 ? ab / bb : 0;
  double e = 0, n = 0;
  for (index_t y = 0; y < truth.shape(0); ++y)
    for (index_t x = 0; x < truth.shape(1); ++x) {
      const double d = a * img(0, y, x) - truth(y, x);
      e += d * d, n += truth(y, x) * truth(y, x);
    }
  return std::sqrt(e / n);
}

array<cfloat, 4> as4(const array<cfloat, 3>& k) {
  array<cfloat, 4> out(extents<4>{k.shape(0), 1, k.shape(1), k.shape(2)});
  std::copy(k.begin(), k.end(), out.begin());
  return out;
}

TEST(AutoMasks, PointMaskFillingMoreThanHalfItsBoxIsCompressedSensingNotFullySampled) {
  const index_t n = 64;
  const auto p = test::make_coil_phantom(8, n, n, 1e-3);
  const auto m = poisson_mask(n, n, 1.6, 12, 4);  // ~62 % of the plane
  const auto k = as4(p.kspace);
  const auto r = stream(k, [&](index_t, index_t y, index_t x) { return m(y, x) != 0; });
  EXPECT_EQ(r.method, "cs");
  // The holes were filled by the reconstruction, not left in: clearly better than the zero-filled image
  // (what the "fully sampled" reading reconstructed), even combined with the true maps.
  array<cfloat, 3> zk = p.kspace;
  for (index_t c = 0; c < 8; ++c)
    for (index_t y = 0; y < n; ++y)
      for (index_t x = 0; x < n; ++x)
        if (!m(y, x)) zk(c, y, x) = 0;
  const auto zi = ifftc(zk.cview());
  array<float, 3> zf(extents<3>{1, n, n});
  for (index_t y = 0; y < n; ++y)
    for (index_t x = 0; x < n; ++x) {
      std::complex<double> num = 0;  // combined with the true maps: no shading, only the holes' aliasing
      double den = 0;
      for (index_t c = 0; c < 8; ++c)
        num += std::conj(std::complex<double>(p.maps(c, y, x))) * std::complex<double>(zi(c, y, x)),
            den += std::norm(p.maps(c, y, x));
      zf(0, y, x) = den > 0 ? static_cast<float>(std::abs(num) / den) : 0.f;
    }
  const double e = nrmse_to(r.image, p.object), e0 = nrmse_to(zf, p.object);
  EXPECT_LT(e, 0.8 * e0) << e << " vs zero filled " << e0;
}

TEST(AutoMasks, FullySampledWithAnAsymmetricEchoAndEllipticalCornersIsStillFullySampled) {
  const index_t n = 64;
  const auto p = test::make_coil_phantom(8, n, n, 1e-3);
  const auto k = as4(p.kspace);
  // Elliptical scanning (corners of the (y, x) plane left out) and an asymmetric echo (x < 12 missing).
  const auto r = stream(k, [&](index_t, index_t y, index_t x) {
    const double u = (y - n / 2.0) / (n / 2.0), v = (x - n / 2.0) / (n / 2.0);
    return x >= 12 && u * u + v * v <= 1.0;
  });
  EXPECT_EQ(r.method, "espirit");
}

// Seed 1 leaves 7 lines empty at one edge and 18 at the other: the old rule (extent asymmetric by more
// than one line) ran POCS on the CS image.
TEST(AutoMasks, VariableDensityLinesAreNotReadAsPartialFourierButARealOneIs) {
  const index_t n = 64;
  const auto p = test::make_coil_phantom(6, n, n, 1e-3);
  const auto k = as4(p.kspace);
  for (std::uint64_t seed : {1u, 4u}) {
    const auto lines = variable_density_lines(n, 2.5, 12, seed);
    const auto r = stream(k, [&](index_t, index_t y, index_t) { return lines[static_cast<std::size_t>(y)] != 0; });
    EXPECT_EQ(r.method, "cs") << seed;
    EXPECT_FALSE(r.said("partial Fourier")) << "seed " << seed << ": random edge gaps taken for partial Fourier";
    // Partial Fourier 6/8 (the top quarter of the lines never acquired, as the header's limits say) with
    // the same mask: detected.
    const auto pf = stream(k, [&](index_t, index_t y, index_t) { return y < 3 * n / 4 && lines[static_cast<std::size_t>(y)] != 0; },
                           1, 3 * n / 4 - 1);
    EXPECT_TRUE(pf.said("partial Fourier")) << seed;
  }
}

// 3D: a Poisson-disc mask over (z, y), every readout full: cs, and its image near the truth.
TEST(AutoMasks, Poisson3DIsCompressedSensing) {
  const index_t nc = 6, nz = 16, n = 32;
  const auto p = test::make_coil_phantom(nc, n, n, 0.0);
  // A volume: the 2D phantom's coil images times a smooth profile along z.
  array<cfloat, 4> img(extents<4>{nc, nz, n, n});
  for (index_t c = 0; c < nc; ++c)
    for (index_t z = 0; z < nz; ++z) {
      const float w = std::exp(-std::pow((z - nz / 2.0f) / (nz / 3.0f), 2.0f));
      for (index_t y = 0; y < n; ++y)
        for (index_t x = 0; x < n; ++x) img(c, z, y, x) = w * p.images(c, y, x);
    }
  const auto k = fftc(img.cview(), {1, 2, 3});
  const auto m = poisson_mask(nz, n, 2.0, 8, 7);
  const auto r = stream(k, [&](index_t z, index_t y, index_t) { return m(z, y) != 0; });
  EXPECT_EQ(r.method, "cs");
  EXPECT_FALSE(r.said("partial Fourier"));
}

// R = 4 with 12 central lines: the 4-line GRAPPA kernel (offsets -4..8 around a cell of 4) needs 13: CG-SENSE
// with ESPIRiT maps. R = 3 with 8 lines: CG-SENSE with ESPIRiT's kernel cut to 4 (its default 6 on 8 lines
// made an image with NRMSE 0.88 against the object). R = 3 with 4 lines: too few for any maps -- refused.
TEST(AutoMasks, ALatticeWithTooSmallACentreForTheKernelIsCgsenseOrRefused) {
  const index_t n = 96;
  const auto p = test::make_coil_phantom(8, n, n, 1e-3);
  const auto k = as4(p.kspace);
  const auto r = stream(k, [&](index_t, index_t y, index_t) { return y % 4 == 0 || (y >= n / 2 - 6 && y < n / 2 + 6); }, 4);
  EXPECT_EQ(r.method, "cgsense");
  EXPECT_LT(nrmse_to(r.image, p.object), 0.2);
  const auto r8 = stream(k, [&](index_t, index_t y, index_t) { return y % 3 == 0 || (y >= n / 2 - 4 && y < n / 2 + 4); }, 3);
  EXPECT_EQ(r8.method, "cgsense");
  EXPECT_LT(nrmse_to(r8.image, p.object), 0.2);
  try {
    stream(k, [&](index_t, index_t y, index_t) { return y % 3 == 0 || (y >= n / 2 - 2 && y < n / 2 + 2); }, 3);
    ADD_FAILURE() << "4 calibration lines at R = 3 were reconstructed";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("coil maps"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace larmor
