// RSS coil combination at 3T-class (32 x 256 x 256) and 5T-class (64 x 512 x 512) sizes.
// Bytes processed counts the complex input read once plus the real output written.
#include <benchmark/benchmark.h>

#include "larmor/larmor.hpp"

namespace {

void BM_rss(benchmark::State& state) {
  const auto c = state.range(0), n = state.range(1);
  larmor::array<larmor::cfloat, 3> x(larmor::extents<3>{c, n, n});
  for (larmor::index_t i = 0; i < x.size(); ++i) x[i] = larmor::cfloat(float(i % 7), float(i % 5));
  for (auto _ : state) benchmark::DoNotOptimize(larmor::rss(x.cview()));
  state.SetBytesProcessed(state.iterations() * (x.size() * 8 + n * n * 4));
}

}  // namespace

BENCHMARK(BM_rss)->Args({32, 256})->Args({64, 512})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
