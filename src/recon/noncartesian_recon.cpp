// The non-Cartesian raw-data chain (include/larmor/recon/noncartesian_recon.hpp): readout sorting, noise,
// trajectory units, density compensation, gridding, maps per slice and CG-SENSE, compiled once here.
#include "larmor/recon/noncartesian_recon.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <type_traits>
#include <utility>

#include "larmor/coils/combine.hpp"
#include "larmor/coils/espirit.hpp"
#include "larmor/coils/inati.hpp"
#include "larmor/fft/fft.hpp"
#include "larmor/nufft/density_compensation.hpp"
#include "larmor/nufft/noncartesian_sense.hpp"
#include "larmor/recon/recon_matrix.hpp"

namespace larmor {

namespace {

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
double to_cycles(trajectory_units u, double N) {
  constexpr double pi = 3.14159265358979323846;
  switch (u) {
    case trajectory_units::normalised: return N;
    case trajectory_units::radians: return N / (2 * pi);
    default: return 1.0;
  }
}

// The units whose range the extent max_abs (x, y, z) fits on the encoded matrix N (x, y, z), axes < dims.
std::vector<trajectory_units> fitting_units(const std::array<double, 3>& max_abs, const std::array<index_t, 3>& N,
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

std::string fmt_k(double v) {
  std::ostringstream s;
  s.precision(4);
  s << v;
  return s.str();
}

const char* units_range(trajectory_units u) {
  switch (u) {
    case trajectory_units::cycles_per_fov: return "cycles/FOV [-N/2, N/2)";
    case trajectory_units::normalised: return "normalised [-0.5, 0.5)";
    case trajectory_units::radians: return "radians [-pi, pi)";
    default: return "auto";
  }
}

}  // namespace

std::string trajectory_summary::describe() const {
  std::ostringstream s;
  s << trajectory << " " << dims << "D, " << readouts << " readouts x " << samples << " samples";
  if (trajectory_dimensions == 0) return s.str() + ", no per-sample trajectory";
  s << ", max |k| " << fmt_k(std::max({max_abs_k[0], max_abs_k[1], max_abs_k[2]}));
  if (units == trajectory_units::automatic) return s.str() + ", units unresolved: " + problem;
  s << ", units " << units_range(units) << (stated ? " (stated)" : " (detected)");
  return s.str();
}

noncartesian_assembler::noncartesian_assembler(const io::encoding_header& h, std::string source,
                                               noncartesian_recon_options opt)
    : h_(h), source_(std::move(source)), opt_(std::move(opt)) {
  LARMOR_CHECK_ARG(opt_.method == "cgsense" || opt_.method == "gridding",
                   "noncartesian recon: method must be cgsense or gridding, got '", opt_.method, "'");
  LARMOR_CHECK_ARG(opt_.maps == "espirit" || opt_.maps == "inati",
                   "noncartesian recon: maps must be espirit or inati, got '", opt_.maps, "'");
  LARMOR_CHECK_ARG(opt_.dcf == "auto" || opt_.dcf == "ramp" || opt_.dcf == "pipe-menon",
                   "noncartesian recon: dcf must be auto, ramp or pipe-menon, got '", opt_.dcf, "'");
  LARMOR_CHECK_ARG(opt_.gradient_delay == "auto" || opt_.gradient_delay == "ring" || opt_.gradient_delay == "off",
                   "noncartesian recon: gradient_delay must be auto, ring or off, got '", opt_.gradient_delay, "'");
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

void noncartesian_assembler::add(const io::acquisition& a) {
  const auto t = acquisition_trajectory(a);
  add(a, t.first, t.second);
}

void noncartesian_assembler::add(const io::acquisition& a, const float* traj, index_t dims) {
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

trajectory_summary noncartesian_assembler::summary() const {
  trajectory_summary s = summary_;
  if (s.units == trajectory_units::automatic && s.trajectory_dimensions > 0) {
    const auto fit = fitting_units(s.max_abs_k, N_, s.dims);
    if (fit.size() == 1) {
      s.units = fit[0];
    } else {
      std::ostringstream why;
      why << "max |k| " << fmt_k(std::max({s.max_abs_k[0], s.max_abs_k[1], s.max_abs_k[2]}))
          << " on an encoded matrix of " << N_[0] << " x " << N_[1] << (s.dims == 3 ? " x " : "")
          << (s.dims == 3 ? std::to_string(N_[2]) : std::string()) << " fits ";
      if (fit.empty()) {
        why << "none of cycles/FOV [-N/2, N/2), normalised [-0.5, 0.5) and radians [-pi, pi)";
      } else {
        why << "several units (";
        for (std::size_t j = 0; j < fit.size(); ++j) why << (j ? ", " : "") << units_range(fit[j]);
        why << ")";
      }
      why << "; state the units (cycles, normalised or radians)";
      s.problem = why.str();
    }
  }
  return s;
}

template <std::size_t D>
array<cfloat, 3> noncartesian_assembler::reconstruct(const key_t& key, buffer& b, const array<cfloat, 2>& W,
                                                     trajectory_units units) {
  const index_t M = static_cast<index_t>(b.traj.size()) / index_t(D), nc = coils_;
  // coords (M, D) in cycles per FOV, larmor's axis order (z, y, x): coords[d] = stored[D - 1 - d].
  extents<D> shape{};
  for (std::size_t d = 0; d < D; ++d) shape[d] = N_[D - 1 - d];
  std::vector<float> coords(static_cast<std::size_t>(M) * D);
  std::array<double, 3> f{};
  for (std::size_t a = 0; a < D; ++a)
    f[a] = (b.stacked && a == 2) ? 1.0 : to_cycles(units, static_cast<double>(N_[a]));
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
  if (opt_.gradient_delay != "off") correct_gradient_delay<D>(coords, y);
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

template <std::size_t D>
void noncartesian_assembler::correct_gradient_delay(std::vector<float>& coords, const array<cfloat, 2>& y) {
  const bool required = opt_.gradient_delay == "ring";
  const index_t M = y.shape(1), nc = y.shape(0), ns = summary_.samples;
  const bool radial_header = h_.trajectory == "radial" || h_.trajectory == "goldenangle";
  auto skip = [&](const std::string& why) {
    LARMOR_CHECK_DATA(!required, "noncartesian recon: ", source_, ": gradient delay (RING): ", why);
    if (!delay_tried_ && radial_header && opt_.progress) opt_.progress("gradient delay: not estimated (" + why + ")");
    delay_tried_ = true;
  };
  if (D == 3 && summary_.trajectory_dimensions >= 3) return skip("3D radial (kooshball) is not supported by RING here");
  if (ns < 8 || M % ns != 0) return skip("readouts of different lengths");
  const index_t R = M / ns;
  constexpr int ox = static_cast<int>(D) - 1, oy = static_cast<int>(D) - 2;  // coords (z, y, x): x last
  const auto spokes = find_radial_spokes(coords.data(), R, ns, D, ox, oy);
  if (!spokes.radial) return skip(spokes.why_not);
  if (!delay_tried_) {
    delay_tried_ = true;
    // the spokes to estimate from: all (2D), or those of the central partition kz = 0 (stack of stars)
    std::vector<index_t> use;
    for (index_t r = 0; r < R; ++r)
      if (D == 2 || coords[static_cast<std::size_t>(r * ns * index_t(D))] == 0.f) use.push_back(r);
    array<cfloat, 3> data(extents<3>{static_cast<index_t>(use.size()), nc, ns}, uninitialized);
    std::vector<double> dirs, centre;
    for (std::size_t i = 0; i < use.size(); ++i) {
      const index_t r = use[i];
      for (index_t c = 0; c < nc; ++c) std::copy(y.data() + c * M + r * ns, y.data() + c * M + (r + 1) * ns, &data(static_cast<index_t>(i), c, 0));
      dirs.push_back(spokes.directions[static_cast<std::size_t>(2 * r)]);
      dirs.push_back(spokes.directions[static_cast<std::size_t>(2 * r + 1)]);
      centre.push_back(spokes.centre[static_cast<std::size_t>(r)]);
    }
    ring_options ro;
    // the object fills 1/oversampling of the readout's FOV: keep a margin of 20 % beyond it
    ro.crop = std::min(1.0, 1.2 * spokes.spacing[static_cast<std::size_t>(use.empty() ? 0 : use[0])]);
    try {
      LARMOR_CHECK_DATA(use.size() >= 4, "fewer than 4 spokes in the central partition");
      delay_ = ring_gradient_delay(data.data(), static_cast<index_t>(use.size()), nc, ns, dirs.data(), centre.data(), ro);
    } catch (const DataError& e) {
      return skip(e.what());
    }
    delay_note_ = "gradient delay " + delay_->describe() + ", trajectory corrected";
    if (opt_.progress) opt_.progress(delay_note_);
  }
  if (delay_) correct_radial_trajectory(coords.data(), R, ns, D, ox, oy, spokes, *delay_);
}

std::vector<io::image_record> noncartesian_assembler::finish() {
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

trajectory_summary describe_trajectory(const io::encoding_header& h, const std::vector<io::acquisition>& acqs,
                                       trajectory_units units) {
  noncartesian_recon_options o;
  o.units = units;
  noncartesian_assembler as(h, "", o);
  as.summary_only_ = true;
  trajectory_summary s;
  for (const auto& a : acqs) {
    if (a.has(io::acq_flag::is_noise_measurement) || a.is_auxiliary()) continue;
    const auto t = acquisition_trajectory(a);
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
