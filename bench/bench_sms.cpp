// SMS benchmarks: the slice-separation kernel's calibration (once per slice group and series) and its
// application (every volume), at the fMRI size of issue 30: 32 coils, 96 x 96, 72 slices at MB 6 (12 slice
// groups), CAIPI FOV/3, in-plane R = 2. Beside it, in the same run, raw FFTW doing one 2D FFT of every coil
// image of the volume (72 x 32 transforms of 96^2) — the least any reconstruction of that volume does — so
// the separation's cost reads as a ratio to it. Data: smooth random k-space (the bench needs the cost).
#include <benchmark/benchmark.h>
#include <fftw3.h>

#include <cmath>
#include <random>

#include "larmor/pi/sms.hpp"

namespace {

using larmor::array;
using larmor::cfloat;
using larmor::extents;
using larmor::index_t;

constexpr index_t coils = 32, n = 96, mb = 6, groups = 12, caipi = 3, ry = 2;

array<cfloat, 4> smooth_random(index_t slices, unsigned seed) {
  array<cfloat, 4> k(extents<4>{slices, coils, n, n});
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.f, 1.f);
  for (index_t s = 0; s < slices; ++s)
    for (index_t c = 0; c < coils; ++c)
      for (index_t y = 0; y < n; ++y)
        for (index_t x = 0; x < n; ++x) {
          const float r = std::hypot(static_cast<float>(y - n / 2), static_cast<float>(x - n / 2)) / n;
          k(s, c, y, x) = cfloat(g(rng), g(rng)) * std::exp(-12.f * r);
        }
  return k;
}

const array<cfloat, 4>& calibration() {
  static const auto c = smooth_random(mb, 1);
  return c;
}

const array<cfloat, 3>& collapsed() {
  static const auto k = [] {
    auto c = smooth_random(1, 2);
    array<cfloat, 3> out(extents<3>{coils, n, n});
    for (index_t i = 0; i < out.size(); ++i)
      out.data()[i] = (i / n) % n % ry == 0 ? c.data()[i] : cfloat(0.f, 0.f);
    return out;
  }();
  return k;
}

void BM_sms_grappa_calibrate(benchmark::State& state) {
  larmor::sms_grappa_options o;
  o.split = state.range(0) != 0;
  for (auto _ : state) benchmark::DoNotOptimize(larmor::sms_grappa_calibrate(calibration().cview(), caipi, ry, o));
}

// One slice group; a volume is `groups` of them (the counter).
void BM_sms_grappa_apply_group(benchmark::State& state) {
  const auto kern = larmor::sms_grappa_calibrate(calibration().cview(), caipi, ry);
  benchmark::DoNotOptimize(larmor::sms_grappa_apply(collapsed().cview(), kern));  // FFTW plans made and cached
  for (auto _ : state) benchmark::DoNotOptimize(larmor::sms_grappa_apply(collapsed().cview(), kern));
}

// Raw FFTW: one 2D FFT of every coil image of the volume (mb * groups * coils transforms of n^2), planned with
// FFTW_MEASURE, on the threads larmor uses.
void BM_fftw_volume_coil_images(benchmark::State& state) {
  const int howmany = static_cast<int>(mb * groups * coils), nn[2] = {static_cast<int>(n), static_cast<int>(n)};
  auto* buf = fftwf_alloc_complex(static_cast<std::size_t>(howmany) * n * n);
  fftwf_plan_with_nthreads(static_cast<int>(larmor::num_threads()));
  fftwf_plan p = fftwf_plan_many_dft(2, nn, howmany, buf, nullptr, 1, static_cast<int>(n * n), buf, nullptr, 1,
                                     static_cast<int>(n * n), FFTW_FORWARD, FFTW_MEASURE);
  for (index_t i = 0; i < static_cast<index_t>(howmany) * n * n; ++i) buf[i][0] = 1e-3f * static_cast<float>(i % 7), buf[i][1] = 0.f;
  for (auto _ : state) fftwf_execute(p);
  fftwf_destroy_plan(p);
  fftwf_free(buf);
}

BENCHMARK(BM_sms_grappa_calibrate)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sms_grappa_apply_group)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_fftw_volume_coil_images)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
