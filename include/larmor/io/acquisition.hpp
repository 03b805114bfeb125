// larmor/io/acquisition.hpp — the scanner-independent raw data model every reader produces.
//
// A raw_dataset is the encoding header plus the acquisitions (readout lines) in the order the
// scanner recorded them. The ISMRMRD reader and the Siemens twix reader both fill it; the Cartesian
// chain (acquisitions -> k-space buffers -> images) only ever sees this. Field meanings follow the
// ISMRMRD 1.x standard (ismrmrd.h / ismrmrd.xsd); flag bit numbers are ISMRMRD's (1-based bit n is
// the value 1 << (n-1)). Everything here is plain data: no HDF5, no file handles.
#pragma once

#include <algorithm>
#include <cctype>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "larmor/core/array.hpp"

namespace larmor::io {

// ISMRMRD acquisition flags (bit numbers as in ismrmrd.h).
enum class acq_flag : unsigned {
  first_in_slice = 7,
  last_in_slice = 8,
  last_in_repetition = 14,
  is_noise_measurement = 19,
  is_parallel_calibration = 20,
  is_parallel_calibration_and_imaging = 21,
  is_reverse = 22,
  is_navigation_data = 23,
  is_phasecorr_data = 24,
  last_in_measurement = 25,
  is_hpfeedback_data = 26,
  is_dummyscan_data = 27,
  is_rtfeedback_data = 28,
  is_surfacecoilcorrectionscan_data = 29,
};

inline constexpr std::uint64_t flag_bit(acq_flag f) { return std::uint64_t{1} << (static_cast<unsigned>(f) - 1); }

// Readouts that are not imaging data and that no reconstruction places in k-space: navigators, EPI
// phase-correction echoes, dummy scans (no steady state yet), real-time and high-performance feedback,
// surface-coil correction scans. The one list for every reader and chain step (the ISMRMRD assembler, the
// non-Cartesian assembler, the EPI filter, the twix matrix guess); noise scans are handled apart.
inline constexpr std::uint64_t auxiliary_readout_flags =
    flag_bit(acq_flag::is_navigation_data) | flag_bit(acq_flag::is_phasecorr_data) |
    flag_bit(acq_flag::is_dummyscan_data) | flag_bit(acq_flag::is_rtfeedback_data) |
    flag_bit(acq_flag::is_hpfeedback_data) | flag_bit(acq_flag::is_surfacecoilcorrectionscan_data);

// Loop counters of one readout (ISMRMRD EncodingCounters).
struct encoding_counters {
  std::uint16_t kspace_encode_step_1 = 0;  // phase-encode line (y)
  std::uint16_t kspace_encode_step_2 = 0;  // partition (z) in 3D
  std::uint16_t average = 0, slice = 0, contrast = 0, phase = 0, repetition = 0, set = 0, segment = 0;
};

struct acquisition {
  std::uint64_t flags = 0;
  std::uint32_t scan_counter = 0;
  std::uint16_t discard_pre = 0, discard_post = 0;  // samples to drop at each end of the readout
  std::uint16_t center_sample = 0;                  // index of k-space centre within the readout
  float sample_time_us = 0;                          // dwell time in microseconds
  encoding_counters idx;
  std::array<float, 3> position{}, read_dir{}, phase_dir{}, slice_dir{}, patient_table_position{};
  // The scanner's clock when the readout was measured, and the physiology (ECG, pulse, respiration) clocks; in
  // ticks of 2.5 ms on Siemens scanners (the acquisition stamp counts from midnight), 0 when not recorded.
  std::uint32_t acquisition_time_stamp = 0;
  std::array<std::uint32_t, 3> physiology_time_stamp{};
  array<cfloat, 2> data;  // (channels, samples), as recorded (before discard, before reversal)
  // Per-sample k-space position (samples, trajectory_dimensions) as ISMRMRD stores it (kx, ky[, kz];
  // units not fixed by the standard: recon/noncartesian_recon.hpp detects them); empty for Cartesian data.
  array<float, 2> traj;

  bool has(acq_flag f) const { return (flags & flag_bit(f)) != 0; }
  // A navigator, phase-correction, dummy, feedback or surface-coil correction readout (auxiliary_readout_flags).
  bool is_auxiliary() const { return (flags & auxiliary_readout_flags) != 0; }
  index_t channels() const { return data.shape(0); }
  index_t samples() const { return data.shape(1); }
};

// One axis of the encoding limits: minimum, maximum and centre index.
struct limit {
  std::uint16_t minimum = 0, maximum = 0, center = 0;
};

// The readout gradient lobe of an echo-planar (EPI) train: a trapezoid that ramps up, stays flat and ramps
// down, sampled by the ADC from acq_delay_us after the start of the ramp-up (ramp sampling: samples on the
// ramps are not equidistant in k). Times in microseconds. ISMRMRD carries it as the trajectoryDescription
// user parameters of Gadgetron's EPI reconstruction (identifier "ConventionalEPI"; userParameterLong
// rampUpTime, flatTopTime, rampDownTime, acqDelayTime, numSamples, etl, numberOfNavigators, echoSpacing;
// userParameterDouble dwellTime), Siemens twix as the protocol arrays alRegridRampupTime[0],
// alRegridFlattopTime[0], alRegridRampdownTime[0], alRegridDelaySamplesTime[0], aflRegridADCDuration[0],
// alRegridDestSamples[0], alRegridMode[0] and sRXSPEC.alDwellTime[0] (ns).
struct epi_trapezoid {
  float ramp_up_us = 0, flat_top_us = 0, ramp_down_us = 0;  // the gradient lobe
  float acq_delay_us = 0;                                    // ADC start after the start of the ramp-up
  float dwell_us = 0;                                        // ADC dwell time (0: the readouts' sample_time_us)
  std::uint32_t samples = 0;        // ADC samples per readout as the header states (0: unknown)
  std::uint32_t echo_train_length = 0, navigators = 0;  // etl, numberOfNavigators (0: unknown)
  float echo_spacing_us = 0;                                 // 0: unknown
  std::int32_t regrid_mode = -1;                             // Siemens alRegridMode (1: none, 2: trapezoid), -1 unknown
};

// The parts of the ISMRMRD XML header a reconstruction needs (one encoding).
struct encoding_header {
  std::array<std::uint16_t, 3> encoded_matrix{1, 1, 1};  // (x, y, z) as in the XML: readout first
  std::array<std::uint16_t, 3> recon_matrix{1, 1, 1};
  std::array<float, 3> encoded_fov_mm{}, recon_fov_mm{};
  std::optional<limit> e1, e2, slice, contrast, phase, repetition, set, average, segment;
  std::uint16_t accel_e1 = 1, accel_e2 = 1;  // parallelImaging accelerationFactor
  std::string calibration_mode;               // "embedded", "separate", "interleaved", "other", or ""
  std::string trajectory = "cartesian";
  std::string trajectory_identifier;           // trajectoryDescription identifier ("ConventionalEPI"), or ""
  std::optional<epi_trapezoid> epi;            // the EPI readout trapezoid when the header carries one
  std::uint16_t receiver_channels = 0;         // acquisitionSystemInformation, 0 if absent
  float system_field_strength_T = 0;
  std::string protocol_name;
  // measurementInformation: this scan's measurementID, and the IDs of the noise measurements it names in
  // measurementDependency (dependencyType "Noise"); a server keeps a noise scan's statistics under its ID.
  std::string measurement_id;
  std::vector<std::string> noise_dependency_ids;
  std::string device_id;  // acquisitionSystemInformation deviceID (the scanner's serial), or ""
  // Simultaneous multi-slice (multiband): slices excited together and the CAIPI FOV shift factor (slice k of a
  // group shifted by k * FOV / shift); 1 = single-band / no shift. From the ISMRMRD userParameters the
  // converters' parameter maps write (MB_factor, NMBSliceBands, MultiBandFactor, ...) or the Siemens protocol
  // (sSliceAcceleration.lMultiBandFactor / lFOVShiftFactor; CMRR MB sequences: NMBSliceBands,
  // alICEProgramPara[11] / [14]); docs/sms.md.
  std::uint16_t multiband_factor = 1, multiband_fov_shift = 1;
  // sequenceParameters TE (ms), one per contrast (echo) when the sequence has several; empty when not given.
  std::vector<float> echo_times_ms;
  // acquisitionSystemInformation coilLabel: the name of each channel by its number, "" where not given.
  std::vector<std::string> coil_labels;
};

// The channel of a body-coil reference among the receive channels: the first whose label names the body
// coil ("Body", "BODY", "BC", "BC0", ... as scanners write it), or -1.
inline index_t body_coil_channel(const encoding_header& h) {
  for (std::size_t c = 0; c < h.coil_labels.size(); ++c) {
    std::string l;
    for (char ch : h.coil_labels[c]) l += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const bool bc = l.size() >= 2 && l[0] == 'b' && l[1] == 'c' &&
                    std::all_of(l.begin() + 2, l.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)) != 0; });
    if (bc || l.find("body") != std::string::npos) return static_cast<index_t>(c);
  }
  return -1;
}

// The readout points kept when the readout oversampling is removed: the central
// round(Nx * reconFOVx / encodedFOVx) of the Nx encoded points (at least 1); all Nx when either FOV is
// missing or the recon FOV is not smaller by more than 0.1 %. One rule for kspace_assembler's crop and the
// EPI corrector's crop inside its product (epi/epi_corrector.hpp).
inline index_t kept_readout_points(const encoding_header& h) {
  const index_t nx = h.encoded_matrix[0];
  if (h.encoded_fov_mm[0] <= 0 || h.recon_fov_mm[0] <= 0 || h.recon_fov_mm[0] >= h.encoded_fov_mm[0] * 0.999f)
    return nx;
  const double points = static_cast<double>(nx) * h.recon_fov_mm[0] / h.encoded_fov_mm[0];
  const auto keep = static_cast<index_t>(std::lround(points));
  return std::clamp<index_t>(keep, 1, std::max<index_t>(nx, 1));
}

struct raw_dataset {
  encoding_header header;
  std::vector<acquisition> acquisitions;  // in acquisition order, noise scans included
  std::string source;                      // file path (for messages)
};

}  // namespace larmor::io
