// larmor/coils/receive_field.hpp — the receive-field (coil shading) estimate behind intensity normalisation.
//
// A combination with normalised maps (ESPIRiT, Walsh, Inati: sum_c |S_c|^2 = 1) or the root sum of squares
// gives rho(r) ||s(r)||: the object times the array's receive field, bright next to the coils and dark in the
// centre — steeper for the 48-64-element arrays of 5 T. Scanners divide it out: from a body-coil reference
// scan where there is one (Siemens Prescan Normalize, Philips CLEAR), else from the array's own data
// (surface-coil intensity correction). This is the latter, from the k-space centre every scan has:
//
//   1. a low-resolution image of each coil from the central `calib` lines (and partitions, and readout
//      points) of k-space, Hann-windowed, on a coarse grid over the whole field of view; their root sum
//      of squares L(r) = rho_low(r) ||s(r)||;
//   2. the object: L above `mask_threshold` x its 99th percentile;
//   3. log ||s|| is smooth where rho_low is piecewise flat: a polynomial of total degree `degree` in the
//      normalised coordinates is fitted to log L over the object by least squares (weighted by L, so the
//      bright, well-measured pixels count most), and the field is exp(polynomial), scaled to median 1 over
//      the object and evaluated on the full grid.
// The fitted field also takes up the object's own slowest intensity variation (a brain's white/grey
// matter contrast is not slow enough to be), which is why scanners prefer a body-coil reference; degree 3
// follows the receive field of a head array and leaves tissue contrast in the image. Outside the object the
// polynomial is extrapolated; clamped to [0.05, 20] x its median.
//
// With a body-coil reference (reference_channel >= 0: a channel of the k-space received by the body coil,
// whose sensitivity is nearly uniform over the object), the object cancels: L is the root sum of squares of
// the other (array) channels, B = |the reference's low-resolution image| = rho_low |s_body|, and the
// polynomial is fitted to log(L / B) over the object of B — the array's field relative to the body coil's,
// as Prescan Normalize measures it, without taking the object's own slow variation.
#pragma once

#include "larmor/core/array.hpp"

namespace larmor {

struct receive_field_options {
  int degree = 3;               // polynomial degree, 0..6
  float mask_threshold = 0.1f;  // object: low-resolution RSS > this x its 99th percentile
  index_t calib = 24;           // central k-space lines used per phase-encode axis (and readout points)
  index_t reference_channel = -1;  // a body-coil channel of the k-space (see above), or -1: the array alone
};

// kspace (coils, z, y, x) (z = 1 for 2D), any sampling with a fully sampled centre of `calib` (fewer lines
// are used as they are). Returns the field (z, y, x), median 1 over the object: normalised = image / field.
array<float, 3> receive_field(strided_view<const cfloat, 4> kspace, const receive_field_options& o = {});

}  // namespace larmor
