// larmor/recon/pi_methods.hpp — the parallel-imaging methods of the recon chain ("grappa", "sense",
// "cgsense") and the rule "auto" follows.
//
// Every method takes one k-space buffer (coils, z, y, x) and, when the scan had one, its separate or
// interleaved calibration buffer; embedded ACS lines sit in the buffer itself.
//   grappa   kernel from the ACS block, image-domain unmixing weights with ESPIRiT maps for the
//            combination (pi/grappa.hpp). Kernel and weights are kept per calibration buffer and
//            sampling lattice, so repetitions (and slices sharing a calibration) reuse them.
//   sense    Cartesian SENSE with ESPIRiT maps from the calibration data (pi/sense.hpp).
//   cgsense  CG-SENSE with the same maps, any Cartesian mask (pi/cgsense.hpp).
// auto: fully sampled -> espirit; a regular lattice with enough ACS lines for the GRAPPA kernel ->
// grappa (what Gadgetron's default Cartesian chain does with embedded/separate ACS); a lattice without
// them -> cgsense; an irregular mask (variable density, Poisson disc) -> cs (l1-wavelet compressed
// sensing, registered in recon.hpp).
#pragma once

#include <any>
#include <functional>
#include <string>
#include <vector>

#include "larmor/coils/combine.hpp"
#include "larmor/coils/espirit.hpp"
#include "larmor/pi/cgsense.hpp"
#include "larmor/pi/grappa.hpp"
#include "larmor/pi/sense.hpp"
#include "larmor/recon/partial_fourier_request.hpp"

namespace larmor::detail {

// ESPIRiT maps (coils, z, y, x), first set, from the calibration buffer or the k-space centre.
inline array<cfloat, 4> pi_maps(const array<cfloat, 4>& calib, const progress_fn& progress = {},
                                const std::function<void()>& calibration_read = {}) {
  espirit_options eo;
  eo.progress = progress;  // per readout position
  const extents<4> shape = calib.shape();
  // ESPIRiT's kernel at most half the fully sampled centre along each phase-encode axis: its default of 6
  // on a centre of 8 lines gave maps with which CG-SENSE reached NRMSE 0.88 against the object (16-line
  // phantom test, R = 3); kernel 4 there 0.14, and 0.10 on 10 lines and more. Below a kernel of 3 (a
  // centre under 6 lines) no maps can be trusted: refused, not reconstructed.
  if (const auto block = fully_sampled_centre(acquired_lines(calib.cview()))) {
    index_t extent = std::min<index_t>(block->ny(), eo.calib);
    if (shape[1] > 1) extent = std::min<index_t>(extent, block->nz());
    eo.kernel = std::min<index_t>(eo.kernel, extent / 2);
    LARMOR_CHECK_DATA(eo.kernel >= 3, "recon: the fully sampled k-space centre is ", block->ny(), " lines",
                      shape[1] > 1 ? " x " + std::to_string(block->nz()) + " partitions" : std::string(),
                      "; coil maps (ESPIRiT) need at least 6 along each phase-encode axis: acquire more "
                      "calibration lines");
  } else {
    LARMOR_CHECK_DATA(false, "recon: no fully sampled k-space centre to calibrate coil maps from");
  }
  // calibration_read: ESPIRiT has its calibration block; `calib` may be gone from here on.
  if (shape[1] == 1) {
    const strided_view<const cfloat, 3> v(calib.data(), {shape[0], shape[2], shape[3]});
    auto c = espirit_calibrate(v, eo);
    if (calibration_read) calibration_read();
    return std::move(espirit(std::move(c), eo).maps).reshape(shape);
  }
  auto c = espirit_calibrate(calib.cview(), eo);
  if (calibration_read) calibration_read();
  return std::move(espirit(std::move(c), eo).maps).reshape(shape);
}

// What grappa keeps between buffers that share a calibration.
struct grappa_state {
  struct entry {
    sampling_lattice lattice;
    grappa_kernel kernel;
    array<cfloat, 4> unmixing;  // made on first use by the image-domain path
  };
  std::vector<entry> entries;
  array<cfloat, 4> maps;
  bool have_maps = false;
};

inline bool same_lattice(const sampling_lattice& a, const sampling_lattice& b) {
  return a.ry == b.ry && a.rz == b.rz && a.shift == b.shift && a.offset_y == b.offset_y && a.offset_z == b.offset_z;
}

// GRAPPA for one buffer. Image-domain unmixing (one multiply-add per coil and pixel once the weights
// exist) when it equals the k-space fill: the unmixing weights are the transform of a circular
// convolution, so the lattice must repeat across the k-space edge — Ny a multiple of Ry and Nz of Rz. An
// interleaved R = 3 scan of 128 lines is not: each repetition's lattice offset meets the edge differently
// and the unmixed images of some offsets carry residual aliasing. Otherwise, and with partial Fourier:
// the k-space fill (acquired lines kept), POCS/homodyne per coil when asked, then the Roemer combination
// with the same maps.
// gfactor: when non-null, the g-factor map (z, y, x) from the unmixing weights and the maps (grappa_gfactor;
// for a lattice that does not repeat across the edge, that of the image-domain equivalent).
inline array<cfloat, 3> grappa_method(const array<cfloat, 4>& k, const array<cfloat, 4>* calibration, std::any& cache,
                                      const partial_fourier_request* pf = nullptr,
                                      const std::function<progress_fn(const std::string&)>& progress_for = {},
                                      const std::function<void()>& release_calibration = {},
                                      array<float, 3>* gfactor = nullptr) {
  const auto step = [&](const char* what) { return progress_for ? progress_for(what) : progress_fn{}; };
  const auto L = grappa_lattice("recon grappa", acquired_lines(k.cview()));
  if (!cache.has_value()) cache = grappa_state{};
  auto& st = std::any_cast<grappa_state&>(cache);
  const auto& cal = calibration ? *calibration : k;
  // The maps, made when first needed (again after a 3D unmixing). This call reads the calibration last
  // there: the kernel below is calibrated first, and the owner may free the buffer once ESPIRiT has its
  // calibration block (release_calibration, a calibration buffer of our own only).
  bool released = false;
  const auto maps = [&]() -> const array<cfloat, 4>& {
    if (!st.have_maps) {
      std::function<void()> read;
      if (calibration && release_calibration && !released) read = [&] { released = true, release_calibration(); };
      st.maps = pi_maps(cal, step("ESPIRiT maps"), read);
      st.have_maps = true;
    }
    return st.maps;
  };
  grappa_state::entry* e = nullptr;
  for (auto& x : st.entries)
    if (same_lattice(x.lattice, L)) e = &x;
  if (!e) {
    const auto acs = grappa_acs(cal.cview());
    st.entries.push_back({L, grappa_calibrate(acs.cview(), L), array<cfloat, 4>()});
    e = &st.entries.back();
  }
  const bool periodic = k.shape(2) % L.ry == 0 && k.shape(1) % L.rz == 0;
  if (gfactor) {  // before the volume path below hands the maps to the weights
    if (e->unmixing.size() == 0) e->unmixing = grappa_unmixing(e->kernel, maps().cview(), step("GRAPPA weights"));
    *gfactor = grappa_gfactor(e->unmixing.cview(), maps().cview(), L.factor()).reshape(
        extents<3>{k.shape(1), k.shape(2), k.shape(3)});
  }
  if (pf || !periodic) {
    auto filled = grappa_apply(k.cview(), e->kernel);
    if (pf) apply_partial_fourier(*pf, filled);
    const axis_list spatial = k.shape(1) == 1 ? axis_list{2, 3} : axis_list{1, 2, 3};
    ifftc_inplace(filled.view(), spatial);
    return combine(filled.cview(), maps().cview());
  }
  if (e->unmixing.size() == 0 && k.shape(1) > 1) {
    // A volume: the weights take the maps' memory (64 coils x 192x192x96: 1.7 GiB less at the peak); the
    // maps are made again only should another lattice of this calibration need them.
    maps();
    e->unmixing = grappa_unmixing(e->kernel, std::move(st.maps), step("GRAPPA weights"));
    st.maps = array<cfloat, 4>();
    st.have_maps = false;
  }
  if (e->unmixing.size() == 0) e->unmixing = grappa_unmixing(e->kernel, maps().cview(), step("GRAPPA weights"));
  return grappa_unmix(k.cview(), e->unmixing.cview(), L);
}

inline array<cfloat, 4>& cached_maps(const array<cfloat, 4>& k, const array<cfloat, 4>* calibration, std::any& cache,
                                     const progress_fn& progress = {}) {
  if (!cache.has_value()) cache = pi_maps(calibration ? *calibration : k, progress);
  return std::any_cast<array<cfloat, 4>&>(cache);
}

// The SENSE g-factor (Pruessmann 1999) of k's lattice on the maps (coils, z, y, x), as (z, y, x).
inline array<float, 3> sense_gfactor_of(const array<cfloat, 4>& k, const array<cfloat, 4>& maps) {
  const auto L = detect_lattice(acquired_lines(k.cview()));
  LARMOR_CHECK_DATA(L.has_value(), "recon: g-factor: the buffer has no regular sampling lattice");
  const extents<4> s = maps.shape();
  if (s[1] == 1)
    return sense_gfactor(strided_view<const cfloat, 3>(maps.data(), {s[0], s[2], s[3]}), L->ry).reshape(
        extents<3>{1, s[2], s[3]});
  return sense_gfactor(strided_view<const cfloat, 5>(maps.data(), {1, s[0], s[1], s[2], s[3]}), L->ry, L->rz, L->shift);
}

inline array<cfloat, 3> sense_method(const array<cfloat, 4>& k, const array<cfloat, 4>* calibration, std::any& cache,
                                     array<float, 3>* gfactor = nullptr) {
  const auto& maps = cached_maps(k, calibration, cache);
  if (gfactor) *gfactor = sense_gfactor_of(k, maps);
  return sense(k.cview(), maps.cview());
}

inline array<cfloat, 3> cgsense_method(const array<cfloat, 4>& k, const array<cfloat, 4>* calibration,
                                       std::any& cache, array<float, 3>* gfactor = nullptr) {
  const auto& maps = cached_maps(k, calibration, cache);
  if (gfactor) *gfactor = sense_gfactor_of(k, maps);  // the limit CG-SENSE converges to (no regularisation)
  return cgsense(k.cview(), maps.cview()).image;
}

// The method "auto" resolves to for this buffer.
inline std::string auto_method(const array<cfloat, 4>& k, const array<cfloat, 4>* calibration) {
  const auto m = acquired_lines(k.cview());
  LARMOR_CHECK_DATA(m.count() > 0, "recon: the k-space buffer holds no data (all zero)");
  const auto L = detect_lattice(m);
  if (L && L->factor() == 1) {
    // Every line inside the sampled extent is there. Points missing inside the lines (a 2D mask over
    // (y, x), e.g. Poisson disc) make it undersampled; partial Fourier and an asymmetric echo only
    // narrow the extent, and elliptical scanning leaves the corners out, so the holes are counted inside
    // the ellipse inscribed in the bounding box of what was acquired. Fully sampled means no holes there
    // (0.5 % allowed for samples that are exactly zero); anything else is a point mask (the earlier rule,
    // "at least half the box", reconstructed a 2x Poisson-disc mask as fully sampled, holes and all).
    const auto pts = acquired_mask(k.cview());
    const index_t nx = k.shape(3), nl = static_cast<index_t>(pts.size()) / std::max<index_t>(nx, 1);
    index_t l0 = nl, l1 = -1, x0 = nx, x1 = -1;
    for (index_t l = 0; l < nl; ++l)
      for (index_t x = 0; x < nx; ++x)
        if (pts[static_cast<std::size_t>(l * nx + x)])
          l0 = std::min(l0, l), l1 = std::max(l1, l), x0 = std::min(x0, x), x1 = std::max(x1, x);
    const double cl = 0.5 * static_cast<double>(l0 + l1), cx = 0.5 * static_cast<double>(x0 + x1);
    const double rl = 0.5 * static_cast<double>(l1 - l0 + 1), rx = 0.5 * static_cast<double>(x1 - x0 + 1);
    std::size_t inside = 0, holes = 0;
    for (index_t l = l0; l <= l1; ++l)
      for (index_t x = x0; x <= x1; ++x) {
        const double u = (static_cast<double>(l) - cl) / rl, v = (static_cast<double>(x) - cx) / rx;
        if (u * u + v * v > 0.9) continue;
        ++inside;
        if (!pts[static_cast<std::size_t>(l * nx + x)]) ++holes;
      }
    return holes * 200 <= inside ? "espirit" : "cs";
  }
  if (!L) return "cs";  // variable density, Poisson disc: compressed sensing (l1-wavelet, cs/cs.hpp)
  // GRAPPA needs an ACS block the kernel fits in.
  const auto cm = calibration ? acquired_lines(calibration->cview()) : m;
  const auto block = fully_sampled_centre(cm);
  const auto box = stencil_extent(grappa_geometry(*L, k.shape(0), grappa_options{}));
  if (block && block->ny() > box.y1 - box.y0 && block->nz() > box.z1 - box.z0) return "grappa";
  return block ? "cgsense" : "grappa";  // no calibration at all: grappa says so clearly
}

}  // namespace larmor::detail
