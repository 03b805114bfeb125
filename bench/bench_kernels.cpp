// bench_kernels — the SIMD kernels (runtime-dispatched, larmor_kernels) against their scalar references,
// single-threaded, on one 3T-class slice: 32 coils x 256^2 pixels (16 MiB of complex64 per operand).
// Reported as bytes/s of the operands each kernel must read and write.
#include <benchmark/benchmark.h>

#include <complex>
#include <random>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/kernels/centering_kernels.hpp"
#include "larmor/kernels/coil_kernels.hpp"
#include "larmor/kernels/matrix_products.hpp"
#include "larmor/kernels/packed_product.hpp"

namespace {

using cf = std::complex<float>;
namespace k = larmor::kernels;
constexpr std::ptrdiff_t kCoils = 32, kPix = 256 * 256;

// 64-byte aligned like larmor::array (std::vector's 16-byte alignment splits AVX-512 accesses).
const larmor::array<cf, 1>& data(unsigned seed) {
  static larmor::array<cf, 1> v[2];
  auto& d = v[seed % 2];
  if (d.size() == 0) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g;
    d = larmor::array<cf, 1>({kCoils * kPix});
    for (auto& x : d) x = cf(g(rng), g(rng));
  }
  return d;
}

template <bool kSimd>
void BM_rss_coils(benchmark::State& st) {
  const auto& x = data(0);
  larmor::array<float, 1> out({kPix});
  constexpr std::ptrdiff_t block = 4096;
  for (auto _ : st) {
    for (std::ptrdiff_t p = 0; p < kPix; p += block) {
      if (kSimd) k::rss_coils(x.data() + p, kCoils, kPix, out.data() + p, block);
      else k::scalar::rss_coils(x.data() + p, kCoils, kPix, out.data() + p, block);
    }
    benchmark::DoNotOptimize(out.data());
  }
  st.SetBytesProcessed(st.iterations() * kPix * (kCoils * 8 + 4));
}

template <bool kSimd>
void BM_combine_roemer(benchmark::State& st) {
  const auto &s = data(0), &x = data(1);
  larmor::array<cf, 1> out({kPix});
  constexpr std::ptrdiff_t block = 4096;
  for (auto _ : st) {
    for (std::ptrdiff_t p = 0; p < kPix; p += block) {
      if (kSimd) k::combine_roemer(s.data() + p, x.data() + p, kCoils, kPix, out.data() + p, block);
      else k::scalar::combine_roemer(s.data() + p, x.data() + p, kCoils, kPix, out.data() + p, block);
    }
    benchmark::DoNotOptimize(out.data());
  }
  st.SetBytesProcessed(st.iterations() * kPix * (2 * kCoils * 8 + 8));
}

template <bool kSimd>
void BM_unmix_apply(benchmark::State& st) {
  const auto &w = data(0), &x = data(1);
  larmor::array<cf, 1> out({kPix});
  constexpr std::ptrdiff_t block = 4096;
  for (auto _ : st) {
    for (std::ptrdiff_t p = 0; p < kPix; p += block) {
      if (kSimd) k::unmix_apply(w.data() + p, x.data() + p, kCoils, kPix, out.data() + p, block);
      else k::scalar::unmix_apply(w.data() + p, x.data() + p, kCoils, kPix, out.data() + p, block);
    }
    benchmark::DoNotOptimize(out.data());
  }
  st.SetBytesProcessed(st.iterations() * kPix * (2 * kCoils * 8 + 8));
}

// acc += conj(a) b over all coils' samples (the inner loop of adjoint SENSE / Walsh correlations).
template <bool kSimd>
void BM_cmac_conj(benchmark::State& st) {
  const auto &a = data(0), &b = data(1);
  larmor::array<cf, 1> acc({a.size()});
  for (auto _ : st) {
    if (kSimd) k::cmac_conj(a.data(), b.data(), acc.data(), static_cast<std::ptrdiff_t>(a.size()));
    else k::scalar::cmac_conj(a.data(), b.data(), acc.data(), static_cast<std::ptrdiff_t>(a.size()));
    benchmark::DoNotOptimize(acc.data());
  }
  st.SetBytesProcessed(st.iterations() * static_cast<std::int64_t>(a.size()) * 8 * 4);
}

template <bool kSimd>
void BM_scale_copy_alternate(benchmark::State& st) {
  const auto& a = data(0);
  larmor::array<cf, 1> out({a.size()});
  for (auto _ : st) {
    for (std::ptrdiff_t r = 0; r < kCoils * 256; ++r) {  // row by row, as in the FFT centering copy
      if (kSimd) k::scale_copy_alternate(a.data() + r * 256, out.data() + r * 256, 256, 0.5f);
      else k::scalar::scale_copy_alternate(a.data() + r * 256, out.data() + r * 256, 256, 0.5f);
    }
    benchmark::DoNotOptimize(out.data());
  }
  st.SetBytesProcessed(st.iterations() * static_cast<std::int64_t>(a.size()) * 8 * 2);
}

// The EPI corrector's product: 4096 rows (128 echoes x 32 coils) x 192 ramp samples times the fixed
// 192 x 192 fused matrix, one thread. 0: OpenBLAS cgemm (what the corrector used before); 1: packed_product
// SIMD (runtime dispatch); 2: its scalar body. Counter GFLOP/s: 8 flops per complex multiply-add.
void BM_readout_product(benchmark::State& st) {
  constexpr std::ptrdiff_t m = 4096, n = 192, kk = 192;
  const auto& a = data(0);  // m x kk of it
  const auto& b = data(1);  // kk x n of it
  std::vector<float> packed(k::packed_matrix_floats(kk, n));
  k::pack_matrix(b.data(), kk, n, n, packed.data());
  larmor::array<cf, 1> c({m * n});
  for (auto _ : st) {
    if (st.range(0) == 0) k::cgemm(false, m, n, kk, a.data(), kk, b.data(), n, 0.f, c.data(), n);
    else if (st.range(0) == 1) k::packed_product(m, n, kk, a.data(), kk, packed.data(), c.data(), n);
    else k::scalar::packed_product(m, n, kk, a.data(), kk, packed.data(), c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  st.SetLabel(st.range(0) == 0 ? "openblas cgemm" : st.range(0) == 1 ? "packed simd" : "packed scalar");
  st.counters["GFLOP/s"] = benchmark::Counter(8.0 * m * n * kk * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_rss_coils<false>)->Name("rss_coils/scalar");
BENCHMARK(BM_rss_coils<true>)->Name("rss_coils/simd");
BENCHMARK(BM_combine_roemer<false>)->Name("combine_roemer/scalar");
BENCHMARK(BM_combine_roemer<true>)->Name("combine_roemer/simd");
BENCHMARK(BM_unmix_apply<false>)->Name("unmix_apply/scalar");
BENCHMARK(BM_unmix_apply<true>)->Name("unmix_apply/simd");
BENCHMARK(BM_cmac_conj<false>)->Name("cmac_conj/scalar");
BENCHMARK(BM_cmac_conj<true>)->Name("cmac_conj/simd");
BENCHMARK(BM_scale_copy_alternate<false>)->Name("scale_copy_alternate/scalar");
BENCHMARK(BM_scale_copy_alternate<true>)->Name("scale_copy_alternate/simd");
BENCHMARK(BM_readout_product)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
