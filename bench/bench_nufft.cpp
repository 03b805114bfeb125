// NUFFT throughput: 32 coils, 256^2 image, 402 radial spokes x 512 samples (2x oversampled readout), both
// directions, float, at several tolerances; one-coil rows for the per-core comparison with FINUFFT; the
// non-Cartesian SENSE normal operator with and without Toeplitz embedding, and with off-resonance correction
// (BM_offresonance_normal: the cost of an iteration with a field map against the plain operator in one run). Counters: points/s (all coils)
// and points/s per thread. bench/compare_nufft.sh runs this beside `bart nufft` on the same problem.
// Scalar vs SIMD in one run: BM_window_* time the inner kernels alone (larmor/kernels/nufft_kernels.hpp:
// kernel values + spread or interpolate of 2D windows, 4096 points) through the scalar reference (arg 0)
// and the dispatched SIMD kernel (arg 1); BM_nufft_*_target time the whole plan with dispatch forced to each
// compiled Highway target (index into hwy::SupportedAndGeneratedTargets(), label = target name).
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "hwy/targets.h"
#include "larmor/core/parallel.hpp"
#include "larmor/kernels/nufft_kernels.hpp"
#include "larmor/nufft/es_kernel.hpp"
#include "larmor/nufft/gradient_delay.hpp"
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

// One CG/FISTA iteration's normal operator on a 2D spiral: 16 coils, 256^2, 32 interleaves x 2048 samples
// over a 10.24 ms readout, field map a gradient from -200 to +200 Hz (5 T-like shim). args: segments (-1: no
// field map; 0: automatic, RMS phasor error <= 1e-3; L), toeplitz. Label: segments used and stated error.
void BM_offresonance_normal(benchmark::State& st) {
  const index_t coils = 16, N = 256, inter = 32, samples = 2048, M = inter * samples;
  const auto k = spiral_trajectory(inter, samples, static_cast<double>(N));
  const auto m = noise(coils * N * N);
  std::vector<float> hz(static_cast<std::size_t>(N * N));
  for (index_t j = 0; j < N * N; ++j) hz[static_cast<std::size_t>(j)] = 400.f * static_cast<float>(j % N) / N - 200.f;
  std::vector<double> t(static_cast<std::size_t>(M));
  for (index_t i = 0; i < M; ++i) t[static_cast<std::size_t>(i)] = 5e-6 * static_cast<double>(i % samples);
  field_map_correction fm;
  if (st.range(0) >= 0) {
    fm.fieldmap_hz = hz.data(), fm.sample_times = t.data();
    fm.segmentation.segments = static_cast<int>(st.range(0));
  }
  noncartesian_sense_operator<2> op(strided_view<const cfloat, 3>(m.data(), {coils, N, N}), k.data(), M, 1e-4,
                                    st.range(1) != 0, fm);
  const auto x = noise(N * N);
  std::vector<cfloat> out(x.size());
  op.normal(x.data(), out.data());
  for (auto _ : st) {
    op.normal(x.data(), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  if (op.corrected())
    st.SetLabel("L=" + std::to_string(op.segmentation().segments()) +
                " rms=" + std::to_string(op.segmentation().rms_error) + (op.uses_toeplitz() ? " toeplitz" : " nufft"));
  else
    st.SetLabel(op.uses_toeplitz() ? "plain toeplitz" : "plain nufft");
}

// RING on a 2D radial scan: args spokes, coils, samples (2x oversampled). The data: the analytic k-space of
// Gaussian blobs seen by each coil with its own phase ramp (smooth, as a real object's centre is).
void BM_ring_gradient_delay(benchmark::State& st) {
  const index_t spokes = st.range(0), coils = st.range(1), ns = st.range(2);
  const auto k = radial_trajectory(spokes, ns, static_cast<double>(ns / 2));  // (spokes, samples, (y, x))
  std::vector<cfloat> data(static_cast<std::size_t>(spokes * coils * ns));
  for (index_t i = 0; i < spokes; ++i)
    for (index_t c = 0; c < coils; ++c)
      for (index_t s = 0; s < ns; ++s) {
        const double ky = k[static_cast<std::size_t>(2 * (i * ns + s))], kx = k[static_cast<std::size_t>(2 * (i * ns + s) + 1)];
        const double r2 = (kx * kx + ky * ky) / static_cast<double>(ns * ns);
        const double ph = 0.05 * (static_cast<double>(c) * kx - static_cast<double>(coils - c) * ky);
        data[static_cast<std::size_t>((i * coils + c) * ns + s)] = cfloat(std::polar(std::exp(-200 * r2), ph));
      }
  std::vector<float> kf(k.begin(), k.end());
  const auto sp = find_radial_spokes(kf.data(), spokes, ns, 2, 1, 0);
  for (auto _ : st) {
    auto e = ring_gradient_delay(data.data(), spokes, coils, ns, sp.directions.data(), sp.centre.data());
    benchmark::DoNotOptimize(e);
  }
}

// args: simd (0 scalar reference, 1 dispatched), direction (0 spread, 1 interpolate), -log10(eps).
// One thread: 4096 points at random offsets in a 96^2 grid (L1/L2-resident like one bin's footprint).
void BM_window_2d(benchmark::State& st) {
  const bool simd = st.range(0) != 0, interp = st.range(1) != 0;
  const auto kp = es_kernel_params::from_tolerance(std::pow(10.0, -static_cast<double>(st.range(2))));
  const int w = kp.width, S = (w + 7) / 8 * 8;
  const es_kernel_poly poly(kp, S);
  const std::vector<float> coef(poly.coef.begin(), poly.coef.end());
  const index_t np = 4096, e = 96;
  std::mt19937 g(3);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::uniform_int_distribution<index_t> o(0, e - w);
  std::vector<float> z(static_cast<std::size_t>(2 * np)), k(z.size() * static_cast<std::size_t>(S));
  for (auto& v : z) v = u(g);
  std::vector<std::ptrdiff_t> off(static_cast<std::size_t>(np));
  for (auto& v : off) v = o(g) * e + o(g);
  const auto v = noise(np);
  auto grid = noise(e * e);
  std::vector<cfloat> out(static_cast<std::size_t>(np));
  for (auto _ : st) {
    if (simd) kernels::es_kernel_values(coef.data(), poly.degree, S, z.data(), 2 * np, k.data());
    else kernels::scalar::es_kernel_values(coef.data(), poly.degree, S, z.data(), 2 * np, k.data());
    if (interp) {
      if (simd) kernels::es_interp_2d(grid.data(), e, off.data(), k.data(), w, S, out.data(), np);
      else kernels::scalar::es_interp_2d(grid.data(), e, off.data(), k.data(), w, S, out.data(), np);
      benchmark::DoNotOptimize(out.data());
    } else {
      if (simd) kernels::es_spread_2d(grid.data(), e, off.data(), k.data(), w, S, v.data(), np);
      else kernels::scalar::es_spread_2d(grid.data(), e, off.data(), k.data(), w, S, v.data(), np);
      benchmark::DoNotOptimize(grid.data());
    }
  }
  st.SetLabel(simd ? kernels::nufft_active_target() : "scalar");
  const double p = static_cast<double>(np) * static_cast<double>(st.iterations());
  st.counters["points/s/core"] = benchmark::Counter(p, benchmark::Counter::kIsRate);
}

// args: target index, direction (0 forward, 1 adjoint), coils. 256^2, 402 x 512 radial, eps 1e-6.
void BM_nufft_target(benchmark::State& st) {
  const auto targets = hwy::SupportedAndGeneratedTargets();
  if (static_cast<std::size_t>(st.range(0)) >= targets.size()) {
    st.SkipWithError("no such target on this CPU");
    for (auto _ : st) {
    }
    return;
  }
  hwy::SetSupportedTargetsForTest(targets[static_cast<std::size_t>(st.range(0))]);
  const index_t coils = st.range(2), N = 256, M = 402 * 512;
  const auto k = radial_trajectory(402, 512, 256);
  nufft_plan<float, 2> plan({N, N}, 1e-6);
  plan.set_points(k.data(), M);
  const auto x = noise(coils * N * N), y = noise(coils * M);
  std::vector<cfloat> xo(x.size()), yo(y.size());
  const auto run = [&] {
    if (st.range(1) == 0) plan.forward(x.data(), yo.data(), coils);
    else plan.adjoint(y.data(), xo.data(), coils);
  };
  run();
  for (auto _ : st) {
    run();
    benchmark::DoNotOptimize(xo.data());
    benchmark::DoNotOptimize(yo.data());
  }
  st.SetLabel(kernels::nufft_active_target());
  hwy::SetSupportedTargetsForTest(0);
  counters(st, coils * M);
}

}  // namespace

BENCHMARK(BM_nufft_forward)->Args({32, 256, 402, 512, 6})->Args({32, 256, 402, 512, 4})->Args({32, 256, 402, 512, 2})
    ->Args({1, 256, 402, 512, 6})->Args({1, 1024, 1608, 2048, 6})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_nufft_adjoint)->Args({32, 256, 402, 512, 6})->Args({32, 256, 402, 512, 4})->Args({32, 256, 402, 512, 2})
    ->Args({1, 256, 402, 512, 6})->Args({1, 1024, 1608, 2048, 6})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_window_2d)->ArgsProduct({{0, 1}, {0, 1}, {6, 4}})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_nufft_target)->ArgsProduct({{0, 1, 2, 3, 4}, {0, 1}, {1, 32}})->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_nufft_set_points)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sense_normal)->Args({32, 1})->Args({32, 0})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ring_gradient_delay)->Args({402, 32, 512})->Args({64, 16, 256})->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_offresonance_normal)->Args({-1, 1})->Args({0, 1})->Args({-1, 0})->Args({0, 0})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
