// larmor/recon/multiband_stage.hpp — the session's multiband step: single-band reference kept, each
// multiband buffer separated into its slice group's slices (pi/sms.hpp), which then go through the chain as
// any slice (in-plane GRAPPA / SENSE, partial Fourier, coil combination).
//
// Conventions (docs/sms.md): N slices (encoding limit slice.maximum + 1) at multiband factor MB form N/MB
// slice groups; group g holds slices {g + k N/MB}, and its collapsed readouts carry slice index g. The
// single-band reference is a pass over all N slices before the multiband data (CMRR, Siemens): an imaging
// readout of repetition 0 whose (slice, line, partition, contrast, set) has not been seen yet is reference data;
// a repeat is multiband. EPI readouts arrive here already ramp-regridded and ghost-corrected.
//
// The CAIPI phase. Scans differ in how the blips are counted (the shift factor F of the protocol, or F times the
// in-plane acceleration as gadgetron-sms assumes; either sign; the CMRR reference already carrying the phase).
// The first multiband buffer of each group decides: the phase set psi_s(ky) under which the sum of the group's
// reference slices comes closest to the multiband data (relative residual on the acquired lines) among
// exp(-/+ 2 pi i (ky - Ny/2) s / P), P in {F, F Ry}; it must explain the data (residual < 0.5, and the
// documented convention exp(-...) / P = F is taken when it ties). No candidate explaining the data (for
// example a reference that already carries the blip phase, which says nothing about how to undo it) is
// refused with one line. The kernel is split-slice GRAPPA (5 x 5) trained on psi_s times the reference
// slices, kept for the series; the separated slices are multiplied by conj(psi_s), so each sits at its own
// position.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "larmor/io/acquisition.hpp"
#include "larmor/pi/sms.hpp"
#include "larmor/assembly/kspace_assembly.hpp"

namespace larmor {

class multiband_stage {
 public:
  // header: after EPI correction; refuses layouts it cannot separate (N not a multiple of MB, 3D, non-Cartesian).
  multiband_stage(const io::encoding_header& header, std::string source);

  // True when imaging readout `a` is single-band reference data: kept here, not to be assembled as
  // multiband data.
  bool take_reference(const io::acquisition& a);

  // The slices of a complete multiband buffer (key.slice = slice group), each with its own slice index and
  // the reference's geometry of that slice; `say` reports the choices made once per group.
  std::vector<kspace_buffer> separate(kspace_buffer&& multiband, const std::function<void(const std::string&)>& say);

  index_t factor() const { return mb_; }
  index_t groups() const { return groups_; }

 private:
  struct group_kernel {
    sms_grappa_kernel kernel;
    std::vector<cfloat> psi;  // (slices, ny): the phase each slice carries in the collapsed data
  };
  // The reference of slice s (coils, 1, y, x) and its first readout's header.
  const kspace_buffer& reference(std::uint16_t slice, const buffer_key& like);

  io::encoding_header header_;
  std::string source_;
  index_t mb_ = 1, shift_ = 1, slices_ = 1, groups_ = 1;
  kspace_assembler reference_assembler_;
  std::set<std::tuple<std::uint16_t, std::uint16_t, std::uint16_t, std::uint16_t, std::uint16_t>> seen_;
  std::map<std::uint16_t, kspace_buffer> reference_;         // by slice
  std::map<std::uint16_t, group_kernel> kernels_;           // by slice group
};

}  // namespace larmor
