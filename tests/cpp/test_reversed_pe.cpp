// Field map from a reversed phase-encode pair (fieldmap/reversed_pe.hpp) on profiles moved analytically:
// with k_y read up, off-resonance f moves the object by d = -f ESP Ny pixels (and by +f ESP Ny read down),
// intensity conserved. A smooth object moved by a known field (constant, and varying along x) must give that
// field back; bad input is refused. The exact-model simulation (k-space with each line's time) is in
// python/tests/test_offresonance.py.
#include <gtest/gtest.h>

#include <cmath>

#include "larmor/fieldmap/reversed_pe.hpp"

using namespace larmor;

namespace {
// a smooth object along y: two Gaussian lobes (intensity conserved under a shift)
double rho(double y) { return std::exp(-(y - 26) * (y - 26) / 30.0) + 0.7 * std::exp(-(y - 38) * (y - 38) / 20.0); }
}  // namespace

TEST(ReversedPeFieldmap, RecoversAFieldFromShiftedProfiles) {
  const index_t ny = 64, nx = 8;
  const double esp = 0.5e-3;
  array<float, 3> up(extents<3>{1, ny, nx}), down(extents<3>{1, ny, nx});
  std::vector<double> f(static_cast<std::size_t>(nx));
  for (index_t x = 0; x < nx; ++x) {
    f[static_cast<std::size_t>(x)] = -40.0 + 15.0 * static_cast<double>(x);  // -40 .. +65 Hz, constant along y
    const double d = -f[static_cast<std::size_t>(x)] * esp * static_cast<double>(ny);
    for (index_t y = 0; y < ny; ++y) {
      up(0, y, x) = static_cast<float>(rho(static_cast<double>(y) - d));
      down(0, y, x) = static_cast<float>(rho(static_cast<double>(y) + d));
    }
  }
  reversed_pe_options o;
  o.echo_spacing = esp;
  o.smooth = 0;
  const auto hz = reversed_pe_fieldmap(up.cview(), down.cview(), o);
  for (index_t x = 0; x < nx; ++x)
    for (index_t y = 22; y < 42; ++y) EXPECT_NEAR(hz(0, y, x), f[static_cast<std::size_t>(x)], 1.5) << y << " " << x;
  EXPECT_EQ(hz(0, 0, 0), 0.f);  // background
  reversed_pe_options bad = o;
  bad.echo_spacing = 0.5;  // milliseconds by mistake
  EXPECT_THROW(reversed_pe_fieldmap(up.cview(), down.cview(), bad), InvalidArgument);
  array<float, 3> other(extents<3>{1, ny, nx + 1});
  EXPECT_THROW(reversed_pe_fieldmap(up.cview(), other.cview(), o), InvalidArgument);
  up(0, 3, 3) = std::nanf("");
  EXPECT_THROW(reversed_pe_fieldmap(up.cview(), down.cview(), o), DataError);
}
