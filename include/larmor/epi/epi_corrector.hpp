// larmor/epi/epi_corrector.hpp — the EPI stream filter between a reader and the Cartesian assembler.
//
// An EPI scan (header trajectory "epi" with an io::epi_trapezoid) goes through the filter readout by readout
// in scan order:
//   phase-correction navigators (ACQ_IS_PHASECORR_DATA)  -> regridded, consumed: they fit the odd/even phase
//   readouts with data (imaging, calibration/reference)  -> regridded to the uniform readout grid of the
//        encoded matrix x (ramp_regrid.hpp, positions from trapezoid.hpp, one matrix per readout length and
//        polarity for the whole scan), reversed echoes put in increasing-k order (ACQ_IS_REVERSE cleared),
//        the Nyquist phase removed in hybrid (x, ky) space (ghost_correction.hpp), back to k-space;
//        emitted with center_sample = N/2, no discards. With readout oversampling (encoded FOV x >
//        recon FOV x, epi_options::remove_oversampling) the image is cropped to the recon FOV before the FFT
//        (N' = round(N reconFOV/encodedFOV) points, the crop kspace_assembler would make) and
//        corrected_header() says encoded matrix x = N', encoded FOV x = recon FOV x
//   noise, dummy, feedback and other navigator readouts   -> emitted unchanged
// The Nyquist fit (epi_options::fit):
//   per_slice  (default) each navigator set (the navigators of one slice, separately for the imaging and
//              the parallel-imaging reference scan, renewed in every repetition) corrects the echoes of its
//              slice that follow it; readouts stream straight through;
//   scan_wide  one fit from all navigators of the scan (the linear term pooled; robust for weak slices);
//              holds every readout (as readout images) until finish();
//   none       regridding and reversal only.
// A scan without navigators (none before the first echo, per_slice mode) is held until finish() and each
// slice/repetition fitted from its own echoes (fit_nyquist_phase_from_echoes, ghost_correction.hpp).
// Speed (epi_options::batched, default): in per_slice and none modes the echoes are not regridded one by one
// but buffered (raw) until a navigator, a pass-through readout, a last_in_slice/repetition/measurement flag,
// finish() or 128 readouts; then all echoes sharing (readout length, polarity, Nyquist fit) go through one
// product (rows = readouts x coils, shared over the threads) with the fused matrix
// K = R^T diag(e^{+-i phi/2}) C^T F^T (ramp_regrid.hpp; C the oversampling crop), packed once
// (kernels/packed_product.hpp):
// regridding, Nyquist phase and the FFT along x in one product. Emission order and values are those of
// the per-readout path (batched = false; equal to float rounding, tests/cpp/test_epi.cpp). Held readouts
// (scan_wide, referenceless) get their phase and FFT at finish() in blocks of 4096 rows, one FFT call each.
// Then kspace_assembler(corrected_header()) places the emitted readouts as Cartesian ones. The filter
// refuses (DataError, one line) an EPI header without the trapezoid: ramp samples cannot be placed without it.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "larmor/epi/ghost_correction.hpp"
#include "larmor/epi/ramp_regrid.hpp"
#include "larmor/epi/trapezoid.hpp"
#include "larmor/core/parallel.hpp"
#include "larmor/io/acquisition.hpp"
#include "larmor/kernels/packed_product.hpp"

namespace larmor::epi {

enum class ghost_fit { per_slice, scan_wide, none };

struct epi_options {
  ghost_fit fit = ghost_fit::per_slice;
  double lambda_inside = 1e-4, lambda_outside = 1e-1;  // regrid_options (ramp_regrid.hpp)
  bool batched = true;  // the fused batched product; false: one product + phase + FFT per readout (reference)
  // Readout oversampling (encoded FOV x > recon FOV x) removed here, in the same product: the emitted
  // readouts cover the recon FOV (N * reconFOV/encodedFOV points, the assembler's crop), and the
  // corrected header says so. Halves the product and everything after it for the usual 2x oversampling.
  bool remove_oversampling = true;
};

inline bool is_epi(const io::encoding_header& h) { return h.trajectory == "epi"; }

class epi_corrector {
 public:
  explicit epi_corrector(const io::encoding_header& h, const epi_options& opt = {}) : h_(h), opt_(opt) {
    LARMOR_CHECK_DATA(h.epi.has_value(), "epi: ", h.protocol_name.empty() ? "" : "'" + h.protocol_name + "': ",
                      "the header declares an EPI trajectory but carries no readout trapezoid (ISMRMRD "
                      "trajectoryDescription rampUpTime/flatTopTime/rampDownTime/acqDelayTime/dwellTime, twix "
                      "alRegrid*): ramp-sampled echoes cannot be placed, refusing to reconstruct them as Cartesian");
    n_ = h.encoded_matrix[0];
    LARMOR_CHECK_DATA(n_ >= 2, "epi: encoded matrix x = ", n_, " is too small for an EPI readout");
    const io::epi_trapezoid& g = *h.epi;
    check_trapezoid(g, 2, g.dwell_us > 0 ? g.dwell_us : 1.0, "epi");
    support_ = 1.0;
    if (h.encoded_fov_mm[0] > 0 && h.recon_fov_mm[0] > 0 && h.recon_fov_mm[0] < h.encoded_fov_mm[0])
      support_ = static_cast<double>(h.recon_fov_mm[0]) / static_cast<double>(h.encoded_fov_mm[0]);
    // The kept image points: the central round(N * reconFOV/encodedFOV), as kspace_assembler's crop.
    keep_ = opt.remove_oversampling ? io::kept_readout_points(h) : n_;
    first_ = n_ / 2 - keep_ / 2;
  }

  // The header the Cartesian assembler sees: the same encoding, trajectory "cartesian"; with the readout
  // oversampling removed, an encoded matrix x of the kept points over the recon FOV.
  io::encoding_header corrected_header() const {
    io::encoding_header c = h_;
    c.trajectory = "cartesian";
    if (keep_ < n_) {
      c.encoded_matrix[0] = static_cast<std::uint16_t>(keep_);
      c.encoded_fov_mm[0] = c.recon_fov_mm[0];
    }
    return c;
  }
  // Samples of an emitted readout (the encoded matrix x, or the recon FOV's points without oversampling).
  index_t emitted_samples() const { return keep_; }

  void add(io::acquisition&& a, const std::function<void(io::acquisition&&)>& emit) {
    using io::acq_flag;
    const index_t index = added_++;
    // Navigators first: Siemens marks its PHASCOR scans RTFEEDBACK as well.
    if (!a.has(acq_flag::is_phasecorr_data) && (a.has(acq_flag::is_noise_measurement) || a.is_auxiliary())) {
      flush(emit);
      emit(std::move(a));
      return;
    }
    const bool reversed = a.has(acq_flag::is_reverse);
    const nav_key key{a.idx.slice, a.has(acq_flag::is_parallel_calibration) ||
                                       a.has(acq_flag::is_parallel_calibration_and_imaging)};
    if (a.has(acq_flag::is_phasecorr_data)) {
      flush(emit);  // the echoes buffered so far belong to the previous navigator set
      array<cfloat, 2> img = readout_image(a, index);
      ++navigators_;
      if (opt_.fit == ghost_fit::none) return;
      auto& set = pending_[key];
      auto& sum = reversed ? set.second : set.first;
      if (sum.size() == 0) sum = array<cfloat, 2>(img.shape());
      LARMOR_CHECK_DATA(sum.shape() == img.shape(), "epi: navigator ", index, " has ", img.shape(0),
                        " channels, earlier ones ", sum.shape(0));
      for (index_t i = 0; i < img.size(); ++i) sum.data()[i] += img.data()[i];
      return;
    }
    // The navigators gathered since the last echo of this slice form one set.
    if (const auto it = pending_.find(key); it != pending_.end()) {
      auto c = profile(it->second);
      if (!c.empty()) {
        if (opt_.fit == ghost_fit::per_slice) fits_[key] = fit_nyquist_phase({c});
        else pooled_.push_back(std::move(c));
      }
      pending_.erase(it);
    }
    // No navigator before the first echo: the scan has none; hold the echoes and fit from them at finish().
    if (opt_.fit == ghost_fit::per_slice && navigators_ == 0 && echoes_ == 0) referenceless_ = true;
    ++echoes_;
    const bool hold = opt_.fit == ghost_fit::scan_wide || referenceless_;
    if (opt_.batched && !hold) {
      nyquist_phase fit;
      if (opt_.fit == ghost_fit::per_slice)
        if (const auto f = fits_.find(key); f != fits_.end()) fit = f->second;
      const bool last = a.has(acq_flag::last_in_slice) || a.has(acq_flag::last_in_repetition) ||
                        a.has(acq_flag::last_in_measurement);
      const ramp_regridder& r = regridder_of(a, index);
      batch_rows_ += a.channels();
      batch_.push_back(buffered_echo{std::move(a), &r, reversed, fit});
      if (last || batch_.size() >= 128 || batch_rows_ >= 8192) flush(emit);
      return;
    }
    a.data = readout_image(a, index);  // readout image (coils, N) until emitted
    to_emitted_form(a);
    if (hold) {
      held_.emplace_back(std::move(a), reversed);
      return;
    }
    if (opt_.fit == ghost_fit::per_slice) {
      const auto f = fits_.find(key);
      if (f != fits_.end()) apply_nyquist_phase(a.data.data(), a.channels(), n_, f->second, reversed);
    }
    to_kspace_and_emit(std::move(a), emit);
  }

  void finish(const std::function<void(io::acquisition&&)>& emit) {
    flush(emit);
    if (referenceless_) {
      fit_from_echoes();
      for (auto& [a, reversed] : held_) {
        const auto it = echo_fits_.find(echo_key(a));
        if (it != echo_fits_.end()) apply_nyquist_phase(a.data.data(), a.channels(), n_, it->second, reversed);
      }
      emit_held(emit);
    }
    if (opt_.fit == ghost_fit::scan_wide) {
      std::vector<std::vector<std::complex<double>>> profiles = std::move(pooled_);
      for (auto& [key, set] : pending_) {
        auto c = profile(set);
        if (!c.empty()) profiles.push_back(std::move(c));
      }
      pending_.clear();
      scan_fit_ = fit_nyquist_phase(profiles);
      for (auto& [a, reversed] : held_) apply_nyquist_phase(a.data.data(), a.channels(), n_, scan_fit_, reversed);
      emit_held(emit);
    }
    pending_.clear();
  }

  // Diagnostics: the latest per-slice fit of (slice, reference scan), the scan-wide fit, navigator count.
  nyquist_phase slice_fit(std::uint16_t slice, bool reference = false) const {
    const auto it = fits_.find(nav_key{slice, reference});
    return it == fits_.end() ? nyquist_phase{} : it->second;
  }
  nyquist_phase scan_fit() const { return scan_fit_; }
  // Without navigators (referenceless fit from the echoes, per slice and repetition), after finish().
  bool referenceless() const { return referenceless_; }
  nyquist_phase echo_fit(std::uint16_t slice, std::uint16_t repetition = 0, bool reference = false) const {
    for (const auto& [k, f] : echo_fits_)
      if (std::get<0>(k) == slice && std::get<3>(k) == repetition && std::get<5>(k) == reference) return f;
    return nyquist_phase{};
  }
  index_t navigators() const { return navigators_; }

  // The regridding matrix used for readouts of `samples` samples (after discards), dwell and polarity.
  const ramp_regridder& regridder(index_t samples, double dwell_us, bool reversed, index_t first = 0,
                                  index_t total = -1) {
    if (total < 0) total = samples;
    const auto key = std::make_tuple(samples, first, total, std::llround(dwell_us * 1e6), reversed);
    auto it = regridders_.find(key);
    if (it == regridders_.end()) {
      auto k = ramp_sample_positions(*h_.epi, total, dwell_us, n_);
      std::vector<double> used(k.begin() + first, k.begin() + first + samples);
      if (reversed)
        for (double& v : used) v = -v;
      regrid_options ro;
      ro.support = support_, ro.lambda_inside = opt_.lambda_inside, ro.lambda_outside = opt_.lambda_outside;
      it = regridders_.emplace(key, ramp_regridder(used, n_, ro)).first;
    }
    return it->second;
  }

 private:
  struct nav_key {
    std::uint16_t slice = 0;
    bool reference = false;
    bool operator<(const nav_key& o) const { return std::tie(slice, reference) < std::tie(o.slice, o.reference); }
  };
  using nav_set = std::pair<array<cfloat, 2>, array<cfloat, 2>>;  // forward, reversed sums (coils, N)

  const ramp_regridder& regridder_of(const io::acquisition& a, index_t index) {
    const index_t total = a.samples(), ns = total - a.discard_pre - a.discard_post;
    LARMOR_CHECK_DATA(ns >= 2 && a.channels() >= 1, "epi: acquisition ", index, " has ", a.channels(),
                      " channels and ", ns, " samples after discards");
    const double dwell = h_.epi->dwell_us > 0 ? h_.epi->dwell_us : a.sample_time_us;
    LARMOR_CHECK_DATA(dwell > 0, "epi: acquisition ", index, ": no dwell time (trapezoid or sample_time_us)");
    return regridder(ns, dwell, a.has(io::acq_flag::is_reverse), a.discard_pre, total);
  }

  array<cfloat, 2> readout_image(const io::acquisition& a, index_t index) {
    const auto& r = regridder_of(a, index);
    array<cfloat, 2> img(extents<2>{a.channels(), n_}, uninitialized);
    r.to_image(a.data.data() + a.discard_pre, a.channels(), a.samples(), img.data());
    return img;
  }

  // The header fields of an emitted (corrected) readout; data already (coils, N).
  void to_emitted_form(io::acquisition& a) const {
    a.flags &= ~io::flag_bit(io::acq_flag::is_reverse);
    a.discard_pre = a.discard_post = 0;
    a.center_sample = static_cast<std::uint16_t>(keep_ / 2);
  }

  // A readout image (coils, N) -> its kept points (coils, keep) (no-op without oversampling removal).
  void crop_image(io::acquisition& a) const {
    if (keep_ == n_) return;
    array<cfloat, 2> kept(extents<2>{a.channels(), keep_}, uninitialized);
    for (index_t c = 0; c < a.channels(); ++c) std::copy_n(&a.data(c, first_), keep_, &kept(c, 0));
    a.data = std::move(kept);
  }

  // The fused matrix of (regridder, Nyquist fit, polarity), packed for kernels::packed_product; cached (a few
  // per slice and repetition).
  const std::vector<float>& fused(const ramp_regridder* r, const nyquist_phase& fit, bool reversed) {
    const auto key = std::make_tuple(r, fit.valid, fit.valid ? fit.constant : 0.0, fit.valid ? fit.slope : 0.0,
                                     reversed);
    auto it = fused_.find(key);
    if (it != fused_.end()) return it->second;
    if (fused_.size() >= 16) fused_.clear();  // fits change every repetition: keep the cache small
    std::vector<std::complex<double>> p;
    if (fit.valid) {
      const double sign = reversed ? -0.5 : 0.5;
      p.resize(static_cast<std::size_t>(n_));
      for (index_t x = 0; x < n_; ++x) p[static_cast<std::size_t>(x)] = std::polar(1.0, sign * fit.phase(x, n_));
    }
    const array<cfloat, 2> k = r->fused_kspace_matrix(p.empty() ? nullptr : p.data(), first_, keep_);
    std::vector<float> packed(kernels::packed_matrix_floats(k.shape(0), k.shape(1)));
    kernels::pack_matrix(k.data(), k.shape(0), k.shape(1), k.shape(1), packed.data());
    return fused_.emplace(key, std::move(packed)).first->second;
  }

  // The buffered echoes: grouped by fused matrix, one product per group, emitted in arrival order.
  void flush(const std::function<void(io::acquisition&&)>& emit) {
    if (batch_.empty()) return;
    std::vector<bool> done(batch_.size(), false);
    for (std::size_t first = 0; first < batch_.size(); ++first) {
      if (done[first]) continue;
      const buffered_echo& g = batch_[first];
      std::vector<std::size_t> members;
      index_t rows = 0;
      for (std::size_t i = first; i < batch_.size(); ++i) {
        const buffered_echo& b = batch_[i];
        if (done[i] || b.r != g.r || b.reversed != g.reversed || b.fit.valid != g.fit.valid ||
            (g.fit.valid && (b.fit.constant != g.fit.constant || b.fit.slope != g.fit.slope)))
          continue;
        done[i] = true;
        members.push_back(i);
        rows += b.a.channels();
      }
      const index_t ns = g.r->samples();
      in_.resize(static_cast<std::size_t>(rows * ns));
      out_.resize(static_cast<std::size_t>(rows * keep_));
      index_t row = 0;
      for (std::size_t i : members) {
        const io::acquisition& a = batch_[i].a;
        for (index_t c = 0; c < a.channels(); ++c, ++row)
          std::copy_n(&a.data(c, a.discard_pre), ns, in_.data() + row * ns);
      }
      const std::vector<float>& k = fused(g.r, g.fit, g.reversed);
      // Rows over the threads: a row's result does not depend on the split (kernels/packed_product.hpp).
      parallel_for_blocks(rows, 64, [&](index_t first, index_t count) {
        kernels::packed_product(count, keep_, ns, in_.data() + first * ns, ns, k.data(), out_.data() + first * keep_,
                                keep_);
      });
      row = 0;
      for (std::size_t i : members) {
        io::acquisition& a = batch_[i].a;
        if (a.samples() != keep_) a.data = array<cfloat, 2>(extents<2>{a.channels(), keep_}, uninitialized);
        std::copy_n(out_.data() + row * keep_, a.channels() * keep_, a.data.data());
        row += a.channels();
      }
    }
    for (buffered_echo& b : batch_) {
      to_emitted_form(b.a);
      ++emitted_;
      emit(std::move(b.a));
    }
    batch_.clear();
    batch_rows_ = 0;
  }

  // Held readout images (phase applied) -> k-space in blocks (one FFT call per block), emitted in order.
  void emit_held(const std::function<void(io::acquisition&&)>& emit) {
    if (!opt_.batched) {  // the reference path: one FFT per readout
      for (auto& h : held_) to_kspace_and_emit(std::move(h.first), emit);
      held_.clear();
      return;
    }
    std::size_t first = 0;
    while (first < held_.size()) {
      std::size_t last = first;
      index_t rows = 0;
      const index_t nc = held_[first].first.channels();
      while (last < held_.size() && held_[last].first.channels() == nc && rows < 4096) rows += nc, ++last;
      array<cfloat, 2> block(extents<2>{rows, keep_}, uninitialized);
      for (std::size_t i = first; i < last; ++i) {
        crop_image(held_[i].first);
        std::copy_n(held_[i].first.data.data(), nc * keep_,
                    block.data() + static_cast<index_t>(i - first) * nc * keep_);
      }
      fftc_inplace(block.view(), {1});
      for (std::size_t i = first; i < last; ++i) {
        io::acquisition& a = held_[i].first;
        std::copy_n(block.data() + static_cast<index_t>(i - first) * nc * keep_, nc * keep_, a.data.data());
        ++emitted_;
        emit(std::move(a));
      }
      first = last;
    }
    held_.clear();
  }

  std::vector<std::complex<double>> profile(const nav_set& s) const {
    if (s.first.size() == 0 || s.second.size() == 0 || s.first.shape() != s.second.shape()) return {};
    return nyquist_correlation(s.first.data(), s.second.data(), s.first.shape(0), n_);
  }

  void to_kspace_and_emit(io::acquisition&& a, const std::function<void(io::acquisition&&)>& emit) {
    crop_image(a);
    fftc_inplace(a.data.view(), {1});
    ++emitted_;
    emit(std::move(a));
  }

  // (slice, contrast, phase, repetition, set, reference scan): one image's echoes.
  using echo_group = std::tuple<std::uint16_t, std::uint16_t, std::uint16_t, std::uint16_t, std::uint16_t, bool>;
  static echo_group echo_key(const io::acquisition& a) {
    using io::acq_flag;
    return {a.idx.slice, a.idx.contrast, a.idx.phase, a.idx.repetition, a.idx.set,
            a.has(acq_flag::is_parallel_calibration) || a.has(acq_flag::is_parallel_calibration_and_imaging)};
  }

  // The referenceless fit of every echo group held: forward-only and reversed-only ky images.
  void fit_from_echoes() {
    const index_t ny = std::max<index_t>(1, h_.encoded_matrix[1]);
    const index_t shift = h_.e1 ? ny / 2 - static_cast<index_t>(h_.e1->center) : 0;
    std::map<echo_group, std::pair<array<cfloat, 3>, array<cfloat, 3>>> sets;
    for (const auto& [a, reversed] : held_) {
      const index_t y = a.idx.kspace_encode_step_1 + shift, nc = a.channels();
      if (y < 0 || y >= ny) continue;
      auto& s = sets[echo_key(a)];
      auto& dst = reversed ? s.second : s.first;
      if (dst.size() == 0) dst = array<cfloat, 3>(extents<3>{nc, ny, n_});
      if (dst.shape(0) != nc) continue;
      for (index_t c = 0; c < nc; ++c)
        for (index_t x = 0; x < n_; ++x) dst(c, y, x) += a.data(c, x);
    }
    for (auto& [key, s] : sets) {
      if (s.first.size() == 0 || s.second.size() == 0 || s.first.shape() != s.second.shape()) continue;
      ifftc_inplace(s.first.view(), {1});
      ifftc_inplace(s.second.view(), {1});
      echo_fits_[key] = fit_nyquist_phase_from_echoes(s.first, s.second);
    }
  }

  io::encoding_header h_;
  epi_options opt_;
  struct buffered_echo {
    io::acquisition a;  // raw samples until flushed
    const ramp_regridder* r = nullptr;
    bool reversed = false;
    nyquist_phase fit;
  };
  index_t n_ = 0, keep_ = 0, first_ = 0, added_ = 0, navigators_ = 0, emitted_ = 0, echoes_ = 0, batch_rows_ = 0;
  std::vector<buffered_echo> batch_;
  std::vector<cfloat> in_, out_;
  std::map<std::tuple<const ramp_regridder*, bool, double, double, bool>, std::vector<float>> fused_;
  bool referenceless_ = false;
  std::map<echo_group, nyquist_phase> echo_fits_;
  double support_ = 1;
  std::map<std::tuple<index_t, index_t, index_t, long long, bool>, ramp_regridder> regridders_;
  std::map<nav_key, nav_set> pending_;
  std::map<nav_key, nyquist_phase> fits_;
  std::vector<std::vector<std::complex<double>>> pooled_;
  std::vector<std::pair<io::acquisition, bool>> held_;
  nyquist_phase scan_fit_;
};

}  // namespace larmor::epi
