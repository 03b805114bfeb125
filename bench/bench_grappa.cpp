// GRAPPA benchmarks: calibration, the k-space (hybrid-space) fill, the image-domain unmixing weights
// and their application, at 3T-class (32 coils, 256^2, R = 4, 24 ACS lines), 5T-class (64 coils,
// 512^2, R = 4) and 3D (256 x 256 x 128 readout x y x z, 2 x 2, 24 x 24 ACS; 16 coils so the
// k-space, its filled copy and the unmixing weights fit beside each other in 24 GiB).
// Data: Shepp-Logan x smooth simulated sensitivities + noise, undersampled on the lattice + ACS.
#include <algorithm>
#include <benchmark/benchmark.h>

#include <map>
#include <random>
#include <tuple>

#include "larmor/larmor.hpp"

namespace {

using larmor::array;
using larmor::cfloat;
using larmor::extents;
using larmor::index_t;

// 2D (coils, y, x), lattice R along y plus `acs` central lines.
const array<cfloat, 3>& kspace2d(index_t nc, index_t n, index_t R) {
  static std::map<std::tuple<index_t, index_t, index_t>, array<cfloat, 3>> cache;
  const auto key = std::make_tuple(nc, n, R);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  auto k = larmor::simulated_kspace<float>(nc, n);
  for (index_t c = 0; c < nc; ++c)
    for (index_t y = 0; y < n; ++y)
      if (y % R != 0 && std::abs(y - n / 2) >= 12) std::fill_n(&k(c, y, 0), n, cfloat(0.f, 0.f));
  return cache.emplace(key, std::move(k)).first->second;
}

// 3D (coils, z, y, x) with smooth random-phase coil profiles (the bench needs the cost, not the image).
const array<cfloat, 4>& kspace3d(index_t nc, index_t nz, index_t ny, index_t nx) {
  static std::map<std::tuple<index_t, index_t, index_t, index_t>, array<cfloat, 4>> cache;
  const auto key = std::make_tuple(nc, nz, ny, nx);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  array<cfloat, 4> k({nc, nz, ny, nx});
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0.f, 1.f);
  const larmor::sampling_lattice L{2, 2, 1, 0, 0};
  for (index_t c = 0; c < nc; ++c)
    for (index_t z = 0; z < nz; ++z)
      for (index_t y = 0; y < ny; ++y) {
        const bool acs = std::abs(z - nz / 2) < 12 && std::abs(y - ny / 2) < 12;
        if (!acs && !L.contains(z, y)) continue;
        const float r = std::hypot(static_cast<float>(z - nz / 2) / nz, static_cast<float>(y - ny / 2) / ny);
        for (index_t x = 0; x < nx; ++x) {
          const float rx = std::abs(static_cast<float>(x - nx / 2)) / nx;
          k(c, z, y, x) = cfloat(g(rng), g(rng)) * std::exp(-20.f * (r + rx));
        }
      }
  return cache.emplace(key, std::move(k)).first->second;
}

template <class K>
larmor::sampling_lattice lattice_of(const K& k) {
  return *larmor::detect_lattice(larmor::acquired_lines(k.cview()));
}

template <class K>
larmor::grappa_kernel calibrated(const K& k) {
  const auto acs = larmor::grappa_acs(k.cview());
  return larmor::grappa_calibrate(acs.cview(), lattice_of(k));
}

template <class K, class F>
const K& maps_for(const K& k, F&& make) {
  static std::map<const void*, K> cache;
  if (auto it = cache.find(&k); it != cache.end()) return it->second;
  return cache.emplace(&k, make()).first->second;
}

// Combination maps: the (normalised) coil images of the ACS region, smooth enough for timing.
template <class K>
const K& combination_maps(const K& k) {
  return maps_for(k, [&] {
    auto m = K(k.shape());
    const auto acs = larmor::grappa_acs(k.cview());
    (void)acs;
    std::mt19937 rng(1);
    std::normal_distribution<float> g(0.f, 1.f);
    for (auto& v : m) v = cfloat(1.f + 0.1f * g(rng), 0.1f * g(rng));
    return m;
  });
}

void BM_grappa_calibrate_2d(benchmark::State& st) {
  const auto& k = kspace2d(st.range(0), st.range(1), st.range(2));
  const auto acs = larmor::grappa_acs(k.cview());
  const auto L = lattice_of(k);
  for (auto _ : st) benchmark::DoNotOptimize(larmor::grappa_calibrate(acs.cview(), L));
}
void BM_grappa_apply_kspace_2d(benchmark::State& st) {
  const auto& k = kspace2d(st.range(0), st.range(1), st.range(2));
  const auto kern = calibrated(k);
  benchmark::DoNotOptimize(larmor::grappa_apply(k.cview(), kern));  // FFTW plans measured and cached
  for (auto _ : st) benchmark::DoNotOptimize(larmor::grappa_apply(k.cview(), kern));
}
void BM_grappa_unmixing_weights_2d(benchmark::State& st) {
  const auto& k = kspace2d(st.range(0), st.range(1), st.range(2));
  const auto kern = calibrated(k);
  const auto& maps = combination_maps(k);
  benchmark::DoNotOptimize(larmor::grappa_unmixing(kern, maps.cview()));  // FFTW plans measured and cached
  for (auto _ : st) benchmark::DoNotOptimize(larmor::grappa_unmixing(kern, maps.cview()));
}
void BM_grappa_unmix_apply_2d(benchmark::State& st) {
  const auto& k = kspace2d(st.range(0), st.range(1), st.range(2));
  const auto kern = calibrated(k);
  const auto u = larmor::grappa_unmixing(kern, combination_maps(k).cview());
  const auto L = lattice_of(k);
  benchmark::DoNotOptimize(larmor::grappa_unmix(k.cview(), u.cview(), L));  // FFTW plans measured and cached
  for (auto _ : st) benchmark::DoNotOptimize(larmor::grappa_unmix(k.cview(), u.cview(), L));
}
void BM_grappa_calibrate_3d(benchmark::State& st) {
  const auto& k = kspace3d(st.range(0), 128, 256, 256);
  const auto acs = larmor::grappa_acs(k.cview());
  const auto L = lattice_of(k);
  for (auto _ : st) benchmark::DoNotOptimize(larmor::grappa_calibrate(acs.cview(), L));
}
void BM_grappa_apply_kspace_3d(benchmark::State& st) {
  const auto& k = kspace3d(st.range(0), 128, 256, 256);
  const auto kern = calibrated(k);
  benchmark::DoNotOptimize(larmor::grappa_apply(k.cview(), kern));  // FFTW plans measured and cached
  for (auto _ : st) benchmark::DoNotOptimize(larmor::grappa_apply(k.cview(), kern));
}
void BM_grappa_unmix_apply_3d(benchmark::State& st) {
  const auto& k = kspace3d(st.range(0), 128, 256, 256);
  const auto kern = calibrated(k);
  const auto u = larmor::grappa_unmixing(kern, combination_maps(k).cview());
  const auto L = lattice_of(k);
  benchmark::DoNotOptimize(larmor::grappa_unmix(k.cview(), u.cview(), L));  // FFTW plans measured and cached
  for (auto _ : st) benchmark::DoNotOptimize(larmor::grappa_unmix(k.cview(), u.cview(), L));
}

}  // namespace

BENCHMARK(BM_grappa_calibrate_2d)->Args({32, 256, 4})->Args({64, 512, 4})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_grappa_apply_kspace_2d)->Args({32, 256, 4})->Args({64, 512, 4})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_grappa_unmixing_weights_2d)->Args({32, 256, 4})->Args({64, 512, 4})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_grappa_unmix_apply_2d)->Args({32, 256, 4})->Args({64, 512, 4})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_grappa_calibrate_3d)->Arg(16)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_grappa_apply_kspace_3d)->Arg(16)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_grappa_unmix_apply_3d)->Arg(16)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK_MAIN();
