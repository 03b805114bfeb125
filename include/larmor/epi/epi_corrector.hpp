// larmor/epi/epi_corrector.hpp — the EPI stream filter between a reader and the Cartesian assembler.
//
// An EPI scan (header trajectory "epi" with an io::epi_trapezoid) goes through the filter readout by readout
// in scan order:
//   phase-correction navigators (ACQ_IS_PHASECORR_DATA)  -> regridded, consumed: they fit the odd/even phase
//   readouts with data (imaging, calibration/reference)  -> regridded to the uniform readout grid of the
//        encoded matrix x (ramp_regrid.hpp, positions from trapezoid.hpp, one matrix per readout length and
//        polarity for the whole scan), reversed echoes put in increasing-k order (ACQ_IS_REVERSE cleared),
//        the Nyquist phase removed in hybrid (x, ky) space (ghost_correction.hpp), back to k-space;
//        emitted with center_sample = N/2, no discards
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
// Then kspace_assembler(corrected_header()) places the emitted readouts as Cartesian ones. The filter
// refuses (DataError, one line) an EPI header without the trapezoid: ramp samples cannot be placed without it.
#pragma once

#include <functional>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "larmor/epi/ghost_correction.hpp"
#include "larmor/epi/ramp_regrid.hpp"
#include "larmor/epi/trapezoid.hpp"
#include "larmor/io/acquisition.hpp"

namespace larmor::epi {

enum class ghost_fit { per_slice, scan_wide, none };

struct epi_options {
  ghost_fit fit = ghost_fit::per_slice;
  double lambda_inside = 1e-4, lambda_outside = 1e-1;  // regrid_options (ramp_regrid.hpp)
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
  }

  // The header the Cartesian assembler sees: the same encoding, trajectory "cartesian".
  io::encoding_header corrected_header() const {
    io::encoding_header c = h_;
    c.trajectory = "cartesian";
    return c;
  }

  void add(io::acquisition&& a, const std::function<void(io::acquisition&&)>& emit) {
    using io::acq_flag;
    const index_t index = added_++;
    // Navigators first: Siemens marks its PHASCOR scans RTFEEDBACK as well.
    if (!a.has(acq_flag::is_phasecorr_data) &&
        (a.has(acq_flag::is_noise_measurement) || a.has(acq_flag::is_navigation_data) ||
        a.has(acq_flag::is_dummyscan_data) || a.has(acq_flag::is_rtfeedback_data) ||
         a.has(acq_flag::is_hpfeedback_data) || a.has(acq_flag::is_surfacecoilcorrectionscan_data))) {
      emit(std::move(a));
      return;
    }
    const bool reversed = a.has(acq_flag::is_reverse);
    array<cfloat, 2> img = readout_image(a, index);
    const nav_key key{a.idx.slice, a.has(acq_flag::is_parallel_calibration) ||
                                       a.has(acq_flag::is_parallel_calibration_and_imaging)};
    if (a.has(acq_flag::is_phasecorr_data)) {
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
    a.data = std::move(img);  // readout image (coils, N) until emitted
    a.flags &= ~io::flag_bit(acq_flag::is_reverse);
    a.discard_pre = a.discard_post = 0;
    a.center_sample = static_cast<std::uint16_t>(n_ / 2);
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
    if (opt_.fit == ghost_fit::per_slice && navigators_ == 0 && emitted_ == 0) referenceless_ = true;
    if (opt_.fit == ghost_fit::scan_wide || referenceless_) {
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
    if (referenceless_) {
      fit_from_echoes();
      for (auto& [a, reversed] : held_) {
        const auto it = echo_fits_.find(echo_key(a));
        if (it != echo_fits_.end()) apply_nyquist_phase(a.data.data(), a.channels(), n_, it->second, reversed);
        to_kspace_and_emit(std::move(a), emit);
      }
      held_.clear();
    }
    if (opt_.fit == ghost_fit::scan_wide) {
      std::vector<std::vector<std::complex<double>>> profiles = std::move(pooled_);
      for (auto& [key, set] : pending_) {
        auto c = profile(set);
        if (!c.empty()) profiles.push_back(std::move(c));
      }
      pending_.clear();
      scan_fit_ = fit_nyquist_phase(profiles);
      for (auto& [a, reversed] : held_) {
        apply_nyquist_phase(a.data.data(), a.channels(), n_, scan_fit_, reversed);
        to_kspace_and_emit(std::move(a), emit);
      }
      held_.clear();
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

  array<cfloat, 2> readout_image(const io::acquisition& a, index_t index) {
    const index_t total = a.samples(), ns = total - a.discard_pre - a.discard_post;
    LARMOR_CHECK_DATA(ns >= 2 && a.channels() >= 1, "epi: acquisition ", index, " has ", a.channels(),
                      " channels and ", ns, " samples after discards");
    const double dwell = h_.epi->dwell_us > 0 ? h_.epi->dwell_us : a.sample_time_us;
    LARMOR_CHECK_DATA(dwell > 0, "epi: acquisition ", index, ": no dwell time (trapezoid or sample_time_us)");
    const auto& r = regridder(ns, dwell, a.has(io::acq_flag::is_reverse), a.discard_pre, total);
    array<cfloat, 2> img(extents<2>{a.channels(), n_}, uninitialized);
    r.to_image(a.data.data() + a.discard_pre, a.channels(), total, img.data());
    return img;
  }

  std::vector<std::complex<double>> profile(const nav_set& s) const {
    if (s.first.size() == 0 || s.second.size() == 0 || s.first.shape() != s.second.shape()) return {};
    return nyquist_correlation(s.first.data(), s.second.data(), s.first.shape(0), n_);
  }

  void to_kspace_and_emit(io::acquisition&& a, const std::function<void(io::acquisition&&)>& emit) {
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
  index_t n_ = 0, added_ = 0, navigators_ = 0, emitted_ = 0;
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
