// Coil sensitivity, combination and compression benchmarks at 3T-class (32 coils, 256^2) and 5T-class
// (64 coils, 512^2) sizes on a simulated acquisition (Shepp-Logan x smooth sensitivities + noise).
// The side-by-side run against `bart ecalib` / `bart cc` on identical files is bench/compare_bart.sh.
#include <benchmark/benchmark.h>

#include <map>

#include "larmor/larmor.hpp"

namespace {

using larmor::array;
using larmor::cfloat;
using larmor::extents;
using larmor::index_t;

const array<cfloat, 3>& kspace(index_t nc, index_t n) {
  static std::map<std::pair<index_t, index_t>, array<cfloat, 3>> cache;
  auto it = cache.find({nc, n});
  if (it != cache.end()) return it->second;
  return cache.emplace(std::make_pair(nc, n), larmor::simulated_kspace<float>(nc, n)).first->second;
}
const array<cfloat, 3>& images(index_t nc, index_t n) {
  static std::map<std::pair<index_t, index_t>, array<cfloat, 3>> cache;
  auto it = cache.find({nc, n});
  if (it != cache.end()) return it->second;
  return cache.emplace(std::make_pair(nc, n), larmor::ifftc(kspace(nc, n).cview())).first->second;
}

void BM_espirit_maps(benchmark::State& st) {
  const auto& k = kspace(st.range(0), st.range(1));
  for (auto _ : st) benchmark::DoNotOptimize(larmor::espirit_maps(k.cview()));
}
void BM_walsh_maps(benchmark::State& st) {
  const auto& i = images(st.range(0), st.range(1));
  for (auto _ : st) benchmark::DoNotOptimize(larmor::walsh_maps(i.cview(), 7));
}
void BM_inati_maps(benchmark::State& st) {
  const auto& i = images(st.range(0), st.range(1));
  for (auto _ : st) benchmark::DoNotOptimize(larmor::inati_maps(i.cview(), 5, 5));
}
void BM_combine(benchmark::State& st) {
  const auto& i = images(st.range(0), st.range(1));
  const auto maps = larmor::inati_maps(i.cview(), 5, 1);
  for (auto _ : st) benchmark::DoNotOptimize(larmor::combine(i.cview(), maps.cview()));
  st.SetBytesProcessed(st.iterations() * i.size() * 8 * 2);
}
void BM_coil_compress_svd(benchmark::State& st) {
  const auto& k = kspace(st.range(0), st.range(1));
  for (auto _ : st) benchmark::DoNotOptimize(larmor::coil_compress(k, st.range(0) / 4, larmor::compression_method::svd));
}
void BM_coil_compress_gcc(benchmark::State& st) {
  const auto& k = kspace(st.range(0), st.range(1));
  for (auto _ : st) benchmark::DoNotOptimize(larmor::coil_compress(k, st.range(0) / 4, larmor::compression_method::gcc));
}

}  // namespace

BENCHMARK(BM_espirit_maps)->Args({32, 256})->Args({64, 256})->Args({64, 512})->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_walsh_maps)->Args({32, 256})->Args({64, 512})->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_inati_maps)->Args({32, 256})->Args({64, 512})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_combine)->Args({32, 256})->Args({64, 512})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_coil_compress_svd)->Args({32, 256})->Args({64, 512})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_coil_compress_gcc)->Args({32, 256})->Args({64, 512})->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
