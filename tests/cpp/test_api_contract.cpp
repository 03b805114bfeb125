// The API contract shared by C++ and Python (docs/api.md): options structs for Walsh, Inati and the
// g-factors, grappa_gfactor from k-space (pi/gfactor.hpp) against the step-by-step pipeline and against
// SENSE's analytic g-factor, several ESPIRiT map sets refused by sense/cgsense with one message, and
// reconstructions run from two std::threads at once giving the serial results.
#include <thread>

#include "coil_phantom.hpp"
#include "larmor/coils/espirit.hpp"
#include "larmor/coils/inati.hpp"
#include "larmor/coils/walsh.hpp"
#include "larmor/pi/cgsense.hpp"
#include "larmor/pi/gfactor.hpp"
#include "larmor/pi/sense.hpp"
#include "sense_phantom.hpp"
#include "test_helpers.hpp"

namespace larmor {
namespace {

template <class A, class B>
double max_abs_diff(const A& a, const B& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (index_t i = 0; i < a.size(); ++i) m = std::max(m, static_cast<double>(std::abs(a[i] - b[i])));
  return m;
}

TEST(ApiContract, WalshAndInatiOptionsAreTheKernelAndIterations) {
  const auto p = test::make_coil_phantom(6, 40, 36);
  walsh_options wo;
  wo.kernel = 3;
  const auto w3 = walsh_maps(p.images.cview(), wo);
  EXPECT_EQ(max_abs_diff(w3, walsh_maps(p.images.cview(), 3)), 0.0);
  EXPECT_GT(max_abs_diff(w3, walsh_maps(p.images.cview())), 1e-3);  // the option is used (default kernel 7)
  EXPECT_EQ(max_abs_diff(walsh_maps(p.images, walsh_options{}), walsh_maps(p.images)), 0.0);
  inati_options io;
  io.kernel = 7;
  io.iters = 2;
  const auto i72 = inati_maps(p.images.cview(), io);
  EXPECT_EQ(max_abs_diff(i72, inati_maps(p.images.cview(), 7, 2)), 0.0);
  EXPECT_GT(max_abs_diff(i72, inati_maps(p.images.cview())), 1e-4);
  io.iters = 0;
  EXPECT_THROW(inati_maps(p.images.cview(), io), InvalidArgument);
}

TEST(ApiContract, SenseGfactorOptionsMatchPositionalCall) {
  const auto p = test::make_coil_phantom(8, 48, 40);
  sense_gfactor_options o;
  o.ry = 3;
  o.reg = 1e-3f;
  const auto g = sense_gfactor(p.maps.cview(), o);
  EXPECT_EQ(max_abs_diff(g, sense_gfactor(p.maps.cview(), 3, 1, 0, 1e-3f)), 0.0);
  float gmax = 0;
  for (float v : g) gmax = std::max(gmax, v);
  EXPECT_GT(gmax, 1.05f);  // R = 3 with 8 coils amplifies noise somewhere
}

TEST(ApiContract, GrappaGfactorFromKspaceEqualsThePipelineAndTracksSense) {
  const index_t nc = 8, ny = 64, nx = 48, R = 2;
  const auto p = test::make_coil_phantom(nc, ny, nx);
  sampling_lattice L;
  L.ry = R;
  auto k = p.kspace;
  test::keep_lines(k, test::lattice_with_acs(L, 1, ny, 24));
  grappa_options o;
  o.reg = 1e-3f;
  const auto g = grappa_gfactor(k.cview(), p.maps.cview(), o);
  // The same steps by hand (what Python's grappa_gfactor did before it called this function).
  const auto lat = detect_lattice(acquired_lines(k.cview()));
  ASSERT_TRUE(lat.has_value());
  EXPECT_EQ(lat->ry, R);
  const auto kern = grappa_calibrate(grappa_acs(k.cview()).cview(), *lat, o);
  const auto ref = grappa_gfactor(grappa_unmixing(kern, p.maps.cview()).cview(), p.maps.cview(), lat->factor());
  EXPECT_EQ(max_abs_diff(g, ref), 0.0);
  // A separate calibration scan (the fully sampled k-space) gives a kernel of the same quality.
  const auto g_acs = grappa_gfactor(k.cview(), p.maps.cview(), p.kspace.cview(), o);
  // (1, coils, y, x) maps are accepted, two sets are not.
  array<cfloat, 4> maps1(extents<4>{1, nc, ny, nx});
  std::copy(p.maps.begin(), p.maps.end(), maps1.begin());
  EXPECT_EQ(max_abs_diff(grappa_gfactor(k.cview(), maps1.cview(), o), g), 0.0);
  array<cfloat, 4> maps2(extents<4>{2, nc, ny, nx});
  EXPECT_THROW(grappa_gfactor(k.cview(), maps2.cview(), o), InvalidArgument);
  // Against SENSE's analytic g-factor at R = 2 over the object: GRAPPA's is near it (not equal: the
  // kernel is a finite-support approximation of the SENSE unfolding).
  const auto gs = sense_gfactor(p.maps.cview(), R);
  double sg = 0, ss = 0, sa = 0;
  index_t n = 0;
  for (index_t i = 0; i < gs.size(); ++i)
    if (p.object[i] > 0.05f) sg += g[i], ss += gs[i], sa += g_acs[i], ++n;
  ASSERT_GT(n, 100);
  sg /= static_cast<double>(n), ss /= static_cast<double>(n), sa /= static_cast<double>(n);
  EXPECT_GT(ss, 1.0);
  EXPECT_NEAR(sg / ss, 1.0, 0.25) << "GRAPPA mean g " << sg << ", SENSE mean g " << ss;
  EXPECT_NEAR(sa / sg, 1.0, 0.05);
}

TEST(ApiContract, SeveralMapSetsAreRefusedWithOneMessage) {
  const index_t nc = 6, ny = 32, nx = 32;
  const auto p = test::make_coil_phantom(nc, ny, nx);
  sampling_lattice L;
  L.ry = 2;
  auto k = p.kspace;
  test::keep_lines(k, test::lattice_with_acs(L, 1, ny, 0));
  array<cfloat, 4> maps2(extents<4>{2, nc, ny, nx});
  std::copy(p.maps.begin(), p.maps.end(), maps2.begin());
  std::copy(p.maps.begin(), p.maps.end(), maps2.begin() + p.maps.size());
  auto message = [&](auto&& f) -> std::string {
    try {
      f();
    } catch (const InvalidArgument& e) {
      return e.what();
    }
    return "no error";
  };
  const auto ms = message([&] { sense(k.cview(), maps2.cview()); });
  const auto mc = message([&] { cgsense(k.cview(), maps2.cview()); });
  EXPECT_NE(ms.find("sense: maps (maps, coils, ...) must hold one set of maps"), std::string::npos) << ms;
  EXPECT_NE(mc.find("cgsense: maps (maps, coils, ...) must hold one set of maps"), std::string::npos) << mc;
  EXPECT_NE(ms.find("(2, 6, 32, 32)"), std::string::npos) << ms;
  // One set in the (maps, coils, ...) layout is the (coils, ...) call.
  array<cfloat, 4> maps1(extents<4>{1, nc, ny, nx});
  std::copy(p.maps.begin(), p.maps.end(), maps1.begin());
  EXPECT_EQ(max_abs_diff(sense(k.cview(), maps1.cview()), sense(k.cview(), p.maps.cview())), 0.0);
}

// Two reconstructions (SENSE, CG-SENSE, Walsh maps, ESPIRiT maps, each on its own data) from two
// std::threads at once, each with its own OpenMP team and the shared FFTW plan cache, give the results
// of the same calls made one after the other.
TEST(ApiContract, ConcurrentReconstructionsEqualSerial) {
  struct job {
    test::coil_phantom p;
    array<cfloat, 3> k;
    array<cfloat, 2> sense_img, cg_img;
    array<cfloat, 3> walsh;
    array<cfloat, 4> esp;
  };
  auto make = [](index_t nc, index_t ny, index_t nx, unsigned seed) {
    job j;
    j.p = test::make_coil_phantom(nc, ny, nx, 0.01, seed);
    sampling_lattice L;
    L.ry = 2;
    j.k = j.p.kspace;
    test::keep_lines(j.k, test::lattice_with_acs(L, 1, ny, 16));
    return j;
  };
  auto run = [](job& j) {
    sense_options so;
    so.reg = 1e-3f;
    j.sense_img = sense(j.k.cview(), j.p.maps.cview(), so);
    cgsense_options co;
    co.reg = 1e-3f;
    co.iters = 15;
    co.tol = 0;
    j.cg_img = cgsense(j.k.cview(), j.p.maps.cview(), co).image;
    j.walsh = walsh_maps(ifftc(j.p.kspace.cview(), {1, 2}).cview(), walsh_options{});
    espirit_options eo;
    eo.calib = 16;
    j.esp = espirit_maps(j.k.cview(), eo);
  };
  std::vector<job> serial, conc;
  serial.push_back(make(8, 64, 48, 1));
  serial.push_back(make(6, 48, 64, 2));
  conc = serial;
  for (auto& j : serial) run(j);
  std::thread a([&] { run(conc[0]); });
  std::thread b([&] { run(conc[1]); });
  a.join();
  b.join();
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_LT(test::relative_error(conc[i].sense_img, serial[i].sense_img), 1e-6) << i;
    EXPECT_LT(test::relative_error(conc[i].cg_img, serial[i].cg_img), 1e-6) << i;
    EXPECT_LT(test::relative_error(conc[i].walsh, serial[i].walsh), 1e-6) << i;
    EXPECT_LT(test::relative_error(conc[i].esp, serial[i].esp), 1e-5) << i;
    EXPECT_GT(test::relative_error(serial[i].cg_img, array<cfloat, 2>(serial[i].cg_img.shape())), 0.5);  // not empty
  }
}

}  // namespace
}  // namespace larmor
