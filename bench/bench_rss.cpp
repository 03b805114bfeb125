// RSS coil combination at 3T-class (32 ch × 256², 1 and 30 slices), 5T-class (64 ch × 512²) and 5T-class
// 3D (64 ch × 128 × 256 × 256, a 4 GiB input) sizes; args: coils, slices (or z), n (y = x).
// BM_rss returns a new image each call (allocation and first-touch page faults included); BM_rss_into
// writes into one buffer, as a loop over slices/repetitions does with rss(x, out).
// Bytes processed counts the complex input read once plus the real output written.
#include <benchmark/benchmark.h>

#include "larmor/larmor.hpp"

namespace {

larmor::array<larmor::cfloat, 4> coil_images(const benchmark::State& state) {
  const auto c = state.range(0), s = state.range(1), n = state.range(2);
  larmor::array<larmor::cfloat, 4> x(larmor::extents<4>{c, s, n, n}, larmor::uninitialized);
  larmor::parallel_for(x.size() / (n * n), [&](larmor::index_t row) {
    for (larmor::index_t i = row * n * n; i < (row + 1) * n * n; ++i)
      x[i] = larmor::cfloat(float(i % 7), float(i % 5));
  });
  return x;
}

void BM_rss(benchmark::State& state) {
  const auto x = coil_images(state);
  for (auto _ : state) benchmark::DoNotOptimize(larmor::rss(x.cview()));
  state.SetBytesProcessed(state.iterations() * (x.size() * 8 + x.size() / state.range(0) * 4));
}

void BM_rss_into(benchmark::State& state) {
  const auto x = coil_images(state);
  auto out = larmor::rss(x.cview());
  for (auto _ : state) {
    larmor::rss(x.cview(), out.view());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * (x.size() * 8 + out.size() * 4));
}

}  // namespace

BENCHMARK(BM_rss)->Args({32, 1, 256})->Args({32, 30, 256})->Args({64, 1, 512})->Args({64, 128, 256})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_rss_into)->Args({32, 1, 256})->Args({32, 30, 256})->Args({64, 1, 512})->Args({64, 128, 256})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
