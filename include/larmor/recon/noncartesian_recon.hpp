// larmor/recon/noncartesian_recon.hpp — non-Cartesian (radial, spiral, any per-sample trajectory) raw data
// -> images: the non-Cartesian counterpart of the Cartesian chain (recon/recon.hpp).
//
//   noncartesian_assembler as(header, source, options);
//   for each readout: as.add(acquisition[, traj]);        // noise scans, imaging readouts in any order
//   std::vector<io::image_record> images = as.finish();
//
// 1. Readouts are sorted into buffers per slice/contrast/phase/repetition/set (ISMRMRD loop counters);
//    noise-measurement scans (ACQ_IS_NOISE_MEASUREMENT) form the noise matrix; navigator, phase-correction,
//    feedback, dummy and surface-coil-correction scans are skipped; discard_pre/discard_post samples are
//    dropped (the trajectory with them). Reversed readouts need nothing: the trajectory says where each
//    sample is.
// 2. Trajectory. ISMRMRD stores per readout traj[sample][dim] (trajectory_dimensions values per sample,
//    axes kx, ky[, kz] in the order of the encoded matrix (x, y, z)) but does not fix the units. Three
//    conventions are in use:
//        cycles per FOV   k in [-N/2, N/2)        (BART, larmor's NUFFT)
//        normalised       k in [-0.5, 0.5)        (gpuNUFFT, Gadgetron, SigPy's mr.radial / N)
//        radians          k in [-pi, pi)          (MIRT / Fessler's NUFFT, torchkbnufft)
//    with N the encoded matrix of the axis. The units are detected from the extent of the whole data set:
//    unit u fits when rho_u = max_d max|k_d| c_u(N_d) / (N_d/2) lies in [0.35, 1.05] (c = 1, N_d, N_d/(2 pi)
//    to cycles per FOV). Exactly one unit must fit: none (a trajectory of 5 % of k-space) or several
//    (matrices below ~19, where N/2 and pi are alike) is refused with a DataError that asks for the units
//    to be stated (noncartesian_recon_options::units). In 2D (encoded z = 1) a third trajectory dimension
//    is ignored (Gadgetron's spiral and radial gadgets store the density weight there). 3D: three
//    trajectory dimensions (kooshball), or two with encoded z > 1: stack of stars, kz from
//    kspace_encode_step_1/2's partition counter (kspace_encode_step_2 - e2 centre, Cartesian in cycles).
// 3. Noise pre-whitening (coils/noise.hpp) when noise scans are present (options.prewhiten, options.noise).
// 3b. Gradient delays (options.gradient_delay, "auto"): when every readout of a 2D or stack-of-stars scan is a
//    spoke through the k-space centre, RING (nufft/gradient_delay.hpp) estimates the delay matrix S (in
//    samples, axes x and y of the encoded matrix) once per scan — from the first buffer reconstructed (its
//    central partition for stack of stars) — and every spoke's trajectory is shifted by dk S n before
//    gridding; progress reports S. "off" keeps the nominal trajectory; "ring" also refuses a trajectory
//    that is not radial. Spiral and 3D radial (kooshball) trajectories are left alone under "auto".
// 4. Per buffer, on the encoded matrix ([z,] y, x) with k in cycles per FOV (the NUFFT convention of
//    plan.hpp): density compensation (Pipe & Menon, density_compensation.hpp); gridded coil images
//    x_c = nufft_adjoint(w . y_c); coil maps per slice from the data — "espirit" (coils/espirit.hpp on the
//    centred FFT of the gridded coil images, i.e. on the gridded low-resolution k-space centre, calib 24)
//    or "inati" (coils/inati.hpp on the gridded coil images) — estimated once per slice and reused by every
//    contrast/repetition; then "cgsense" (noncartesian_sense.hpp: CG on A^H A x = A^H y, `bart pics -t`
//    without regularisation by default) or "gridding" (Roemer combination of the gridded coil images with
//    the maps, combine.hpp).
// 5. The recon matrix (crop or zero-padding interpolation, recon/recon_matrix.hpp), the magnitude (and the
//    complex image when options.output is not magnitude), geometry from the buffer's first readout,
//    recon FOV -> io::image_record, in buffer order (slice, contrast, phase, repetition, set).
// The scale: the NUFFT is unitary-normalised and the dcf is the k-space area per sample, so gridding and
// CG-SENSE give the image at the scale of the Cartesian chain's fftc-based images.
//
// Where the trajectory comes from: add(a, traj, dims) takes it explicitly; add(a) takes `a.traj` when
// io::acquisition has such a member ((samples, trajectory_dimensions), float, as ISMRMRD stores it) and
// otherwise refuses imaging readouts (the reader must supply the trajectory).
// describe_trajectory(header, acquisitions) / noncartesian_assembler::describe() give the one line that
// `larmor info` prints ("radial 2D, 25 readouts x 256 samples, max |k| 0.4961, units normalised
// [-0.5, 0.5) (detected)").
// Threads: those of the NUFFT, ESPIRiT and CG steps. The library never prints: progress goes through
// options.progress.
// Compiled in larmor_recon (src/recon/noncartesian_recon.cpp); this header declares the assembler only.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "larmor/coils/noise.hpp"
#include "larmor/core/array.hpp"
#include "larmor/io/acquisition.hpp"
#include "larmor/io/image_record.hpp"
#include "larmor/nufft/gradient_delay.hpp"

namespace larmor {

enum class trajectory_units { automatic, cycles_per_fov, normalised, radians };

inline const char* trajectory_units_name(trajectory_units u) {
  switch (u) {
    case trajectory_units::automatic: return "auto";
    case trajectory_units::cycles_per_fov: return "cycles";
    case trajectory_units::normalised: return "normalised";
    case trajectory_units::radians: return "radians";
  }
  return "?";
}

// "auto" | "cycles" | "normalised" ("normalized") | "radians"; anything else: InvalidArgument.
inline trajectory_units parse_trajectory_units(const std::string& s) {
  if (s == "auto") return trajectory_units::automatic;
  if (s == "cycles") return trajectory_units::cycles_per_fov;
  if (s == "normalised" || s == "normalized") return trajectory_units::normalised;
  if (s == "radians") return trajectory_units::radians;
  LARMOR_CHECK_ARG(false, "trajectory units must be auto, cycles, normalised or radians, got '", s, "'");
  return trajectory_units::automatic;
}

// Whether the chain of this header is non-Cartesian (per-sample trajectory): radial, golden angle, spiral,
// other.
inline bool is_noncartesian(const io::encoding_header& h) {
  return h.trajectory == "radial" || h.trajectory == "goldenangle" || h.trajectory == "spiral" ||
         h.trajectory == "other";
}

struct noncartesian_recon_options {
  std::string method = "cgsense";  // "cgsense" | "gridding"
  std::string maps = "espirit";    // "espirit" | "inati"
  trajectory_units units = trajectory_units::automatic;
  bool prewhiten = true;           // when noise scans are present
  prewhitener_options noise;       // scale convention (BART's unit variance by default)
  float reg = 0;                   // CG-SENSE Tikhonov lambda (bart pics -l2)
  int iters = 30;                  // CG-SENSE iterations (bart pics -i default)
  double eps = 1e-4;               // NUFFT tolerance
  // Density compensation for gridding and the maps: "auto" (the analytic ramp for 2D radial/golden-angle
  // headers, Pipe-Menon otherwise), "ramp", "pipe-menon". Pipe-Menon cannot weight the outer k-space of
  // few spokes (far sparser there than the kernel width); the ramp can.
  std::string dcf = "auto";
  int dcf_iters = 20;              // Pipe-Menon iterations
  index_t calib = 24;              // ESPIRiT calibration region per axis
  std::string gradient_delay = "auto";  // "auto" | "ring" | "off" (step 3b)
  io::image_type output = io::image_type::magnitude;
  std::function<void(const std::string&)> progress;  // optional progress messages
};

// What the trajectory of a data set looks like (for `larmor info` and messages).
struct trajectory_summary {
  std::string trajectory;                 // the header's ("radial", "spiral", ...)
  int dims = 0;                           // spatial dimensions of the reconstruction (2 or 3)
  index_t trajectory_dimensions = 0;      // values per sample as stored
  index_t readouts = 0, samples = 0;      // imaging readouts, samples per readout (of the first, after discards)
  std::array<double, 3> max_abs_k{};      // max |k| per axis (x, y, z), as stored
  trajectory_units units = trajectory_units::automatic;  // resolved units (automatic: unresolved)
  bool stated = false;                    // units given by the caller, not detected
  std::string problem;                    // why the units could not be resolved, or ""
  // "radial 2D, 25 readouts x 256 samples, max |k| 0.4961, units normalised [-0.5, 0.5) (detected)"
  std::string describe() const;
};

// The trajectory of a data set in one line (for `larmor info`): the acquisitions' own trajectories (a.traj,
// when io::acquisition has one), units detected unless stated. Never throws for unresolved units: the
// summary says why.
trajectory_summary describe_trajectory(const io::encoding_header& h, const std::vector<io::acquisition>& acqs,
                                       trajectory_units units = trajectory_units::automatic);

class noncartesian_assembler {
 public:
  // Checks the options and the encoded matrix (a header that leaves y at 1: N_y from the encoded FOV).
  noncartesian_assembler(const io::encoding_header& h, std::string source, noncartesian_recon_options opt = {});

  // One readout; imaging readouts take the trajectory from a.traj (when io::acquisition has one).
  void add(const io::acquisition& a);
  // One readout with its trajectory traj[s * dims + d] (samples x dims, ISMRMRD order kx, ky[, kz]).
  void add(const io::acquisition& a, const float* traj, index_t dims);

  index_t added() const { return added_; }
  index_t coils() const { return coils_; }

  // The trajectory as seen so far, units resolved (or the reason they are not).
  trajectory_summary summary() const;
  std::string describe() const { return summary().describe(); }

  // Reconstructs every buffer (see the top of the file); the assembler is empty afterwards.
  std::vector<io::image_record> finish();
  // After finish(): what step 3b did ("" when it did not apply), e.g. "gradient delay S_xx 0.512, ...".
  const std::string& gradient_delay_note() const { return delay_note_; }

 private:
  using key_t = std::tuple<std::uint16_t, std::uint16_t, std::uint16_t, std::uint16_t, std::uint16_t>;
  struct buffer {
    std::vector<std::vector<cfloat>> samples;  // per coil, all readouts after one another
    std::vector<float> traj;                   // (M, D) as stored, axes (x, y[, z])
    io::acquisition first;                     // header of the first readout (no samples)
    bool stacked = false;
  };

  index_t e2_centre() const { return h_.e2 ? h_.e2->center : N_[2] / 2; }
  // One buffer -> its image (1 or z, y, x) on the encoded matrix: dcf, gridding, maps, CG-SENSE or combine.
  template <std::size_t D>
  array<cfloat, 3> reconstruct(const key_t& key, buffer& b, const array<cfloat, 2>& W, trajectory_units units);
  // Step 3b on one buffer's coords (M, D) in cycles per FOV, larmor axis order, and its samples y (coils, M).
  template <std::size_t D>
  void correct_gradient_delay(std::vector<float>& coords, const array<cfloat, 2>& y);

  io::encoding_header h_;
  std::string source_;
  noncartesian_recon_options opt_;
  std::array<index_t, 3> N_{};
  std::string matrix_note_;  // how the in-plane matrix was chosen when the header left y at 1
  index_t added_ = 0, coils_ = 0, noise_samples_ = 0;
  std::vector<array<cfloat, 2>> noise_;
  std::map<key_t, buffer> buffers_;
  std::map<std::uint16_t, array<cfloat, 1>> maps_;  // per slice, (coils, N...) flattened
  trajectory_summary summary_;
  bool summary_only_ = false;
  bool delay_tried_ = false;                 // step 3b: estimated (or found not to apply) once per scan
  std::optional<gradient_delay_estimate> delay_;
  std::string delay_note_;

  friend trajectory_summary describe_trajectory(const io::encoding_header&, const std::vector<io::acquisition>&,
                                                trajectory_units);
};

}  // namespace larmor
