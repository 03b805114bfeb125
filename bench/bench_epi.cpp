// EPI benchmarks: one fMRI volume (32 coils, 96 x 96, readout oversampling 2 -> 192 ramp samples, 60 slices,
// GRAPPA R = 2 with a separate 24-line EPI reference scan, + - + navigators per slice), the ramp regridding +
// Nyquist correction alone (epi_corrector over the volume's readouts, regridding matrices built once and
// reused, as across the repetitions of a time series) and the whole chain recon(raw, "grappa") of the volume.
// Data: random samples (the cost, not the image). Goal in the issue: well inside a 2 s TR, < 0.5 s on 2 cores.
// And one multiband volume in the session (issue 30: 72 slices at MB 6, the same per-TR aim).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "larmor/larmor.hpp"
#include "larmor/epi/epi_corrector.hpp"
#include "larmor/recon/recon.hpp"
#include "larmor/recon/recon_session.hpp"

namespace {

using namespace larmor;

constexpr index_t coils = 32, nx = 192, ny = 96, slices = 60, accel = 2, ref_lines = 24;

// The EPI encoding of both volumes: 192 ramp samples (trapezoid 120 + 300 + 120 us, dwell 2.5 us) read
// into a 96 x 96 recon matrix, 220 mm FOV, GRAPPA R = 2 with a separate reference scan; a 200-volume series
// (per-slice maps and weights are kept).
io::encoding_header fmri_header(index_t n_slices, float slice_mm) {
  io::encoding_header h;
  h.encoded_matrix = {nx, ny, 1};
  h.recon_matrix = {nx / 2, ny, 1};
  h.encoded_fov_mm = {440, 220, slice_mm};
  h.recon_fov_mm = {220, 220, slice_mm};
  h.e1 = io::limit{0, ny - 1, ny / 2};
  h.slice = io::limit{0, static_cast<std::uint16_t>(n_slices - 1), 0};
  h.repetition = io::limit{0, 199, 0};
  h.accel_e1 = accel;
  h.calibration_mode = "separate";
  h.trajectory = "epi";
  io::epi_trapezoid g;
  g.ramp_up_us = 120, g.flat_top_us = 300, g.ramp_down_us = 120, g.dwell_us = 2.5f;
  g.acq_delay_us = 0.5f * (540 - 192 * 2.5f);
  h.epi = g;
  return h;
}

const io::raw_dataset& volume() {
  static io::raw_dataset raw = [] {
    io::raw_dataset r;
    r.source = "bench fMRI volume";
    r.header = fmri_header(slices, 3);
    std::mt19937 rng(1);
    std::normal_distribution<float> n(0, 1);
    auto readout = [&](index_t s, index_t ky, bool rev, bool nav, bool ref, bool last = false) {
      io::acquisition a;
      a.flags = (rev ? io::flag_bit(io::acq_flag::is_reverse) : 0) |
                (nav ? io::flag_bit(io::acq_flag::is_phasecorr_data) : 0) |
                (ref ? io::flag_bit(io::acq_flag::is_parallel_calibration) : 0) |
                (last ? io::flag_bit(io::acq_flag::last_in_slice) : 0);
      a.idx.slice = static_cast<std::uint16_t>(s);
      a.idx.kspace_encode_step_1 = static_cast<std::uint16_t>(ky);
      a.center_sample = nx / 2;
      a.sample_time_us = 2.5f;
      a.data = array<cfloat, 2>(extents<2>{coils, nx}, uninitialized);
      for (auto& v : a.data) v = cfloat(n(rng), n(rng));
      r.acquisitions.push_back(std::move(a));
    };
    for (index_t s = 0; s < slices; ++s) {  // reference scan
      for (int i = 0; i < 3; ++i) readout(s, ny / 2, i == 1, true, true);
      for (index_t ky = ny / 2 - ref_lines / 2; ky < ny / 2 + ref_lines / 2; ++ky)
        readout(s, ky, (ky - ny / 2) % 2 != 0, false, true);
    }
    for (index_t s = 0; s < slices; ++s) {  // one volume of the time series
      for (int i = 0; i < 3; ++i) readout(s, ny / 2, i == 1, true, false);
      for (index_t ky = 0; ky < ny; ky += accel) readout(s, ky, (ky / accel) % 2 != 0, false, false, ky + accel >= ny);
    }
    return r;
  }();
  return raw;
}

// Regridding + navigator fits + Nyquist phase + FFT of every readout of the volume. Arg 1: the batched fast
// path (fused matrix, one product per group of echoes); arg 0: the per-readout reference path.
void BM_EpiCorrectorVolume(benchmark::State& st) {
  const auto& raw = volume();
  epi::epi_options eo;
  eo.batched = st.range(0) != 0;
  epi::epi_corrector c(raw.header, eo);
  index_t out = 0;
  const auto sink = [&](io::acquisition&& a) { out += a.samples(); };
  for (const auto& a : raw.acquisitions) c.add(io::acquisition(a), sink);  // warm: matrices built
  c.finish(sink);
  std::vector<io::acquisition> copies;  // the copies the chain would hand over, outside the timing
  for (auto _ : st) {
    st.PauseTiming();
    copies.assign(raw.acquisitions.begin(), raw.acquisitions.end());
    st.ResumeTiming();
    for (auto& a : copies) c.add(std::move(a), sink);
    c.finish(sink);
    benchmark::DoNotOptimize(out);
  }
  st.counters["readouts"] = static_cast<double>(raw.acquisitions.size());
  // Complex multiply-adds of the regridding product alone: readouts x coils x Ns x N', 8 flops each (N' = the
  // emitted points: the recon FOV's nx / 2, the oversampling crop being part of the product).
  const double kept = static_cast<double>(c.emitted_samples());
  st.counters["GFLOP/s"] = benchmark::Counter(8.0 * double(raw.acquisitions.size()) * coils * nx * kept * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_EpiCorrectorVolume)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()
    ->UseRealTime()->Iterations(3);

// The whole chain on the volume: EPI correction, assembly, GRAPPA calibrated on the reference, RSS-free combine.
void BM_EpiReconVolumeGrappa(benchmark::State& st) {
  const auto& raw = volume();
  recon_options o;
  o.method = "grappa";
  for (auto _ : st) benchmark::DoNotOptimize(recon(raw, o).images.size());
}
BENCHMARK(BM_EpiReconVolumeGrappa)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime()
    ->Iterations(1);

// A recon_session (method grappa) is given all of raw (reference data and the first volume: maps, kernels and
// regridding matrices made and kept); each iteration pushes raw's readouts from `first_volume` on again as the
// next repetition and takes that volume's images.
void stream_next_volumes(benchmark::State& st, const io::raw_dataset& raw, std::size_t first_volume) {
  recon_options o;
  o.method = "grappa";
  recon_session session(raw.header, o);
  for (const auto& a : raw.acquisitions) session.push(a);
  index_t images = static_cast<index_t>(session.take_images().size()), volumes = 1;
  std::vector<io::acquisition> next;
  for (auto _ : st) {
    st.PauseTiming();
    next.assign(raw.acquisitions.begin() + static_cast<std::ptrdiff_t>(first_volume), raw.acquisitions.end());
    for (auto& a : next) a.idx.repetition = static_cast<std::uint16_t>(volumes);
    st.ResumeTiming();
    for (auto& a : next) session.push(std::move(a));
    images += static_cast<index_t>(session.take_images().size());
    ++volumes;
  }
  session.finish();
  st.counters["images_per_volume"] = static_cast<double>(images) / static_cast<double>(volumes);
}

// One volume of a running fMRI time series, as a scanner streams it: a recon_session (method grappa) has
// had the reference scan and the first volume (ESPIRiT maps, GRAPPA weights, regridding matrices made and
// kept per slice); each iteration pushes the next repetition's readouts (the same samples, new repetition
// index) and takes its 60 images. This is the per-TR cost the issue's < 0.5 s goal is about.
void BM_EpiSessionSteadyVolume(benchmark::State& st) {
  const auto& raw = volume();
  const auto first_imaging = static_cast<std::size_t>(slices * (3 + ref_lines));
  stream_next_volumes(st, raw, first_imaging);
}
BENCHMARK(BM_EpiSessionSteadyVolume)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime()
    ->Iterations(3);

// ---------------------------------------------------------------------------------------------------------
// Multiband fMRI (issue 30): 32 coils, 96 x 96 (192 ramp samples), 72 slices at MB 6 (12 slice groups of
// slices {g, g + 12, ..., g + 60}), CAIPI FOV/3, in-plane GRAPPA R = 2 with a separate 24-line reference scan.
// Acquired: the reference scan of every slice (single band), the single-band reference pass of every slice
// (R = 2, repetition 0), then each volume's 12 collapsed groups. The collapsed readouts are, line by line, the
// sum of the group's single-band readouts times exp(-2 pi i (ky - Ny/2) j / 3): ramp regridding and the
// navigator phase correction are linear per readout and the navigators are the same in every pass, so the
// corrected data obey the CAIPI model exactly and the chain's convention check passes (random samples: the
// cost, not the image).
constexpr index_t mb_slices = 72, mb_factor = 6, mb_caipi = 3, mb_groups = mb_slices / mb_factor;

const io::raw_dataset& multiband_volume() {
  static io::raw_dataset raw = [] {
    io::raw_dataset r;
    r.source = "bench multiband fMRI volume";
    r.header = fmri_header(mb_slices, 2.5f);
    r.header.multiband_factor = mb_factor;
    r.header.multiband_fov_shift = mb_caipi;
    std::mt19937 rng(3);
    std::normal_distribution<float> n(0, 1);
    const auto random_samples = [&] {
      array<cfloat, 2> d(extents<2>{coils, nx}, uninitialized);
      for (auto& v : d) v = cfloat(n(rng), n(rng));
      return d;
    };
    std::vector<array<cfloat, 2>> navigator;  // + - +, the same in every pass
    for (int i = 0; i < 3; ++i) navigator.push_back(random_samples());
    const auto readout = [&](index_t s, index_t ky, bool rev, bool nav, bool ref, const array<cfloat, 2>& data,
                             bool last = false) {
      io::acquisition a;
      a.flags = (rev ? io::flag_bit(io::acq_flag::is_reverse) : 0) |
                (nav ? io::flag_bit(io::acq_flag::is_phasecorr_data) : 0) |
                (ref ? io::flag_bit(io::acq_flag::is_parallel_calibration) : 0) |
                (last ? io::flag_bit(io::acq_flag::last_in_slice) : 0);
      a.idx.slice = static_cast<std::uint16_t>(s);
      a.idx.kspace_encode_step_1 = static_cast<std::uint16_t>(ky);
      a.center_sample = nx / 2;
      a.sample_time_us = 2.5f;
      a.position = {0.f, 0.f, 2.5f * static_cast<float>(s)};
      a.read_dir = {1.f, 0.f, 0.f}, a.phase_dir = {0.f, 1.f, 0.f}, a.slice_dir = {0.f, 0.f, 1.f};
      a.data = data;
      r.acquisitions.push_back(std::move(a));
    };
    const auto navigators = [&](index_t s, bool ref) {
      for (int i = 0; i < 3; ++i) readout(s, ny / 2, i == 1, true, ref, navigator[static_cast<std::size_t>(i)]);
    };
    for (index_t s = 0; s < mb_slices; ++s) {  // reference scan
      navigators(s, true);
      for (index_t ky = ny / 2 - ref_lines / 2; ky < ny / 2 + ref_lines / 2; ++ky)
        readout(s, ky, (ky - ny / 2) % 2 != 0, false, true, random_samples());
    }
    // Single-band reference pass: lines[s][ky / accel] kept to build the collapse.
    std::vector<std::vector<array<cfloat, 2>>> lines(static_cast<std::size_t>(mb_slices));
    for (index_t s = 0; s < mb_slices; ++s) {
      navigators(s, false);
      for (index_t ky = 0; ky < ny; ky += accel) {
        lines[static_cast<std::size_t>(s)].push_back(random_samples());
        readout(s, ky, (ky / accel) % 2 != 0, false, false, lines[static_cast<std::size_t>(s)].back(),
                ky + accel >= ny);
      }
    }
    for (index_t grp = 0; grp < mb_groups; ++grp) {  // the first multiband volume
      navigators(grp, false);
      for (index_t ky = 0; ky < ny; ky += accel) {
        array<cfloat, 2> sum(extents<2>{coils, nx});
        for (index_t j = 0; j < mb_factor; ++j) {
          const auto psi = std::polar(1.0, -2 * 3.14159265358979323846 * double((ky - ny / 2) * j) / double(mb_caipi));
          const auto& l = lines[static_cast<std::size_t>(grp + j * mb_groups)][static_cast<std::size_t>(ky / accel)];
          for (index_t i = 0; i < l.size(); ++i) sum.data()[i] += cfloat(psi) * l.data()[i];
        }
        readout(grp, ky, (ky / accel) % 2 != 0, false, false, sum, ky + accel >= ny);
      }
    }
    return r;
  }();
  return raw;
}

// One volume of a running multiband series in the session (method grappa): the reference scan, the
// single-band pass and the first volume have been pushed (split-slice kernels of the 12 groups, in-plane
// GRAPPA weights and regridding matrices made and kept); each iteration pushes the next volume's 12 collapsed
// groups (612 readouts) and takes its 72 images: EPI correction, slice separation, in-plane GRAPPA, coil
// combination. Issue 30's aim: < 0.5 s per volume on the 2-core machine.
void BM_EpiSessionSteadyMultibandVolume(benchmark::State& st) {
  const auto& raw = multiband_volume();
  const auto first_volume =
      static_cast<std::size_t>(mb_slices * (3 + ref_lines) + mb_slices * (3 + ny / accel));
  stream_next_volumes(st, raw, first_volume);
}
BENCHMARK(BM_EpiSessionSteadyMultibandVolume)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()
    ->UseRealTime()->Iterations(5);

}  // namespace

BENCHMARK_MAIN();
