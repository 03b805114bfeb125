// larmor/nufft/noncartesian_recon.hpp — non-Cartesian (radial, spiral, any per-sample trajectory) raw data
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
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "larmor/coils/combine.hpp"
#include "larmor/coils/espirit.hpp"
#include "larmor/coils/inati.hpp"
#include "larmor/coils/noise.hpp"
#include "larmor/fft/fft.hpp"
#include "larmor/io/acquisition.hpp"
#include "larmor/io/image_record.hpp"
#include "larmor/nufft/density_compensation.hpp"
#include "larmor/nufft/noncartesian_sense.hpp"
#include "larmor/recon/recon_matrix.hpp"

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
  io::image_type output = io::image_type::magnitude;
  std::function<void(const std::string&)> progress;  // optional progress messages
};

namespace detail {

// a.traj when io::acquisition has that member (forward compatible with a reader that fills it).
template <class A, class = void>
struct has_traj_member : std::false_type {};
template <class A>
struct has_traj_member<A, std::void_t<decltype(std::declval<const A&>().traj)>> : std::true_type {};

// (pointer, dims) of a's trajectory, or (nullptr, 0).
template <class A>
std::pair<const float*, index_t> acquisition_trajectory(const A& a) {
  if constexpr (has_traj_member<A>::value) {
    if (a.traj.size() == 0) return {nullptr, 0};
    return {a.traj.data(), a.traj.shape(1)};
  } else {
    (void)a;
    return {nullptr, 0};
  }
}


// Factor from unit u to cycles per FOV on an axis of N samples.
inline double to_cycles(trajectory_units u, double N) {
  constexpr double pi = 3.14159265358979323846;
  switch (u) {
    case trajectory_units::normalised: return N;
    case trajectory_units::radians: return N / (2 * pi);
    default: return 1.0;
  }
}

// The units whose range the extent max_abs (x, y, z) fits on the encoded matrix N (x, y, z), axes < dims.
inline std::vector<trajectory_units> fitting_units(const std::array<double, 3>& max_abs, const std::array<index_t, 3>& N,
                                                   int dims) {
  std::vector<trajectory_units> out;
  for (auto u : {trajectory_units::cycles_per_fov, trajectory_units::normalised, trajectory_units::radians}) {
    double rho = 0;
    for (int d = 0; d < dims; ++d) {
      const double n = static_cast<double>(std::max<index_t>(1, N[static_cast<std::size_t>(d)]));
      if (n < 2) continue;  // an axis of one sample says nothing
      rho = std::max(rho, max_abs[static_cast<std::size_t>(d)] * to_cycles(u, n) / (n / 2));
    }
    if (rho >= 0.35 && rho <= 1.05) out.push_back(u);
  }
  return out;
}

inline std::string fmt_k(double v) {
  std::ostringstream s;
  s.precision(4);
  s << v;
  return s.str();
}

inline const char* units_range(trajectory_units u) {
  switch (u) {
    case trajectory_units::cycles_per_fov: return "cycles/FOV [-N/2, N/2)";
    case trajectory_units::normalised: return "normalised [-0.5, 0.5)";
    case trajectory_units::radians: return "radians [-pi, pi)";
    default: return "auto";
  }
}

}  // namespace detail

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
  std::string describe() const {
    std::ostringstream s;
    s << trajectory << " " << dims << "D, " << readouts << " readouts x " << samples << " samples";
    if (trajectory_dimensions == 0) return s.str() + ", no per-sample trajectory";
    s << ", max |k| " << detail::fmt_k(std::max({max_abs_k[0], max_abs_k[1], max_abs_k[2]}));
    if (units == trajectory_units::automatic) return s.str() + ", units unresolved: " + problem;
    s << ", units " << detail::units_range(units) << (stated ? " (stated)" : " (detected)");
    return s.str();
  }
};

class noncartesian_assembler {
 public:
  noncartesian_assembler(const io::encoding_header& h, std::string source, noncartesian_recon_options opt = {})
      : h_(h), source_(std::move(source)), opt_(std::move(opt)) {
    LARMOR_CHECK_ARG(opt_.method == "cgsense" || opt_.method == "gridding",
                     "noncartesian recon: method must be cgsense or gridding, got '", opt_.method, "'");
    LARMOR_CHECK_ARG(opt_.maps == "espirit" || opt_.maps == "inati",
                     "noncartesian recon: maps must be espirit or inati, got '", opt_.maps, "'");
    LARMOR_CHECK_ARG(opt_.dcf == "auto" || opt_.dcf == "ramp" || opt_.dcf == "pipe-menon",
                     "noncartesian recon: dcf must be auto, ramp or pipe-menon, got '", opt_.dcf, "'");
    LARMOR_CHECK_ARG(opt_.iters >= 1 && opt_.dcf_iters >= 1 && opt_.eps > 0 && opt_.eps < 1,
                     "noncartesian recon: iters and dcf_iters must be >= 1 and eps in (0, 1)");
    for (std::size_t d = 0; d < 3; ++d) N_[d] = std::max<index_t>(1, h.encoded_matrix[d]);
    LARMOR_CHECK_DATA(N_[0] >= 2, "noncartesian recon: ", source_, ": encoded matrix x = ", N_[0], " is too small");
    // A header that leaves y at 1 (radial and spiral headers often do): the in-plane matrix follows the
    // encoded field of view, N_y = N_x FOV_y / FOV_x (square only when the FOV is), and the summary says so.
    if (N_[1] < 2) {
      const double fx = h.encoded_fov_mm[0], fy = h.encoded_fov_mm[1];
      N_[1] = fx > 0 && fy > 0 ? std::max<index_t>(2, static_cast<index_t>(std::lround(static_cast<double>(N_[0]) * fy / fx)))
                               : N_[0];
      matrix_note_ = "encoded matrix y not given: " + std::to_string(N_[1]) +
                     (fx > 0 && fy > 0 ? " from the encoded FOV (" + std::to_string(fy) + " / " + std::to_string(fx) + " mm of x)"
                                       : std::string(" (square: the header has no encoded FOV)"));
    }
    summary_.trajectory = h.trajectory;
    summary_.dims = N_[2] > 1 ? 3 : 2;
    summary_.units = opt_.units;
    summary_.stated = opt_.units != trajectory_units::automatic;
  }

  // One readout; imaging readouts take the trajectory from a.traj (when io::acquisition has one).
  void add(const io::acquisition& a) {
    const auto t = detail::acquisition_trajectory(a);
    add(a, t.first, t.second);
  }

  // One readout with its trajectory traj[s * dims + d] (samples x dims, ISMRMRD order kx, ky[, kz]).
  void add(const io::acquisition& a, const float* traj, index_t dims) {
    using io::acq_flag;
    const index_t i = added_++;
    const index_t nc = a.channels();
    LARMOR_CHECK_DATA(nc >= 1, "noncartesian recon: ", source_, ": acquisition ", i, " has no channels");
    if (coils_ == 0) coils_ = nc;
    LARMOR_CHECK_DATA(nc == coils_, "noncartesian recon: ", source_, ": acquisition ", i, " has ", nc,
                      " channels, earlier ones ", coils_);
    for (const cfloat& v : a.data)
      LARMOR_CHECK_DATA(std::isfinite(v.real()) && std::isfinite(v.imag()), "noncartesian recon: ", source_,
                        ": acquisition ", i, " holds NaN or Inf samples");
    if (a.has(acq_flag::is_noise_measurement)) {
      noise_.push_back(a.data);
      noise_samples_ += a.samples();
      return;
    }
    if (a.is_auxiliary()) return;
    LARMOR_CHECK_DATA(traj != nullptr && dims >= 1, "noncartesian recon: ", source_, ": acquisition ", i,
                      " carries no trajectory (ISMRMRD traj with trajectory_dimensions >= 2 is needed for '",
                      h_.trajectory, "' data)");
    const int D = summary_.dims;
    const bool stack = D == 3 && dims == 2;  // stack of stars: kz from the partition counter
    LARMOR_CHECK_DATA(dims >= 2 && (D == 2 || dims >= 3 || stack), "noncartesian recon: ", source_,
                      ": acquisition ", i, " has ", dims, " trajectory dimensions for a ", D, "D encoding");
    if (summary_.trajectory_dimensions == 0) summary_.trajectory_dimensions = dims;
    const index_t ns = a.samples() - a.discard_pre - a.discard_post;
    LARMOR_CHECK_DATA(ns > 0, "noncartesian recon: ", source_, ": acquisition ", i, " discards all of its ",
                      a.samples(), " samples");
    const key_t key{a.idx.slice, a.idx.contrast, a.idx.phase, a.idx.repetition, a.idx.set};
    auto it = buffers_.find(key);
    if (it == buffers_.end()) {
      buffer b;
      b.samples.resize(static_cast<std::size_t>(nc));
      b.first = a;
      b.first.data = array<cfloat, 2>();
      it = buffers_.emplace(key, std::move(b)).first;
    }
    buffer& b = it->second;
    for (index_t c = 0; c < nc; ++c) {
      const cfloat* src = a.data.data() + c * a.samples() + a.discard_pre;
      b.samples[static_cast<std::size_t>(c)].insert(b.samples[static_cast<std::size_t>(c)].end(), src, src + ns);
    }
    const float kz_stack =
        stack ? static_cast<float>(static_cast<int>(a.idx.kspace_encode_step_2) - static_cast<int>(e2_centre()))
              : 0.f;
    for (index_t s = 0; s < ns; ++s) {
      const float* k = traj + (s + a.discard_pre) * dims;
      std::array<float, 3> v{k[0], k[1], D == 3 ? (stack ? kz_stack : k[2]) : 0.f};
      for (int d = 0; d < D; ++d) {
        LARMOR_CHECK_DATA(std::isfinite(v[static_cast<std::size_t>(d)]), "noncartesian recon: ", source_,
                          ": acquisition ", i, " has a NaN or Inf trajectory value");
        // the stacked kz is Cartesian in cycles already: it does not enter the unit detection
        if (!(stack && d == 2))
          summary_.max_abs_k[static_cast<std::size_t>(d)] =
              std::max(summary_.max_abs_k[static_cast<std::size_t>(d)], std::abs(double(v[static_cast<std::size_t>(d)])));
      }
      b.traj.insert(b.traj.end(), v.begin(), v.begin() + D);
    }
    b.stacked = stack;
    if (summary_.readouts == 0) summary_.samples = ns;
    ++summary_.readouts;
    if (summary_only_) b = buffer{{}, {}, b.first, stack};  // describe_trajectory: the extent is all it needs
  }

  index_t added() const { return added_; }
  index_t coils() const { return coils_; }

  // The trajectory as seen so far, units resolved (or the reason they are not).
  trajectory_summary summary() const {
    trajectory_summary s = summary_;
    if (s.units == trajectory_units::automatic && s.trajectory_dimensions > 0) {
      const auto fit = detail::fitting_units(s.max_abs_k, N_, s.dims);
      if (fit.size() == 1) {
        s.units = fit[0];
      } else {
        std::ostringstream why;
        why << "max |k| " << detail::fmt_k(std::max({s.max_abs_k[0], s.max_abs_k[1], s.max_abs_k[2]}))
            << " on an encoded matrix of " << N_[0] << " x " << N_[1] << (s.dims == 3 ? " x " : "")
            << (s.dims == 3 ? std::to_string(N_[2]) : std::string()) << " fits ";
        if (fit.empty()) {
          why << "none of cycles/FOV [-N/2, N/2), normalised [-0.5, 0.5) and radians [-pi, pi)";
        } else {
          why << "several units (";
          for (std::size_t j = 0; j < fit.size(); ++j) why << (j ? ", " : "") << detail::units_range(fit[j]);
          why << ")";
        }
        why << "; state the units (cycles, normalised or radians)";
        s.problem = why.str();
      }
    }
    return s;
  }
  std::string describe() const { return summary().describe(); }

  // Reconstructs every buffer (see the top of the file); the assembler is empty afterwards.
  std::vector<io::image_record> finish() {
    auto say = [&](const std::string& s) {
      if (opt_.progress) opt_.progress(s);
    };
    LARMOR_CHECK_DATA(!buffers_.empty(), "noncartesian recon: ", source_, ": no imaging readouts (only noise, "
                      "navigator or calibration scans)");
    const auto s = summary();
    LARMOR_CHECK_DATA(s.units != trajectory_units::automatic, "noncartesian recon: ", source_,
                      ": trajectory units: ", s.problem);
    say("trajectory: " + s.describe());
    if (!matrix_note_.empty()) say(matrix_note_);
    array<cfloat, 2> W;
    if (opt_.prewhiten && !noise_.empty()) {
      array<cfloat, 2> nm(extents<2>{coils_, noise_samples_}, uninitialized);
      index_t off = 0;
      for (const auto& n : noise_) {
        const index_t m = n.shape(1);
        LARMOR_CHECK_DATA(n.shape(0) == coils_, "noncartesian recon: ", source_, ": a noise scan has ", n.shape(0),
                          " channels, the imaging readouts ", coils_);
        for (index_t c = 0; c < coils_; ++c) std::copy(n.data() + c * m, n.data() + (c + 1) * m, nm.data() + c * noise_samples_ + off);
        off += m;
      }
      say("noise pre-whitening from " + std::to_string(noise_.size()) + " noise scans");
      W = noise_prewhitener(nm.cview(), opt_.noise);
      noise_.clear();
    }
    std::vector<io::image_record> out;
    index_t count = 0;
    const index_t total = static_cast<index_t>(buffers_.size());
    for (auto& [key, b] : buffers_) {
      say("image " + std::to_string(count + 1) + "/" + std::to_string(total) + " (" + opt_.method + ", " +
          opt_.maps + " maps)");
      const io::acquisition first = b.first;
      array<cfloat, 3> img = s.dims == 3 ? reconstruct<3>(key, b, W, s.units) : reconstruct<2>(key, b, W, s.units);
      b = buffer();  // free the samples before the next buffer
      io::image_record r = image_record_from(std::move(img), h_, s.dims == 3, opt_.output, &first);
      r.slice = std::get<0>(key);
      r.contrast = std::get<1>(key);
      r.phase = std::get<2>(key);
      r.repetition = std::get<3>(key);
      r.set = std::get<4>(key);
      r.image_index = io::image_index_for(count + 1);
      out.push_back(std::move(r));
      ++count;
    }
    buffers_.clear();
    maps_.clear();
    return out;
  }

 private:
  using key_t = std::tuple<std::uint16_t, std::uint16_t, std::uint16_t, std::uint16_t, std::uint16_t>;
  struct buffer {
    std::vector<std::vector<cfloat>> samples;  // per coil, all readouts after one another
    std::vector<float> traj;                   // (M, D) as stored, axes (x, y[, z])
    io::acquisition first;                     // header of the first readout (no samples)
    bool stacked = false;
  };

  index_t e2_centre() const { return h_.e2 ? h_.e2->center : N_[2] / 2; }

  template <std::size_t D>
  array<cfloat, 3> reconstruct(const key_t& key, buffer& b, const array<cfloat, 2>& W, trajectory_units units) {
    const index_t M = static_cast<index_t>(b.traj.size()) / index_t(D), nc = coils_;
    // coords (M, D) in cycles per FOV, larmor's axis order (z, y, x): coords[d] = stored[D - 1 - d].
    extents<D> shape{};
    for (std::size_t d = 0; d < D; ++d) shape[d] = N_[D - 1 - d];
    std::vector<float> coords(static_cast<std::size_t>(M) * D);
    std::array<double, 3> f{};
    for (std::size_t a = 0; a < D; ++a)
      f[a] = (b.stacked && a == 2) ? 1.0 : detail::to_cycles(units, static_cast<double>(N_[a]));
    for (index_t m = 0; m < M; ++m)
      for (std::size_t d = 0; d < D; ++d) {
        const std::size_t a = D - 1 - d;
        coords[static_cast<std::size_t>(m) * D + d] =
            static_cast<float>(b.traj[static_cast<std::size_t>(m) * D + a] * f[a]);
      }
    b.traj = std::vector<float>();
    array<cfloat, 2> y(extents<2>{nc, M}, uninitialized);
    for (index_t c = 0; c < nc; ++c) {
      std::copy(b.samples[static_cast<std::size_t>(c)].begin(), b.samples[static_cast<std::size_t>(c)].end(),
                y.data() + c * M);
      b.samples[static_cast<std::size_t>(c)] = std::vector<cfloat>();
    }
    if (W.size() > 0) prewhiten_inplace(y.view(), W.cview());
    // Density compensation and the gridded coil images.
    const bool ramp = opt_.dcf == "ramp" || (opt_.dcf == "auto" && D == 2 &&
                                             (h_.trajectory == "radial" || h_.trajectory == "goldenangle"));
    // ramp on the in-plane (y, x) radius: coords (M, D) with x last
    std::vector<float> w;
    if (ramp) {
      std::vector<float> inplane(static_cast<std::size_t>(M) * 2);
      for (index_t m = 0; m < M; ++m)
        for (std::size_t d = 0; d < 2; ++d)
          inplane[static_cast<std::size_t>(m) * 2 + d] = coords[static_cast<std::size_t>(m) * D + D - 2 + d];
      w = dcf_radial_ramp(inplane.data(), M, 2);
      if (D == 3)  // the ramp sums to the disc area; the k-space volume is that times the N_z partitions
        for (auto& v : w) v *= static_cast<float>(N_[2]);
    } else {
      w = dcf_pipe_menon<D>(coords.data(), M, shape, opt_.dcf_iters);
    }
    nufft_plan<float, D> plan(shape, opt_.eps);
    plan.set_points(coords.data(), M);
    array<cfloat, 2> yw(extents<2>{nc, M}, uninitialized);
    for (index_t c = 0; c < nc; ++c)
      for (index_t m = 0; m < M; ++m) yw(c, m) = y(c, m) * w[static_cast<std::size_t>(m)];
    extents<D + 1> cshape{};
    cshape[0] = nc;
    for (std::size_t d = 0; d < D; ++d) cshape[d + 1] = shape[d];
    array<cfloat, D + 1> coil_imgs(cshape, uninitialized);
    plan.adjoint(yw.data(), coil_imgs.data(), nc);
    yw = array<cfloat, 2>();
    // Maps per slice.
    auto& maps = maps_[std::get<0>(key)];
    if (maps.size() != coil_imgs.size()) {
      if (opt_.maps == "espirit") {
        espirit_options eo;
        eo.calib = opt_.calib;
        const auto k = fftc(coil_imgs.cview());
        const auto m = espirit_maps(k.cview(), eo);  // (1, coils, N...)
        maps = array<cfloat, 1>(extents<1>{coil_imgs.size()}, uninitialized);
        std::copy(m.data(), m.data() + coil_imgs.size(), maps.data());
      } else {
        const auto m = inati_maps(coil_imgs.cview(), 5, 5);
        maps = array<cfloat, 1>(extents<1>{coil_imgs.size()}, uninitialized);
        std::copy(m.data(), m.data() + coil_imgs.size(), maps.data());
      }
    }
    const strided_view<const cfloat, D + 1> mv(maps.data(), cshape);
    array<cfloat, D> img;
    if (opt_.method == "gridding") {
      img = combine(coil_imgs.cview(), mv);
    } else {
      cgsense_noncartesian_options co;
      co.reg = opt_.reg;
      co.iters = opt_.iters;
      co.eps = opt_.eps;
      img = cgsense_noncartesian<D>(y.data(), mv, coords.data(), M, co).image;
    }
    extents<3> s3{1, shape[D - 2], shape[D - 1]};
    if constexpr (D == 3) s3[0] = shape[0];
    return std::move(img).reshape(s3);
  }

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

  friend trajectory_summary describe_trajectory(const io::encoding_header&, const std::vector<io::acquisition>&,
                                                trajectory_units);
};

// The trajectory of a data set in one line (for `larmor info`): the acquisitions' own trajectories (a.traj,
// when io::acquisition has one), units detected unless stated. Never throws for unresolved units: the
// summary says why.
inline trajectory_summary describe_trajectory(const io::encoding_header& h, const std::vector<io::acquisition>& acqs,
                                              trajectory_units units = trajectory_units::automatic) {
  noncartesian_recon_options o;
  o.units = units;
  noncartesian_assembler as(h, "", o);
  as.summary_only_ = true;
  trajectory_summary s;
  for (const auto& a : acqs) {
    if (a.has(io::acq_flag::is_noise_measurement) || a.is_auxiliary()) continue;
    const auto t = detail::acquisition_trajectory(a);
    if (t.first == nullptr) {  // no trajectory: count the readouts only
      if (s.readouts == 0) s.samples = a.samples() - a.discard_pre - a.discard_post;
      ++s.readouts;
      continue;
    }
    as.add(a, t.first, t.second);
  }
  if (as.summary().readouts > 0) return as.summary();
  s.trajectory = h.trajectory;
  s.dims = h.encoded_matrix[2] > 1 ? 3 : 2;
  return s;
}

}  // namespace larmor
