// 5T-class 3D scale runs (issue 15), one step per process so that /usr/bin/time -v gives its peak memory:
//   bench_scale espirit3d NC NZ NY NX          ESPIRiT maps (BART defaults) of a fully sampled volume
//   bench_scale grappa3d  NC NZ NY NX [RY RZ]  ESPIRiT maps + GRAPPA calibrate + unmixing + unmix (2x2,
//                                              24 x 24 ACS), as `larmor recon --method grappa` runs them
//   bench_scale grappacal3d NC NZ NY NX [RY RZ]  GRAPPA calibration: every position in hybrid space (the
//                                              default) vs the explicit 6 rows per source; time, and the
//                                              filled lines' NRMSE when the volume is <= 2^27 samples
//   bench_scale grappa2d  NC N R [REPS]        2D GRAPPA (simulated_kspace, R along y + 24 ACS lines):
//                                              calibrate and k-space apply, REPS alternating repetitions
//   bench_scale espirit2d NC N [REPS]          2D ESPIRiT maps (BART defaults) of simulated_kspace
// The 2D modes print per step the median wall ms and the median process CPU ms (user + sys of all
// threads: the fair figure on a shared, loaded machine).
// Data: the modified Shepp-Logan in (y, x) extruded along z with a cosine taper, times
// simulated_coil_maps in-plane and a per-coil z profile (ring c % ceil(NC/8), Gaussian width 0.5, linear
// phase) — the object and coils of bench/make_ismrmrd3d.cpp — plus complex noise of sigma 0.01; built
// one coil volume at a time (no second coil-sized array). Prints the time of each step in seconds.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <vector>
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

double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Median wall and process-CPU milliseconds of the steps, repetitions interleaved step by step.
struct step_timer {
  std::vector<std::string> names;
  std::vector<std::vector<double>> wall, cpu;
  template <class F>
  void run(std::size_t i, const char* name, F&& f) {
    if (names.size() <= i) names.resize(i + 1), wall.resize(i + 1), cpu.resize(i + 1);
    names[i] = name;
    const double c0 = cpu_now();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    wall[i].push_back(1e3 * since(t0));
    cpu[i].push_back(1e3 * (cpu_now() - c0));
  }
  static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
  }
  void print() const {
    for (std::size_t i = 0; i < names.size(); ++i)
      std::printf("%-28s wall_ms %9.1f cpu_ms %9.1f (median of %zu)\n", names[i].c_str(), median(wall[i]),
                  median(cpu[i]), wall[i].size());
  }
};

int run_2d(const std::string& what, int argc, char** argv) {
  const index_t nc = std::atol(argv[2]), n = std::atol(argv[3]);
  step_timer t;
  if (what == "grappa2d") {
    const index_t R = argc > 4 ? std::atol(argv[4]) : 4, reps = argc > 5 ? std::atol(argv[5]) : 5;
    auto k = larmor::simulated_kspace<float>(nc, n);
    for (index_t c = 0; c < nc; ++c)
      for (index_t y = 0; y < n; ++y)
        if (y % R != 0 && std::abs(y - n / 2) >= 12) std::fill_n(&k(c, y, 0), n, cfloat(0.f, 0.f));
    const auto L = *larmor::detect_lattice(larmor::acquired_lines(k.cview()));
    const auto acs = larmor::grappa_acs(k.cview());
    auto kern = larmor::grappa_calibrate(acs.cview(), L);
    auto full = larmor::grappa_apply(k.cview(), kern);  // FFTW plans made here, not timed
    for (index_t r = 0; r < reps; ++r) {
      t.run(0, "grappa_calibrate", [&] { kern = larmor::grappa_calibrate(acs.cview(), L); });
      t.run(1, "grappa_apply (k-space fill)", [&] { full = larmor::grappa_apply(k.cview(), kern); });
    }
    std::printf("grappa2d %td coils %td^2 R=%td, %d thread(s), %td sources x %td targets\n", nc, n, R,
                larmor::num_threads(), kern.n_sources(), kern.n_targets());
  } else {
    const index_t reps = argc > 4 ? std::atol(argv[4]) : 3;
    const auto k = larmor::simulated_kspace<float>(nc, n);
    array<cfloat, 4> m;
    for (index_t r = 0; r < reps; ++r) t.run(0, "espirit_maps", [&] { m = larmor::espirit_maps(k.cview()); });
    std::printf("espirit2d %td coils %td^2, %d thread(s)\n", nc, n, larmor::num_threads());
  }
  t.print();
  return 0;
}

// GRAPPA calibration of a 2x2 (RY x RZ) lattice on a 24 x 24 ACS block (whole readouts): every position
// in hybrid space (the default) against the explicit source matrix of the 6 rows per source with the most
// signal (the earlier default); time of each and, when the volume is small enough to fill, the NRMSE of
// the filled k-space lines against the true ones (all coils, missing lines only).
int grappa_calibration(array<cfloat, 4> truth, index_t ry, index_t rz) {
  const index_t nc = truth.shape(0), nz = truth.shape(1), ny = truth.shape(2), nx = truth.shape(3), n = nz * ny * nx;
  const larmor::sampling_lattice L{ry, rz, 0, 0, 0};
  auto acs = array<cfloat, 4>(extents<4>{nc, 24, 24, nx}, larmor::uninitialized);
  for (index_t c = 0; c < nc; ++c)
    for (index_t z = 0; z < 24; ++z)
      for (index_t y = 0; y < 24; ++y)
        std::copy_n(truth.data() + c * n + ((z + nz / 2 - 12) * ny + y + ny / 2 - 12) * nx, nx, &acs(c, z, y, 0));
  const bool fill = truth.size() <= (index_t{1} << 27);
  array<cfloat, 4> lattice_only;
  if (fill) {
    lattice_only = array<cfloat, 4>(truth.shape());
    for (index_t c = 0; c < nc; ++c)
      for (index_t z = 0; z < nz; ++z)
        for (index_t y = 0; y < ny; ++y)
          if (L.contains(z, y)) std::copy_n(truth.data() + c * n + (z * ny + y) * nx, nx, lattice_only.data() + c * n + (z * ny + y) * nx);
  }
  for (const index_t rows : {index_t{0}, index_t{6}}) {
    larmor::grappa_options o;
    o.max_rows_per_source = rows;
    const double c0 = cpu_now();
    const auto t0 = std::chrono::steady_clock::now();
    const auto kern = larmor::grappa_calibrate(acs.cview(), L, o);
    std::printf("calibrate (%s): %.2f s wall, %.2f s cpu (%td sources x %td targets)\n",
                rows == 0 ? "every position, hybrid space" : "6 rows per source, explicit", since(t0), cpu_now() - c0,
                kern.n_sources(), kern.n_targets());
    if (!fill) continue;
    const auto filled = larmor::grappa_apply(lattice_only.cview(), kern);
    double e = 0, r = 0;
    for (index_t c = 0; c < nc; ++c)
      for (index_t z = 0; z < nz; ++z)
        for (index_t y = 0; y < ny; ++y)
          if (!L.contains(z, y))
            for (index_t x = 0; x < nx; ++x) {
              const index_t i = c * n + (z * ny + y) * nx + x;
              e += std::norm(filled.data()[i] - truth.data()[i]), r += std::norm(truth.data()[i]);
            }
    std::printf("  filled lines NRMSE against the truth: %.5f\n", std::sqrt(e / r));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 4 && (std::string(argv[1]) == "grappa2d" || std::string(argv[1]) == "espirit2d")) {
    try {
      return run_2d(argv[1], argc, argv);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_scale: %s\n", e.what());
      return 1;
    }
  }
  if (argc < 6) {
    std::fprintf(stderr, "usage: bench_scale espirit3d|grappa3d|grappacal3d NC NZ NY NX [RY RZ] | grappa2d NC N [R REPS] | espirit2d NC N [REPS]\n");
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
    if (what == "grappacal3d") return grappa_calibration(std::move(k), ry, rz);
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
