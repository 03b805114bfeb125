// Cartesian k-space assembly (include/larmor/assembly/kspace_assembly.hpp), compiled once here.
#include "larmor/assembly/kspace_assembly.hpp"

#include <unistd.h>

#include <cmath>

#include "larmor/fft/fft.hpp"

namespace larmor {

namespace detail {

// Physical memory of this machine in bytes (sysconf), or 2^40 when unknown.
double physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 1099511627776.0;
}

}  // namespace detail

namespace {

// Central crop along x in image space of one readout's lines: (coils, nx) k-space -> (coils, keep) k-space.
// Unitary transforms both ways: the image values of the kept FOV are unchanged by the crop.
array<cfloat, 2> crop_readout(array<cfloat, 2>&& line, index_t keep) {
  const index_t nc = line.shape(0), nx = line.shape(1);
  ifftc_inplace(line.view(), {1});  // (coils, x-image)
  array<cfloat, 2> out(extents<2>{nc, keep}, uninitialized);
  const index_t start = nx / 2 - keep / 2;
  for (index_t c = 0; c < nc; ++c) std::copy_n(line.data() + c * nx + start, keep, out.data() + c * keep);
  fftc_inplace(out.view(), {1});
  return out;
}

// Averages: each line (z, y) of k (coils, z, y, x) divided by the number of readouts summed into it.
void divide_lines_by_count(array<cfloat, 4>& k, const std::vector<std::uint16_t>& count) {
  const index_t nc = k.shape(0), lines = k.shape(1) * k.shape(2), nx = k.shape(3);
  for (index_t c = 0; c < nc; ++c)
    for (index_t l = 0; l < lines; ++l) {
      const auto n = count[static_cast<std::size_t>(l)];
      if (n > 1)
        for (index_t x = 0; x < nx; ++x) k.data()[(c * lines + l) * nx + x] /= static_cast<float>(n);
    }
}

}  // namespace

kspace_assembler::kspace_assembler(const io::encoding_header& h, std::string source, const assembly_options& opt)
    : h_(h), source_(std::move(source)), opt_(opt) {
  LARMOR_CHECK_DATA(h.trajectory != "epi", "assemble_kspace: ", source_, ": EPI readouts (ramp-sampled, "
                    "alternating) must pass through epi::epi_corrector (larmor/epi/epi_corrector.hpp) first");
  LARMOR_CHECK_DATA(h.trajectory == "cartesian", "assemble_kspace: ", source_, ": trajectory '", h.trajectory,
                    "' is not Cartesian; this chain reconstructs Cartesian and EPI data only");
  nx_ = h.encoded_matrix[0], ny_ = h.encoded_matrix[1], nz_ = std::max<index_t>(1, h.encoded_matrix[2]);
  LARMOR_CHECK_DATA(nx_ >= 1 && ny_ >= 1, "assemble_kspace: ", source_, ": encoded matrix ", nx_, " x ", ny_,
                    " is empty");
  y_shift_ = h.e1 ? ny_ / 2 - static_cast<index_t>(h.e1->center) : 0;
  z_shift_ = (h.e2 && nz_ > 1) ? nz_ / 2 - static_cast<index_t>(h.e2->center) : 0;
  interleaved_ = h.calibration_mode == "interleaved";
  out_.acceleration_y = std::max<index_t>(1, h.accel_e1);
  out_.acceleration_z = std::max<index_t>(1, h.accel_e2);
}

void kspace_assembler::add(const io::acquisition& a) {
  using io::acq_flag;
  const index_t i = added_++;
  const index_t nx = nx_, ny = ny_, nz = nz_;
  const index_t nc = a.channels();
  if (out_.coils == 0) out_.coils = nc;
  LARMOR_CHECK_DATA(nc == out_.coils, "assemble_kspace: ", source_, ": acquisition ", i, " has ", nc,
                    " channels, earlier ones ", out_.coils);
  LARMOR_CHECK_DATA(nc >= 1, "assemble_kspace: ", source_, ": acquisition ", i, " has no channels");
  for (const cfloat& v : a.data)
    LARMOR_CHECK_DATA(std::isfinite(v.real()) && std::isfinite(v.imag()), "assemble_kspace: ", source_,
                      ": acquisition ", i, " holds NaN or Inf samples");
  if (a.has(acq_flag::is_noise_measurement)) {
    noise_.push_back(a.data);
    out_.noise_dwell_us = a.sample_time_us;
    return;
  }
  if (a.is_auxiliary()) {
    ++out_.skipped;
    return;
  }
  out_.acquisition_dwell_us = a.sample_time_us;
  const index_t ns = a.samples() - a.discard_pre - a.discard_post;
  LARMOR_CHECK_DATA(ns > 0, "assemble_kspace: ", source_, ": acquisition ", i, " discards all of its ",
                    a.samples(), " samples");
  const bool reverse = a.has(acq_flag::is_reverse);
  // centre: where the k-space centre sits in the kept samples once they run in +kx order (see the top of
  // the file: a reversed readout's center_sample already counts in +kx order, where its discard_post
  // samples come first). Not recorded (0) on a full-length readout: a symmetric readout, centre nx/2.
  index_t centre = static_cast<index_t>(a.center_sample) - (reverse ? a.discard_post : a.discard_pre);
  if (a.center_sample == 0 && ns == nx) centre = nx / 2;
  const index_t x0 = nx / 2 - centre;
  LARMOR_CHECK_DATA(x0 >= 0 && x0 + ns <= nx, "assemble_kspace: ", source_, ": acquisition ", i,
                    " has ", ns, " samples with the k-space centre at sample ", a.center_sample,
                    reverse ? " (reversed)" : "", ", which does not fit the encoded readout of ", nx);
  const index_t y = a.idx.kspace_encode_step_1 + y_shift_,
                z = (nz > 1 ? a.idx.kspace_encode_step_2 : 0) + z_shift_;
  LARMOR_CHECK_DATA(y >= 0 && y < ny, "assemble_kspace: ", source_, ": acquisition ", i,
                    " has kspace_encode_step_1 = ", a.idx.kspace_encode_step_1,
                    " beyond the encoding limits (matrix y = ", ny, ")");
  LARMOR_CHECK_DATA(z >= 0 && z < nz, "assemble_kspace: ", source_, ": acquisition ", i,
                    " has kspace_encode_step_2 = ", a.idx.kspace_encode_step_2,
                    " beyond the encoding limits (matrix z = ", nz, ")");
  // The readout added to its line of nx (flipped if reversed). With oversampling removal it goes on a
  // line of its own first, which is cropped to the kept width; otherwise straight into the buffers.
  const index_t keep = readout_keep();
  const auto add_readout = [&](index_t c, cfloat* row) {
    const cfloat* src = a.data.data() + c * a.samples() + a.discard_pre;
    for (index_t s = 0; s < ns; ++s) row[x0 + s] += reverse ? src[ns - 1 - s] : src[s];
  };
  array<cfloat, 2> line;
  if (keep < nx) {
    line = array<cfloat, 2>(extents<2>{nc, nx});
    for (index_t c = 0; c < nc; ++c) add_readout(c, line.data() + c * nx);
    line = crop_readout(std::move(line), keep);
  }
  auto place = [&](array<cfloat, 4>& k) {
    for (index_t c = 0; c < nc; ++c) {
      cfloat* row = k.data() + ((c * nz + z) * ny + y) * keep;
      if (keep == nx) {
        add_readout(c, row);
        continue;
      }
      const cfloat* src = line.data() + c * keep;
      for (index_t x = 0; x < keep; ++x) row[x] += src[x];
    }
  };
  const bool is_calib =
      a.has(acq_flag::is_parallel_calibration) || a.has(acq_flag::is_parallel_calibration_and_imaging);
  const bool is_imaging =
      !a.has(acq_flag::is_parallel_calibration) || a.has(acq_flag::is_parallel_calibration_and_imaging);
  buffer_key key{a.idx.slice, a.idx.contrast, a.idx.phase, a.idx.repetition, a.idx.set};
  buffer_key ck = key;
  ck.repetition = 0;
  const bool calib_closed = std::find(closed_calib_.begin(), closed_calib_.end(), ck) != closed_calib_.end();
  if ((is_calib || (interleaved_ && is_imaging)) && calib_closed) ++calib_dropped_;
  if ((is_calib || (interleaved_ && is_imaging)) && !calib_closed) {
    auto it = calib_.find(ck);
    if (it == calib_.end()) {
      reserve_buffer(i, nc);
      it = calib_.emplace(ck, std::make_pair(array<cfloat, 4>(extents<4>{nc, nz, ny, keep}),
                                             std::vector<std::uint16_t>(static_cast<std::size_t>(nz * ny), 0)))
               .first;
    }
    place(it->second.first);
    ++it->second.second[static_cast<std::size_t>(z * ny + y)];
    if (is_calib) ++out_.calibration_lines;
  }
  if (is_imaging) {
    auto it = imaging_.find(key);
    if (it == imaging_.end()) {
      kspace_buffer b;
      b.key = key;
      reserve_buffer(i, nc);
      b.kspace = array<cfloat, 4>(extents<4>{nc, nz, ny, keep});
      b.readouts_per_line.assign(static_cast<std::size_t>(nz * ny), 0);
      auto geometry = std::make_shared<io::acquisition>();  // the header of the first readout, no samples
      geometry->flags = a.flags, geometry->scan_counter = a.scan_counter, geometry->idx = a.idx;
      geometry->discard_pre = a.discard_pre, geometry->discard_post = a.discard_post;
      geometry->center_sample = a.center_sample, geometry->sample_time_us = a.sample_time_us;
      geometry->position = a.position, geometry->read_dir = a.read_dir, geometry->phase_dir = a.phase_dir;
      geometry->slice_dir = a.slice_dir, geometry->patient_table_position = a.patient_table_position;
      geometry->acquisition_time_stamp = a.acquisition_time_stamp;
      geometry->physiology_time_stamp = a.physiology_time_stamp;
      b.first = std::move(geometry);
      it = imaging_.emplace(key, std::move(b)).first;
    }
    place(it->second.kspace);
    auto& b = it->second;
    if (b.lines == 0) b.readout_begin = nx, b.readout_end = 0;
    b.readout_begin = std::min(b.readout_begin, x0);
    b.readout_end = std::max(b.readout_end, std::min(nx, x0 + ns));
    ++it->second.lines;
    ++it->second.readouts_per_line[static_cast<std::size_t>(z * ny + y)];
  }
}

void kspace_assembler::reserve_buffer(index_t acquisition, index_t nc) {
  const double bytes = buffer_bytes(nc);
  const double limit = opt_.memory_budget_bytes > 0 ? opt_.memory_budget_bytes : detail::physical_memory_bytes();
  LARMOR_CHECK_DATA(open_bytes_ + bytes <= limit, "assemble_kspace: ", source_, ": acquisition ", acquisition,
                    " opens a k-space buffer of ", nc, " coils x ", nz_, " x ", ny_, " x ", readout_keep(), " (",
                    static_cast<long long>(bytes / (1 << 20)), " MiB) beside ", open_buffer_count(),
                    " open buffers of ", static_cast<long long>(open_bytes_ / (1 << 20)), " MiB: more than ",
                    opt_.memory_budget_bytes > 0 ? "the " : "this machine's ", static_cast<long long>(limit / (1 << 20)),
                    opt_.memory_budget_bytes > 0 ? " MiB budget" : " MiB of memory",
                    " (too many slices, contrasts or repetitions open at once, or an oversized matrix)");
  open_bytes_ += bytes;
}

kspace_buffer kspace_assembler::take(const buffer_key& k) {
  auto it = imaging_.find(k);
  LARMOR_CHECK_ARG(it != imaging_.end(), "kspace_assembler::take: no open buffer for slice ", k.slice,
                   " contrast ", k.contrast, " phase ", k.phase, " repetition ", k.repetition, " set ", k.set);
  kspace_buffer b = std::move(it->second);
  imaging_.erase(it);
  open_bytes_ = std::max(0.0, open_bytes_ - buffer_bytes(b.kspace.shape(0)));
  divide_lines_by_count(b.kspace, b.readouts_per_line);
  const index_t nx = nx_, keep = readout_keep();
  if (keep < nx) {  // the same k range on `keep` samples: kx index i -> keep/2 + (i - nx/2) keep/nx
    const double f = static_cast<double>(keep) / static_cast<double>(nx);
    b.readout_begin = std::max<index_t>(0, keep / 2 + static_cast<index_t>(std::ceil((b.readout_begin - nx / 2) * f - 1e-9)));
    b.readout_end = std::min<index_t>(keep, keep / 2 + static_cast<index_t>(std::floor((b.readout_end - nx / 2) * f + 1e-9)));
  }
  return b;
}

array<cfloat, 4> kspace_assembler::take_calibration(const buffer_key& k) {
  auto it = calib_.find(k);
  LARMOR_CHECK_ARG(it != calib_.end(), "kspace_assembler::take_calibration: no calibration for slice ", k.slice);
  auto& [sum, count] = it->second;
  divide_lines_by_count(sum, count);
  auto c = std::move(sum);
  calib_.erase(it);
  open_bytes_ = std::max(0.0, open_bytes_ - buffer_bytes(c.shape(0)));
  closed_calib_.push_back(k);
  return c;
}

array<cfloat, 2> kspace_assembler::take_noise() {
  array<cfloat, 2> out;
  if (noise_.empty()) return out;
  index_t total = 0;
  for (const auto& n : noise_) total += n.shape(1);
  out = array<cfloat, 2>(extents<2>{out_.coils, total}, uninitialized);
  index_t off = 0;
  for (const auto& n : noise_) {
    const index_t m = n.shape(1);
    for (index_t c = 0; c < out_.coils; ++c)
      std::copy(n.data() + c * m, n.data() + (c + 1) * m, out.data() + c * total + off);
    off += m;
  }
  out_.noise_scans += static_cast<index_t>(noise_.size());
  noise_.clear();
  return out;
}

assembled_kspace kspace_assembler::finish() && {
  LARMOR_CHECK_DATA(added_ > 0, "assemble_kspace: ", source_, ": zero acquisitions");
  LARMOR_CHECK_DATA(!imaging_.empty(), "assemble_kspace: ", source_, ": no imaging readouts (only noise, "
                    "calibration or skipped lines)");
  out_.noise = take_noise();
  for (const auto& k : open_buffers()) out_.imaging.push_back(take(k));
  for (const auto& k : calibration_keys()) {
    auto c = take_calibration(k);
    out_.calibration.emplace(k, std::move(c));
  }
  return std::move(out_);
}

assembled_kspace assemble_kspace(const io::raw_dataset& raw, const assembly_options& opt) {
  kspace_assembler as(raw.header, raw.source, opt);
  LARMOR_CHECK_DATA(!raw.acquisitions.empty(), "assemble_kspace: ", raw.source, ": zero acquisitions");
  for (const auto& a : raw.acquisitions) as.add(a);
  return std::move(as).finish();
}

}  // namespace larmor
