// larmor/pi/gfactor.hpp — g-factor maps of SENSE and GRAPPA with one call shape in C++ and Python.
//
// The formulas live beside the reconstructions (pi/sense.hpp: sense_gfactor; pi/grappa.hpp: the
// unmixing-weight form grappa_gfactor(unmixing, maps, R)); this header gives both the options-struct form
// that Python's larmor.sense_gfactor / larmor.grappa_gfactor expose:
//
//   C++                                                   Python
//   sense_gfactor(maps, sense_gfactor_options{ry,rz,shift,reg})  larmor.sense_gfactor(maps, R, rz, shift, reg)
//   grappa_gfactor(kspace, maps, acs, grappa_options)      larmor.grappa_gfactor(kspace, maps, acs, kernel, reg, kernel_z)
//   grappa_gfactor(kspace, maps, grappa_options)           larmor.grappa_gfactor(kspace, maps)  (acs=None)
//
// GRAPPA: the lattice (Ry x Rz, CAIPI shift) is read from the acquired lines of `kspace` (coils, [z,] y, x),
// the kernel is calibrated on the fully sampled centre of `acs` (a separate calibration scan, or `kspace`
// itself when not given; grappa_acs), folded with `maps` into unmixing weights (grappa_unmixing) and
//     g = sqrt(sum_c |u_c|^2) / (R sqrt(sum_o |w_o|^2)),   w = conj(S) / sum |S|^2,   R = Ry * Rz
// (white unit noise per coil: prewhitened data); 0 outside the maps. grappa_options::reg is GRAPPA's
// relative Tikhonov weight (lambda = reg * tr(A^H A) / n_sources), not SENSE's absolute one: see docs/api.md.
//
// Maps: (coils, [z,] y, x) or (maps, coils, [z,] y, x) with one set (several sets are refused, as in
// sense/cgsense).
#pragma once

#include "larmor/pi/grappa.hpp"
#include "larmor/pi/sense.hpp"

namespace larmor {

struct sense_gfactor_options {
  index_t ry = 2;     // acceleration along y
  index_t rz = 1;     // acceleration along z (3D maps only)
  index_t shift = 0;  // CAIPIRINHA shift of the lattice along y per z step (0 <= shift < ry; rz > 1 only)
  float reg = 0;      // absolute Tikhonov lambda, as sense_options::reg
};

template <std::size_t R>
auto sense_gfactor(strided_view<const cfloat, R> maps, const sense_gfactor_options& opt) {
  return sense_gfactor(maps, opt.ry, opt.rz, opt.shift, opt.reg);
}
template <std::size_t R>
auto sense_gfactor(const array<cfloat, R>& maps, const sense_gfactor_options& opt) {
  return sense_gfactor(maps.cview(), opt.ry, opt.rz, opt.shift, opt.reg);
}

// GRAPPA g-factor from accelerated k-space, maps (coils, [z,] y, x) and a calibration scan `acs` (coils,
// [z,] y, x) whose fully sampled centre calibrates the kernel.
template <std::size_t R>
array<float, R - 1> grappa_gfactor(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R> maps,
                                   strided_view<const cfloat, R> acs, const grappa_options& opt = {}) {
  detail::check_grappa_input("grappa_gfactor", kspace);
  LARMOR_CHECK_ARG(maps.shape() == kspace.shape(), "grappa_gfactor: maps have shape ", shape_string(maps.shape()),
                   " but kspace has shape ", shape_string(kspace.shape()), "; expected equal shapes");
  LARMOR_CHECK_ARG(acs.shape(0) == kspace.shape(0), "grappa_gfactor: acs has ", acs.shape(0), " coils, kspace has ",
                   kspace.shape(0));
  const auto lattice = detail::grappa_lattice("grappa_gfactor", acquired_lines(kspace));
  const auto block = grappa_acs(acs);
  const auto kernel = grappa_calibrate(block.cview(), lattice, opt);
  const auto u = grappa_unmixing(kernel, maps);
  return grappa_gfactor(u.cview(), maps, lattice.factor());
}
// The same, calibrated on the fully sampled centre of `kspace` itself.
template <std::size_t R>
array<float, R - 1> grappa_gfactor(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R> maps,
                                   const grappa_options& opt) {
  return grappa_gfactor(kspace, maps, kspace, opt);
}
// Maps with a leading sets axis (one set).
template <std::size_t R>
array<float, R - 1> grappa_gfactor(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R + 1> maps,
                                   strided_view<const cfloat, R> acs, const grappa_options& opt = {}) {
  return grappa_gfactor(kspace, detail::single_map_set<R>("grappa_gfactor", maps), acs, opt);
}
template <std::size_t R>
array<float, R - 1> grappa_gfactor(strided_view<const cfloat, R> kspace, strided_view<const cfloat, R + 1> maps,
                                   const grappa_options& opt) {
  return grappa_gfactor(kspace, detail::single_map_set<R>("grappa_gfactor", maps), kspace, opt);
}

}  // namespace larmor
