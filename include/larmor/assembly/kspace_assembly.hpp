// larmor/assembly/kspace_assembly.hpp — Cartesian acquisitions -> k-space buffers.
//
// Every readout of a raw_dataset (acquisition.hpp) is sorted by what its ISMRMRD flags and counters say:
//   noise-adjust scans (ACQ_IS_NOISE_MEASUREMENT)       -> the noise matrix (coils, samples)
//   navigator, phase-correction, dummy, RT/HP feedback,  -> skipped (counted)
//   surface-coil-correction scans
//   ACQ_IS_PARALLEL_CALIBRATION                          -> the calibration buffer only
//   ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING              -> calibration and imaging buffers
//   everything else                                      -> the imaging buffer of its
//                                                           (slice, contrast, phase, repetition, set)
// Placement of one readout (Nx, Ny, Nz = encoded matrix):
//   samples: drop discard_pre/discard_post; the k-space centre sample (center_sample) lands at Nx/2 — an
//            asymmetric echo fills only part of the line. A readout with ACQ_IS_REVERSE ran from +kx to
//            -kx: its samples are flipped (recorded sample s of ns to position ns-1-s), and its
//            center_sample counts in +kx order, i.e. the number a forward readout of the same echo carries
//            (what Siemens' twix kSpaceCentreColumn and siemens_to_ismrmrd write, and how Gadgetron flips
//            reflected lines): among the kept samples it is center_sample - discard_post. A symmetric ADC
//            window crosses kx = 0 at the same point for both polarities, so a symmetric reversed readout
//            is the plain mirror of a forward one (measured on the real EPI scan: forward and reversed echoes
//            0.17 samples apart after this placement, 1.17 with the "centre as recorded" one used before).
//            No centre recorded (0) on a readout of Nx samples: symmetric, centre Nx/2;
//   line:    y = kspace_encode_step_1 + Ny/2 - limits.e1.center (partial Fourier), likewise
//            z = kspace_encode_step_2 + Nz/2 - limits.e2.center in 3D.
// Averages: each line is the mean of the readouts that acquired it. With calibrationMode "interleaved"
// (no dedicated ACS lines: the repetitions sample complementary lines) the calibration buffer is the union of all repetitions, each line the mean
// of the repetitions that acquired it. Readout oversampling (encoded FOV x > recon FOV x) is removed per
// readout as it arrives: the readout placed on its full line of Nx, inverse FFT along x, the central
// Nx * reconFOVx / encodedFOVx samples kept, FFT back, added to a buffer of the kept width. The
// transforms are linear and act on each line alone, so this equals the crop of the finished buffer,
// and the buffers never exist at the oversampled size (a 64-coil 192 x 192 x 96 scan with 2x
// oversampling: 1.7 GiB instead of 3.4 GiB held while reading).
// Buffers are (coils, z, y, x) complex float. Bad data (channel count changing, an index beyond the
// encoding limits, NaN samples, a readout that does not fit) raises DataError naming the acquisition.
// Layer: below both the readers (io/ismrmrd_kspace.hpp reads a file straight into it) and the chain
// (recon/); it needs only the raw-data model (io/acquisition.hpp) and the FFT. Compiled in
// larmor_algorithms (src/assembly/kspace_assembly.cpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "larmor/core/array.hpp"
#include "larmor/io/acquisition.hpp"

namespace larmor {

// The loop indices that select one image (averages and segments are summed into it).
struct buffer_key {
  std::uint16_t slice = 0, contrast = 0, phase = 0, repetition = 0, set = 0;
  bool operator<(const buffer_key& o) const {
    return std::tie(slice, contrast, phase, repetition, set) < std::tie(o.slice, o.contrast, o.phase, o.repetition, o.set);
  }
  bool operator==(const buffer_key& o) const {
    return std::tie(slice, contrast, phase, repetition, set) == std::tie(o.slice, o.contrast, o.phase, o.repetition, o.set);
  }
};

struct kspace_buffer {
  buffer_key key;
  array<cfloat, 4> kspace;          // (coils, z, y, x), readout oversampling removed
  std::shared_ptr<const io::acquisition> first;  // header of the first readout (geometry); no samples
  index_t lines = 0;                // readouts placed
  std::vector<std::uint16_t> readouts_per_line;  // (z, y): readouts averaged into each line
  // [readout_begin, readout_end): the readout samples (x, after oversampling removal) that some readout
  // acquired — narrower than x and off-centre for an asymmetric echo (partial Fourier along the readout).
  index_t readout_begin = 0, readout_end = 0;
};

struct assembled_kspace {
  std::vector<kspace_buffer> imaging;
  std::map<buffer_key, array<cfloat, 4>> calibration;  // key.repetition = 0; empty if none
  array<cfloat, 2> noise;                              // (coils, samples); empty if no noise scans
  float noise_dwell_us = 0, acquisition_dwell_us = 0;
  index_t coils = 0, noise_scans = 0, skipped = 0, calibration_lines = 0;
  index_t acceleration_y = 1, acceleration_z = 1;     // from the header
};

struct assembly_options {
  bool remove_oversampling = true;
  // The most bytes of k-space buffers open at once (imaging and calibration); 0 = this machine's
  // physical memory. Counts what is open now: a buffer taken out (take, take_calibration) no longer
  // counts, so a stream of any length passes as long as what it holds at once fits.
  double memory_budget_bytes = 0;
};

namespace detail {

// Physical memory of this machine in bytes (sysconf), or 2^40 when unknown.
double physical_memory_bytes();

}  // namespace detail

// The same, one readout at a time: construct with the header, add() every acquisition in recording order,
// then finish(). A reader can hand readouts over as it reads them, so the list of acquisitions (as large
// as the k-space itself) never has to exist beside the k-space buffers. assemble_kspace is this loop.
class kspace_assembler {
 public:
  kspace_assembler(const io::encoding_header& h, std::string source, const assembly_options& opt = {});

  // Places one readout (acquisition number `added()` in messages).
  void add(const io::acquisition& a);

  index_t added() const { return added_; }

  // Bytes of the k-space buffers open now (imaging and calibration).
  double open_bytes() const { return open_bytes_; }

 private:
  double buffer_bytes(index_t nc) const {
    return static_cast<double>(nc) * static_cast<double>(nz_) * static_cast<double>(ny_) *
           static_cast<double>(readout_keep()) * sizeof(cfloat);
  }

  // Refuses a buffer that memory cannot hold beside the buffers open now (a corrupt or hostile header
  // that claims a huge matrix, or readouts that open thousands of loop indices at once), before
  // allocating it. take() and take_calibration() give its bytes back.
  void reserve_buffer(index_t acquisition, index_t nc);
  index_t open_buffer_count() const { return static_cast<index_t>(imaging_.size() + calib_.size()); }

 public:

  // --- Taking buffers out one at a time (recon_session: images as their data completes) ---------------

  // The keys of the imaging buffers still open, in key order.
  std::vector<buffer_key> open_buffers() const {
    std::vector<buffer_key> keys;
    for (const auto& [k, b] : imaging_) keys.push_back(k);
    return keys;
  }
  bool is_open(const buffer_key& k) const { return imaging_.count(k) > 0; }

  // Imaging buffer `k`, finished (averages divided out, readout oversampling removed, the acquired readout
  // extent rescaled) and removed from the assembler: later readouts with its indices open a new buffer.
  kspace_buffer take(const buffer_key& k);

  // The keys of the calibration buffers (repetition 0) received so far.
  std::vector<buffer_key> calibration_keys() const {
    std::vector<buffer_key> keys;
    for (const auto& [k, c] : calib_) keys.push_back(k);
    return keys;
  }

  // Calibration buffer `k`, finished like an imaging buffer (each line the mean of the readouts that
  // acquired it, oversampling removed) and removed; later calibration readouts with its indices are dropped
  // (counted in calibration_readouts_dropped()): the calibration a slice's images were made with stays it.
  array<cfloat, 4> take_calibration(const buffer_key& k);
  index_t calibration_readouts_dropped() const { return calib_dropped_; }

  // The noise readouts so far as one (coils, samples) matrix (empty if none), which the assembler forgets.
  array<cfloat, 2> take_noise();

  // What finish() returns besides the buffers: counts, dwell times, acceleration from the header.
  const assembled_kspace& summary() const { return out_; }

  // The buffers: noise matrix, readout oversampling removed, interleaved calibration averaged.
  assembled_kspace finish() &&;

 private:
  // Readout samples kept after oversampling removal (encoded FOV x > recon FOV x).
  index_t readout_keep() const { return opt_.remove_oversampling ? io::kept_readout_points(h_) : nx_; }

  io::encoding_header h_;
  std::string source_;
  assembly_options opt_;
  index_t nx_ = 1, ny_ = 1, nz_ = 1, y_shift_ = 0, z_shift_ = 0, added_ = 0;
  double open_bytes_ = 0;  // bytes of the buffers in imaging_ and calib_
  bool interleaved_ = false;
  assembled_kspace out_;
  std::map<buffer_key, kspace_buffer> imaging_;
  std::map<buffer_key, std::pair<array<cfloat, 4>, std::vector<std::uint16_t>>> calib_;  // sum, count per line
  std::vector<array<cfloat, 2>> noise_;  // (coils, samples) of each noise scan
  std::vector<buffer_key> closed_calib_;  // calibration buffers taken: their later readouts are dropped
  index_t calib_dropped_ = 0;
};

// Every acquisition of raw through one kspace_assembler.
assembled_kspace assemble_kspace(const io::raw_dataset& raw, const assembly_options& opt = {});

}  // namespace larmor
