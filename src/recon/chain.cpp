// src/recon/chain.cpp — steps 2-4 of the chain (recon/chain.hpp) for one buffer
// (buffer_reconstructor::reconstruct: method, partial Fourier, coil compression, recon matrix, image
// record) and recon(assembled_kspace&&). Compiled once in larmor_recon.
#include "larmor/recon/chain.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "larmor/coils/receive_field.hpp"
#include "larmor/coils/rss.hpp"
#include "larmor/fieldmap/b0_map.hpp"
#include "larmor/recon/pi_methods.hpp"
#include "larmor/recon/recon_matrix.hpp"

namespace larmor {

namespace detail {

namespace {
// A line mask projected onto one axis (-3 = z, -2 = y): position i is acquired if any line there is.
std::vector<bool> projected(const line_mask& m, int axis) {
  const index_t n = axis == -3 ? m.nz : m.ny, other = axis == -3 ? m.ny : m.nz;
  std::vector<bool> p(static_cast<std::size_t>(n), false);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < other && !p[static_cast<std::size_t>(i)]; ++j)
      p[static_cast<std::size_t>(i)] = axis == -3 ? m(i, j) : m(j, i);
  return p;
}

// An irregular mask (variable density, Poisson disc) has random gaps at its sparse edges that must not be
// read as a partial Fourier acquisition (the chain ran POCS on such CS images). Along y and z the header's
// encoding limits decide where it gives them -- a range symmetric about the centre: none; an asymmetric
// one: partial Fourier over the range the header announces (the mask's own extent is random) -- else the
// data's extent counts only beyond twice the mask's widest gap. The readout (asymmetric echo) as always.
std::optional<partial_fourier_request> irregular_partial_fourier(const kspace_buffer& b, const line_mask& lines,
                                                                 const io::encoding_header& h,
                                                                 const partial_fourier_options& opt) {
  auto pf = detect_partial_fourier(b, lines.ny, lines.nz, opt);  // the readout axis only
  if (opt.method == partial_fourier_method::zero) return pf;
  const auto add_axis = [&](int axis, const std::optional<io::limit>& l) {
    // The acquired extent [first, last] along the axis and the widest gap between acquired positions.
    const auto p = projected(lines, axis);
    const index_t n = static_cast<index_t>(p.size());
    index_t first = n, last = -1, gap = 1;
    for (index_t i = 0; i < n; ++i) {
      if (!p[static_cast<std::size_t>(i)]) continue;
      if (last >= 0) gap = std::max(gap, i - last);
      first = std::min(first, i), last = i;
    }
    if (last < 0) return;
    if (l) {
      const index_t lo = static_cast<index_t>(l->center) - l->minimum, hi = l->maximum + 1 - static_cast<index_t>(l->center);
      if (std::abs(lo - hi) <= 1) return;  // the header says: symmetric
      const index_t shift = n / 2 - static_cast<index_t>(l->center);  // as kspace_assembler places line e
      first = std::max<index_t>(0, l->minimum + shift), last = std::min<index_t>(n - 1, l->maximum + shift);
    } else if (std::abs(first - (n - 1 - last)) <= 2 * gap) {
      return;
    }
    if (!pf) pf = partial_fourier_request{{}, {}, opt};
    pf->axes.insert(pf->axes.begin(), axis);
    pf->acquired.insert(pf->acquired.begin(), acquired_range{first, last + 1});
  };
  add_axis(-2, h.e1);
  if (lines.nz > 1) add_axis(-3, h.e2);
  return pf;
}
// Can the phase-based partial Fourier methods (POCS, homodyne) be trusted on this buffer? They assume the
// image phase is the smooth phase of the symmetric k-space centre; a real brain's is not always (the shipped
// 16-channel brain, GRAPPA R = 3 + PF 6/8: POCS NRMSE 0.088 against zero filling's 0.076). A test on the
// buffer's own data: the fully sampled central lines (symmetric about ky = 0) are a low-resolution k-space
// of the same object; the same fraction of them is dropped on the same side, filled by the same method,
// and the root-sum-of-squares image compared with the one of the central lines themselves. When the
// method's error is not clearly below zero filling's (ratio >= 0.9), the y axis is zero filled instead.
// Measured ratios: the brain 1.11-1.41 (widths 24-64 lines), phantoms 0.64-0.75. 2D buffers, y axis;
// nullopt when the centre is too narrow (< 16 lines) to tell.
// The record of an image made from buffer b ((z, y, x) on the encoded matrix): the recon matrix and geometry
// (image_record_from) and b's loop indices; series 1 for the images, 2-4 for the maps made beside them.
io::image_record record_of(array<cfloat, 3> img, const io::encoding_header& h, const kspace_buffer& b, bool volume,
                           io::image_type type, std::uint16_t image_index, std::uint16_t series) {
  io::image_record r = image_record_from(std::move(img), h, volume, type, b.first.get());
  r.slice = b.key.slice, r.contrast = b.key.contrast, r.phase = b.key.phase;
  r.repetition = b.key.repetition, r.set = b.key.set;
  r.image_index = image_index, r.series_index = series;
  return r;
}
// A real map (g-factor, Hz) as the complex image image_record_from takes.
array<cfloat, 3> as_complex(const array<float, 3>& map) {
  array<cfloat, 3> c(map.shape(), uninitialized);
  std::transform(map.begin(), map.end(), c.begin(), [](float v) { return cfloat(v, 0.f); });
  return c;
}

std::optional<double> partial_fourier_trust(const kspace_buffer& b, const line_mask& lines,
                                            const partial_fourier_request& pf, std::size_t axis_index) {
  const auto& k = b.kspace;
  if (k.shape(1) != 1 || pf.axes[axis_index] != -2) return std::nullopt;
  const index_t nc = k.shape(0), ny = k.shape(2), nx = k.shape(3);
  const auto centre = fully_sampled_centre(lines);
  if (!centre) return std::nullopt;
  const index_t half = std::min(ny / 2 - centre->y0, centre->y1 + 1 - ny / 2), w = 2 * half;
  if (w < 16) return std::nullopt;
  const auto& r = pf.acquired[axis_index];
  const double fraction = static_cast<double>(r.end - r.begin) / static_cast<double>(ny);
  const index_t drop = static_cast<index_t>(std::lround((1.0 - fraction) * static_cast<double>(w)));
  if (drop < 1) return std::nullopt;
  const bool low_side_missing = r.begin > ny - r.end;
  array<cfloat, 3> truth(extents<3>{nc, w, nx}, uninitialized), cut(extents<3>{nc, w, nx});
  for (index_t c = 0; c < nc; ++c)
    for (index_t y = 0; y < w; ++y)
      for (index_t x = 0; x < nx; ++x) {
        const cfloat v = k(c, 0, ny / 2 - half + y, x);
        truth(c, y, x) = v;
        const bool dropped = low_side_missing ? y < drop : y >= w - drop;
        if (!dropped) cut(c, y, x) = v;
      }
  const acquired_range kept = low_side_missing ? acquired_range{drop, w} : acquired_range{0, w - drop};
  const auto filled = partial_fourier(cut.cview(), {-2}, pf.options, {kept});
  const auto rss_of = [](const array<cfloat, 3>& kk) { return rss(ifftc(kk.cview(), {1, 2}).cview()); };
  const auto t = rss_of(truth), f = rss_of(filled), z = rss_of(cut);
  double ef = 0, ez = 0;
  for (index_t p = 0; p < t.size(); ++p) {
    const double df = f.data()[p] - t.data()[p], dz = z.data()[p] - t.data()[p];
    ef += df * df, ez += dz * dz;
  }
  return ez > 0 ? std::sqrt(ef / ez) : std::optional<double>{};
}
}  // namespace

io::image_record buffer_reconstructor::reconstruct(kspace_buffer& b, const array<cfloat, 4>* cal,
                                                   std::optional<buffer_key> cal_key, index_t acceleration_y, index_t acceleration_z,
                                                   std::uint16_t image_index,
                                                   std::function<void()> release_calibration) {
  if (checkpoint) checkpoint();
  std::string method = opt_.method;
  if (method == "auto") {
    method = auto_method(b.kspace, cal);
    if (std::find(chosen_.begin(), chosen_.end(), method) == chosen_.end())
      say("method auto -> " + method + " (acceleration " + std::to_string(acceleration_y) + " x " +
          std::to_string(acceleration_z) + ", from slice " + std::to_string(b.key.slice) + " contrast " +
          std::to_string(b.key.contrast) + " repetition " + std::to_string(b.key.repetition) + ")");
  }
  if (std::find(chosen_.begin(), chosen_.end(), method) == chosen_.end()) chosen_.push_back(method);
  const method_description desc = recon_method_description(method);
  say("image " + std::to_string(image_index) + " (" + method + ", slice " + std::to_string(b.key.slice) +
      (b.key.contrast ? ", contrast " + std::to_string(b.key.contrast) : std::string()) +
      (b.key.repetition ? ", repetition " + std::to_string(b.key.repetition) : std::string()) + ")");
  // Partial Fourier: the lattice of this buffer sets how many edge lines parallel imaging may leave.
  const auto lines = acquired_lines(b.kspace.cview());
  const auto L = detect_lattice(lines);
  auto pf = L ? detect_partial_fourier(b, L->ry, L->rz, opt_.partial_fourier)
              : irregular_partial_fourier(b, lines, h_, opt_.partial_fourier);
  if (pf && pf->options.method != partial_fourier_method::zero) {
    for (std::size_t i = 0; i < pf->axes.size(); ++i) {
      const auto ratio = partial_fourier_trust(b, lines, *pf, i);
      if (!ratio || *ratio < 0.9) continue;
      char msg[200];
      std::snprintf(msg, sizeof msg,
                    "partial Fourier: %s not trusted on this data (on its own central lines it came to %.2f of "
                    "zero filling's error: the image phase is not smooth enough); y zero filled",
                    partial_fourier_method_name(pf->options.method), *ratio);
      if (said_pf_ != msg) say(msg), said_pf_ = msg;
      pf->axes.erase(pf->axes.begin() + static_cast<std::ptrdiff_t>(i));
      pf->acquired.erase(pf->acquired.begin() + static_cast<std::ptrdiff_t>(i));
      break;
    }
    if (pf->axes.empty()) pf.reset();
  }
  if (pf) {
    const auto d = pf->describe(b.kspace.shape());
    if (d != said_pf_) say("partial Fourier: " + d), said_pf_ = d;
  }
  // The receive field for intensity normalisation: once per slice + calibration, from all the coils (before
  // compression).
  array<float, 3>* field = nullptr;
  array<cfloat, 4> cal_array;  // the calibration without the body-coil channel
  if (opt_.normalize != "off") {
    index_t body = body_coil_channel(h_);
    if (body >= b.kspace.shape(0)) body = -1;
    LARMOR_CHECK_DATA(opt_.normalize != "body" || body >= 0, "recon: --normalize body: the scan has no body-coil "
                      "channel (no coil label names one); use coils or auto");
    if (opt_.normalize == "coils") body = -1;
    auto& f = fields_[std::make_tuple(b.key.slice, cal ? cal_key : std::nullopt)];
    if (f.size() == 0) {
      receive_field_options ro;
      ro.reference_channel = body;
      f = receive_field((cal ? *cal : b.kspace).cview(), ro);
      const auto [lo, hi] = std::minmax_element(f.begin(), f.end());
      char msg[200];
      std::snprintf(msg, sizeof msg, "intensity normalisation: receive field %s, %.2f .. %.2f of its median (slice %d)",
                    body >= 0 ? ("relative to the body coil (channel " + std::to_string(body) + ")").c_str()
                              : "from the coils' k-space centre",
                    *lo, *hi, static_cast<int>(b.key.slice));
      say(msg);
    }
    field = &f;
    if (body >= 0) {  // the body coil is the reference, not an element of the array
      const auto drop = [body](const array<cfloat, 4>& k) {
        const index_t nc = k.shape(0), per = k.size() / nc;
        array<cfloat, 4> out(extents<4>{nc - 1, k.shape(1), k.shape(2), k.shape(3)}, uninitialized);
        for (index_t c = 0, o = 0; c < nc; ++c)
          if (c != body) std::copy(k.data() + c * per, k.data() + (c + 1) * per, out.data() + (o++) * per);
        return out;
      };
      b.kspace = drop(b.kspace);
      if (cal) cal_array = drop(*cal), cal = &cal_array;
    }
  }
  // Coil compression: one per slice + calibration, estimated on the slice's first buffer.
  if (opt_.compression.enabled && (opt_.compression.coils > 0 || desc.combines_with_maps)) {
    auto& cc = compressions_[std::make_tuple(b.key.slice, cal ? cal_key : std::nullopt)];
    if (!cc) {
      cc = compression_for(cal, b.kspace, opt_.compression);
      if (cc->active() && cc->describe() != said_cc_) say("coil compression: " + cc->describe()), said_cc_ = cc->describe();
    }
    cc->apply(b.kspace);
    cal = cc->calibration(cal);
  }
  const auto pf_stage = desc.partial_fourier;
  if (pf && pf_stage == partial_fourier_stage::coil_kspace) apply_partial_fourier(*pf, b.kspace);
  auto& state = states_[std::make_tuple(b.key.slice, cal ? cal_key : std::nullopt, method)];
  // Steps of 3D buffers take minutes at 64 coils: their progress in quarters; the checkpoint between.
  std::function<progress_fn(const std::string&)> progress_for;
  if ((opt_.progress && b.kspace.shape(1) > 1) || checkpoint)
    progress_for = [this, is3d = b.kspace.shape(1) > 1](const std::string& what) -> progress_fn {
      return [this, what, is3d, last = index_t{-1}](index_t done, index_t total) mutable {
        if (checkpoint) checkpoint();
        const index_t q = total > 0 ? 4 * done / total : 4;
        if (q != last && is3d) say("  " + what + " " + std::to_string(25 * q) + " %");
        last = q;
      };
    };
  // The g-factor map, once per slice + calibration + method + lattice, when asked for.
  array<float, 3> gfactor;
  const auto gkey = std::make_tuple(b.key.slice, cal ? cal_key : std::nullopt, method, L ? L->ry : 1, L ? L->rz : 1,
                                    L ? L->shift : 0);
  const bool want_gfactor = opt_.gfactor_sink && L && L->factor() > 1 && !gfactors_.count(gkey);
  const method_input in{b.kspace, cal, h_, acceleration_y, acceleration_z, &state,
                        pf && pf_stage == partial_fourier_stage::inside ? &*pf : nullptr, opt_.lambda, progress_for,
                        std::move(release_calibration), want_gfactor ? &gfactor : nullptr};
  auto img = desc.run(in);
  b.kspace = array<cfloat, 4>();  // done with: free it before the next buffer's method runs
  if (checkpoint) checkpoint();   // cancelled while the method ran: no image
  if (pf && pf_stage == partial_fourier_stage::image) img = apply_partial_fourier_to_image(*pf, std::move(img));
  // The recon matrix: crop, or zero-padding interpolation, per axis (x was already brought to the recon
  // FOV with the readout oversampling); 2D buffers stay 2D.
  const bool volume = img.shape(0) > 1;
  if (want_gfactor) {
    gfactors_.insert(gkey);
    if (gfactor.size() > 0) {
      say("g-factor map (" + method + ", R " + std::to_string(L->ry) + " x " + std::to_string(L->rz) + ", slice " +
          std::to_string(b.key.slice) + ")");
      opt_.gfactor_sink(record_of(as_complex(gfactor), h_, b, volume, io::image_type::magnitude, image_index, 2));
    } else if (!said_gfactor_) {
      say("g-factor: method " + method + " has no closed form (non-linear); larmor.pseudo_replica measures it");
      said_gfactor_ = true;
    }
  }
  if (field) {
    LARMOR_CHECK_DATA(field->shape() == img.shape(), "recon: intensity normalisation: the receive field (",
                      shape_string(field->shape()), ") does not match the image (", shape_string(img.shape()), ")");
    if (opt_.unnormalized_sink) opt_.unnormalized_sink(record_of(img, h_, b, volume, opt_.output, image_index, 4));
    for (index_t i = 0; i < img.size(); ++i) img.data()[i] /= field->data()[i];
  }
  if (opt_.fieldmap_sink) collect_echo(b, img, method, volume, image_index);
  return record_of(std::move(img), h_, b, volume, opt_.output, image_index, 1);
}

void buffer_reconstructor::collect_echo(const kspace_buffer& b, const array<cfloat, 3>& img, const std::string& method,
                                        bool volume, std::uint16_t image_index) {
  // The echoes: as many as the header has TEs, and no more than the contrasts it encodes.
  std::size_t echoes = h_.echo_times_ms.size();
  if (h_.contrast) echoes = std::min<std::size_t>(echoes, static_cast<std::size_t>(h_.contrast->maximum) + 1);
  const auto once = [&](const std::string& why) {
    if (!said_fieldmap_) say("B0 field map: " + why), said_fieldmap_ = true;
  };
  if (echoes < 2) return once("the header gives " + std::to_string(echoes) + " echo time(s) for its contrasts; two or more needed");
  for (std::size_t e = 0; e < echoes; ++e) {
    const float te = h_.echo_times_ms[e];
    if (!(te > 0 && te < 1000) || (e > 0 && !(te > h_.echo_times_ms[e - 1])))
      return once("the header's echo times are not a train of increasing echoes (TE " + std::to_string(e) + " = " +
                  std::to_string(te) + " ms)");
  }
  if (method == "rss") return once("method rss keeps no phase");
  if (b.key.contrast >= echoes) return;  // a contrast without an echo time
  auto& set = echoes_[std::make_tuple(b.key.slice, b.key.phase, b.key.repetition, b.key.set)];
  set[b.key.contrast] = img;
  if (set.size() < echoes) return;
  // all echoes: (echoes, 1 "coil", z, y, x), combined images (their common coil phase cancels)
  const index_t nz = img.shape(0), ny = img.shape(1), nx = img.shape(2), n = nz * ny * nx;
  array<cfloat, 1> stack(extents<1>{static_cast<index_t>(echoes) * n}, uninitialized);
  std::vector<double> te;
  for (std::size_t e = 0; e < echoes; ++e) {
    const auto& im = set.at(static_cast<std::uint16_t>(e));
    LARMOR_CHECK_DATA(im.size() == n, "recon: B0 field map: echo ", e, " has another matrix than echo 0");
    std::copy(im.begin(), im.end(), stack.data() + static_cast<index_t>(e) * n);
    te.push_back(1e-3 * static_cast<double>(h_.echo_times_ms[e]));
  }
  echoes_.erase(std::make_tuple(b.key.slice, b.key.phase, b.key.repetition, b.key.set));
  array<float, 3> hz;
  if (nz == 1) {
    auto r = b0_map<2>(strided_view<const cfloat, 4>(stack.data(), {static_cast<index_t>(echoes), 1, ny, nx}), te);
    hz = std::move(r.hz).reshape(extents<3>{1, ny, nx});
  } else {
    hz = b0_map<3>(strided_view<const cfloat, 5>(stack.data(), {static_cast<index_t>(echoes), 1, nz, ny, nx}), te).hz;
  }
  io::image_record r = record_of(as_complex(hz), h_, b, volume, io::image_type::real, image_index, 3);
  r.contrast = 0;  // the map of all the echoes, not of the last one
  say("B0 field map (" + std::to_string(echoes) + " echoes, slice " + std::to_string(b.key.slice) + ")");
  opt_.fieldmap_sink(std::move(r));
}

}  // namespace detail

recon_result recon(assembled_kspace&& kd, const io::encoding_header& h, const recon_options& opt) {
  detail::buffer_reconstructor chain(h, opt);
  if (opt.prewhiten && kd.noise.size() > 0) {
    chain.say("noise pre-whitening from " + std::to_string(kd.noise_scans) + " noise scans");
    const auto w = detail::chain_prewhitener(kd.noise, kd, opt);
    for (auto& b : kd.imaging) prewhiten_inplace(b.kspace.view(), w.cview());
    for (auto& [k, c] : kd.calibration) prewhiten_inplace(c.view(), w.cview());
  }
  recon_result res;
  for (std::size_t i = 0; i < kd.imaging.size(); ++i) {
    auto& b = kd.imaging[i];
    const auto* cal = detail::find_calibration(kd.calibration, b.key);
    res.images.push_back(chain.reconstruct(b, cal, detail::calibration_key_of(kd.calibration, cal), kd.acceleration_y,
                                           kd.acceleration_z, io::image_index_for(static_cast<long long>(i) + 1)));
  }
  res.method = chain.methods();
  return res;
}

}  // namespace larmor
