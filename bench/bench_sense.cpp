// SENSE and CG-SENSE benchmarks at 3T-class (32 coils, 256^2) and 5T-class (64 coils, 512^2) sizes,
// R = 4 along y with 24 ACS lines, simulated maps (Shepp-Logan x smooth sensitivities + noise); 3D
// 256 x 256 x 128 (x, y, z) with Ry x Rz = 2 x 2 at 16 coils (not 64: one coil-sized complex64 volume is
// 64 MiB per coil, and k-space, maps and the transposed maps copy together would need 13 GiB at 64).
//   BM_sense               the whole sense() call (coil ifftc, per-group Cholesky)
//   BM_cgsense_normal      one application of A^H A as CG uses it (line mask: no x FFT) = the dominant
//                          cost of one CG iteration; _points: a point mask (full FFTs)
//   BM_cgsense             a whole cgsense() call with 10 iterations (setup: adjoint + operator)
//   BM_sense_gfactor       the g-factor map at R = 4
// The side-by-side run against `bart pics -l2` on identical files is bench/compare_bart.sh.
#include <algorithm>
#include <benchmark/benchmark.h>

#include <map>
#include <random>

#include "larmor/larmor.hpp"

namespace {

using larmor::array;
using larmor::cfloat;
using larmor::extents;
using larmor::index_t;

struct problem2d {
  array<cfloat, 3> kspace, maps;
};

// R = 4 along y plus 24 ACS lines.
const problem2d& problem(index_t nc, index_t n) {
  static std::map<std::pair<index_t, index_t>, problem2d> cache;
  auto it = cache.find({nc, n});
  if (it != cache.end()) return it->second;
  problem2d p;
  p.maps = larmor::simulated_coil_maps<float>(nc, n, n);  // the coils simulated_kspace uses
  p.kspace = larmor::simulated_kspace<float>(nc, n);
  for (index_t c = 0; c < nc; ++c)
    for (index_t y = 0; y < n; ++y)
      if (!(y % 4 == 0 || (y >= n / 2 - 12 && y < n / 2 + 12))) std::fill_n(&p.kspace(c, y, 0), n, cfloat(0.f, 0.f));
  return cache.emplace(std::make_pair(nc, n), std::move(p)).first->second;
}

void BM_sense(benchmark::State& st) {
  const auto& p = problem(st.range(0), st.range(1));
  benchmark::DoNotOptimize(larmor::sense(p.kspace.cview(), p.maps.cview()));  // FFTW plans made outside the timing
  for (auto _ : st) benchmark::DoNotOptimize(larmor::sense(p.kspace.cview(), p.maps.cview()));
}
void BM_sense_gfactor(benchmark::State& st) {
  const auto& p = problem(st.range(0), st.range(1));
  for (auto _ : st) benchmark::DoNotOptimize(larmor::sense_gfactor(p.maps.cview(), 4));
}

void BM_cgsense_normal(benchmark::State& st) {
  const auto& p = problem(st.range(0), st.range(1));
  const larmor::sense_operator<2> op(p.maps.cview(), larmor::acquired_lines(p.kspace.cview()));
  array<cfloat, 1> in({op.image_size()}), out({op.image_size()});
  std::fill(in.begin(), in.end(), cfloat(1.f, 0.5f));
  for (auto _ : st) {
    op.normal_internal(in.data(), out.data());
    benchmark::DoNotOptimize(out.data());
  }
}
void BM_cgsense_normal_points(benchmark::State& st) {
  const auto& p = problem(st.range(0), st.range(1));
  const index_t n = st.range(1);
  array<float, 2> w(extents<2>{n, n});
  std::mt19937 rng(3);
  for (auto& v : w) v = rng() % 4 == 0 ? 1.f : 0.f;
  const larmor::sense_operator<2> op(p.maps.cview(), w.cview());
  array<cfloat, 1> in({op.image_size()}), out({op.image_size()});
  std::fill(in.begin(), in.end(), cfloat(1.f, 0.5f));
  for (auto _ : st) {
    op.normal_internal(in.data(), out.data());
    benchmark::DoNotOptimize(out.data());
  }
}
void BM_cgsense(benchmark::State& st) {
  const auto& p = problem(st.range(0), st.range(1));
  larmor::cgsense_options o;
  o.iters = 10;
  o.tol = 0;
  benchmark::DoNotOptimize(larmor::cgsense(p.kspace.cview(), p.maps.cview(), o));  // FFTW plans made outside the timing
  for (auto _ : st) benchmark::DoNotOptimize(larmor::cgsense(p.kspace.cview(), p.maps.cview(), o));
}

// 3D: 16 coils, (z, y, x) = (128, 256, 256), Ry x Rz = 2 x 2 (CAIPIRINHA shift 1), no ACS.
struct problem3d {
  array<cfloat, 4> kspace, maps;
};
const problem3d& problem_3d() {
  static problem3d p = [] {
    const index_t nc = 16, nz = 128, ny = 256, nx = 256;
    problem3d q;
    const auto obj = larmor::shepp_logan<float>(ny, nx);
    const auto m2 = larmor::simulated_coil_maps<float>(nc, ny, nx);
    q.maps = array<cfloat, 4>(extents<4>{nc, nz, ny, nx}, larmor::uninitialized);
    q.kspace = array<cfloat, 4>(extents<4>{nc, nz, ny, nx}, larmor::uninitialized);
    for (index_t c = 0; c < nc; ++c)
      for (index_t z = 0; z < nz; ++z) {
        const cfloat mod = std::polar(1.f + 0.3f * std::cos(6.2832f * float(z) / float(nz) + float(c)), 0.2f * float(z) / float(nz));
        for (index_t i = 0; i < ny * nx; ++i) {
          const index_t at = (c * nz + z) * ny * nx + i;
          q.maps[at] = m2[c * ny * nx + i] * mod;
          q.kspace[at] = q.maps[at] * obj[i];
        }
      }
    larmor::fftc_inplace(q.kspace, {1, 2, 3});
    larmor::sampling_lattice L{2, 2, 1, 0, 0};
    for (index_t c = 0; c < nc; ++c)
      for (index_t z = 0; z < nz; ++z)
        for (index_t y = 0; y < ny; ++y)
          if (!L.contains(z, y)) std::fill_n(q.kspace.data() + ((c * nz + z) * ny + y) * nx, nx, cfloat(0.f, 0.f));
    return q;
  }();
  return p;
}
void BM_sense_3d(benchmark::State& st) {
  const auto& p = problem_3d();
  for (auto _ : st) benchmark::DoNotOptimize(larmor::sense(p.kspace.cview(), p.maps.cview()));
}
void BM_cgsense_normal_3d(benchmark::State& st) {
  const auto& p = problem_3d();
  const larmor::sense_operator<3> op(p.maps.cview(), larmor::acquired_lines(p.kspace.cview()));
  array<cfloat, 1> in({op.image_size()}), out({op.image_size()});
  std::fill(in.begin(), in.end(), cfloat(1.f, 0.5f));
  for (auto _ : st) {
    op.normal_internal(in.data(), out.data());
    benchmark::DoNotOptimize(out.data());
  }
}

}  // namespace

BENCHMARK(BM_sense)->Args({32, 256})->Args({64, 512})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sense_gfactor)->Args({32, 256})->Args({64, 512})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_cgsense_normal)->Args({32, 256})->Args({64, 512})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_cgsense_normal_points)->Args({32, 256})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_cgsense)->Args({32, 256})->Args({64, 512})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sense_3d)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
BENCHMARK(BM_cgsense_normal_3d)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

BENCHMARK_MAIN();
