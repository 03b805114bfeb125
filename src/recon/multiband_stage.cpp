// multiband_stage.cpp — see larmor/recon/multiband_stage.hpp.
#include "larmor/recon/multiband_stage.hpp"

#include <cmath>
#include <sstream>

#include "larmor/core/parallel.hpp"

namespace larmor {

namespace {

index_t slice_count(const io::encoding_header& h) { return h.slice ? index_t{h.slice->maximum} + 1 : 1; }

}  // namespace

multiband_stage::multiband_stage(const io::encoding_header& header, std::string source)
    : header_(header),
      source_(std::move(source)),
      mb_(header.multiband_factor),
      shift_(std::max<index_t>(1, header.multiband_fov_shift)),
      slices_(slice_count(header)),
      reference_assembler_(header, source_ + " (single-band reference)") {
  LARMOR_CHECK_DATA(mb_ >= 2 && mb_ <= 16, "recon: ", source_, ": multiband factor ", mb_, " (1..16 slices at once)");
  LARMOR_CHECK_DATA(header.encoded_matrix[2] <= 1, "recon: ", source_,
                    ": a 3D multiband scan; slice separation is for 2D slice groups");
  LARMOR_CHECK_DATA(slices_ % mb_ == 0, "recon: ", source_, ": a multiband scan of ", slices_,
                    " slices (encoding limits) at MB ", mb_, " is not a whole number of slice groups");
  groups_ = slices_ / mb_;
}

bool multiband_stage::take_reference(const io::acquisition& a) {
  if (a.idx.repetition != 0) return false;
  const auto key = std::make_tuple(a.idx.slice, a.idx.kspace_encode_step_1, a.idx.kspace_encode_step_2,
                                   a.idx.contrast, a.idx.set);
  if (!seen_.insert(key).second) return false;
  LARMOR_CHECK_DATA(a.idx.slice < slices_, "recon: ", source_, ": a single-band reference readout of slice ",
                    a.idx.slice, ", beyond the ", slices_, " slices of the encoding limits");
  reference_assembler_.add(a);
  return true;
}

const kspace_buffer& multiband_stage::reference(std::uint16_t slice, const buffer_key& like) {
  if (const auto it = reference_.find(slice); it != reference_.end()) return it->second;
  const auto open = reference_assembler_.open_buffers();
  const buffer_key* found = nullptr;
  for (const auto& k : open)
    if (k.slice == slice && k.contrast == like.contrast && k.set == like.set) {
      found = &k;
      break;
    }
  LARMOR_CHECK_DATA(found != nullptr, "recon: ", source_, ": no single-band reference for slice ", slice,
                    " (slice group ", slice % groups_, "): separating multiband slices needs the reference pass over "
                    "all ", slices_, " slices before the multiband data");
  return reference_.emplace(slice, reference_assembler_.take(*found)).first->second;
}

std::vector<kspace_buffer> multiband_stage::separate(kspace_buffer&& b,
                                                     const std::function<void(const std::string&)>& say) {
  const index_t g = b.key.slice;
  LARMOR_CHECK_DATA(g < groups_, "recon: ", source_, ": multiband readouts labelled slice ", g, ", but ", slices_,
                    " slices at MB ", mb_, " make ", groups_, " slice groups (0..", groups_ - 1, ")");
  const index_t nc = b.kspace.shape(0), ny = b.kspace.shape(2), nx = b.kspace.shape(3);
  LARMOR_CHECK_DATA(b.kspace.shape(1) == 1, "recon: ", source_, ": multiband separation is for 2D slices");
  const strided_view<const cfloat, 3> collapsed(b.kspace.data(), extents<3>{nc, ny, nx});
  std::vector<const kspace_buffer*> refs;
  for (index_t k = 0; k < mb_; ++k) {
    const auto& r = reference(static_cast<std::uint16_t>(g + k * groups_), b.key);
    LARMOR_CHECK_DATA(r.kspace.shape() == b.kspace.shape(), "recon: ", source_, ": the single-band reference of slice ",
                      g + k * groups_, " is ", shape_string(r.kspace.shape()), ", the multiband data ",
                      shape_string(b.kspace.shape()));
    refs.push_back(&r);
  }

  auto it = kernels_.find(static_cast<std::uint16_t>(g));
  if (it == kernels_.end()) {
    const auto L = detail::sms_lattice("multiband", collapsed);
    const auto mask = acquired_lines(collapsed);
    // Candidate phase sets: the documented convention first (exp(-...), P = F), then its sign flip and P = F Ry.
    std::vector<std::pair<std::string, std::vector<cfloat>>> cands;
    for (index_t p : {shift_, shift_ * L.ry}) {
      for (int sign : {+1, -1}) {
        std::vector<cfloat> psi(static_cast<std::size_t>(mb_ * ny));
        for (index_t k = 0; k < mb_; ++k)
          for (index_t y = 0; y < ny; ++y) {
            const cfloat ph = sms_caipi_phase(k, y, ny, p);
            psi[static_cast<std::size_t>(k * ny + y)] = sign > 0 ? ph : std::conj(ph);
          }
        bool dup = false;
        for (const auto& c : cands) {
          double d = 0;
          for (std::size_t i = 0; i < psi.size(); ++i) d = std::max(d, static_cast<double>(std::abs(c.second[i] - psi[i])));
          dup |= d < 1e-5;
        }
        if (dup) continue;
        std::ostringstream name;
        name << "exp(" << (sign > 0 ? "-" : "+") << "2 pi i (ky - Ny/2) s / " << p << ")";
        cands.emplace_back(name.str(), std::move(psi));
      }
    }
    double den = 0;
    for (index_t c = 0; c < nc; ++c)
      for (index_t y = 0; y < ny; ++y)
        if (mask(0, y))
          for (index_t x = 0; x < nx; ++x) den += std::norm(collapsed(c, y, x));
    std::vector<double> res;
    for (const auto& cand : cands) {
      double num = 0;
      for (index_t c = 0; c < nc; ++c)
        for (index_t y = 0; y < ny; ++y) {
          if (!mask(0, y)) continue;
          for (index_t x = 0; x < nx; ++x) {
            cfloat sum(0.f, 0.f);
            for (index_t k = 0; k < mb_; ++k)
              sum += cand.second[static_cast<std::size_t>(k * ny + y)] * refs[static_cast<std::size_t>(k)]->kspace(c, 0, y, x);
            num += std::norm(collapsed(c, y, x) - sum);
          }
        }
      res.push_back(den > 0 ? std::sqrt(num / den) : 1.0);
    }
    std::size_t best = 0;
    for (std::size_t i = 1; i < res.size(); ++i)
      if (res[i] < 0.99 * res[best]) best = i;
    double next = 0;
    for (std::size_t i = 0; i < res.size(); ++i)
      if (i != best) next = next == 0 ? res[i] : std::min(next, res[i]);
    LARMOR_CHECK_DATA(res[best] < 0.6, "recon: ", source_, ": the multiband data of slice group ", g,
                      " is not the sum of its single-band reference slices under any CAIPI phase convention tried "
                      "(best ", cands[best].first, ", relative residual ", res[best],
                      "); a reference that already carries the blip phase is not supported (docs/sms.md)");
    // The kernel on psi_s times the reference slices (caipi_shift 1: the phases are psi's).
    array<cfloat, 4> cal(extents<4>{mb_, nc, ny, nx}, uninitialized);
    for (index_t k = 0; k < mb_; ++k)
      for (index_t c = 0; c < nc; ++c)
        for (index_t y = 0; y < ny; ++y) {
          const cfloat ph = cands[best].second[static_cast<std::size_t>(k * ny + y)];
          for (index_t x = 0; x < nx; ++x) cal(k, c, y, x) = ph * refs[static_cast<std::size_t>(k)]->kspace(c, 0, y, x);
        }
    group_kernel gk{sms_grappa_calibrate(cal.cview(), 1, L.ry), std::move(cands[best].second)};
    it = kernels_.emplace(static_cast<std::uint16_t>(g), std::move(gk)).first;
    if (say) {
      std::ostringstream m;
      m << "multiband: slice group " << g << " (slices";
      for (index_t k = 0; k < mb_; ++k) m << ' ' << g + k * groups_;
      m << ") at MB " << mb_ << ": CAIPI phase " << cands[best].first << " explains the first volume to "
        << res[best] << " (relative residual";
      if (next > 0) m << "; next best " << next;
      m << "); split-slice GRAPPA 5x5 from the single-band reference";
      say(m.str());
    }
  }
  auto sep = sms_grappa_apply(collapsed, it->second.kernel);

  std::vector<kspace_buffer> out;
  for (index_t k = 0; k < mb_; ++k) {
    const index_t s = g + k * groups_;
    kspace_buffer o;
    o.key = b.key;
    o.key.slice = static_cast<std::uint16_t>(s);
    o.kspace = array<cfloat, 4>(extents<4>{nc, 1, ny, nx}, uninitialized);
    // o = conj(psi_k(y)) sep(k, c, y, x), in real arithmetic so that it vectorizes.
    parallel_for(nc * ny, [&](index_t cy) {
      const index_t y = cy % ny;
      const cfloat ph = std::conj(it->second.psi[static_cast<std::size_t>(k * ny + y)]);
      const float p_re = ph.real(), p_im = ph.imag();
      const float* a = reinterpret_cast<const float*>(sep.data() + (k * nc * ny + cy) * nx);
      float* d = reinterpret_cast<float*>(o.kspace.data() + cy * nx);
      for (index_t x = 0; x < nx; ++x) {
        d[2 * x] = p_re * a[2 * x] - p_im * a[2 * x + 1];
        d[2 * x + 1] = p_re * a[2 * x + 1] + p_im * a[2 * x];
      }
    });
    auto first = std::make_shared<io::acquisition>(*b.first);
    const auto& rf = *refs[static_cast<std::size_t>(k)]->first;
    first->position = rf.position;
    first->read_dir = rf.read_dir;
    first->phase_dir = rf.phase_dir;
    first->slice_dir = rf.slice_dir;
    first->patient_table_position = rf.patient_table_position;
    first->idx.slice = static_cast<std::uint16_t>(s);
    o.first = std::move(first);
    o.lines = b.lines;
    o.readouts_per_line = b.readouts_per_line;
    o.readout_begin = b.readout_begin;
    o.readout_end = b.readout_end;
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace larmor
