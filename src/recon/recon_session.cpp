// src/recon/recon_session.cpp — recon_session (recon/recon_session.hpp): readouts in, images out as their
// buffers complete; and recon(raw_dataset) through it. Compiled once in larmor_recon: the session reaches
// the whole chain (EPI correction, k-space assembly, non-Cartesian reconstruction, every method), which
// cost every program that included the header minutes of compiler time under the sanitizers.
#include "larmor/recon/recon_session.hpp"

#include <algorithm>
#include <functional>
#include <utility>

#include "larmor/sampling/lattice.hpp"

namespace larmor {

recon_session::recon_session(const io::encoding_header& header, const recon_options& opt, image_sink sink,
                             std::string source)
    : opt_(opt), sink_(std::move(sink)), source_(std::move(source)) {
  detail::check_recon_method(opt.method);
  header_ = header;
  if (is_noncartesian(header)) {  // radial, spiral: recon/noncartesian_recon.hpp, images at finish()
    LARMOR_CHECK_DATA(header.multiband_factor <= 1, "recon: ", source_, ": a non-Cartesian multiband scan (MB ",
                      header.multiband_factor, "): its slices cannot be separated here (docs/sms.md)");
    LARMOR_CHECK_ARG(opt.method == "auto" || opt.method == "cgsense", "recon: ", source_, ": trajectory '",
                     header.trajectory, "' is non-Cartesian: method auto or cgsense, not '", opt.method, "'");
    noncartesian_recon_options no;
    no.prewhiten = opt.prewhiten;
    no.noise = opt.noise;
    no.output = opt.output;
    no.progress = opt.progress;
    noncartesian_.emplace(header_, source_, no);
    chain_.emplace(header_, opt_);
    // What the Cartesian chain would do with these options does not apply here: say so, once.
    std::vector<std::string> unused;
    if (opt.lambda != 0) unused.push_back("lambda (the cs method's weight)");
    if (opt.partial_fourier.method != partial_fourier_method::pocs)
      unused.push_back(std::string("partial Fourier ") + partial_fourier_method_name(opt.partial_fourier.method));
    if (!opt.compression.enabled || opt.compression.coils > 0) unused.push_back("coil compression");
    if (opt.normalize != "off") unused.push_back("intensity normalisation");
    if (opt.gfactor_sink) unused.push_back("g-factor maps");
    if (opt.fieldmap_sink) unused.push_back("B0 field maps");
    if (opt.progress && !unused.empty()) {
      std::string s;
      for (const auto& u : unused) s += (s.empty() ? "" : ", ") + u;
      opt.progress("non-Cartesian (" + header.trajectory + "): CG-SENSE on the gridded data; not applied: " + s);
    }
    return;
  }
  if (epi::is_epi(header)) header_ = epi_.emplace(header).corrected_header();
  assembly_options ao;
  ao.memory_budget_bytes = opt.kspace_budget_bytes;
  assembler_.emplace(header_, source_, ao);
  chain_.emplace(header_, opt_);
  chain_->checkpoint = [this] { check_cancelled(); };
  if (header_.multiband_factor > 1) multiband_.emplace(header_, source_);
  interleaved_ = header_.calibration_mode == "interleaved";
  // Buffers per slice the encoding limits announce (a limit not given counts 1).
  const auto count = [](const std::optional<io::limit>& l) { return l ? index_t{l->maximum} + 1 : index_t{1}; };
  buffers_per_slice_ = count(header_.contrast) * count(header_.phase) * count(header_.repetition) * count(header_.set);
  accelerated_ = header_.accel_e1 > 1 || header_.accel_e2 > 1;
}

void recon_session::push(io::acquisition&& a) {
  check_usable();
  ++pushed_;
  if (!detail::selected_readout(opt_, a)) return;
  if (noncartesian_) {
    noncartesian_->add(a);
    return;
  }
  if (epi_) {
    epi_->add(std::move(a), [this](io::acquisition&& c) { place(std::move(c)); });
    return;
  }
  place(std::move(a));
}

void recon_session::finish() {
  check_usable();
  if (noncartesian_) {
    LARMOR_CHECK_DATA(pushed_ > 0, "recon: ", source_, ": zero acquisitions");
    auto images = noncartesian_->finish();
    finished_ = true;
    for (auto& r : images) {
      r.image_index = io::image_index_for(++images_made_);
      if (sink_)
        sink_(std::move(r));
      else
        queue_.push_back(std::move(r));
    }
    return;
  }
  if (epi_) epi_->finish([this](io::acquisition&& c) { place(std::move(c)); });
  LARMOR_CHECK_DATA(pushed_ > 0, "recon: ", source_, ": zero acquisitions");
  LARMOR_CHECK_DATA(images_made_ > 0 || !assembler_->open_buffers().empty() || !waiting_.empty(), "recon: ",
                    source_, ": no imaging readouts (only noise, calibration or skipped lines)");
  for (const auto& k : assembler_->open_buffers())
    for (auto& b : separated(assembler_->take(k))) waiting_.push_back(std::move(b));
  std::sort(waiting_.begin(), waiting_.end(), [](const kspace_buffer& x, const kspace_buffer& y) { return x.key < y.key; });
  auto all = std::move(waiting_);
  waiting_.clear();
  waiting_bytes_ = 0;
  for (auto& b : all) make_image(b);
  finished_ = true;
  if (ignored_noise_ > 0)
    chain_->say(std::to_string(ignored_noise_) + " noise readouts after the first image were not used");
  if (assembler_->calibration_readouts_dropped() > 0)
    chain_->say(std::to_string(assembler_->calibration_readouts_dropped()) +
                " calibration readouts after their slice's first image were not used");
}

void recon_session::place(io::acquisition&& a) {
  using io::acq_flag;
  if (a.has(acq_flag::is_noise_measurement) && whitening_decided_) {
    ++ignored_noise_;
    return;
  }
  if (multiband_ && is_imaging(a) && multiband_->take_reference(a)) return;
  assembler_->add(a);
  if (!is_imaging(a)) return;
  const buffer_key k{a.idx.slice, a.idx.contrast, a.idx.phase, a.idx.repetition, a.idx.set};
  std::vector<buffer_key> done;
  for (const auto& o : assembler_->open_buffers()) {
    const bool slice_done = a.has(acq_flag::last_in_slice) && o.slice == k.slice && o.repetition == k.repetition &&
                            o.set == k.set && o.contrast <= k.contrast && o.phase <= k.phase;
    const bool repetition_done = a.has(acq_flag::last_in_repetition) && o.repetition <= k.repetition;
    const bool moved_on = o.slice == k.slice && o.repetition < k.repetition;
    if (slice_done || repetition_done || moved_on || a.has(acq_flag::last_in_measurement)) done.push_back(o);
  }
  for (const auto& o : done) close(o);
}

std::vector<kspace_buffer> recon_session::separated(kspace_buffer&& b) {
  std::vector<kspace_buffer> out;
  if (!multiband_) {
    out.push_back(std::move(b));
    return out;
  }
  check_cancelled();
  return multiband_->separate(std::move(b), [this](const std::string& m) { chain_->say(m); });
}

void recon_session::close(const buffer_key& k) {
  for (auto& b : separated(assembler_->take(k))) hold_or_make(std::move(b));
}

void recon_session::hold_or_make(kspace_buffer&& b) {
  const buffer_key k = b.key;
  if (interleaved_ || (accelerated_ && !has_calibration(k))) {
    // Held to the end of the scan: counted against the budget with the assembler's open buffers.
    const double bytes = static_cast<double>(b.kspace.size()) * sizeof(cfloat);
    const double limit = opt_.kspace_budget_bytes > 0 ? opt_.kspace_budget_bytes : detail::physical_memory_bytes();
    LARMOR_CHECK_DATA(waiting_bytes_ + bytes + assembler_->open_bytes() <= limit, "recon: ", source_, ": ",
                      waiting_.size() + 1, " complete k-space buffers (",
                      static_cast<long long>((waiting_bytes_ + bytes) / (1 << 20)), " MiB) must wait for the end of the scan (",
                      interleaved_ ? "interleaved calibration: the union of all repetitions" : "no calibration readouts yet",
                      "), more than the ", static_cast<long long>(limit / (1 << 20)), " MiB budget");
    waiting_bytes_ += bytes;
    waiting_.push_back(std::move(b));
    return;
  }
  make_image(b);
}

bool recon_session::has_calibration(const buffer_key& k) const {
  if (detail::find_calibration(calibration_, k)) return true;
  for (const auto& c : assembler_->calibration_keys())
    if (c.slice == k.slice) return true;
  // A slice released after the buffers its header announced: more arrive (a header without repetition
  // limits, a longer series): its calibration is restored by calibration_for, the image need not wait.
  for (const auto& r : released_calibration_)
    if (r.first.slice == k.slice) return true;
  return false;
}

const array<cfloat, 4>* recon_session::calibration_for(const buffer_key& k) {
  for (auto it = released_calibration_.begin(); it != released_calibration_.end();) {  // the slice again
    if (it->first.slice != k.slice) {
      ++it;
      continue;
    }
    calibration_.emplace(it->first, restore(it->second));
    it = released_calibration_.erase(it);
  }
  buffer_key exact = k;
  exact.repetition = 0;
  const auto keys = assembler_->calibration_keys();
  const bool exact_pending = std::find(keys.begin(), keys.end(), exact) != keys.end();
  if (!calibration_.count(exact) && exact_pending) freeze(exact);
  if (const auto* c = detail::find_calibration(calibration_, k)) return c;
  for (const auto& c : keys)
    if (c.slice == k.slice) {
      freeze(c);
      return &calibration_.at(c);
    }
  return nullptr;
}
void recon_session::freeze(const buffer_key& c) {
  auto cal = assembler_->take_calibration(c);
  if (whitener_.size() > 0) prewhiten_inplace(cal.view(), whitener_.cview());
  calibration_.emplace(c, std::move(cal));
}

void recon_session::make_image(kspace_buffer& b) {
  check_cancelled();
  if (!whitening_decided_) {  // the noise readouts received until now pre-whiten every image
    whitening_decided_ = true;
    auto noise = assembler_->take_noise();
    if (opt_.prewhiten && noise.size() > 0) {
      chain_->say("noise pre-whitening from " + std::to_string(assembler_->summary().noise_scans) +
                  " noise scans");
      whitener_ = detail::chain_prewhitener(noise, assembler_->summary(), opt_);
    }
  }
  if (whitener_.size() > 0) prewhiten_inplace(b.kspace.view(), whitener_.cview());
  const auto* cal = calibration_for(b.key);
  const auto& s = assembler_->summary();
  // The slice's last image: its calibration would be kept only as its lines after it (release_slice); a
  // method that is done with it earlier may have that happen then (a 3D GRAPPA recon: before the maps).
  std::function<void()> release;
  if (cal && made_per_slice_[b.key.slice] + 1 == buffers_per_slice_)
    release = [this, cal] {
      for (auto it = calibration_.begin(); it != calibration_.end(); ++it)
        if (&it->second == cal) {
          released_calibration_.emplace(it->first, compact_lines(it->second));
          calibration_.erase(it);
          return;
        }
    };
  auto img = chain_->reconstruct(b, cal, detail::calibration_key_of(calibration_, cal), s.acceleration_y, s.acceleration_z,
                                 io::image_index_for(images_made_ + 1), std::move(release));
  ++images_made_;
  if (++made_per_slice_[b.key.slice] == buffers_per_slice_) release_slice(b.key.slice);
  if (sink_)
    sink_(std::move(img));
  else
    queue_.push_back(std::move(img));
}

void recon_session::release_slice(std::uint16_t slice) {
  chain_->forget_slice(slice);
  for (auto it = calibration_.begin(); it != calibration_.end();) {
    if (it->first.slice != slice) {
      ++it;
      continue;
    }
    released_calibration_.emplace(it->first, compact_lines(it->second));
    it = calibration_.erase(it);
  }
}

recon_session::compact_calibration recon_session::compact_lines(const array<cfloat, 4>& k) {
  compact_calibration c;
  c.shape = k.shape();
  const index_t nc = k.shape(0), nl = k.shape(1) * k.shape(2), nx = k.shape(3);
  const auto acquired = acquired_lines(k.cview());  // lines with a non-zero sample in any coil
  for (index_t l = 0; l < nl; ++l) {
    if (!acquired.acquired[static_cast<std::size_t>(l)]) continue;
    c.lines.push_back(l);
    for (index_t ch = 0; ch < nc; ++ch)
      c.samples.insert(c.samples.end(), k.data() + (ch * nl + l) * nx, k.data() + (ch * nl + l + 1) * nx);
  }
  return c;
}
array<cfloat, 4> recon_session::restore(const compact_calibration& c) {
  array<cfloat, 4> k(c.shape);
  const index_t nc = c.shape[0], nl = c.shape[1] * c.shape[2], nx = c.shape[3];
  for (std::size_t i = 0; i < c.lines.size(); ++i)
    for (index_t ch = 0; ch < nc; ++ch)
      std::copy(c.samples.begin() + static_cast<std::ptrdiff_t>((i * nc + ch) * nx),
                c.samples.begin() + static_cast<std::ptrdiff_t>((i * nc + ch + 1) * nx),
                k.data() + (ch * nl + c.lines[i]) * nx);
  return k;
}

recon_result recon(const io::raw_dataset& raw, const recon_options& opt) {
  if (opt.progress) opt.progress("sorting " + std::to_string(raw.acquisitions.size()) + " readouts");
  recon_result res;
  recon_session s(raw.header, opt, [&](io::image_record&& r) { res.images.push_back(std::move(r)); }, raw.source);
  for (const auto& a : raw.acquisitions) s.push(a);
  s.finish();
  res.method = s.method();
  return res;
}

}  // namespace larmor
