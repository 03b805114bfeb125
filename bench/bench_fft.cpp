// Centered FFT benchmarks at 3T-class (32 x 256 x 256) and 5T-class (64 x 512 x 512) sizes,
// complex64, 2D transform over (y, x) batched over coils; the 3T-class stack of 30 slices (2D per slice)
// and the 5T-class 3D volume (64 ch, 3D transform over (z, y, x) = 128 x 256 x 256, in place: 4 GiB);
// and the cost of planning without the cache.
#include <benchmark/benchmark.h>

#include <random>

#include "larmor/larmor.hpp"

namespace {

larmor::array<larmor::cfloat, 3> random_kspace(larmor::index_t c, larmor::index_t n) {
  larmor::array<larmor::cfloat, 3> a(larmor::extents<3>{c, n, n});
  std::mt19937 rng(1);
  std::normal_distribution<float> g;
  for (auto& v : a) v = larmor::cfloat(g(rng), g(rng));
  return a;
}

void BM_ifftc_out_of_place(benchmark::State& state) {
  const auto x = random_kspace(state.range(0), state.range(1));
  for (auto _ : state) benchmark::DoNotOptimize(larmor::ifftc(x.cview()));
  state.SetBytesProcessed(state.iterations() * x.size() * 8 * 2);
}

void BM_ifftc_in_place(benchmark::State& state) {
  auto x = random_kspace(state.range(0), state.range(1));
  for (auto _ : state) {
    larmor::ifftc_inplace(x);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * x.size() * 8 * 2);
}

// Raw FFTW, the reference for the centered transform (issue 15 item 5): the same batched in-place 2D
// backward DFT over (y, x) with larmor's plan flags (FFTW_MEASURE) and threads (num_threads()), no shifts
// and no scaling. BM_ifftc_in_place with the same arguments is the centered unitary transform.
void BM_raw_fftw_in_place(benchmark::State& state) {
  const auto n = state.range(1), c = state.range(0);
  auto x = random_kspace(c, n);
  fftwf_plan_with_nthreads(larmor::num_threads());
  fftw_iodim64 dims[2] = {{n, n, n}, {n, 1, 1}};
  fftw_iodim64 howmany[1] = {{c, n * n, n * n}};
  auto* p = reinterpret_cast<fftwf_complex*>(x.data());
  larmor::array<larmor::cfloat, 3> keep(x);  // FFTW_MEASURE overwrites the array while planning
  fftwf_plan plan = fftwf_plan_guru64_dft(2, dims, 1, howmany, p, p, FFTW_BACKWARD, FFTW_MEASURE);
  std::copy(keep.begin(), keep.end(), x.begin());
  for (auto _ : state) {
    fftwf_execute(plan);
    benchmark::ClobberMemory();
  }
  fftwf_destroy_plan(plan);
  state.SetBytesProcessed(state.iterations() * x.size() * 8 * 2);
}

// The same transform planned afresh each time (what a library without a plan cache pays).
void BM_ifftc_replanned_each_call(benchmark::State& state) {
  const auto n = state.range(1), c = state.range(0);
  auto x = random_kspace(c, n);
  for (auto _ : state) {
    fftwf_plan_with_nthreads(larmor::num_threads());
    fftw_iodim64 dims[2] = {{n, n, n}, {n, 1, 1}};
    fftw_iodim64 howmany[1] = {{c, n * n, n * n}};
    auto* p = reinterpret_cast<fftwf_complex*>(x.data());
    // range(2): 0 = FFTW_ESTIMATE (fast plan, slow transform), 1 = FFTW_MEASURE (what larmor caches).
    // With MEASURE, FFTW's in-process wisdom is forgotten first: a fresh process (or a library that
    // neither caches plans nor keeps wisdom) pays the full measuring cost on every call.
    const unsigned flags = state.range(2) ? FFTW_MEASURE : FFTW_ESTIMATE;
    if (state.range(2)) fftwf_forget_wisdom();
    fftwf_plan plan = fftwf_plan_guru64_dft(2, dims, 1, howmany, p, p, FFTW_BACKWARD, flags);
    fftwf_execute(plan);
    fftwf_destroy_plan(plan);
    benchmark::ClobberMemory();
  }
}

// (coils, slices or z, n, n) filled in parallel with a cheap pattern (FFT time does not depend on values).
larmor::array<larmor::cfloat, 4> volume(larmor::index_t c, larmor::index_t s, larmor::index_t n) {
  larmor::array<larmor::cfloat, 4> a(larmor::extents<4>{c, s, n, n}, larmor::uninitialized);
  larmor::parallel_for(c * s, [&](larmor::index_t plane) {
    for (larmor::index_t i = plane * n * n; i < (plane + 1) * n * n; ++i)
      a[i] = larmor::cfloat(float(i % 13) - 6.f, float(i % 7) - 3.f);
  });
  return a;
}

// Args: coils, slices, n. 2D transforms of every (coil, slice).
void BM_ifftc_slices_in_place(benchmark::State& state) {
  auto x = volume(state.range(0), state.range(1), state.range(2));
  for (auto _ : state) {
    larmor::ifftc_inplace(x, {-2, -1});
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * x.size() * 8 * 2);
}

// Args: coils, z, n. One 3D transform per coil.
void BM_ifftc_3d_in_place(benchmark::State& state) {
  auto x = volume(state.range(0), state.range(1), state.range(2));
  larmor::ifftc_inplace(x, {1, 2, 3});  // plans (measured once per size: seconds at this size) before timing
  for (auto _ : state) {
    larmor::ifftc_inplace(x, {1, 2, 3});
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * x.size() * 8 * 2);
}

}  // namespace

BENCHMARK(BM_ifftc_slices_in_place)->Args({32, 30, 256})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ifftc_3d_in_place)->Args({64, 128, 256})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_ifftc_out_of_place)->Args({32, 256})->Args({64, 512})->Unit(benchmark::kMillisecond)->UseRealTime();
// Centered in place vs raw FFTW, side by side (alternating, so that load on a shared machine hits both).
BENCHMARK(BM_raw_fftw_in_place)->Args({32, 256})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ifftc_in_place)->Args({32, 256})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_raw_fftw_in_place)->Args({64, 512})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ifftc_in_place)->Args({64, 512})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ifftc_replanned_each_call)->Args({32, 256, 0})->Args({32, 256, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
