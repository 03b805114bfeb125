// 5T-class 3D scale runs (issue 15), one step per process so that /usr/bin/time -v gives its peak memory:
//   bench_scale espirit3d NC NZ NY NX          ESPIRiT maps (BART defaults) of a fully sampled volume
//   bench_scale grappa3d  NC NZ NY NX [RY RZ]  ESPIRiT maps + GRAPPA calibrate + unmixing + unmix (2x2,
//                                              24 x 24 ACS), as `larmor recon --method grappa` runs them
// Data: the modified Shepp-Logan in (y, x) extruded along z with a cosine taper, times
// simulated_coil_maps in-plane and a per-coil z profile (ring c % ceil(NC/8), Gaussian width 0.5, linear
// phase) — the object and coils of bench/make_ismrmrd3d.cpp — plus complex noise of sigma 0.01; built
// one coil volume at a time (no second coil-sized array). Prints the time of each step in seconds.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "larmor/larmor.hpp"

namespace {

using larmor::array;
using larmor::cfloat;
using larmor::extents;
using larmor::index_t;

array<cfloat, 4> volume(index_t nc, index_t nz, index_t ny, index_t nx) {
  const auto obj = larmor::shepp_logan<float>(ny, nx);
  const auto maps = larmor::simulated_coil_maps<float>(nc, ny, nx);
  array<cfloat, 4> k(extents<4>{nc, nz, ny, nx}, larmor::uninitialized);
  const index_t rings = (nc + 7) / 8, n = nz * ny * nx;
  std::mt19937 rng(5);
  std::normal_distribution<float> g(0.f, 0.01f);
  for (index_t c = 0; c < nc; ++c) {
    const float zc = rings > 1 ? -0.8f + 1.6f * static_cast<float>(c % rings) / static_cast<float>(rings - 1) : 0.f;
    larmor::strided_view<cfloat, 3> v(k.data() + c * n, extents<3>{nz, ny, nx});
    for (index_t z = 0; z < nz; ++z) {
      const float zz = -1.f + 2.f * static_cast<float>(z) / static_cast<float>(nz), a = std::abs(zz);
      const float taper = a <= 0.7f ? 1.f : a >= 0.9f ? 0.f : 0.5f * (1.f + std::cos(3.14159265f * (a - 0.7f) / 0.2f));
      const cfloat prof = std::polar(std::exp(-(zz - zc) * (zz - zc) / (2 * 0.25f)), 0.8f * zz);
      for (index_t y = 0; y < ny; ++y)
        for (index_t x = 0; x < nx; ++x) v(z, y, x) = maps(c, y, x) * obj(y, x) * taper * prof;
    }
    larmor::fftc_inplace(v, {0, 1, 2});
    for (index_t i = 0; i < n; ++i) k.data()[c * n + i] += cfloat(g(rng), g(rng));
  }
  return k;
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: bench_scale espirit3d|grappa3d NC NZ NY NX [RY RZ]\n");
    return 2;
  }
  const std::string what = argv[1];
  const index_t nc = std::atol(argv[2]), nz = std::atol(argv[3]), ny = std::atol(argv[4]), nx = std::atol(argv[5]);
  const index_t ry = argc > 6 ? std::atol(argv[6]) : 2, rz = argc > 7 ? std::atol(argv[7]) : 2;
  try {
    auto t0 = std::chrono::steady_clock::now();
    auto k = volume(nc, nz, ny, nx);
    std::printf("data %td coils x %td x %td x %td (%.2f GiB): %.1f s\n", nc, nz, ny, nx,
                static_cast<double>(k.size()) * 8 / (1 << 30), since(t0));
    if (what == "grappa3d") {  // 2x2 lattice + 24 x 24 ACS
      const larmor::sampling_lattice L{ry, rz, 0, 0, 0};
      const index_t n = nz * ny * nx;
      for (index_t c = 0; c < nc; ++c)
        for (index_t z = 0; z < nz; ++z)
          for (index_t y = 0; y < ny; ++y)
            if (!L.contains(z, y) && !(std::abs(z - nz / 2) < 12 && std::abs(y - ny / 2) < 12))
              std::fill_n(k.data() + c * n + (z * ny + y) * nx, nx, cfloat(0.f, 0.f));
    }
    t0 = std::chrono::steady_clock::now();
    larmor::espirit_options o;
    o.progress = [&](index_t d, index_t t) {
      if (d % 32 == 0 || d == t) std::fprintf(stderr, "  espirit %td/%td %.1f s\n", d, t, since(t0));
    };
    auto r = larmor::espirit(k.cview(), o);
    std::printf("espirit: %.1f s (%td virtual coils, %td kernels)\n", since(t0), r.virtual_coils, r.kernels_kept);
    if (what != "grappa3d") return 0;
    auto maps = std::move(r.maps).reshape(k.shape());
    r.eigenvalues = {};
    const auto L = *larmor::detect_lattice(larmor::acquired_lines(k.cview()));
    t0 = std::chrono::steady_clock::now();
    const auto kern = larmor::grappa_calibrate(larmor::grappa_acs(k.cview()).cview(), L);
    std::printf("grappa_calibrate: %.1f s (%td sources x %td targets)\n", since(t0), kern.n_sources(), kern.n_targets());
    t0 = std::chrono::steady_clock::now();
    const auto u = larmor::grappa_unmixing(kern, maps.cview(), [&](index_t d, index_t t) {
      if (d % 8 == 0 || d == t) std::fprintf(stderr, "  unmixing %td/%td %.1f s\n", d, t, since(t0));
    });
    std::printf("grappa_unmixing: %.1f s\n", since(t0));
    maps = {};
    t0 = std::chrono::steady_clock::now();
    const auto img = larmor::grappa_unmix(k.cview(), u.cview(), L);
    std::printf("grappa_unmix: %.1f s\n", since(t0));
    return img.size() > 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_scale: %s\n", e.what());
    return 1;
  }
}
