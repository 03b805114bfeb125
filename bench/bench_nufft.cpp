// NUFFT throughput: 32 coils, 256^2 image, 402 radial spokes x 512 samples (2x oversampled readout), both
// directions, float, at several tolerances; one-coil rows for the per-core comparison with FINUFFT; the
// non-Cartesian SENSE normal operator with and without Toeplitz embedding. Counters: points/s (all coils)
// and points/s per thread. bench/compare_nufft.sh runs this beside `bart nufft` on the same problem.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "larmor/core/parallel.hpp"
#include "larmor/nufft/noncartesian_sense.hpp"
#include "larmor/nufft/plan.hpp"
#include "larmor/nufft/trajectory.hpp"

using namespace larmor;

namespace {

std::vector<cfloat> noise(index_t n) {
  std::mt19937 g(1);
  std::normal_distribution<float> nd;
  std::vector<cfloat> v(static_cast<std::size_t>(n));
  for (auto& e : v) e = cfloat(nd(g), nd(g));
  return v;
}

void counters(benchmark::State& st, index_t points) {
  const double p = static_cast<double>(points) * static_cast<double>(st.iterations());
  st.counters["points/s"] = benchmark::Counter(p, benchmark::Counter::kIsRate);
  st.counters["points/s/core"] = benchmark::Counter(p / num_threads(), benchmark::Counter::kIsRate);
}

// args: coils, N, spokes, samples, -log10(eps)
void BM_nufft_forward(benchmark::State& st) {
  const index_t coils = st.range(0), N = st.range(1), spokes = st.range(2), samples = st.range(3);
  const double eps = std::pow(10.0, -static_cast<double>(st.range(4)));
  const auto k = radial_trajectory(spokes, samples, static_cast<double>(N));
  nufft_plan<float, 2> plan({N, N}, eps);
  plan.set_points(k.data(), spokes * samples);
  const auto x = noise(coils * N * N);
  std::vector<cfloat> y(static_cast<std::size_t>(coils * spokes * samples));
  plan.forward(x.data(), y.data(), coils);  // FFTW planning outside the timing
  for (auto _ : st) {
    plan.forward(x.data(), y.data(), coils);
    benchmark::DoNotOptimize(y.data());
  }
  counters(st, coils * spokes * samples);
}

void BM_nufft_adjoint(benchmark::State& st) {
  const index_t coils = st.range(0), N = st.range(1), spokes = st.range(2), samples = st.range(3);
  const double eps = std::pow(10.0, -static_cast<double>(st.range(4)));
  const auto k = radial_trajectory(spokes, samples, static_cast<double>(N));
  nufft_plan<float, 2> plan({N, N}, eps);
  plan.set_points(k.data(), spokes * samples);
  const auto y = noise(coils * spokes * samples);
  std::vector<cfloat> x(static_cast<std::size_t>(coils * N * N));
  plan.adjoint(y.data(), x.data(), coils);
  for (auto _ : st) {
    plan.adjoint(y.data(), x.data(), coils);
    benchmark::DoNotOptimize(x.data());
  }
  counters(st, coils * spokes * samples);
}

void BM_nufft_set_points(benchmark::State& st) {
  const auto k = radial_trajectory(402, 512, 256);
  nufft_plan<float, 2> plan({256, 256}, 1e-6);
  for (auto _ : st) plan.set_points(k.data(), 402 * 512);
  counters(st, 402 * 512);
}

// args: coils, toeplitz
void BM_sense_normal(benchmark::State& st) {
  const index_t coils = st.range(0), N = 256;
  const auto k = radial_trajectory(402, 512, 256);
  const auto m = noise(coils * N * N);
  noncartesian_sense_operator<2> op(strided_view<const cfloat, 3>(m.data(), {coils, N, N}), k.data(), 402 * 512,
                                    1e-6, st.range(1) != 0);
  const auto x = noise(N * N);
  std::vector<cfloat> out(x.size());
  op.normal(x.data(), out.data());
  for (auto _ : st) {
    op.normal(x.data(), out.data());
    benchmark::DoNotOptimize(out.data());
  }
}

}  // namespace

BENCHMARK(BM_nufft_forward)->Args({32, 256, 402, 512, 6})->Args({32, 256, 402, 512, 4})->Args({32, 256, 402, 512, 2})
    ->Args({1, 256, 402, 512, 6})->Args({1, 1024, 1608, 2048, 6})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_nufft_adjoint)->Args({32, 256, 402, 512, 6})->Args({32, 256, 402, 512, 4})->Args({32, 256, 402, 512, 2})
    ->Args({1, 256, 402, 512, 6})->Args({1, 1024, 1608, 2048, 6})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_nufft_set_points)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sense_normal)->Args({32, 1})->Args({32, 0})->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
