// src/recon/chain.cpp — steps 2-4 of the chain (recon/chain.hpp) for one buffer
// (buffer_reconstructor::reconstruct: method, partial Fourier, coil compression, recon matrix, image
// record) and recon(assembled_kspace&&). Compiled once in larmor_recon.
#include "larmor/recon/chain.hpp"

#include <algorithm>
#include <string>

namespace larmor {

namespace detail {

io::image_record buffer_reconstructor::reconstruct(kspace_buffer& b, const array<cfloat, 4>* cal,
                                                   index_t acceleration_y, index_t acceleration_z,
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
  recon_method fn;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    fn = method_registry().at(method);
  }
  say("image " + std::to_string(image_index) + " (" + method + ", slice " + std::to_string(b.key.slice) +
      (b.key.contrast ? ", contrast " + std::to_string(b.key.contrast) : std::string()) +
      (b.key.repetition ? ", repetition " + std::to_string(b.key.repetition) : std::string()) + ")");
  // Partial Fourier: the lattice of this buffer sets how many edge lines parallel imaging may leave.
  index_t ry = 1, rz = 1;
  if (const auto L = detect_lattice(acquired_lines(b.kspace.cview()))) ry = L->ry, rz = L->rz;
  const auto pf = detect_partial_fourier(b, ry, rz, opt_.partial_fourier);
  if (pf) {
    const auto d = pf->describe(b.kspace.shape());
    if (d != said_pf_) say("partial Fourier: " + d), said_pf_ = d;
  }
  // Coil compression: one per slice + calibration, estimated on the slice's first buffer.
  if (opt_.compression.enabled && (opt_.compression.coils > 0 || compression_suits(method))) {
    auto& cc = compressions_[std::make_pair(b.key.slice, static_cast<const void*>(cal))];
    if (!cc) {
      cc = compression_for(cal, b.kspace, opt_.compression);
      if (cc->active() && cc->describe() != said_cc_) say("coil compression: " + cc->describe()), said_cc_ = cc->describe();
    }
    cc->apply(b.kspace);
    cal = cc->calibration(cal);
  }
  const bool coil_kspace_method = method == "rss" || method == "walsh" || method == "inati" || method == "espirit";
  const bool inside_method = method == "grappa";
  if (pf && coil_kspace_method) apply_partial_fourier(*pf, b.kspace);
  auto& state = states_[std::make_tuple(b.key.slice, static_cast<const void*>(cal), method)];
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
  const method_input in{b.kspace, cal, h_, acceleration_y, acceleration_z, &state,
                        pf && inside_method ? &*pf : nullptr, opt_.lambda, progress_for,
                        std::move(release_calibration)};
  auto img = fn(in);
  b.kspace = array<cfloat, 4>();  // done with: free it before the next buffer's method runs
  if (checkpoint) checkpoint();   // cancelled while the method ran: no image
  if (pf && !coil_kspace_method && !inside_method) img = apply_partial_fourier_to_image(*pf, std::move(img));
  // The recon matrix: crop, or zero-padding interpolation, per axis (x was already brought to the recon
  // FOV with the readout oversampling); 2D buffers stay 2D.
  const bool volume = img.shape(0) > 1;
  io::image_record r = image_record_from(std::move(img), h_, volume, opt_.output, b.first.get());
  r.slice = b.key.slice;
  r.contrast = b.key.contrast;
  r.phase = b.key.phase;
  r.repetition = b.key.repetition;
  r.set = b.key.set;
  r.image_index = image_index;
  return r;
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
    res.images.push_back(chain.reconstruct(b, detail::find_calibration(kd.calibration, b.key), kd.acceleration_y,
                                           kd.acceleration_z, static_cast<std::uint16_t>(i + 1)));
  }
  res.method = chain.methods();
  return res;
}

}  // namespace larmor
