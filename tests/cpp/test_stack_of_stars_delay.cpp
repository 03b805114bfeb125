// The non-Cartesian chain's gradient-delay step (recon/noncartesian_recon.hpp, step 3b) on a stack of stars:
// spokes in (kx, ky) per partition, kz Cartesian from kspace_encode_step_2. The in-plane spokes sample the
// shifted positions k = (u n + S n) dk (S known), each partition's slice simulated with a double-precision
// NUFFT at 1e-9 and transformed along z. The chain must estimate S from the central partition, report it per
// axis, and its image must be the one the true (shifted) trajectory gives, where the nominal one's is not.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "larmor/fft/fft.hpp"
#include "larmor/nufft/nufft.hpp"
#include "larmor/recon/noncartesian_recon.hpp"
#include "larmor/sim/phantom.hpp"

using namespace larmor;

namespace {

constexpr double pi = 3.14159265358979323846;

struct result {
  array<float, 3> image;
  std::string note;
};

}  // namespace

TEST(StackOfStarsDelay, EstimatedFromTheCentralPartitionAndCorrected) {
  const index_t n = 32, nz = 8, nc = 6, spokes = 64, ns = 2 * n;
  const double sxx = 0.8, syy = -0.5, sxy = 0.1, dk = 0.5;
  // object (z, y, x): an ellipsoid with an insert; coils: the same smooth maps in every partition
  array<float, 3> obj(extents<3>{nz, n, n});
  for (index_t z = 0; z < nz; ++z)
    for (index_t y = 0; y < n; ++y)
      for (index_t x = 0; x < n; ++x) {
        const double u = (static_cast<double>(x) - n / 2) / n, v = (static_cast<double>(y) - n / 2) / n,
                     w = (static_cast<double>(z) - nz / 2) / nz;
        float val = (u * u / 0.12 + v * v / 0.16 + w * w / 0.3 < 1) ? 1.f : 0.f;
        if (val > 0 && (u - 0.1) * (u - 0.1) + v * v < 0.008) val = 0.4f;
        obj(z, y, x) = val;
      }
  const auto maps = simulated_coil_maps<double>(nc, n, n);
  // in-plane spokes (golden-angle-free, uniform over 2 pi), nominal and true (shifted) positions in (y, x)
  std::vector<double> nominal(static_cast<std::size_t>(spokes * ns * 2)), actual(nominal.size());
  for (index_t i = 0; i < spokes; ++i) {
    const double a = 2 * pi * static_cast<double>(i) / spokes, nx = std::cos(a), ny = std::sin(a);
    for (index_t s = 0; s < ns; ++s) {
      const double u = (static_cast<double>(s) - ns / 2) * dk;
      const std::size_t m = static_cast<std::size_t>(i * ns + s);
      nominal[2 * m] = u * ny, nominal[2 * m + 1] = u * nx;
      actual[2 * m] = u * ny + dk * (sxy * nx + syy * ny);
      actual[2 * m + 1] = u * nx + dk * (sxx * nx + sxy * ny);
    }
  }
  // samples per partition z (coils, spokes * ns) at the given positions, then the centred FFT along z -> kz
  const index_t M = spokes * ns;
  const auto simulate = [&](const std::vector<double>& at) {
    array<cdouble, 3> per_z(extents<3>{nz, nc, M});
    for (index_t z = 0; z < nz; ++z) {
      array<cdouble, 3> imgs(extents<3>{nc, n, n});
      for (index_t c = 0; c < nc; ++c)
        for (index_t y = 0; y < n; ++y)
          for (index_t x = 0; x < n; ++x) imgs(c, y, x) = maps(c, y, x) * static_cast<double>(obj(z, y, x));
      const auto smp = nufft<double, 3, double>(imgs.cview(), strided_view<const double, 2>(at.data(), extents<2>{M, 2}), 1e-9);
      for (index_t i = 0; i < nc * M; ++i) per_z(z, i / M, i % M) = smp.data()[i];
    }
    return fftc(per_z.cview(), {0});
  };
  const auto delayed = simulate(actual);
  io::encoding_header h;
  h.encoded_matrix = {static_cast<std::uint16_t>(n), static_cast<std::uint16_t>(n), static_cast<std::uint16_t>(nz)};
  h.recon_matrix = h.encoded_matrix;
  h.encoded_fov_mm = h.recon_fov_mm = {200.f, 200.f, 80.f};
  h.e2 = io::limit{0, static_cast<std::uint16_t>(nz - 1), static_cast<std::uint16_t>(nz / 2)};
  h.trajectory = "radial";
  const auto run = [&](const array<cdouble, 3>& kz, const std::string& mode, const std::vector<double>& pos) {
    noncartesian_recon_options o;
    o.gradient_delay = mode;
    o.units = trajectory_units::cycles_per_fov;
    o.iters = 10;
    noncartesian_assembler as(h, "stack of stars", o);
    std::vector<float> traj(static_cast<std::size_t>(ns * 2));
    for (index_t p = 0; p < nz; ++p)
      for (index_t i = 0; i < spokes; ++i) {
        io::acquisition a;
        a.idx.kspace_encode_step_1 = static_cast<std::uint16_t>(i);
        a.idx.kspace_encode_step_2 = static_cast<std::uint16_t>(p);
        a.data = array<cfloat, 2>(extents<2>{nc, ns});
        for (index_t c = 0; c < nc; ++c)
          for (index_t s = 0; s < ns; ++s) a.data(c, s) = cfloat(kz(p, c, i * ns + s));
        for (index_t s = 0; s < ns; ++s) {  // ISMRMRD order (kx, ky) in cycles per FOV: the nominal spokes
          traj[static_cast<std::size_t>(2 * s)] = static_cast<float>(pos[static_cast<std::size_t>(2 * (i * ns + s) + 1)]);
          traj[static_cast<std::size_t>(2 * s + 1)] = static_cast<float>(pos[static_cast<std::size_t>(2 * (i * ns + s))]);
        }
        as.add(a, traj.data(), 2);
      }
    auto images = as.finish();
    EXPECT_EQ(images.size(), 1u);
    return result{std::move(images[0].magnitude), as.gradient_delay_note()};
  };
  const auto on = run(delayed, "auto", nominal), off = run(delayed, "off", nominal);
  const auto ref = run(delayed, "off", actual);  // the chain told the true trajectory
  EXPECT_NE(on.note.find("S_xx 0.8"), std::string::npos) << on.note;
  EXPECT_NE(on.note.find("S_yy -0.5"), std::string::npos) << on.note;
  EXPECT_TRUE(off.note.empty());
  // over the object (where the maps, which each run estimates from its own gridded data, are certain)
  const auto diff = [&](const array<float, 3>& img) {
    double e = 0, r = 0;
    for (index_t i = 0; i < img.size(); ++i) {
      if (obj.data()[i] == 0.f) continue;
      e += (img.data()[i] - ref.image.data()[i]) * double(img.data()[i] - ref.image.data()[i]),
          r += ref.image.data()[i] * double(ref.image.data()[i]);
    }
    return std::sqrt(e / r);
  };
  EXPECT_LT(diff(on.image), 0.02) << diff(on.image) << " vs " << diff(off.image);
  EXPECT_GT(diff(off.image), 0.1) << diff(off.image);
}
