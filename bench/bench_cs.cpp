// Compressed sensing: one FISTA iteration (normal operator + wavelet prox with cycle spinning + updates)
// at 32 coils x 256^2 with a Poisson-disc point mask (full FFTs) and a 1D variable-density line mask (no
// FFT along x), the wavelet prox alone, and the 3D 32 coils x 256x256x128 case (CS_3D=1; memory heavy).
// Times per iteration = (time of cs with 25 iterations - time with 5) / 20 is what compare_cs.sh reports;
// here each benchmark iteration is one solver iteration (set-up excluded).
//
//   bench_cs cs3d COILS NZ NY NX ITERS     3D l1-wavelet CS (Poisson over (z, y)): wall time and the peak
//                                          resident memory of cs() alone (docs/compressed_sensing.md)
//   bench_cs cgsense3d COILS NZ NY NX ITERS  the same data through CG-SENSE (docs/scale.md)
//   bench_cs cfl K MAPS OUT ITERS LAMBDA   larmor's `bart pics -l1 -r LAMBDA -i ITERS K MAPS OUT` (l1-wavelet
//                                          FISTA, mask = non-zero k-space samples) on BART cfl files
//                                          ([x y 1 coils]), for bench/compare_cs.sh; writes [x y] image.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <complex>
#include <cstdlib>
#include <string>
#include <vector>

#include "larmor/cs/cs.hpp"
#include "larmor/io/cfl.hpp"
#include "larmor/sampling/poisson_mask.hpp"

using namespace larmor;

namespace {

array<cfloat, 3> smooth_maps(index_t nc, index_t ny, index_t nx) {
  array<cfloat, 3> m({nc, ny, nx});
  for (index_t c = 0; c < nc; ++c) {
    const double a = 2 * M_PI * double(c) / double(nc);
    for (index_t y = 0; y < ny; ++y)
      for (index_t x = 0; x < nx; ++x) {
        const double dy = 2.0 * y / ny - 1 - 1.4 * std::sin(a), dx = 2.0 * x / nx - 1 - 1.4 * std::cos(a);
        m(c, y, x) = std::polar(float(std::exp(-(dy * dy + dx * dx) / 1.6)), float(a));
      }
  }
  for (index_t p = 0; p < ny * nx; ++p) {
    float s = 0;
    for (index_t c = 0; c < nc; ++c) s += std::norm(m.data()[c * ny * nx + p]);
    for (index_t c = 0; c < nc; ++c) m.data()[c * ny * nx + p] /= std::sqrt(s);
  }
  return m;
}

void fista_iteration(benchmark::State& st, bool lines) {
  const index_t nc = st.range(0), n = st.range(1);
  const auto maps = smooth_maps(nc, n, n);
  array<float, 2> w({n, n});
  if (lines) {
    const auto l = variable_density_lines(n, 4, 24, 1);
    for (index_t y = 0; y < n; ++y)
      for (index_t x = 0; x < n; ++x) w(y, x) = l[y];
  } else {
    const auto m = poisson_mask(n, n, 4, 24, 1);
    for (index_t i = 0; i < n * n; ++i) w.data()[i] = m.data()[i];
  }
  const sense_operator<2> op(maps.cview(), w.cview());
  const sense_linear_operator<2> A(op);
  const index_t np = n * n;
  array<cfloat, 1> b({np}), x({np}), z({np}), g({np});
  for (index_t i = 0; i < np; ++i) b[i] = cfloat(std::sin(0.01f * i), 0);
  wavelet_l1_prox prox(A.internal_shape(), 0.01f);
  for (auto _ : st) {
    A.normal(z.data(), g.data());
    for (index_t i = 0; i < np; ++i) g[i] = z[i] - 0.95f * (g[i] - b[i]);
    prox.apply(0.95f, g.data(), x.data());
    for (index_t i = 0; i < np; ++i) z[i] = x[i] + 0.5f * (x[i] - z[i]);
    benchmark::ClobberMemory();
  }
}

void BM_fista_iteration_points(benchmark::State& st) { fista_iteration(st, false); }
void BM_fista_iteration_lines(benchmark::State& st) { fista_iteration(st, true); }

void BM_wavelet_prox(benchmark::State& st) {
  const index_t n = st.range(0);
  array<cfloat, 1> v({n * n}), o({n * n});
  for (index_t i = 0; i < n * n; ++i) v[i] = cfloat(std::sin(0.01f * i), 0);
  wavelet_l1_prox prox({n, n}, 0.01f);
  for (auto _ : st) prox.apply(1.f, v.data(), o.data());
}

}  // namespace

BENCHMARK(BM_fista_iteration_points)->Args({32, 256})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_fista_iteration_lines)->Args({32, 256})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_wavelet_prox)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
// VmHWM of /proc/self/status in bytes (0 where unavailable).
double peak_resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  double kb = 0;
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::sscanf(line, "VmHWM: %lf kB", &kb) == 1) break;
  std::fclose(f);
  return kb * 1024;
}

// 3D l1-wavelet CS: coils x nz x ny x nx, Poisson-disc mask over (z, y) (R = 4, 24^2 centre), ITERS FISTA
// iterations; prints the wall time of cs() (set-up, power iteration, solver) and of building the data.
int run_3d(bool use_cs, index_t nc, index_t nz, index_t ny, index_t nx, int iters) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  array<cfloat, 4> maps({nc, nz, ny, nx}, uninitialized), k({nc, nz, ny, nx}, uninitialized);
  const auto m2 = smooth_maps(nc, ny, nx);
  const auto mask = poisson_mask(nz, ny, 4, 24, 1);
  parallel_for(nc * nz, [&](index_t i) {
    const index_t c = i / nz, z = i % nz;
    const double wz = 0.6 + 0.4 * std::cos(M_PI * (double(z) / nz - 0.5));
    for (index_t p = 0; p < ny * nx; ++p) {
      const cfloat s = m2.data()[c * ny * nx + p] * float(wz);
      maps.data()[(c * nz + z) * ny * nx + p] = s;
      const index_t y = p / nx, x = p % nx;
      const double r = std::hypot(2.0 * y / ny - 1, 2.0 * x / nx - 1) + std::abs(2.0 * z / nz - 1) * 0.5;
      k.data()[(c * nz + z) * ny * nx + p] = s * float(r < 0.8 ? 1.0 + 0.3 * (r < 0.3) : 0.0);
    }
  });
  fftc_inplace(k.view(), axis_list{1, 2, 3});
  parallel_for(nc * nz, [&](index_t i) {
    const index_t z = i % nz;
    cfloat* kk = k.data() + i * ny * nx;
    for (index_t y = 0; y < ny; ++y)
      if (!mask(z, y)) std::fill(kk + y * nx, kk + (y + 1) * nx, cfloat(0.f, 0.f));
  });
  // The peak of cs() alone: reset the process's resident high-water mark (Linux: clear_refs 5).
  if (std::FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
    std::fputs("5", f);
    std::fclose(f);
  }
  const auto t1 = clock::now();
  if (use_cs) {
    cs_options o;
    o.iters = iters;
    o.wavelet = 0.005f;
    const auto r = cs(k.cview(), maps.cview(), o);
    std::printf("3D %ld coils x %ldx%ldx%ld, %d iterations: data %.1f s, cs %.1f s (step %.3g, scale %.3g)\n",
                long(nc), long(nz), long(ny), long(nx), iters, std::chrono::duration<double>(t1 - t0).count(),
                std::chrono::duration<double>(clock::now() - t1).count(), double(r.step), double(r.scale));
  } else {
    cgsense_options o;
    o.iters = iters;
    o.tol = 0;
    const auto r = cgsense(k.cview(), maps.cview(), o);
    std::printf("3D %ld coils x %ldx%ldx%ld, %d iterations: data %.1f s, cgsense %.1f s (%d iterations)\n",
                long(nc), long(nz), long(ny), long(nx), iters, std::chrono::duration<double>(t1 - t0).count(),
                std::chrono::duration<double>(clock::now() - t1).count(), r.iterations);
  }
  const double K = double(nc * nz * ny * nx) * sizeof(cfloat);
  std::printf("peak resident during the reconstruction: %.2f GiB = %.2f K (K = coil data %.2f GiB; inputs k + maps = 2 K)\n",
              peak_resident_bytes() / double(1 << 30), peak_resident_bytes() / K, K / double(1 << 30));
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 7 && (std::string(argv[1]) == "cs3d" || std::string(argv[1]) == "cgsense3d"))
    return run_3d(std::string(argv[1]) == "cs3d", std::atol(argv[2]), std::atol(argv[3]), std::atol(argv[4]), std::atol(argv[5]), std::atoi(argv[6]));
  if (argc >= 7 && std::string(argv[1]) == "cfl") {
    const auto k = read_cfl(argv[2]), s = read_cfl(argv[3]);
    const index_t nx = k.bart_dims.at(0), ny = k.bart_dims.at(1), nc = k.samples.size() / (nx * ny);
    const strided_view<const cfloat, 3> kv(k.samples.data(), {nc, ny, nx}), sv(s.samples.data(), {nc, ny, nx});
    cs_options o;
    o.iters = std::atoi(argv[5]);
    o.wavelet = static_cast<float>(std::atof(argv[6]));
    // optional variant flags (quality study, bench/cs_quality.py): c / k coarse band thresholded / kept,
    // m<N> min_size, s<N> seed, d4 db4, p POGM, a<N> average the last N iterates (-1 automatic)
    for (int a = 7; a < argc; ++a) {
      const std::string f = argv[a];
      if (f == "c") o.wavelet_coarse = true;
      else if (f == "d4") o.kind = wavelet_kind::db4;
      else if (f == "p") o.solver = cs_solver::pogm;
      else if (f[0] == 'a') o.average = std::atoi(f.c_str() + 1);
      else if (f[0] == 'm') o.min_size = std::atol(f.c_str() + 1);
      else if (f[0] == 's') o.seed = std::strtoull(f.c_str() + 1, nullptr, 10);
    }
    const auto r = cs(kv, sv, o);
    write_cfl(argv[4], r.image.cview());
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
