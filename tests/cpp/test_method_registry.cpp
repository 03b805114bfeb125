// test_method_registry.cpp — a method is described once (recon/chain.hpp's method_description) and the chain
// does what the description says: partial Fourier on the coils' k-space before the method, inside it, or on
// its image; automatic coil compression only for methods that combine with maps. Probe methods registered
// here record what the chain hands them.
#include <gtest/gtest.h>

#include <cmath>

#include "coil_phantom.hpp"
#include "larmor/recon/recon.hpp"
#include "test_helpers.hpp"

namespace larmor {
namespace {

struct probe_record {
  index_t coils = 0;
  bool partial_fourier_handed = false;
  double first_quarter_energy = 0;  // of the k-space the method sees, lines 0 .. ny/4 - 1
};
probe_record last_probe;

// 40 coils (above the automatic compression threshold of 32), 64^2, fully sampled except the first quarter
// of the lines (partial Fourier 3/4, the encoding limits say so).
io::raw_dataset partial_fourier_scan() {
  const index_t nc = 40, n = 64;
  const auto p = test::make_coil_phantom(nc, n, n, 1e-3);
  io::raw_dataset raw;
  raw.source = "probe.sim";
  auto& h = raw.header;
  h.encoded_matrix = {static_cast<std::uint16_t>(n), static_cast<std::uint16_t>(n), 1};
  h.recon_matrix = h.encoded_matrix;
  h.encoded_fov_mm = h.recon_fov_mm = {220.f, 220.f, 5.f};
  h.e1 = io::limit{static_cast<std::uint16_t>(n / 4), static_cast<std::uint16_t>(n - 1), static_cast<std::uint16_t>(n / 2)};
  for (index_t y = n / 4; y < n; ++y) raw.acquisitions.push_back(test::line_readout(p.kspace, y, 0));
  return raw;
}

void register_probe(const std::string& name, partial_fourier_stage stage, bool with_maps) {
  method_description d;
  d.partial_fourier = stage;
  d.combines_with_maps = with_maps;
  d.needs = "a test probe";
  d.run = [](const method_input& in) {
    probe_record r;
    r.coils = in.kspace.shape(0);
    r.partial_fourier_handed = in.partial_fourier != nullptr;
    const index_t ny = in.kspace.shape(2), nx = in.kspace.shape(3);
    for (index_t c = 0; c < r.coils; ++c)
      for (index_t y = 0; y < ny / 4; ++y)
        for (index_t x = 0; x < nx; ++x) r.first_quarter_energy += std::norm(in.kspace(c, 0, y, x));
    last_probe = r;
    return array<cfloat, 3>(extents<3>{1, ny, nx});
  };
  register_recon_method(name, std::move(d));
}

probe_record run_probe(const std::string& name) {
  recon_options o;
  o.method = name;
  o.partial_fourier.method = partial_fourier_method::pocs;
  last_probe = probe_record{};
  const auto res = recon(partial_fourier_scan(), o);
  EXPECT_EQ(res.images.size(), 1u);
  return last_probe;
}

TEST(MethodRegistry, TheChainDoesWhatTheDescriptionSays) {
  register_probe("probe_coil_kspace", partial_fourier_stage::coil_kspace, false);
  register_probe("probe_inside", partial_fourier_stage::inside, false);
  register_probe("probe_image_maps", partial_fourier_stage::image, true);
  const auto before = run_probe("probe_coil_kspace");  // POCS filled the missing quarter before the method
  EXPECT_GT(before.first_quarter_energy, 0);
  EXPECT_FALSE(before.partial_fourier_handed);
  EXPECT_EQ(before.coils, 40);  // no maps: all coils
  const auto inside = run_probe("probe_inside");  // handed over, the quarter still empty
  EXPECT_TRUE(inside.partial_fourier_handed);
  EXPECT_EQ(inside.first_quarter_energy, 0);
  const auto image = run_probe("probe_image_maps");  // on the image afterwards; compressed coils
  EXPECT_FALSE(image.partial_fourier_handed);
  EXPECT_EQ(image.first_quarter_energy, 0);
  EXPECT_LT(image.coils, 40);
  EXPECT_GE(image.coils, 8);
  // The built-in methods are described where they are registered.
  EXPECT_EQ(recon_method_description("grappa").partial_fourier, partial_fourier_stage::inside);
  EXPECT_TRUE(recon_method_description("espirit").combines_with_maps);
  EXPECT_FALSE(recon_method_description("rss").needs.empty());
}

TEST(MethodRegistry, BadRegistrationsAreRefused) {
  EXPECT_THROW(register_recon_method("auto", [](const method_input&) { return array<cfloat, 3>(); }), InvalidArgument);
  EXPECT_THROW(register_recon_method("empty", method_description{}), InvalidArgument);
  EXPECT_THROW((void)recon_method_description("no_such_method"), InvalidArgument);
}

}  // namespace
}  // namespace larmor
