// Multi-contrast protocols through the chain: what estimating coil maps and GRAPPA kernels once per slice
// saves. A 3T-class multi-echo slice (32 coils, 256^2, GRAPPA R = 2 with a separate 24-line calibration
// scan, `echoes` contrasts) is reconstructed
//   - as one file (recon(raw): maps, kernel and unmixing weights estimated once, reused by every echo),
//   - as `echoes` single-contrast files (each recon(raw) estimates them again: what a chain without the
//     reuse does),
// both through larmor::recon on in-memory raw data (no file I/O in the timing). The ratio is the time saved.
#include <benchmark/benchmark.h>

#include <map>

#include "larmor/larmor.hpp"
#include "larmor/recon/recon.hpp"

namespace {

using larmor::array;
using larmor::cfloat;
using larmor::index_t;
namespace io = larmor::io;

// One slice: a calibration scan (24 central lines, contrast 0) and `echoes` contrasts on the R = 2 lattice.
io::raw_dataset multi_echo(index_t nc, index_t n, index_t echoes, index_t first_echo = 0) {
  const auto k = larmor::simulated_kspace<float>(nc, n, 1e-3);
  io::raw_dataset raw;
  raw.source = "bench multi-echo";
  auto& h = raw.header;
  h.encoded_matrix = h.recon_matrix = {static_cast<std::uint16_t>(n), static_cast<std::uint16_t>(n), 1};
  h.encoded_fov_mm = h.recon_fov_mm = {220.f, 220.f, 5.f};
  h.e1 = io::limit{0, static_cast<std::uint16_t>(n - 1), static_cast<std::uint16_t>(n / 2)};
  h.accel_e1 = 2;
  h.calibration_mode = "separate";
  auto line = [&](index_t y, std::uint16_t contrast, bool calib) {
    io::acquisition a;
    a.idx.kspace_encode_step_1 = static_cast<std::uint16_t>(y);
    a.idx.contrast = contrast;
    a.center_sample = static_cast<std::uint16_t>(n / 2);
    if (calib) a.flags = io::flag_bit(io::acq_flag::is_parallel_calibration);
    a.data = array<cfloat, 2>(larmor::extents<2>{nc, n});
    const float decay = 1.f / (1.f + 0.2f * static_cast<float>(contrast));  // T2* decay across echoes
    for (index_t c = 0; c < nc; ++c)
      for (index_t x = 0; x < n; ++x) a.data(c, x) = decay * k(c, y, x);
    raw.acquisitions.push_back(std::move(a));
  };
  for (index_t y = n / 2 - 12; y < n / 2 + 12; ++y) line(y, 0, true);
  for (index_t e = first_echo; e < first_echo + echoes; ++e)
    for (index_t y = 0; y < n; y += 2) line(y, static_cast<std::uint16_t>(e), false);
  return raw;
}

void BM_multi_echo_one_file(benchmark::State& st) {
  const index_t echoes = st.range(0);
  const auto raw = multi_echo(32, 256, echoes);
  larmor::recon_options o;
  o.method = "grappa";
  for (auto _ : st) benchmark::DoNotOptimize(larmor::recon(raw, o).images.size());
  st.counters["echoes"] = static_cast<double>(echoes);
}

void BM_multi_echo_separate_files(benchmark::State& st) {
  const index_t echoes = st.range(0);
  std::vector<io::raw_dataset> files;
  for (index_t e = 0; e < echoes; ++e) files.push_back(multi_echo(32, 256, 1, e));
  larmor::recon_options o;
  o.method = "grappa";
  for (auto _ : st)
    for (const auto& f : files) benchmark::DoNotOptimize(larmor::recon(f, o).images.size());
  st.counters["echoes"] = static_cast<double>(echoes);
}

BENCHMARK(BM_multi_echo_one_file)->Arg(4)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_multi_echo_separate_files)->Arg(4)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
